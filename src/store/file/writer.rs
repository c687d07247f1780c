//! The one task that writes: journal appends, and the start of compactions.
//!
//! Group commit: a change waits until its journal record is fsynced before
//! the handler replies, so an acknowledged change survives `kill -9`. The
//! writer appends whatever changed since its last append in one write and
//! one fsync: changes that arrive while an fsync is in flight go into the
//! next one together, so throughput grows with load instead of paying one
//! fsync per change. `flush_window_ms > 0` is the opt-in to reply before the
//! write (faster; a crash may lose what changed in the last window).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Notify};

use super::journal::{Journal, RecordOut};
use super::snapshot::{self, Snapshot};
use super::Shared;
use crate::model::WorkspaceId;
use crate::telemetry;

/// The journal is folded into a new snapshot once it outgrows the snapshot
/// (so compaction costs at most as much again as the appends did), and never
/// for less than this.
pub(super) const MIN_COMPACTION_BYTES: u64 = 8 << 20;

/// A request for a compaction now, answered once it is done.
pub(super) type CompactNow = oneshot::Sender<std::io::Result<()>>;

#[derive(Default)]
pub(super) struct Pending {
    pub(super) ids: HashSet<WorkspaceId>,
    /// Bumped on every change; waiters wait for the writer to pass theirs.
    pub(super) generation: u64,
    /// The workspaces of the append in flight, and the generation it makes durable.
    in_flight: HashSet<WorkspaceId>,
    in_flight_generation: u64,
}

impl Pending {
    /// The generation that makes the last change of `id` durable, if it is not yet.
    pub(super) fn unsettled(&self, id: &WorkspaceId) -> Option<u64> {
        if self.ids.contains(id) {
            Some(self.generation)
        } else if self.in_flight.contains(id) {
            Some(self.in_flight_generation)
        } else {
            None
        }
    }
}

/// What the writer has made durable, for the waiters.
#[derive(Clone, Default)]
pub(super) struct Written {
    pub(super) durable: u64,
    /// The last failed write: the generation it tried, and why.
    pub(super) failed: Option<(u64, String)>,
}

/// A background compaction: the new snapshot's size when it is done.
type Compaction = tokio::task::JoinHandle<std::io::Result<u64>>;

/// The one task that writes: journal appends, and the start of compactions.
struct Writer {
    /// Weak, so that dropping the `FileStore` ends the writer.
    shared: std::sync::Weak<Shared>,
    dirty: Arc<Notify>,
    journal: Journal,
    /// The last journal record written.
    seq: u64,
    snapshot_bytes: u64,
    compaction: Option<Compaction>,
}

impl Writer {
    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<CompactNow>) {
        loop {
            let mut request = tokio::select! {
                _ = self.dirty.notified() => None,
                Some(reply) = requests.recv() => Some(reply),
            };
            let Some(s) = self.shared.upgrade() else { return };
            if request.is_none() && !s.window.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(s.window) => {}
                    _ = s.urgent.notified() => {}
                    Some(reply) = requests.recv() => request = Some(reply),
                }
            }
            self = self.write_pending(&s).await;
            match request {
                Some(reply) => {
                    let _ = reply.send(self.compact_now(&s).await);
                }
                None => {
                    if self.journal.len() >= self.snapshot_bytes.max(s.compaction_floor) {
                        self.start_compaction(&s).await;
                    }
                    let _logged = self.finish_compaction(false).await;
                }
            }
        }
    }

    /// Appends the current state of every changed workspace in one write.
    async fn write_pending(mut self, s: &Arc<Shared>) -> Writer {
        let (ids, generation) = {
            let mut p = s.pending.lock().expect("pending lock");
            let ids = std::mem::take(&mut p.ids);
            p.in_flight = ids.clone();
            p.in_flight_generation = p.generation;
            (ids, p.generation)
        };
        if ids.is_empty() {
            return self;
        }
        let mut lines = Vec::with_capacity(ids.len() * 512);
        let first_seq = self.seq;
        for id in &ids {
            self.seq += 1;
            let state = s.memory.get_now(id);
            let record = RecordOut {
                seq: self.seq,
                put: state.as_ref(),
                del: state.is_none().then_some(id),
            };
            serde_json::to_writer(&mut lines, &record).expect("a record serializes");
            lines.push(b'\n');
        }
        let started = Instant::now();
        let mut journal = self.journal;
        let (journal, result) = tokio::task::spawn_blocking(move || {
            let r = journal.append(&lines);
            (journal, r)
        })
        .await
        .expect("the journal append does not panic");
        self.journal = journal;
        metrics::histogram!(telemetry::STORE_WRITE_SECONDS).record(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => {
                s.appends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics::counter!(telemetry::STORE_WRITES_TOTAL, "outcome" => "ok").increment(1);
                s.written.send_modify(|w| {
                    w.durable = generation;
                    w.failed = None;
                });
                s.pending.lock().expect("pending lock").in_flight.clear();
            }
            Err(e) => {
                self.seq = first_seq;
                metrics::counter!(telemetry::STORE_WRITES_TOTAL, "outcome" => "error").increment(1);
                tracing::error!(file = %s.path.display(), error = %e, "could not write the storage journal; retrying");
                s.written.send_modify(|w| w.failed = Some((generation, e.to_string())));
                // The changes are still to be written: back into the set, retried after a pause.
                s.pending.lock().expect("pending lock").ids.extend(ids);
                tokio::time::sleep(Duration::from_millis(500)).await;
                s.dirty.notify_one();
            }
        }
        self
    }

    /// Starts folding the journal into a new snapshot, in the background. The
    /// journal is renamed aside and a new one started, so appends go on while
    /// the snapshot is written; load replays both by sequence number, so a
    /// crash at any step loses nothing.
    async fn start_compaction(&mut self, s: &Arc<Shared>) {
        if self.compaction.is_some() {
            return;
        }
        let jpath = snapshot::sibling(&s.path, ".journal");
        let old = snapshot::sibling(&s.path, ".journal.old");
        let rotated = tokio::task::spawn_blocking(move || {
            std::fs::rename(&jpath, &old)?;
            Journal::create(&jpath)
        })
        .await
        .expect("the journal rotation does not panic");
        let journal = match rotated {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(file = %s.path.display(), error = %e, "could not start a compaction; will try again");
                return;
            }
        };
        self.journal = journal;
        let seq = self.seq;
        let shared = s.clone();
        self.compaction = Some(tokio::task::spawn_blocking(move || {
            let snap = Snapshot::new(seq, shared.imported_from_original, shared.memory.snapshot());
            let bytes = snapshot::write(&shared.path, &snap)?;
            std::fs::remove_file(snapshot::sibling(&shared.path, ".journal.old"))?;
            snapshot::sync_dir(&shared.path)?;
            Ok(bytes)
        }));
    }

    /// Collects a finished compaction (or, with `wait`, a running one).
    async fn finish_compaction(&mut self, wait: bool) -> std::io::Result<()> {
        if !wait && !self.compaction.as_ref().is_some_and(|c| c.is_finished()) {
            return Ok(());
        }
        let Some(compaction) = self.compaction.take() else {
            return Ok(());
        };
        let done = compaction.await.unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match &done {
            Ok(bytes) => {
                metrics::counter!(telemetry::STORE_COMPACTIONS_TOTAL, "outcome" => "ok").increment(1);
                self.snapshot_bytes = *bytes;
            }
            Err(e) => {
                metrics::counter!(telemetry::STORE_COMPACTIONS_TOTAL, "outcome" => "error").increment(1);
                tracing::error!(error = %e, "compaction failed; the journal keeps every change, will try again");
            }
        }
        done.map(|_| ())
    }

    /// Folds everything into the snapshot now (shutdown: the file then holds
    /// the whole state by itself and the journal is empty).
    async fn compact_now(&mut self, s: &Arc<Shared>) -> std::io::Result<()> {
        let _ = self.finish_compaction(true).await;
        if self.journal.len() == 0 {
            return Ok(());
        }
        self.start_compaction(s).await;
        self.finish_compaction(true).await
    }
}

/// Starts the writer for `shared`, appending to `journal` after record `seq`.
pub(super) fn spawn(
    shared: &Arc<Shared>,
    journal: Journal,
    seq: u64,
    snapshot_bytes: u64,
    requests: mpsc::UnboundedReceiver<CompactNow>,
) {
    let writer = Writer {
        shared: Arc::downgrade(shared),
        dirty: shared.dirty.clone(),
        journal,
        seq,
        snapshot_bytes,
        compaction: None,
    };
    tokio::spawn(writer.run(requests));
}
