//! What the room hears about the core's events (`docs/PROTOCOL.md` § Server
//! → client events): the one mapping from a `WorkspaceEvent` to its message,
//! used by the sender's handler (in the sender's order) and by presence
//! (from no socket).

use serde::Serialize;

use crate::hub::{workspace_room, Hub};
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
            reason: LeaveReason::Kicked,
            ..
        } => Some((
            "kicked",
            Said::Kicked {
                id: &attendee.id,
                name: &attendee.name,
            },
        )),
        WorkspaceEvent::Destroyed {
            reason: DestroyReason::Owner,
            ..
        } => Some(("destroyed", Said::Nothing {})),
        WorkspaceEvent::Destroyed {
            reason: DestroyReason::Expired,
            ..
        } => None,
    }
}

/// Tells the rooms what happened without a sender (a lapse, an expiry).
pub async fn from_server(hub: &dyn Hub, events: &[WorkspaceEvent]) {
    for event in events {
        if let Some((name, said)) = message(event) {
            let data = serde_json::to_value(&said).expect("a message serializes");
            hub.emit_to(workspace_room(event.workspace()), name, data).await;
        }
    }
}
