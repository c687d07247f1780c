//! Which rooms a socket is in on behalf of which attendee.
//!
//! Every attendee's sockets join two rooms: the workspace's (for broadcasts)
//! and the attendee's own (for messages addressed to it). Routing through
//! rooms needs no socket-id bookkeeping, survives reconnects and works the
//! same across nodes. A socket that shows up with a valid token but is not in
//! those rooms yet (socket.io-client reconnected on its own, with a new
//! socket) is bound before its event is handled (PROTOCOL.md §6).

use socketioxide::extract::SocketRef;

use crate::model::{AttendeeId, WorkspaceId};
use crate::tokens::AccessClaims;

pub fn workspace_room(id: &WorkspaceId) -> String {
    format!("ws:{id}")
}

pub fn attendee_room(id: &AttendeeId) -> String {
    format!("at:{id}")
}

/// Per-socket bookkeeping, owned by the socket's event loop (no locking).
#[derive(Default)]
pub struct Session {
    bindings: Vec<(WorkspaceId, AttendeeId)>,
    /// The last access token that verified on this socket: the library sends
    /// the same one with every event, so the signature is checked once.
    last_token: Option<(String, AccessClaims)>,
}

impl Session {
    /// Joins the socket to the attendee's rooms unless it already is.
    pub fn bind(&mut self, socket: &SocketRef, workspace: &WorkspaceId, attendee: &AttendeeId) {
        if self
            .bindings
            .iter()
            .any(|(w, a)| w == workspace && a == attendee)
        {
            return;
        }
        socket.join([workspace_room(workspace), attendee_room(attendee)]);
        self.bindings.push((workspace.clone(), attendee.clone()));
    }

    /// The claims of `token`, verifying it only if it is not the one already verified here.
    pub fn verified(
        &mut self,
        token: &str,
        verify: impl FnOnce(&str) -> Option<AccessClaims>,
    ) -> Option<AccessClaims> {
        if let Some((known, claims)) = &self.last_token {
            if known == token {
                return Some(claims.clone());
            }
        }
        let claims = verify(token)?;
        self.last_token = Some((token.to_string(), claims.clone()));
        Some(claims)
    }

    /// Forgets a binding whose rooms the socket has been made to leave.
    pub fn forget(&mut self, workspace: &WorkspaceId, attendee: &AttendeeId) {
        self.bindings
            .retain(|(w, a)| !(w == workspace && a == attendee));
    }
}
