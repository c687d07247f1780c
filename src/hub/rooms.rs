//! The rooms a socket joins on behalf of an attendee: the workspace's (for
//! broadcasts) and the attendee's own (for messages addressed to it). Routing
//! through rooms needs no socket-id bookkeeping, survives reconnects and
//! works the same across nodes.

use crate::model::{AttendeeId, WorkspaceId};

pub fn workspace_room(id: &WorkspaceId) -> String {
    format!("ws:{id}")
}

pub fn attendee_room(id: &AttendeeId) -> String {
    format!("at:{id}")
}

/// The rooms a socket bound to the attendee is in.
pub fn rooms_of(workspace: &WorkspaceId, attendee: &AttendeeId) -> [String; 2] {
    [workspace_room(workspace), attendee_room(attendee)]
}
