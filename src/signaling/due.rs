//! What presence found due (a lapse, an expiry), applied through the core
//! and told to the rooms: the one place for it, whichever presence (one
//! node's timers, or a cluster's tick in Redis) decided it.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::announce;
use crate::app::App;
use crate::model::WorkspaceId;
use crate::presence::Due;
use crate::workspaces::{Done, Rejection, WorkspaceEvent};

/// Runs until presence stops handing anything on (the server stops).
pub async fn apply_due(app: Arc<App>, mut due: mpsc::UnboundedReceiver<Due>) {
    let core = &app.workspaces;
    while let Some(d) = due.recv().await {
        let events = match d {
            Due::Lapse(ws, at) => applied(&ws, core.lapse(&ws, &at).await),
            Due::Lapsed(ws, gone) => core.lapsed(&ws, gone).events,
            Due::Expire(ws) => applied(&ws, core.expire(&ws).await),
            Due::Expired(ws) => core.expired(&ws),
        };
        announce::from_server(&*app.io, &events).await;
    }
}

/// The events of a step presence asked the core for; none when it changed
/// nothing (another step got there first) or failed (logged, as before).
fn applied<T>(ws: &WorkspaceId, step: Result<Option<Done<T>>, Rejection>) -> Vec<WorkspaceEvent> {
    match step {
        Ok(done) => done.map(|d| d.events).unwrap_or_default(),
        Err(e) => {
            tracing::debug!(workspace = %ws, error = ?e, "presence's step not applied");
            Vec::new()
        }
    }
}
