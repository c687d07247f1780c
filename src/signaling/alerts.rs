//! The one place a refusal is answered: to the sender, and only the sender.
//! What a refusal is (its text, its metric reason) is the core's
//! (`workspaces::refusal`), so that a future API refuses with the same words.

use crate::telemetry;
use serde_json::json;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;

pub use crate::workspaces::refusal::{Alert, Invalid, Rejection};

/// Answers the sender with the refusal's alert (or its `destroyed`/`full`).
pub fn answer<A: Adapter>(rejection: &Rejection, socket: &SocketRef<A>) {
    metrics::counter!(telemetry::ALERTS_TOTAL, "reason" => rejection.reason()).increment(1);
    let sent = match rejection.text() {
        Some(text) => socket.emit("alert", text.as_ref()),
        None => socket.emit(rejection.event(), &json!({})),
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, "could not answer a rejected event");
    }
}
