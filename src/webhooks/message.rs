//! What a receiver gets for each core event: its type, and a body
//! `{type, timestamp, data}` whose `data` carries the workspace, the attendee
//! where there is one, and the workspace's sequence number. One core event
//! may make several messages: a destroyed workspace's members each leave
//! (reason `destroyed`) before the workspace is reported destroyed.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};

use crate::model::{random_token, WorkspaceId};
use crate::workspaces::{DestroyReason, LeaveReason, WorkspaceEvent};

/// One event as every URL receives it, with the same id on every try.
#[derive(Debug)]
pub struct Message {
    /// `webhook-id`.
    pub id: String,
    pub kind: &'static str,
    pub workspace: WorkspaceId,
    /// The JSON body, signed as is.
    pub body: Arc<str>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: &'a str,
    data: Value,
}

/// Characters of a message id after `msg_`.
const ID_LEN: usize = 24;

/// What `event` is told as, before sequence numbers: (type, data without `seq`).
pub fn describe(event: &WorkspaceEvent) -> Vec<(&'static str, Value)> {
    let ws = json!({ "id": event.workspace() });
    match event {
        WorkspaceEvent::Created { owner, .. } => {
            vec![("workspace.created", json!({ "workspace": ws, "attendee": owner }))]
        }
        WorkspaceEvent::Joined { attendee, .. } => {
            vec![("attendee.joined", json!({ "workspace": ws, "attendee": attendee }))]
        }
        WorkspaceEvent::Rejoined { attendee, restored, .. } => vec![(
            "attendee.rejoined",
            json!({ "workspace": ws, "attendee": attendee, "restored": restored }),
        )],
        WorkspaceEvent::Left { attendee, reason, .. } => {
            let reason = match reason {
                LeaveReason::Left => "left",
                LeaveReason::Kicked => "kicked",
                LeaveReason::Lapsed => "grace_expired",
                LeaveReason::Removed => "operator",
            };
            vec![(
                "attendee.left",
                json!({ "workspace": ws, "attendee": attendee, "reason": reason }),
            )]
        }
        WorkspaceEvent::Destroyed { reason, attendees, .. } => {
            let reason = match reason {
                DestroyReason::Owner => "owner",
                DestroyReason::Operator => "operator",
                DestroyReason::Expired => "expired",
            };
            let mut told: Vec<_> = attendees
                .iter()
                .map(|a| {
                    (
                        "attendee.left",
                        json!({ "workspace": ws, "attendee": { "id": a }, "reason": "destroyed" }),
                    )
                })
                .collect();
            told.push(("workspace.destroyed", json!({ "workspace": ws, "reason": reason })));
            told
        }
    }
}

/// The message of one described event with its sequence number.
pub fn message(workspace: &WorkspaceId, kind: &'static str, mut data: Value, seq: u64, timestamp: &str) -> Message {
    data["seq"] = json!(seq);
    let body = serde_json::to_string(&Body { kind, timestamp, data }).expect("a webhook body serializes");
    Message {
        id: format!("msg_{}", random_token(ID_LEN)),
        kind,
        workspace: workspace.clone(),
        body: body.into(),
    }
}
