//! Presence across nodes. Each node beats (a key with a TTL of three beats)
//! and records which attendees it holds a socket of; an attendee none holds
//! any more gets a departure time (now + the grace, Redis's clock). The tick
//! script, run by every node every beat, releases what dead nodes held,
//! lapses due departures and deletes expired workspaces — each exactly once,
//! by whichever node runs it first; that node hands them on as `Due`
//! (announced above presence, the same as on one node).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use async_trait::async_trait;
use socketioxide::socket::Sid;

use super::Cluster;
use crate::hub::{rooms_of, Hub};
use crate::model::{Attendee, AttendeeId, WorkspaceId};
use crate::presence::{Due, Presence, SharedHealth};
use crate::store::{Hold, StoreError};
use crate::telemetry;

/// Health is probed at least this often, so `/health` turns within 2 s.
const MAX_PROBE_PERIOD: Duration = Duration::from_millis(500);
/// How long the changes of this node's holds gather before they go to Redis
/// together: what a departure's grace may start late, and a re-attend wait.
const HOLDS_WINDOW: Duration = Duration::from_millis(5);
/// At most this many changes in one script call.
const HOLDS_BATCH: usize = 1024;

/// A change of this node's holds, queued for `Cluster::flush_holds`.
pub(super) struct HoldChange {
    /// "+<ws> <at>" (held) or "-<ws> <at>" (released): `lua/holds.lua`.
    op: String,
    /// Told once Redis has it (or could not be told).
    done: Option<oneshot::Sender<()>>,
}

/// Where `hold` and `release` queue their changes.
pub(super) struct HoldQueue(mpsc::UnboundedSender<HoldChange>);

impl HoldQueue {
    pub(super) fn new() -> (HoldQueue, mpsc::UnboundedReceiver<HoldChange>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (HoldQueue(tx), rx)
    }

    /// Queued in order; dropped only when the node is stopping (its
    /// shutdown releases everything it held).
    fn send(&self, change: HoldChange) {
        let _ = self.0.send(change);
    }
}

fn item(ws: &WorkspaceId, at: &AttendeeId) -> String {
    format!("{ws} {at}")
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Cluster {
    /// A session of this node was bound to the attendee (unless its join's
    /// script recorded the hold already: then the count was taken with it).
    /// Returns once Redis has it (a re-attend is answered after), or could
    /// not be told (then the next beat reconciles).
    async fn hold(&self, ws: &WorkspaceId, at: &AttendeeId, hold: Hold) {
        if hold == Hold::Recorded {
            return;
        }
        let first = {
            let mut n = self.held.entry((ws.clone(), at.clone())).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            let (done, recorded) = oneshot::channel();
            self.holds.send(HoldChange {
                op: format!("+{}", item(ws, at)),
                done: Some(done),
            });
            // Bounded by the flush's own bound on Redis.
            let _ = recorded.await;
        }
    }

    /// A join's script records this node's hold of the newcomer: counted
    /// here first, so that a reconcile running meanwhile (it makes Redis
    /// match this count) keeps it. Taken back when the join does not happen.
    pub(super) fn hold_recorded(&self, ws: &WorkspaceId, at: &AttendeeId) -> PendingHold<'_> {
        *self.held.entry((ws.clone(), at.clone())).or_insert(0) += 1;
        PendingHold {
            cluster: self,
            key: Some((ws.clone(), at.clone())),
        }
    }

    /// A session of this node is no longer bound to the attendee (its socket
    /// went, or it was unbound); the last one starts the attendee's grace,
    /// within `HOLDS_WINDOW` (nobody waits on it).
    fn release(&self, ws: &WorkspaceId, at: &AttendeeId) {
        let key = (ws.clone(), at.clone());
        let last = self
            .held
            .remove_if_mut(&key, |_, n| {
                *n = n.saturating_sub(1);
                *n == 0
            })
            .is_some();
        if last {
            self.holds.send(HoldChange {
                op: format!("-{}", item(ws, at)),
                done: None,
            });
        }
    }

    /// Sends the changes of this node's holds (`hold`, `release`), in the
    /// order they were decided, as one script call for every `HOLDS_WINDOW`
    /// (a busy node's joins and departures would otherwise cost Redis a
    /// call and a round trip each). Runs as long as the node.
    /// Ends when the cluster is dropped.
    pub(super) async fn flush_holds(cluster: Weak<Cluster>, mut changes: mpsc::UnboundedReceiver<HoldChange>) {
        let mut batch = Vec::new();
        while changes.recv_many(&mut batch, HOLDS_BATCH).await > 0 {
            tokio::time::sleep(HOLDS_WINDOW).await;
            while batch.len() < HOLDS_BATCH {
                match changes.try_recv() {
                    Ok(change) => batch.push(change),
                    Err(_) => break,
                }
            }
            let Some(c) = cluster.upgrade() else { return };
            let mut inv = c.invoke(&c.scripts.holds);
            inv.arg(&c.node_id).arg(ms(c.grace));
            for change in &batch {
                inv.arg(&change.op);
            }
            if let Err(e) = c.run::<String>(&inv).await {
                // The next beat that reaches Redis reconciles this node's holdings.
                c.reconcile_pending.store(true, std::sync::atomic::Ordering::Release);
                tracing::warn!(changes = batch.len(), error = %e, "could not record holds and departures in Redis (reconciled when it answers)");
                metrics::counter!(telemetry::REDIS_HOLDS_UNRECORDED_TOTAL).increment(batch.len() as u64);
            }
            for change in batch.drain(..) {
                if let Some(done) = change.done {
                    let _ = done.send(());
                }
            }
        }
    }

    /// Makes what Redis records as held by this node exactly what it holds:
    /// after Redis was away, holds and releases that could not reach it are
    /// applied now (a release with its full grace from now).
    async fn reconcile(&self) -> Result<(), StoreError> {
        let mut inv = self.invoke(&self.scripts.reconcile);
        inv.arg(&self.node_id).arg(ms(self.grace));
        let mut n = 0;
        for e in self.held.iter() {
            inv.arg(item(&e.key().0, &e.key().1));
            n += 1;
        }
        if n > 0 {
            tracing::info!(attendees = n, "recording this node's attendees in Redis again");
        }
        self.run::<String>(&inv).await.map(drop)
    }

    /// Refreshes this node's heartbeat and the health status. When the node
    /// was not known alive (first beat, Redis lost it, or the others declared
    /// it dead while it could not reach Redis) or Redis did not answer the
    /// last beat, its holdings are reconciled (`reconcile`).
    pub(super) async fn beat(&self) {
        if self.reconcile_pending.load(std::sync::atomic::Ordering::Acquire) && self.reconcile().await.is_ok() {
            self.reconcile_pending
                .store(false, std::sync::atomic::Ordering::Release);
        }
        let started = Instant::now();
        let mut inv = self.invoke(&self.scripts.heartbeat);
        inv.arg(&self.node_id).arg(ms(self.heartbeat * 3));
        let mut answer = self
            .run::<(i64, u64)>(&inv)
            .await
            .map(|(alive, redis_ms)| {
                // Redis read its clock somewhere in the round trip: its middle.
                self.probe.lock().expect("not poisoned").clock = Some((started + started.elapsed() / 2, redis_ms));
                alive
            })
            .map_err(|e| e.to_string());
        if answer.is_ok() {
            // Reachable is not enough: the node must also be listening.
            if let Err(problem) = self.listening().await {
                answer = Err(problem);
            }
        }
        let was_ok = {
            let mut p = self.probe.lock().expect("not poisoned");
            let was_ok = p.error.is_none() && p.last_ok.is_some();
            match &answer {
                Ok(_) => {
                    p.last_ok = Some(Instant::now());
                    p.latency = Some(started.elapsed());
                    p.error = None;
                }
                Err(e) => p.error = Some(e.clone()),
            }
            was_ok
        };
        let up = answer.is_ok();
        metrics::gauge!(telemetry::REDIS_UP).set(if up { 1.0 } else { 0.0 });
        if let Ok(alive) = answer {
            metrics::gauge!(telemetry::REDIS_LATENCY_SECONDS).set(started.elapsed().as_secs_f64());
            if (alive == 0 || !was_ok) && self.reconcile().await.is_err() {
                // Tried again at the next beat.
                self.reconcile_pending.store(true, std::sync::atomic::Ordering::Release);
            }
        } else if was_ok {
            tracing::warn!(error = ?answer.err(), "Redis does not answer; events that need shared state get an alert until it does");
        }
    }

    /// One tick: what dead nodes held released, due departures lapsed, expired
    /// workspaces deleted. Returns the lapsed (to announce) and the expired.
    async fn tick(&self) -> Result<(Vec<(WorkspaceId, Attendee)>, Vec<WorkspaceId>), StoreError> {
        let mut inv = self.invoke(&self.scripts.tick);
        inv.arg(ms(self.grace)).arg(ms(self.expiry));
        let (lapsed, expired): (Vec<(String, String)>, Vec<String>) = self.run(&inv).await?;
        let lapsed = lapsed
            .into_iter()
            .filter_map(|(ws, a)| Some((WorkspaceId::parse(&ws, self.id_len)?, serde_json::from_str(&a).ok()?)))
            .collect();
        let expired = expired
            .iter()
            .filter_map(|ws| WorkspaceId::parse(ws, self.id_len))
            .collect();
        Ok((lapsed, expired))
    }

    /// Leaving on purpose (shutdown): what this node held starts its grace now.
    async fn leave(&self) {
        let mut inv = self.invoke(&self.scripts.forget_node);
        inv.arg(&self.node_id).arg(ms(self.grace));
        if let Err(e) = self.run::<String>(&inv).await {
            tracing::warn!(error = %e, "could not sign this node off in Redis; the others will when its heartbeat expires");
        }
    }
}

/// A hold counted before its join's script ran; see [`Cluster::hold_recorded`].
pub(super) struct PendingHold<'a> {
    cluster: &'a Cluster,
    key: Option<(WorkspaceId, AttendeeId)>,
}

impl PendingHold<'_> {
    /// The join happened: the session that binds the newcomer owns the count.
    pub(super) fn keep(mut self) -> Hold {
        self.key = None;
        Hold::Recorded
    }

    /// Redis did not answer: the script may have run. The count goes back,
    /// and the next beat reconciles, releasing a hold it may have recorded.
    pub(super) fn unsure(&self) {
        self.cluster
            .reconcile_pending
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

impl Drop for PendingHold<'_> {
    /// The join did not happen: the count goes back, with no release sent.
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.cluster.held.remove_if_mut(&key, |_, n| {
                *n = n.saturating_sub(1);
                *n == 0
            });
        }
    }
}

/// The node's background work in cluster mode: beats (and health probes,
/// and this node's room channels made to match `hub`'s rooms), and ticks,
/// whose lapses and expiries go to `due`. Runs until the server stops.
pub async fn run(cluster: Arc<Cluster>, hub: Arc<dyn Hub>, due: mpsc::UnboundedSender<Due>) {
    let probe = cluster.heartbeat.min(MAX_PROBE_PERIOD);
    let mut beat = tokio::time::interval(probe);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick = tokio::time::interval(cluster.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = beat.tick() => {
                cluster.beat().await;
                if !cluster.health().reachable {
                    continue;
                }
                let local = hub.local_rooms().await.into_iter().collect();
                if let Err(e) = cluster.rooms.sync(local, |room| hub.holds_room(room)).await {
                    tracing::debug!(error = %e, "room channels not synced (retried at the next beat)");
                }
            }
            _ = tick.tick() => match cluster.tick().await {
                Ok((lapsed, expired)) => {
                    let lapsed = lapsed.into_iter().map(|(ws, gone)| Due::Lapsed(ws, gone));
                    for d in lapsed.chain(expired.into_iter().map(Due::Expired)) {
                        let _ = due.send(d);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "presence tick skipped"),
            },
        }
    }
}

#[async_trait]
impl Presence for Cluster {
    async fn bound(&self, ws: &WorkspaceId, at: &AttendeeId, hold: Hold) {
        // Listening on the rooms' channels before the join is answered.
        self.subscribe_rooms(&rooms_of(ws, at)).await;
        self.hold(ws, at, hold).await;
    }

    fn unbound(&self, ws: &WorkspaceId, at: &AttendeeId) {
        self.release(ws, at);
    }

    /// The grace runs in Redis: the last release of an attendee starts it.
    fn disconnected(self: Arc<Self>, _sid: Sid, bindings: Vec<(WorkspaceId, AttendeeId)>) {
        for (ws, at) in bindings {
            self.release(&ws, &at);
        }
    }

    fn shared_health(&self) -> Option<SharedHealth> {
        Some(self.health())
    }

    fn note_unanswered(&self, what: &str) {
        Cluster::note_unanswered(self, what);
    }

    async fn sign_off(&self) {
        self.leave().await;
    }
}
