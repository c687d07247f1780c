//! Every way an event can be refused, and the one place that answers it.
//! The texts are the original server's where it had one (the library shows
//! them to the user), so they are part of the wire contract.

use std::borrow::Cow;

use serde_json::json;
use socketioxide::extract::SocketRef;

use crate::limits;

pub const NOT_AN_OBJECT: &str = "Invalid request: the payload must be an object.";
pub const BAD_WORKSPACE_ID: &str = "Please provide a valid workspace ID.";
pub const BAD_ATTENDEE_ID: &str = "Please provide a valid attendee ID.";
pub const NO_ACCESS: &str = "Invalid access token. Access is not allowed.";
pub const BAD_ACCESS_TOKEN: &str = "Please provide a valid workspace token.";
pub const NOT_OWNER: &str = "Unauthorized operation. Abort.";
pub const NO_WORKSPACE_TOKEN: &str = "Please provide a valid workspace access token.";
pub const WRONG_PIN: &str = "This workspace is protected with a PIN. Wrong PIN provided.";
pub const TARGET_NOT_MEMBER: &str = "The attendee is not a member of this workspace.";
pub const OWNER_CANNOT_LEAVE: &str = "Workspace owner cannot leave. Only shutdown is allowed.";
pub const OWNER_CANNOT_BE_KICKED: &str = "Workspace owner cannot be kicked out of workspace.";
pub const MESSAGE_NOT_OBJECT: &str = "Invalid request: message must be an object.";
pub const BUSY: &str = "Too many events in flight from this connection; slow down.";
pub const STORAGE_FAILED: &str = "The server could not store this change; please try again.";

/// Why an event was not carried out. The sender learns it; nobody else does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Alert(Cow<'static, str>),
    /// The workspace no longer exists.
    Destroyed,
    /// `attend` found no free seat.
    Full,
}

impl Rejection {
    pub const fn alert(text: &'static str) -> Rejection {
        Rejection::Alert(Cow::Borrowed(text))
    }

    /// A short label for metrics (`wrw_alerts_total{reason}`).
    pub fn reason(&self) -> &'static str {
        let text = match self {
            Rejection::Destroyed => return "destroyed",
            Rejection::Full => return "full",
            Rejection::Alert(text) => text.as_ref(),
        };
        match text {
            NOT_AN_OBJECT => "not_an_object",
            BAD_WORKSPACE_ID => "bad_workspace_id",
            BAD_ATTENDEE_ID => "bad_attendee_id",
            NO_ACCESS => "no_access",
            BAD_ACCESS_TOKEN => "bad_access_token",
            NOT_OWNER => "not_owner",
            NO_WORKSPACE_TOKEN => "no_workspace_token",
            WRONG_PIN => "wrong_pin",
            TARGET_NOT_MEMBER => "target_not_member",
            OWNER_CANNOT_LEAVE => "owner_cannot_leave",
            OWNER_CANNOT_BE_KICKED => "owner_cannot_be_kicked",
            BUSY => "busy",
            STORAGE_FAILED => "storage_failed",
            limits::PIN_LOCKED => "pin_locked",
            limits::CREATE_LIMIT => "create_limit",
            limits::LIVE_LIMIT => "live_limit",
            limits::RATE_LIMITED => "rate_limited",
            _ => "invalid_request",
        }
    }

    /// Answers the sender, and only the sender.
    pub fn send_to(&self, socket: &SocketRef) {
        metrics::counter!("wrw_alerts_total", "reason" => self.reason()).increment(1);
        let sent = match self {
            Rejection::Alert(text) => socket.emit("alert", text.as_ref()),
            Rejection::Destroyed => socket.emit("destroyed", &json!({})),
            Rejection::Full => socket.emit("full", &json!({})),
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "could not answer a rejected event");
        }
    }
}

impl From<crate::store::StoreError> for Rejection {
    fn from(e: crate::store::StoreError) -> Rejection {
        use crate::store::StoreError;
        match e {
            StoreError::NotFound => Rejection::Destroyed,
            StoreError::Full => Rejection::Full,
            StoreError::Backend(msg) => {
                tracing::error!(error = %msg, "store failed");
                Rejection::alert(STORAGE_FAILED)
            }
        }
    }
}
