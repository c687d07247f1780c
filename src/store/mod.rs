//! Where workspace state lives. Handlers only talk to `dyn Store`, so the
//! in-memory map can be swapped for a file-backed or Redis store without
//! touching them; nothing in this trait assumes the state is in this process.
//!
//! Every method is one atomic step: in particular `add_attendee` checks the
//! capacity and adds in the same step, so two joiners racing for the last
//! seat cannot both win.

pub mod file;
mod join;
mod memory;

pub use file::FileStore;
pub use join::{Attended, CreateGate, Hold, JoinError, JoinRefusal, PinGate};
pub use memory::MemoryStore;

use async_trait::async_trait;
use thiserror::Error;

use subtle::ConstantTimeEq;

use crate::model::{Attendee, AttendeeId, PinCheck, Workspace, WorkspaceId};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("workspace does not exist")]
    NotFound,
    #[error("workspace is full")]
    Full,
    #[error("storage failed: {0}")]
    Backend(String),
    /// The shared store (Redis) does not answer right now; the change was not applied.
    #[error("the shared store is unreachable")]
    Unavailable,
}

/// What the store knows about an attendee in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    NoWorkspace,
    NotMember,
    Member { owner: bool },
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new workspace (its id is fresh from the server).
    async fn create(&self, workspace: Workspace) -> Result<(), StoreError>;

    async fn get(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError>;

    /// The cheap check the guard runs on every event.
    async fn membership(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Membership, StoreError>;

    /// Adds the attendee if fewer than `capacity` are present; returns the workspace after.
    async fn add_attendee(
        &self,
        id: &WorkspaceId,
        attendee: Attendee,
        capacity: usize,
    ) -> Result<Workspace, StoreError>;

    /// A create with its limits (`join.rs`): by default the primitives one
    /// after the other, the limits having been checked by the caller.
    async fn create_joined(&self, workspace: Workspace, gate: &CreateGate) -> Result<Hold, JoinError> {
        debug_assert_eq!(gate, &CreateGate::Local, "shared limits need a store that checks them");
        self.create(workspace).await?;
        Ok(Hold::ToRecord)
    }

    /// An attend with its PIN check and limits (`join.rs`): `offered` is the
    /// check value of the PIN offered (`Tokens::pin_check`). By default the
    /// primitives one after the other; the order of the refusals is the
    /// rule: no workspace, then the PIN limit, then the PIN, then the capacity.
    async fn attend(
        &self,
        id: &WorkspaceId,
        attendee: Attendee,
        capacity: usize,
        offered: &str,
        gate: &PinGate,
    ) -> Result<Attended, JoinError> {
        let stored = self.get(id).await?.ok_or(StoreError::NotFound)?;
        if *gate == (PinGate::Local { allowed: false }) {
            return Err(JoinError::Refused(JoinRefusal::PinLocked));
        }
        let PinCheck::Keyed(check) = &stored.pin_check else {
            return Ok(Attended::Unchecked(stored));
        };
        if !bool::from(check.as_bytes().ct_eq(offered.as_bytes())) {
            return Err(JoinError::Refused(JoinRefusal::WrongPin));
        }
        let workspace = self.add_attendee(id, attendee, capacity).await?;
        Ok(Attended::Joined(workspace, Hold::ToRecord))
    }

    /// Removes the attendee; `Ok(None)` when it was not a member.
    async fn remove_attendee(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Option<Attendee>, StoreError>;

    /// Replaces how the PIN is checked and the workspace token handed out
    /// (an imported workspace moving to our own check value and token).
    async fn set_pin_check(&self, id: &WorkspaceId, check: PinCheck, token: String) -> Result<(), StoreError>;

    /// Changes what the operator may change (`None`: unchanged), in one step.
    async fn update(&self, id: &WorkspaceId, update: WorkspaceUpdate) -> Result<(), StoreError>;

    /// Sets the workspace's stored call (`Value::Null` clears it).
    async fn set_call(&self, id: &WorkspaceId, call: serde_json::Value) -> Result<(), StoreError>;

    /// Deletes the workspace for good; returns it as it was.
    async fn destroy(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError>;

    /// Moves a non-owner attendee whose grace period ran out to `lapsed`.
    async fn lapse_attendee(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Option<Attendee>, StoreError>;

    /// Brings a lapsed attendee back if there is room; `Ok(None)` when it had not lapsed.
    async fn restore_attendee(
        &self,
        id: &WorkspaceId,
        attendee: &AttendeeId,
        capacity: usize,
    ) -> Result<Option<Workspace>, StoreError>;

    /// The ids of every stored workspace (for the expiry sweep).
    async fn ids(&self) -> Result<Vec<WorkspaceId>, StoreError>;

    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// How many workspaces exist (checked on every create, so kept cheap).
    async fn workspace_count(&self) -> Result<usize, StoreError> {
        Ok(self.stats().await?.workspaces)
    }

    /// Makes every acknowledged change durable (before shutdown).
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// What `update` changes; each `None` is left as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceUpdate {
    pub name: Option<String>,
    pub avatar: Option<String>,
    /// A new PIN: how it is checked, and the invite token that goes with it.
    pub pin: Option<(PinCheck, String)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub workspaces: usize,
    pub attendees: usize,
}
