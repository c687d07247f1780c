//! A socket's own state, held by the task draining its events, or by its
//! inbox while it is idle (connection.rs): the client's
//! address and connection slot, its event-rate bucket, the last access token
//! that verified on it, and which attendees it is bound to. A socket that
//! shows up with a valid token but is not in the attendee's rooms yet
//! (socket.io-client reconnected on its own, with a new socket) is bound
//! before its event is handled (docs/PROTOCOL.md § Sessions, disconnects
//! and reconnects).

use std::collections::HashSet;
use std::net::IpAddr;

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

use super::guard::TokenCache;
use crate::app::App;
use crate::hub::rooms_of;
use crate::limits::{ConnectionSlot, TokenBucket};
use crate::model::{AttendeeId, WorkspaceId};
use crate::settings::LimitSettings;
use crate::store::Hold;

/// Per-socket bookkeeping, used by one drain task at a time (no locking).
pub struct Session {
    /// The client's address, as the limits count it.
    pub ip: IpAddr,
    /// The (workspace, attendee) pairs this socket is in the rooms of. A set:
    /// one socket may create many workspaces, and each event checks it.
    bindings: HashSet<(WorkspaceId, AttendeeId)>,
    /// The last access token that verified on this socket.
    pub tokens: TokenCache,
    events: TokenBucket,
    refused: usize,
    /// Holds the address's connection slot for as long as the socket lives.
    _slot: ConnectionSlot,
}

/// Whether the socket's next event may run.
pub enum Admission {
    Run,
    /// Over the rate: answered with an alert, not handled.
    Refused,
    /// Refused too often: the socket is disconnected.
    Disconnect,
}

impl Session {
    pub fn new(ip: IpAddr, slot: ConnectionSlot, limits: &LimitSettings) -> Session {
        Session {
            ip,
            bindings: HashSet::new(),
            tokens: TokenCache::default(),
            events: TokenBucket::new(limits.events_per_second, limits.event_burst),
            refused: 0,
            _slot: slot,
        }
    }

    /// Spends one token of the socket's event rate.
    pub fn admit(&mut self, limits: &LimitSettings) -> Admission {
        if self.events.take() {
            return Admission::Run;
        }
        self.refused += 1;
        if self.refused > limits.max_refused_events {
            Admission::Disconnect
        } else {
            Admission::Refused
        }
    }

    /// Joins the socket to the attendee's rooms unless it already is (and,
    /// in cluster mode, listens on their channels and records that this node
    /// holds the attendee, unless the join's own step did: `hold`).
    pub async fn bind<A: Adapter>(
        &mut self,
        app: &App,
        socket: &SocketRef<A>,
        workspace: &WorkspaceId,
        attendee: &AttendeeId,
        hold: Hold,
    ) {
        // Checked before the insert: every relay binds, and the key is two clones.
        let bound = self.bindings.iter().any(|(w, a)| w == workspace && a == attendee);
        if !bound && self.bindings.insert((workspace.clone(), attendee.clone())) {
            let rooms = rooms_of(workspace, attendee);
            socket.join(rooms);
            app.presence.bound(workspace, attendee, hold).await;
        }
    }

    /// Forgets a binding whose rooms the socket has been made to leave.
    pub async fn forget(&mut self, app: &App, workspace: &WorkspaceId, attendee: &AttendeeId) {
        if self.bindings.remove(&(workspace.clone(), attendee.clone())) {
            app.presence.unbound(workspace, attendee);
        }
    }

    /// The socket is gone: its bindings start their grace (`Presence::disconnected`).
    pub fn disconnected(self, app: &App, sid: socketioxide::socket::Sid) {
        app.presence
            .clone()
            .disconnected(sid, self.bindings.into_iter().collect());
    }
}
