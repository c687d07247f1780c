//! The workspace core: every change of who is in which workspace, whoever
//! asks for it (a socket's event, the grace period, expiry; an operator API
//! next). Each operation takes typed input, applies the rules through the
//! store in one atomic step where it can, tells the event sink what
//! happened (logs, metrics, later webhooks) and returns its result with the
//! same events, from which the socket layer derives the room's messages.
//!
//! Nothing here knows about sockets or which transport asked: who the caller
//! is was settled before (`Caller`, made by the socket layer's guard).

pub mod events;
mod operator;
pub mod refusal;
pub mod sink;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;

pub use events::{DestroyReason, LeaveReason, WorkspaceEvent};
pub use operator::{Changes, Page};
pub use refusal::{Alert, Invalid, Rejection};
pub use sink::{Consumer, EventSink};

use crate::limits::Limits;
use crate::model::{now_millis, Attendee, AttendeeId, PinCheck, Workspace, WorkspaceId};
use crate::store::{Attended, Hold, JoinError, JoinRefusal, Membership, Store};
use crate::tokens::{Access, AccessClaims, OriginalVerifier, Tokens};

/// Who asks, as the guard admitted it: a verified token naming this
/// workspace and attendee, checked against the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub workspace: WorkspaceId,
    pub attendee: AttendeeId,
    pub role: Role,
}

/// What the store says the caller is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Owner,
    Attendee,
    /// Removed only by its grace period: may come back with `re_attend`, nothing else.
    Lapsed,
}

impl Caller {
    pub fn is_owner(&self) -> bool {
        self.role == Role::Owner
    }
}

/// A newcomer's profile, defaults already filled in; its id is the core's to make.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub avatar: String,
}

/// What `create` needs.
#[derive(Clone, Debug)]
pub struct NewWorkspace {
    pub name: String,
    pub avatar: String,
    pub pin: String,
    pub owner: Profile,
}

/// An operation's result and the events it caused (already told to the sink).
#[derive(Debug)]
pub struct Done<T> {
    pub value: T,
    pub events: Vec<WorkspaceEvent>,
}

/// A join: the workspace after it, the newcomer, its access token, and
/// whether the store also recorded that this node holds it.
#[derive(Debug)]
pub struct Joined {
    pub workspace: Workspace,
    pub attendee: Attendee,
    pub access_token: String,
    pub hold: Hold,
}

/// The limits the core applies that are not the store's.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    pub capacity: usize,
    pub id_len: usize,
}

/// The handle to the workspaces: one per server, shared by every caller.
pub struct Workspaces {
    store: Arc<dyn Store>,
    tokens: Tokens,
    /// Checks the original's bcrypt hashes (its tokens, imported workspaces' PINs).
    original: OriginalVerifier,
    /// Accept tokens the original server signed (`legacy_tokens`, resolved at start).
    legacy_tokens: bool,
    limits: Arc<Limits>,
    rules: Rules,
    sink: EventSink,
}

impl Workspaces {
    pub fn new(
        store: Arc<dyn Store>,
        tokens: Tokens,
        legacy_tokens: bool,
        limits: Arc<Limits>,
        rules: Rules,
        sink: EventSink,
    ) -> Workspaces {
        Workspaces {
            store,
            tokens,
            original: OriginalVerifier::default(),
            legacy_tokens,
            limits,
            rules,
            sink,
        }
    }

    pub fn rules(&self) -> Rules {
        self.rules
    }

    /// The store, for what is not a change of membership (stats, flush).
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    fn done<T>(&self, value: T, events: Vec<WorkspaceEvent>) -> Done<T> {
        self.sink.publish(&events);
        Done { value, events }
    }

    fn new_attendee(&self, profile: Profile) -> Attendee {
        Attendee {
            id: AttendeeId::generate(self.rules.id_len),
            name: profile.name,
            avatar: profile.avatar,
        }
    }

    /// A new workspace with its owner in it, within the live and per-address caps.
    pub async fn create(&self, spec: NewWorkspace, ip: IpAddr) -> Result<Done<Joined>, Rejection> {
        let gate = self.limits.create_gate(ip, &*self.store).await?;
        let (workspace, owner, access_token) = self.new_workspace(spec);
        let hold = self.store.create_joined(workspace.clone(), &gate).await?;
        Ok(self.created(workspace, owner, access_token, hold))
    }

    /// A workspace as `create` makes it, with its owner and the owner's
    /// access token; not stored yet.
    fn new_workspace(&self, spec: NewWorkspace) -> (Workspace, Attendee, String) {
        let owner = self.new_attendee(spec.owner);
        let id = WorkspaceId::generate(self.rules.id_len);
        let workspace = Workspace {
            token: self.tokens.workspace_token(&id),
            pin_check: PinCheck::Keyed(self.tokens.pin_check(&id, &spec.pin)),
            id,
            name: spec.name,
            avatar: spec.avatar,
            owner: owner.id.clone(),
            created: now_millis(),
            attendees: BTreeMap::from([(owner.id.clone(), owner.clone())]),
            call: Value::Null,
            lapsed: BTreeMap::new(),
        };
        let access_token = self.tokens.access_token(&workspace.id, &owner.id, true);
        (workspace, owner, access_token)
    }

    /// What a stored create caused.
    fn created(&self, workspace: Workspace, owner: Attendee, access_token: String, hold: Hold) -> Done<Joined> {
        let events = vec![WorkspaceEvent::Created {
            workspace: workspace.id.clone(),
            owner: owner.clone(),
        }];
        let joined = Joined {
            workspace,
            attendee: owner,
            access_token,
            hold,
        };
        self.done(joined, events)
    }

    /// A newcomer with the workspace's invite token and PIN, within the PIN
    /// limits and the capacity. Refusals in the order of `docs/PROTOCOL.md`.
    pub async fn attend(
        &self,
        invite: &str,
        pin: &str,
        profile: Profile,
        ip: IpAddr,
    ) -> Result<Done<Joined>, Rejection> {
        let attendee = self.new_attendee(profile);
        let invite = self
            .tokens
            .verify_any_workspace_token(invite, self.legacy_tokens)
            .map_err(|_| Rejection::Alert(Alert::WrongPin))?;
        let id = invite.workspace;
        let capacity = self.rules.capacity;
        let gate = self.limits.pin_gate(ip, &id);
        // An invite of another version than the stored one offers another
        // value: a PIN changed by the operator retires the invites before it.
        let offered = self.tokens.pin_check_for(&id, invite.version.as_deref(), pin);
        let (workspace, hold) = match self
            .store
            .attend(&id, attendee.clone(), capacity, &offered, &gate)
            .await
        {
            Ok(Attended::Joined(workspace, hold)) => (workspace, hold),
            Ok(Attended::Unchecked(stored)) => {
                if !self.original_pin_matches(&stored, pin).await? {
                    self.limits.pin_failed(ip, &id).await?;
                    return Err(wrong_pin(&id, ip));
                }
                let workspace = self.store.add_attendee(&id, attendee.clone(), capacity).await?;
                (workspace, Hold::ToRecord)
            }
            Err(JoinError::Refused(JoinRefusal::WrongPin)) => {
                self.limits.wrong_pin(ip, &id, &gate).await?;
                return Err(wrong_pin(&id, ip));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(self.joined(workspace, attendee, hold))
    }

    /// What a stored join of a newcomer caused.
    fn joined(&self, workspace: Workspace, attendee: Attendee, hold: Hold) -> Done<Joined> {
        let access_token = self.tokens.access_token(&workspace.id, &attendee.id, false);
        let events = vec![WorkspaceEvent::Joined {
            workspace: workspace.id.clone(),
            attendee: attendee.clone(),
        }];
        let joined = Joined {
            workspace,
            attendee,
            access_token,
            hold,
        };
        self.done(joined, events)
    }

    /// Checks `pin` of a workspace imported from the original, which has no
    /// check value of ours yet, against the bcrypt hash in its stored token;
    /// the first correct PIN stores our own check value and token (durably,
    /// before the grant hands the token out).
    async fn original_pin_matches(&self, stored: &Workspace, pin: &str) -> Result<bool, Rejection> {
        let Some(original) = self.tokens.original_workspace_token(&stored.token) else {
            tracing::error!(workspace = %stored.id, "the imported workspace's token does not verify: MAGICK_TOKEN differs from the original server's");
            return Ok(false);
        };
        if !self.original.pin_matches(&self.tokens, &original, pin).await {
            return Ok(false);
        }
        let check = PinCheck::Keyed(self.tokens.pin_check(&stored.id, pin));
        let token = self.tokens.workspace_token(&stored.id);
        self.store.set_pin_check(&stored.id, check, token).await?;
        tracing::info!(workspace = %stored.id, "imported workspace now checks its PIN with our own value");
        Ok(true)
    }

    /// A member coming back (a reload, a new socket): brought back first if
    /// it lapsed and there is room. Returns the workspace, the attendee and
    /// its access token (ours again: the same string for a token of ours, a
    /// fresh one in place of the original's).
    pub async fn re_attend(&self, caller: &Caller) -> Result<Done<(Workspace, Attendee, String)>, Rejection> {
        let restored = caller.role == Role::Lapsed;
        if restored {
            let capacity = self.rules.capacity;
            if self
                .store
                .restore_attendee(&caller.workspace, &caller.attendee, capacity)
                .await?
                .is_none()
            {
                return Err(Rejection::Alert(Alert::NoAccess));
            }
        }
        let workspace = self.workspace(caller).await?;
        let attendee = workspace
            .attendees
            .get(&caller.attendee)
            .cloned()
            .ok_or(Rejection::Alert(Alert::NoAccess))?;
        let token = self
            .tokens
            .access_token(&caller.workspace, &caller.attendee, caller.is_owner());
        let events = vec![WorkspaceEvent::Rejoined {
            workspace: caller.workspace.clone(),
            attendee: attendee.clone(),
            restored,
        }];
        Ok(self.done((workspace, attendee, token), events))
    }

    /// The caller's workspace as stored.
    pub async fn workspace(&self, caller: &Caller) -> Result<Workspace, Rejection> {
        self.store.get(&caller.workspace).await?.ok_or(Rejection::Destroyed)
    }

    /// The caller leaves for good (the owner cannot).
    pub async fn leave(&self, caller: &Caller) -> Result<Done<Attendee>, Rejection> {
        if caller.is_owner() {
            return Err(Rejection::Alert(Alert::OwnerCannotLeave));
        }
        let gone = self
            .store
            .remove_attendee(&caller.workspace, &caller.attendee)
            .await?
            .ok_or(Rejection::Alert(Alert::NoAccess))?;
        Ok(self.left(&caller.workspace, gone, LeaveReason::Left))
    }

    /// The owner (the guard checked) removes `target` for good.
    pub async fn kick(&self, owner: &Caller, target: &AttendeeId) -> Result<Done<Attendee>, Rejection> {
        if *target == owner.attendee {
            return Err(Rejection::Alert(Alert::OwnerCannotBeKicked));
        }
        self.remove(&owner.workspace, target, LeaveReason::Kicked).await
    }

    /// Removes a member for good (a kick: the caller made sure it is not the owner).
    async fn remove(
        &self,
        workspace: &WorkspaceId,
        target: &AttendeeId,
        reason: LeaveReason,
    ) -> Result<Done<Attendee>, Rejection> {
        let Some(gone) = self.store.remove_attendee(workspace, target).await? else {
            return Err(Rejection::Alert(Alert::TargetNotMember));
        };
        Ok(self.left(workspace, gone, reason))
    }

    /// The owner (the guard checked) deletes the workspace.
    pub async fn destroy(&self, owner: &Caller) -> Result<Done<Workspace>, Rejection> {
        self.delete(&owner.workspace, DestroyReason::Owner).await
    }

    async fn delete(&self, id: &WorkspaceId, reason: DestroyReason) -> Result<Done<Workspace>, Rejection> {
        let Some(workspace) = self.store.destroy(id).await? else {
            return Err(Rejection::Destroyed);
        };
        Ok(self.destroyed(workspace, reason))
    }

    /// Sets (or with `Value::Null` clears) the workspace's stored call.
    pub async fn set_call(&self, caller: &Caller, call: Value) -> Result<(), Rejection> {
        Ok(self.store.set_call(&caller.workspace, call).await?)
    }

    /// An attendee whose grace period ran out with no socket left (the owner
    /// never lapses: the store refuses). `None` when nothing changed.
    pub async fn lapse(
        &self,
        workspace: &WorkspaceId,
        attendee: &AttendeeId,
    ) -> Result<Option<Done<Attendee>>, Rejection> {
        Ok(self
            .store
            .lapse_attendee(workspace, attendee)
            .await?
            .map(|gone| self.left(workspace, gone, LeaveReason::Lapsed)))
    }

    /// An attendee the shared store already lapsed (a cluster's tick did, in
    /// one step with deciding it): only what it causes.
    pub fn lapsed(&self, workspace: &WorkspaceId, gone: Attendee) -> Done<Attendee> {
        self.left(workspace, gone, LeaveReason::Lapsed)
    }

    /// A workspace no member was connected to for the expiry period.
    pub async fn expire(&self, workspace: &WorkspaceId) -> Result<Option<Done<Workspace>>, Rejection> {
        Ok(self
            .store
            .destroy(workspace)
            .await?
            .map(|w| self.destroyed(w, DestroyReason::Expired)))
    }

    /// A workspace the shared store already expired (a cluster's tick).
    pub fn expired(&self, workspace: &WorkspaceId) -> Vec<WorkspaceEvent> {
        let events = vec![WorkspaceEvent::Destroyed {
            workspace: workspace.clone(),
            reason: DestroyReason::Expired,
            attendees: Vec::new(),
        }];
        self.sink.publish(&events);
        events
    }

    fn left(&self, workspace: &WorkspaceId, attendee: Attendee, reason: LeaveReason) -> Done<Attendee> {
        let events = vec![WorkspaceEvent::Left {
            workspace: workspace.clone(),
            attendee: attendee.clone(),
            reason,
        }];
        self.done(attendee, events)
    }

    fn destroyed(&self, workspace: Workspace, reason: DestroyReason) -> Done<Workspace> {
        let events = vec![WorkspaceEvent::Destroyed {
            workspace: workspace.id.clone(),
            reason,
            attendees: workspace.attendees.keys().cloned().collect(),
        }];
        self.done(workspace, events)
    }

    /// What the store says `attendee` is in `workspace`.
    pub async fn membership(&self, workspace: &WorkspaceId, attendee: &AttendeeId) -> Result<Membership, Rejection> {
        Ok(self.store.membership(workspace, attendee).await?)
    }

    /// The claims of an access token of ours, or of the original's when
    /// `legacy_tokens` is on (bcrypt-checked against the claimed attendee, cached).
    pub async fn verify_access(
        &self,
        token: &str,
        workspace: &WorkspaceId,
        attendee: &AttendeeId,
    ) -> Option<AccessClaims> {
        match self.tokens.verify_any_access_token(token).ok()? {
            Access::Ours(claims) => Some(claims),
            Access::Original(t) if self.legacy_tokens && &t.workspace == workspace => self
                .original
                .access_allowed(&self.tokens, token, &t, attendee)
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

    /// The tokens the core signs with (tests forge with another core's).
    #[cfg(test)]
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }
}

fn wrong_pin(id: &WorkspaceId, ip: IpAddr) -> Rejection {
    tracing::info!(workspace = %id, %ip, "wrong PIN");
    Rejection::Alert(Alert::WrongPin)
}
