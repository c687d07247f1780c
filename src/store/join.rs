//! A join (a create or an attend) as one step of the store. On one node the
//! steps are the store's primitives, one after the other, with the limits
//! checked in this process. In cluster mode the whole join is one script
//! call (issue 21: a join in one round trip): the read, the limits that live
//! in Redis beside the state, the PIN check, the capacity check and insert,
//! and the record that this node holds the newcomer.

use std::time::Duration;

use thiserror::Error;

use super::StoreError;
use crate::model::Workspace;

/// Why a join was refused by a rule rather than by the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinRefusal {
    /// The server holds `max_live_workspaces`.
    LiveLimit,
    /// The address created `max_workspaces_per_ip_per_hour`.
    CreateLimit,
    /// The address or the workspace tried too many wrong PINs.
    PinLocked,
    /// The PIN does not match (counted by the step when its gate is shared,
    /// by the caller otherwise: `Limits::wrong_pin`).
    WrongPin,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum JoinError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("join refused: {0:?}")]
    Refused(JoinRefusal),
}

/// Where an attend's PIN-failure limits are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinGate {
    /// Counted in this process, and already read (one node): whether a PIN
    /// may be tried. A failure is counted by the caller.
    Local { allowed: bool },
    /// Counters in Redis (`P:lim:<name>`), read and, on a wrong PIN, counted
    /// inside the attend's own step.
    Shared {
        by_ip: String,
        by_workspace: String,
        max_by_ip: usize,
        max_by_workspace: usize,
        window: Duration,
    },
}

/// Where a create's limits are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateGate {
    /// Checked and counted in this process already (one node).
    Local,
    /// In Redis, inside the create's own step: the live-workspace cap and the
    /// creates of the address in the window (`P:lim:<by_ip>`).
    Shared {
        max_live: usize,
        by_ip: String,
        max_by_ip: usize,
        window: Duration,
    },
}

/// Whether the join's step also recorded that this node holds the newcomer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Recorded with the change (cluster mode): the session only counts it.
    Recorded,
    /// Still to record, where there is anything to record (cluster mode).
    ToRecord,
}

/// An attend the store let through.
#[derive(Debug)]
pub enum Attended {
    /// The newcomer is in: the workspace after (its `lapsed` may be left
    /// empty: the grant does not show it).
    Joined(Workspace, Hold),
    /// A workspace imported from the original server: its PIN is checked
    /// against the bcrypt hash in its token, which only the caller can do
    /// (slowly, and once: the first correct PIN stores our own check). The
    /// limits were checked; nothing was changed.
    Unchecked(Workspace),
}
