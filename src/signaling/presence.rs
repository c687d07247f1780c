//! Which rooms a socket is in on behalf of which attendee.
//!
//! Every attendee's sockets join two rooms: the workspace's (for broadcasts)
//! and the attendee's own (for messages addressed to it). Routing through
//! rooms needs no socket-id bookkeeping, survives reconnects and works the
//! same across nodes. A socket that shows up with a valid token but is not in
//! those rooms yet (socket.io-client reconnected on its own, with a new
//! socket) is bound before its event is handled (PROTOCOL.md §6).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use crate::app::App;
use crate::limits::{ConnectionSlot, TokenBucket};
use crate::settings::LimitSettings;

use crate::model::{AttendeeId, WorkspaceId};
use crate::tokens::AccessClaims;

pub fn workspace_room(id: &WorkspaceId) -> String {
    format!("ws:{id}")
}

pub fn attendee_room(id: &AttendeeId) -> String {
    format!("at:{id}")
}

/// Per-socket bookkeeping, owned by the socket's event loop (no locking).
pub struct Session {
    /// The client's address, as the limits count it.
    pub ip: IpAddr,
    bindings: Vec<(WorkspaceId, AttendeeId)>,
    /// The last access token that verified on this socket: the library sends
    /// the same one with every event, so the signature is checked once.
    last_token: Option<(String, AccessClaims)>,
    events: TokenBucket,
    refused: usize,
    /// Holds the address's connection slot for as long as the socket lives.
    _slot: ConnectionSlot,
}

/// Whether the socket's next event may run.
pub enum Admission {
    Run,
    /// Over the rate: answered with an alert, not handled.
    Refused,
    /// Refused too often: the socket is disconnected.
    Disconnect,
}

impl Session {
    pub fn new(ip: IpAddr, slot: ConnectionSlot, limits: &LimitSettings) -> Session {
        Session {
            ip,
            bindings: Vec::new(),
            last_token: None,
            events: TokenBucket::new(limits.events_per_second, limits.event_burst),
            refused: 0,
            _slot: slot,
        }
    }

    /// Spends one token of the socket's event rate.
    pub fn admit(&mut self, limits: &LimitSettings) -> Admission {
        if self.events.take() {
            return Admission::Run;
        }
        self.refused += 1;
        if self.refused > limits.max_refused_events {
            Admission::Disconnect
        } else {
            Admission::Refused
        }
    }

    /// Joins the socket to the attendee's rooms unless it already is.
    pub fn bind(&mut self, socket: &SocketRef, workspace: &WorkspaceId, attendee: &AttendeeId) {
        if self.bindings.iter().any(|(w, a)| w == workspace && a == attendee) {
            return;
        }
        socket.join([workspace_room(workspace), attendee_room(attendee)]);
        self.bindings.push((workspace.clone(), attendee.clone()));
    }

    /// The claims of `token` if it is the one that last verified on this socket
    /// (the library sends the same one with every event, so it is checked once).
    pub fn known_token(&self, token: &str) -> Option<AccessClaims> {
        match &self.last_token {
            Some((known, claims)) if known == token => Some(claims.clone()),
            _ => None,
        }
    }

    /// Remembers the token that just verified.
    pub fn remember_token(&mut self, token: &str, claims: &AccessClaims) {
        self.last_token = Some((token.to_string(), claims.clone()));
    }

    /// Forgets a binding whose rooms the socket has been made to leave.
    pub fn forget(&mut self, workspace: &WorkspaceId, attendee: &AttendeeId) {
        self.bindings.retain(|(w, a)| !(w == workspace && a == attendee));
    }
}

/// A socket is gone. Its attendees stay members for the grace period (a page
/// reload comes back with `re-attend` a second later); any attendee that has
/// no socket left after it lapses, and the room is told with `leave`, so
/// ghosts neither linger in attendee lists nor fill workspaces up. The owner
/// never lapses (the store refuses).
pub fn disconnected(app: &Arc<App>, sid: Sid, session: Session) {
    let now = Instant::now();
    for (workspace, attendee) in session.bindings {
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
        let sockets = app.io.within(attendee_room(&attendee)).sockets();
        if sockets.iter().any(|s| s.id != sid) {
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
    match app.store.lapse_attendee(&workspace, &attendee).await {
        Ok(Some(gone)) => {
            tracing::info!(%workspace, %attendee, "attendee lapsed after its grace period");
            if let Err(e) = app.io.to(workspace_room(&workspace)).emit("leave", &gone).await {
                tracing::warn!(error = %e, "could not announce a lapsed attendee");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::debug!(%workspace, error = %e, "no lapse"),
    }
}

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
            if !app.io.within(workspace_room(&id)).sockets().is_empty() {
                continue;
            }
            let since = empty_since.get(&id).copied().unwrap_or(now);
            if now.duration_since(since) >= expiry {
                if let Ok(Some(_)) = app.store.destroy(&id).await {
                    tracing::info!(workspace = %id, "workspace expired: no member connected for the expiry period");
                    metrics::counter!("wrw_workspaces_expired_total").increment(1);
                }
            } else {
                still_empty.insert(id, since);
            }
        }
        empty_since = still_empty;
    }
}
