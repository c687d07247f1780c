//! Every way an operation can be refused. The texts are the original server's where it had one (the library shows
//! them to the user), so they are part of the wire contract
//! (`docs/PROTOCOL.md` § Every alert). Each alert is declared once, with its metric reason.

use std::borrow::Cow;

macro_rules! alerts {
    ($($variant:ident => $reason:literal, $text:literal;)*) => {
        /// An alert whose text is fixed.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Alert {
            $($variant,)*
        }

        impl Alert {
            /// Every alert, in declaration order.
            pub const ALL: &'static [Alert] = &[$(Alert::$variant,)*];

            /// What the client reads.
            pub const fn text(self) -> &'static str {
                match self {
                    $(Alert::$variant => $text,)*
                }
            }

            /// Its label in `wrw_alerts_total{reason}`.
            pub const fn reason(self) -> &'static str {
                match self {
                    $(Alert::$variant => $reason,)*
                }
            }
        }
    };
}

alerts! {
    NotAnObject => "not_an_object", "Invalid request: the payload must be an object.";
    BadWorkspaceId => "bad_workspace_id", "Please provide a valid workspace ID.";
    BadAttendeeId => "bad_attendee_id", "Please provide a valid attendee ID.";
    NoAccess => "no_access", "Invalid access token. Access is not allowed.";
    BadAccessToken => "bad_access_token", "Please provide a valid workspace token.";
    NotOwner => "not_owner", "Unauthorized operation. Abort.";
    NoWorkspaceToken => "no_workspace_token", "Please provide a valid workspace access token.";
    WrongPin => "wrong_pin", "This workspace is protected with a PIN. Wrong PIN provided.";
    TargetNotMember => "target_not_member", "The attendee is not a member of this workspace.";
    OwnerCannotLeave => "owner_cannot_leave", "Workspace owner cannot leave. Only shutdown is allowed.";
    OwnerCannotBeKicked => "owner_cannot_be_kicked", "Workspace owner cannot be kicked out of workspace.";
    MessageNotObject => "message_not_object", "Invalid request: message must be an object.";
    Busy => "busy", "Too many events in flight from this connection; slow down.";
    StorageFailed => "storage_failed", "The server could not store this change; please try again.";
    PinLocked => "pin_locked", "Too many wrong PINs. Please wait a minute before trying again.";
    CreateLimit => "create_limit", "Too many workspaces created from your address. Please try again later.";
    LiveLimit => "live_limit", "The server has reached its workspace limit. Please try again later.";
    RateLimited => "rate_limited", "Too many events; slow down.";
    SharedStateUnavailable => "shared_state_unavailable", "The server cannot reach its shared state right now; please try again in a moment.";
}

/// An alert whose text names part of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// `workspace` / `attendee` present but not an object.
    NotAnObject {
        field: &'static str,
    },
    /// `workspace.name` (…) present but not a string.
    NotAString {
        object: &'static str,
        field: &'static str,
    },
    TooLong {
        object: &'static str,
        field: &'static str,
        max: usize,
    },
    UnknownEvent(String),
}

impl Invalid {
    pub fn text(&self) -> String {
        match self {
            Invalid::NotAnObject { field } => format!("Invalid request: {field} must be an object."),
            Invalid::NotAString { object, field } => format!("Invalid request: {object}.{field} must be a string."),
            Invalid::TooLong { object, field, max } => {
                format!("Invalid request: {object}.{field} is too long (at most {max} characters).")
            }
            Invalid::UnknownEvent(name) => {
                let shown: String = name.chars().take(40).collect();
                format!("Unknown event {shown:?}.")
            }
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::UnknownEvent(_) => "unknown_event",
            _ => "invalid_request",
        }
    }
}

/// Why an event was not carried out. The sender learns it; nobody else does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Alert(Alert),
    Invalid(Invalid),
    /// The workspace no longer exists.
    Destroyed,
    /// `attend` found no free seat.
    Full,
}

impl From<Alert> for Rejection {
    fn from(a: Alert) -> Rejection {
        Rejection::Alert(a)
    }
}

impl From<Invalid> for Rejection {
    fn from(i: Invalid) -> Rejection {
        Rejection::Invalid(i)
    }
}

impl Rejection {
    /// A short label for metrics (`wrw_alerts_total{reason}`).
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Alert(a) => a.reason(),
            Rejection::Invalid(i) => i.reason(),
            Rejection::Destroyed => "destroyed",
            Rejection::Full => "full",
        }
    }

    /// The event that carries it (`wrw_events_total{outcome}`).
    pub fn event(&self) -> &'static str {
        match self {
            Rejection::Alert(_) | Rejection::Invalid(_) => "alert",
            Rejection::Destroyed => "destroyed",
            Rejection::Full => "full",
        }
    }

    /// The alert's text, for the alerts.
    pub fn text(&self) -> Option<Cow<'static, str>> {
        match self {
            Rejection::Alert(a) => Some(Cow::Borrowed(a.text())),
            Rejection::Invalid(i) => Some(Cow::Owned(i.text())),
            Rejection::Destroyed | Rejection::Full => None,
        }
    }
}

impl From<crate::store::StoreError> for Rejection {
    fn from(e: crate::store::StoreError) -> Rejection {
        use crate::store::StoreError;
        match e {
            StoreError::NotFound => Rejection::Destroyed,
            StoreError::Full => Rejection::Full,
            StoreError::Unavailable => Rejection::Alert(Alert::SharedStateUnavailable),
            StoreError::Backend(msg) => {
                tracing::error!(error = %msg, "store failed");
                Rejection::Alert(Alert::StorageFailed)
            }
        }
    }
}

impl From<crate::store::JoinError> for Rejection {
    fn from(e: crate::store::JoinError) -> Rejection {
        use crate::store::{JoinError, JoinRefusal};
        match e {
            JoinError::Store(e) => e.into(),
            JoinError::Refused(JoinRefusal::LiveLimit) => Rejection::Alert(Alert::LiveLimit),
            JoinError::Refused(JoinRefusal::CreateLimit) => Rejection::Alert(Alert::CreateLimit),
            JoinError::Refused(JoinRefusal::PinLocked) => Rejection::Alert(Alert::PinLocked),
            JoinError::Refused(JoinRefusal::WrongPin) => Rejection::Alert(Alert::WrongPin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_has_its_own_reason_and_text() {
        let reasons: std::collections::HashSet<_> = Alert::ALL.iter().map(|a| a.reason()).collect();
        let texts: std::collections::HashSet<_> = Alert::ALL.iter().map(|a| a.text()).collect();
        assert_eq!(reasons.len(), Alert::ALL.len());
        assert_eq!(texts.len(), Alert::ALL.len());
        assert!(!reasons.contains("invalid_request"));
    }
}
