//! Workspace expiry: a workspace with no connected member for
//! `workspace_expiry` is deleted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::rooms::workspace_room;
use crate::app::App;
use crate::model::WorkspaceId;

/// Deletes workspaces that have had no connected socket for
/// `workspace_expiry`. Runs until the server stops.
pub async fn sweep_expired(app: Arc<App>) {
    let expiry = app.settings.workspace_expiry;
    let period = (expiry / 4).clamp(Duration::from_millis(250), Duration::from_secs(60));
    let mut empty_since: HashMap<WorkspaceId, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(ids) = app.store.ids().await else {
            continue;
        };
        let now = Instant::now();
        let mut still_empty = HashMap::new();
        for id in ids {
            if app.io.has_socket_besides(workspace_room(&id), None).await {
                continue;
            }
            let since = empty_since.get(&id).copied().unwrap_or(now);
            if now.duration_since(since) >= expiry {
                if let Ok(Some(done)) = app.workspaces.expire(&id).await {
                    super::announce::from_server(&*app.io, &done.events).await;
                }
            } else {
                still_empty.insert(id, since);
            }
        }
        empty_since = still_empty;
    }
}
