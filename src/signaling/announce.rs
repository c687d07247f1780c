//! What the room hears about the core's events (`docs/PROTOCOL.md` § Server
//! → client events): the one mapping from a `WorkspaceEvent` to its message,
//! used by the sender's handler (in the sender's order) and by presence
//! (from no socket).

use serde::Serialize;

use crate::hub::{attendee_room, rooms_of, workspace_room, Hub};
use crate::model::{Attendee, AttendeeId};
use crate::workspaces::{DestroyReason, LeaveReason, WorkspaceEvent};

/// A message's data, borrowed from its event.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum Said<'a> {
    Attendee(&'a Attendee),
    Kicked { id: &'a AttendeeId, name: &'a str },
    Nothing {},
}

/// The wire event and data the room is sent for `event`; `None` for what
/// the room is not told (a create: the room is the creator alone; an
/// expiry: nobody is connected).
pub(super) fn message(event: &WorkspaceEvent) -> Option<(&'static str, Said<'_>)> {
    match event {
        WorkspaceEvent::Created { .. } => None,
        WorkspaceEvent::Joined { attendee, .. } | WorkspaceEvent::Rejoined { attendee, .. } => {
            Some(("attend", Said::Attendee(attendee)))
        }
        WorkspaceEvent::Left {
            attendee,
            reason: LeaveReason::Left | LeaveReason::Lapsed,
            ..
        } => Some(("leave", Said::Attendee(attendee))),
        WorkspaceEvent::Left {
            attendee,
            reason: LeaveReason::Kicked | LeaveReason::Removed,
            ..
        } => Some((
            "kicked",
            Said::Kicked {
                id: &attendee.id,
                name: &attendee.name,
            },
        )),
        WorkspaceEvent::Destroyed {
            reason: DestroyReason::Owner | DestroyReason::Operator,
            ..
        } => Some(("destroyed", Said::Nothing {})),
        WorkspaceEvent::Destroyed {
            reason: DestroyReason::Expired,
            ..
        } => None,
    }
}

/// Tells the rooms what happened without a sender (a lapse, an expiry, the
/// operator API), in the order the protocol gives: one removed, and
/// everyone in a deleted workspace, hears it first and is taken out of the
/// rooms after (its sockets stay connected, as after a kick).
pub async fn from_server(hub: &dyn Hub, events: &[WorkspaceEvent]) {
    for event in events {
        let Some((name, said)) = message(event) else {
            continue;
        };
        let ws = event.workspace();
        let data = serde_json::to_value(&said).expect("a message serializes");
        hub.emit_to(workspace_room(ws), name, data).await;
        let removed: &[AttendeeId] = match event {
            WorkspaceEvent::Left {
                attendee,
                reason: LeaveReason::Kicked | LeaveReason::Removed,
                ..
            } => std::slice::from_ref(&attendee.id),
            WorkspaceEvent::Destroyed { attendees, .. } => attendees,
            _ => &[],
        };
        for attendee in removed {
            hub.leave(attendee_room(attendee), rooms_of(ws, attendee).to_vec())
                .await;
        }
    }
}
