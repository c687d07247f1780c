//! Presence on one node: a timer per departure, and a sweep for workspaces
//! nobody is connected to.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::DashMap;
use socketioxide::socket::Sid;
use tokio::sync::mpsc;

use super::{Due, Presence};
use crate::hub::{attendee_room, workspace_room, Hub};
use crate::model::{AttendeeId, WorkspaceId};
use crate::store::{Hold, Store};

pub struct LocalPresence {
    hub: Arc<dyn Hub>,
    grace: Duration,
    /// When each recently disconnected attendee lost its last known socket
    /// (entries go when the grace resolves).
    departures: DashMap<AttendeeId, Instant>,
    due: mpsc::UnboundedSender<Due>,
}

impl LocalPresence {
    /// Presence over `hub`'s rooms; what falls due arrives on the receiver.
    pub fn new(hub: Arc<dyn Hub>, grace: Duration) -> (Arc<LocalPresence>, mpsc::UnboundedReceiver<Due>) {
        let (due, rx) = mpsc::unbounded_channel();
        let presence = LocalPresence {
            hub,
            grace,
            departures: DashMap::new(),
            due,
        };
        (Arc::new(presence), rx)
    }

    /// The grace runs from the attendee's *last* socket leaving: a reload that
    /// came back and then vanished again gets a full grace of its own.
    async fn lapse_after_grace(
        self: Arc<Self>,
        sid: Sid,
        workspace: WorkspaceId,
        attendee: AttendeeId,
        departed: Instant,
    ) {
        let mut deadline = departed + self.grace;
        loop {
            tokio::time::sleep_until(deadline.into()).await;
            if self.hub.has_socket_besides(attendee_room(&attendee), Some(sid)).await {
                self.departures.remove_if(&attendee, |_, at| *at == departed);
                return;
            }
            let latest = self.departures.get(&attendee).map(|at| *at);
            match latest {
                Some(at) if at + self.grace > deadline => deadline = at + self.grace,
                _ => break,
            }
        }
        self.departures.remove(&attendee);
        let _ = self.due.send(Due::Lapse(workspace, attendee));
    }

    /// Finds the workspaces that have had no connected socket for `expiry`.
    /// Runs until the server stops.
    pub async fn sweep_expired(self: Arc<Self>, store: Arc<dyn Store>, expiry: Duration) {
        let period = (expiry / 4).clamp(Duration::from_millis(250), Duration::from_secs(60));
        let mut empty_since: HashMap<WorkspaceId, Instant> = HashMap::new();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Ok(ids) = store.ids().await else {
                continue;
            };
            let now = Instant::now();
            let mut still_empty = HashMap::new();
            for id in ids {
                if self.hub.has_socket_besides(workspace_room(&id), None).await {
                    continue;
                }
                let since = empty_since.get(&id).copied().unwrap_or(now);
                if now.duration_since(since) >= expiry {
                    let _ = self.due.send(Due::Expire(id));
                } else {
                    still_empty.insert(id, since);
                }
            }
            empty_since = still_empty;
        }
    }
}

#[async_trait]
impl Presence for LocalPresence {
    /// Nothing to record: the rooms are this process's.
    async fn bound(&self, _: &WorkspaceId, _: &AttendeeId, _: Hold) {}

    /// Nothing to do: the change that unbound it removed it already.
    fn unbound(&self, _: &WorkspaceId, _: &AttendeeId) {}

    /// Its attendees stay members for the grace period (a page reload comes
    /// back with `re-attend` a second later); any with no socket left after
    /// it lapses, so ghosts neither linger in attendee lists nor fill
    /// workspaces up.
    fn disconnected(self: Arc<Self>, sid: Sid, bindings: Vec<(WorkspaceId, AttendeeId)>) {
        let now = Instant::now();
        for (workspace, attendee) in bindings {
            self.departures.insert(attendee.clone(), now);
            tokio::spawn(self.clone().lapse_after_grace(sid, workspace, attendee, now));
        }
    }
}
