//! The one gate in front of every event that touches workspace state.
//!
//! `admit` turns a raw payload into a `Member` — a sender whose access token
//! verifies, names this workspace and this attendee, who is still a member
//! (or, for `re-attend`, lapsed), and (for owner-only events) the owner — or
//! into the `Rejection` the sender gets. Handlers of token-checked events take a `Member`, so they cannot be
//! reached without passing here. The checks run in the order of
//! `docs/PROTOCOL.md` § The guard, which decides which alert a bad payload
//! gets.

use super::alerts::{Alert, Rejection};
use super::payload::{self, Payload};
use crate::model::{AttendeeId, WorkspaceId};
use crate::store::Membership;
use crate::tokens::AccessClaims;
use crate::workspaces::{Caller, Role, Workspaces};

/// What a token-checked event requires of its sender.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The payload field whose `id` is the sender (`attendee` or `broadcaster`).
    pub sender: &'static str,
    pub owner_only: bool,
    /// `re-attend` may bring back an attendee removed only by its grace period.
    pub restores_lapsed: bool,
}

impl Rule {
    /// Any member, named by `attendee`.
    pub const MEMBER: Rule = Rule {
        sender: "attendee",
        owner_only: false,
        restores_lapsed: false,
    };
    /// The owner only (`kick`, `destroy`).
    pub const OWNER: Rule = Rule {
        owner_only: true,
        ..Rule::MEMBER
    };
    /// A member named by `broadcaster` (the relays).
    pub const BROADCASTER: Rule = Rule {
        sender: "broadcaster",
        ..Rule::MEMBER
    };
    /// `re-attend`: a member, or one removed only by its grace period.
    pub const RESTORES_LAPSED: Rule = Rule {
        restores_lapsed: true,
        ..Rule::MEMBER
    };
}

/// A sender that passed the guard, with the rest of its payload.
pub struct Member {
    pub caller: Caller,
    pub payload: Payload,
}

/// `m.workspace`, `m.attendee`: a member is its caller plus a payload.
impl std::ops::Deref for Member {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

/// The last access token that verified on a socket: the library sends the
/// same one with every event, so its signature is checked once.
#[derive(Default)]
pub struct TokenCache(Option<(String, AccessClaims)>);

impl TokenCache {
    fn get(&self, token: &str) -> Option<&AccessClaims> {
        match &self.0 {
            Some((known, claims)) if known == token => Some(claims),
            _ => None,
        }
    }
}

/// Admits the sender of a token-checked event, or says why not. Touches no
/// workspace state and joins no room: what it returns is who may act.
pub async fn admit(
    core: &Workspaces,
    cache: &mut TokenCache,
    rule: Rule,
    data: Result<Payload, String>,
) -> Result<Member, Rejection> {
    let payload = payload::object(data)?;
    let len = core.rules().id_len;
    let workspace = payload::nested_id(
        &payload,
        "workspace",
        |s| WorkspaceId::parse(s, len),
        Alert::BadWorkspaceId,
    )?;
    let attendee = payload::nested_id(
        &payload,
        rule.sender,
        |s| AttendeeId::parse(s, len),
        Alert::BadAttendeeId,
    )?;
    let Some(access_token) = payload::non_empty_str(&payload, "accessToken")? else {
        return Err(Rejection::Alert(Alert::NoAccess));
    };
    let names_sender = |c: &AccessClaims| c.workspace == workspace && c.attendee == attendee;
    let token_ok = match cache.get(&access_token) {
        Some(claims) => names_sender(claims),
        None => match core.verify_access(&access_token, &workspace, &attendee).await {
            Some(claims) => {
                let ok = names_sender(&claims);
                cache.0 = Some((access_token.into_owned(), claims));
                ok
            }
            None => false,
        },
    };
    if !token_ok {
        return Err(Rejection::Alert(Alert::BadAccessToken));
    }
    let role = match core.membership(&workspace, &attendee).await? {
        Membership::NoWorkspace => return Err(Rejection::Destroyed),
        Membership::NotMember if rule.restores_lapsed => Role::Lapsed,
        Membership::NotMember => return Err(Rejection::Alert(Alert::NoAccess)),
        Membership::Member { owner: true } => Role::Owner,
        Membership::Member { owner: false } => Role::Attendee,
    };
    if rule.owner_only && role != Role::Owner {
        return Err(Rejection::Alert(Alert::NotOwner));
    }
    Ok(Member {
        caller: Caller {
            workspace,
            attendee,
            role,
        },
        payload,
    })
}

impl Member {
    /// The attendee a message is addressed to (`payload[field].id`), which must
    /// be a member of the sender's workspace.
    pub async fn target(&self, core: &Workspaces, field: &str) -> Result<AttendeeId, Rejection> {
        let len = core.rules().id_len;
        let target = payload::nested_id(
            &self.payload,
            field,
            |s| AttendeeId::parse(s, len),
            Alert::BadAttendeeId,
        )?;
        match core.membership(&self.workspace, &target).await? {
            Membership::Member { .. } => Ok(target),
            Membership::NotMember => Err(Rejection::Alert(Alert::TargetNotMember)),
            Membership::NoWorkspace => Err(Rejection::Destroyed),
        }
    }
}

#[cfg(test)]
mod tests;
