//! Presence: which attendees have a socket, a grace period for those that
//! lost theirs, and the workspaces nobody is connected to. One trait, two
//! answers: on one node the state is this process's (`local.rs`); across
//! nodes it is in Redis (`cluster::presence`), where each lapse and expiry
//! is decided once per cluster. Either way, what falls due is handed on as
//! `Due`, and one loop above both (`signaling::apply_due`) applies it
//! through the workspace core, so a lapse is logged, counted and announced
//! the same way whichever decided it.

mod local;

pub use local::LocalPresence;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use socketioxide::socket::Sid;

use crate::model::{Attendee, AttendeeId, WorkspaceId};
use crate::store::Hold;

/// What presence found due.
#[derive(Debug)]
pub enum Due {
    /// An attendee whose grace ran out with no socket: the core lapses it.
    Lapse(WorkspaceId, AttendeeId),
    /// An attendee the shared store lapsed already, in the step that decided it.
    Lapsed(WorkspaceId, Attendee),
    /// A workspace nobody was connected to for the expiry period: the core deletes it.
    Expire(WorkspaceId),
    /// A workspace the shared store deleted already.
    Expired(WorkspaceId),
}

/// What `/health` and `/metrics` say about the shared state (Redis), as
/// presence's heartbeat last saw it.
#[derive(Clone, Debug, Serialize)]
pub struct SharedHealth {
    pub reachable: bool,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
}

#[async_trait]
pub trait Presence: Send + Sync + 'static {
    /// A socket of this node joined the attendee's rooms. Across nodes: its
    /// room channels are listened on and the hold recorded (unless the
    /// join's own step did: `hold`) before this returns, so the join is
    /// answered only once other nodes can reach it.
    async fn bound(&self, workspace: &WorkspaceId, attendee: &AttendeeId, hold: Hold);

    /// A socket of this node left the attendee's rooms while connected (the
    /// attendee left, was kicked, or its workspace destroyed).
    fn unbound(&self, workspace: &WorkspaceId, attendee: &AttendeeId);

    /// A socket is gone: each attendee it was bound to starts its grace
    /// unless another socket still holds it.
    fn disconnected(self: Arc<Self>, sid: Sid, bindings: Vec<(WorkspaceId, AttendeeId)>);

    /// The shared state's health; `None` on one node (nothing is shared).
    fn shared_health(&self) -> Option<SharedHealth> {
        None
    }

    /// A request of ours found the shared state not answering: say so now,
    /// not at the next heartbeat.
    fn note_unanswered(&self, _what: &str) {}

    /// Shutdown: what this node holds starts its grace now.
    async fn sign_off(&self) {}
}
