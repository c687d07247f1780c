//! The one gate in front of every event that touches workspace state.
//!
//! `admit` turns a raw payload into a `Member` — a sender whose access token
//! verifies, names this workspace and this attendee, who is still a member,
//! and (for owner-only events) the owner — or into the `Rejection` the sender
//! gets. Handlers of token-checked events take a `Member`, so they cannot be
//! reached without passing here. The checks run in the order of
//! `docs/PROTOCOL.md` § The guard, which decides which alert a bad payload
//! gets.

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::alerts::{Alert, Rejection};
use super::payload::{self, Payload};
use super::session::Session;
use crate::app::App;
use crate::model::{AttendeeId, WorkspaceId};
use crate::store::{Hold, Membership};
use crate::tokens::{Access, AccessClaims};

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
    pub workspace: WorkspaceId,
    pub attendee: AttendeeId,
    pub owner: bool,
    pub payload: Payload,
}

pub async fn admit<A: Adapter>(
    app: &App,
    socket: &SocketRef<A>,
    session: &mut Session,
    rule: Rule,
    data: Result<Payload, String>,
) -> Result<Member, Rejection> {
    let payload = payload::object(data)?;
    let len = app.settings.workspace_id_len;
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
    let token_ok = match session.known_token(&access_token) {
        Some(claims) => names_sender(claims),
        None => match verify_access(app, &access_token, &workspace, &attendee).await {
            Some(claims) => {
                let ok = names_sender(&claims);
                session.remember_token(&access_token, claims);
                ok
            }
            None => false,
        },
    };
    if !token_ok {
        return Err(Rejection::Alert(Alert::BadAccessToken));
    }
    let owner = match app.store.membership(&workspace, &attendee).await? {
        Membership::NoWorkspace => return Err(Rejection::Destroyed),
        Membership::NotMember if rule.restores_lapsed => {
            let capacity = app.settings.max_capacity_of_workspace;
            match app.store.restore_attendee(&workspace, &attendee, capacity).await? {
                Some(_) => false,
                None => return Err(Rejection::Alert(Alert::NoAccess)),
            }
        }
        Membership::NotMember => return Err(Rejection::Alert(Alert::NoAccess)),
        Membership::Member { owner } => owner,
    };
    if rule.owner_only && !owner {
        return Err(Rejection::Alert(Alert::NotOwner));
    }
    session.bind(app, socket, &workspace, &attendee, Hold::ToRecord).await;
    Ok(Member {
        workspace,
        attendee,
        owner,
        payload,
    })
}

/// The claims of an access token of ours, or of the original's when
/// `legacy_tokens` is on (bcrypt-checked against the claimed attendee, cached).
async fn verify_access(app: &App, token: &str, workspace: &WorkspaceId, attendee: &AttendeeId) -> Option<AccessClaims> {
    match app.tokens.verify_any_access_token(token).ok()? {
        Access::Ours(claims) => Some(claims),
        Access::Original(t) if app.legacy_tokens && &t.workspace == workspace => app
            .original
            .access_allowed(&app.tokens, token, &t, attendee)
            .await
            .then(|| AccessClaims {
                workspace: t.workspace,
                attendee: attendee.clone(),
                // Ownership comes from the store, never from a token.
                owner: false,
            }),
        Access::Original(_) => None,
    }
}

impl Member {
    /// The attendee a message is addressed to (`payload[field].id`), which must
    /// be a member of the sender's workspace.
    pub async fn target(&self, app: &App, field: &str) -> Result<AttendeeId, Rejection> {
        let len = app.settings.workspace_id_len;
        let target = payload::nested_id(
            &self.payload,
            field,
            |s| AttendeeId::parse(s, len),
            Alert::BadAttendeeId,
        )?;
        match app.store.membership(&self.workspace, &target).await? {
            Membership::Member { .. } => Ok(target),
            Membership::NotMember => Err(Rejection::Alert(Alert::TargetNotMember)),
            Membership::NoWorkspace => Err(Rejection::Destroyed),
        }
    }
}
