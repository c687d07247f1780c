//! What happened to a workspace, as the core reports it: the one vocabulary
//! the room's messages, the logs and the metrics (and the operator API and
//! webhooks after them) are derived from.

use crate::model::{Attendee, AttendeeId, WorkspaceId};

/// Why an attendee is no longer a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaveReason {
    /// It sent `leave`.
    Left,
    /// The owner kicked it.
    Kicked,
    /// It had no socket for the grace period (it may `re-attend`).
    Lapsed,
    /// The operator removed it (the API).
    Removed,
}

/// Why a workspace is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestroyReason {
    /// Its owner sent `destroy`.
    Owner,
    /// No member was connected for `workspace_expiry`.
    Expired,
    /// The operator deleted it (the API).
    Operator,
}

/// One thing an operation of the core caused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkspaceEvent {
    Created {
        workspace: WorkspaceId,
        owner: Attendee,
    },
    /// A newcomer was let in (`attend`).
    Joined {
        workspace: WorkspaceId,
        attendee: Attendee,
    },
    /// A member came back (`re-attend`), restored if it had lapsed.
    Rejoined {
        workspace: WorkspaceId,
        attendee: Attendee,
        restored: bool,
    },
    Left {
        workspace: WorkspaceId,
        attendee: Attendee,
        reason: LeaveReason,
    },
    Destroyed {
        workspace: WorkspaceId,
        reason: DestroyReason,
        /// The members it had (whose sockets must leave its rooms).
        attendees: Vec<AttendeeId>,
    },
}

impl WorkspaceEvent {
    pub fn workspace(&self) -> &WorkspaceId {
        match self {
            WorkspaceEvent::Created { workspace, .. }
            | WorkspaceEvent::Joined { workspace, .. }
            | WorkspaceEvent::Rejoined { workspace, .. }
            | WorkspaceEvent::Left { workspace, .. }
            | WorkspaceEvent::Destroyed { workspace, .. } => workspace,
        }
    }
}
