//! Presence: a disconnected attendee stays a member for the grace period,
//! then lapses and the room is told with `leave`.

use std::sync::Arc;
use std::time::Instant;

use socketioxide::socket::Sid;

use super::rooms::attendee_room;
use super::session::Session;
use crate::app::App;
use crate::model::{AttendeeId, WorkspaceId};

/// A socket is gone. Its attendees stay members for the grace period (a page
/// reload comes back with `re-attend` a second later); any attendee that has
/// no socket left after it lapses, and the room is told with `leave`, so
/// ghosts neither linger in attendee lists nor fill workspaces up. The owner
/// never lapses (the store refuses).
pub fn disconnected(app: &Arc<App>, sid: Sid, session: Session) {
    if let Some(cluster) = &app.cluster {
        // Across nodes the grace runs in Redis (`cluster::presence`).
        for (workspace, attendee) in session.into_bindings() {
            cluster.release(&workspace, &attendee);
        }
        return;
    }
    let now = Instant::now();
    for (workspace, attendee) in session.into_bindings() {
        app.departures.insert(attendee.clone(), now);
        tokio::spawn(lapse_after_grace(app.clone(), sid, workspace, attendee, now));
    }
}

/// The grace runs from the attendee's *last* socket leaving: a reload that
/// came back and then vanished again gets a full grace of its own.
async fn lapse_after_grace(app: Arc<App>, sid: Sid, workspace: WorkspaceId, attendee: AttendeeId, departed: Instant) {
    let grace = app.settings.presence_grace;
    let mut deadline = departed + grace;
    loop {
        tokio::time::sleep_until(deadline.into()).await;
        if app.io.has_socket_besides(attendee_room(&attendee), Some(sid)).await {
            app.departures.remove_if(&attendee, |_, at| *at == departed);
            return;
        }
        let latest = app.departures.get(&attendee).map(|at| *at);
        match latest {
            Some(at) if at + grace > deadline => deadline = at + grace,
            _ => break,
        }
    }
    app.departures.remove(&attendee);
    match app.workspaces.lapse(&workspace, &attendee).await {
        Ok(Some(done)) => super::announce::from_server(&*app.io, &done.events).await,
        Ok(None) => {}
        Err(e) => tracing::debug!(%workspace, error = ?e, "no lapse"),
    }
}
