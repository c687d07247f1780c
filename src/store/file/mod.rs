//! The file-backed store (`json_storage_file`): the memory store, made
//! durable by a snapshot (`<file>`) and a journal of changes since
//! (`<file>.journal`), compacted into the snapshot in the background.
//!
//! Group commit: a change waits until its journal record is fsynced before
//! the handler replies, so an acknowledged change survives `kill -9`. One
//! writer task appends whatever changed since its last append in one write
//! and one fsync: changes that arrive while an fsync is in flight go into the
//! next one together, so throughput grows with load instead of paying one
//! fsync per change. `flush_window_ms > 0` is the opt-in to reply before the
//! write (faster; a crash may lose what changed in the last window).
//!
//! The original server's file (see `original.rs`) is imported on the first
//! start and kept next to ours as `<file>.original`.

mod journal;
mod original;
mod snapshot;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch, Notify};

use super::{Membership, MemoryStore, Store, StoreError, StoreStats};
use crate::model::{Attendee, AttendeeId, PinCheck, Workspace, WorkspaceId};
use crate::telemetry;
use journal::{Change, Journal, RecordOut};
use snapshot::Snapshot;

/// The journal is folded into a new snapshot once it outgrows the snapshot
/// (so compaction costs at most as much again as the appends did), and never
/// for less than this.
const MIN_COMPACTION_BYTES: u64 = 8 << 20;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{path}: cannot read the storage file: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the storage file is not a valid snapshot ({problem}); it was left untouched — fix or move it away to start")]
    Corrupt { path: String, problem: String },
    #[error("{path}: {problem}")]
    Write { path: String, problem: String },
}

/// Changes recorded but not yet in the journal.
#[derive(Default)]
struct Pending {
    ids: HashSet<WorkspaceId>,
    /// Bumped on every change; waiters wait for the writer to pass theirs.
    generation: u64,
    /// The workspaces of the append in flight, and the generation it makes durable.
    in_flight: HashSet<WorkspaceId>,
    in_flight_generation: u64,
}

impl Pending {
    /// The generation that makes the last change of `id` durable, if it is not yet.
    fn unsettled(&self, id: &WorkspaceId) -> Option<u64> {
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
struct Written {
    durable: u64,
    /// The last failed write: the generation it tried, and why.
    failed: Option<(u64, String)>,
}

struct Shared {
    memory: MemoryStore,
    path: PathBuf,
    pending: Mutex<Pending>,
    dirty: Arc<Notify>,
    /// Skips the flush window (shutdown).
    urgent: Notify,
    written: watch::Sender<Written>,
    window: Duration,
    imported_from_original: bool,
    /// Journal appends so far (each one write and one fsync).
    appends: std::sync::atomic::AtomicU64,
    compaction_floor: u64,
    /// Asks the writer for a compaction now (shutdown).
    compact: mpsc::UnboundedSender<oneshot::Sender<std::io::Result<()>>>,
}

pub struct FileStore {
    shared: Arc<Shared>,
}

/// The state found on disk.
struct Loaded {
    workspaces: Vec<Workspace>,
    seq: u64,
    imported_from_original: bool,
    /// Anything beyond the snapshot (journal records, an import): a fresh
    /// snapshot is written before serving.
    rewrite: bool,
    /// The original server's file, to keep as `<file>.original` before ours replaces it.
    original: Option<Vec<u8>>,
    skipped: Vec<String>,
}

/// What `FileStore::inspect` found, without changing anything on disk.
#[derive(Debug)]
pub struct Inspection {
    pub workspaces: usize,
    pub imported_from_original: bool,
    /// The file is the original server's and would be imported on start.
    pub original_format: bool,
    /// Workspaces of the original's file an import would leave out.
    pub skipped: Vec<String>,
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn corrupt(path: &Path, problem: impl Into<String>) -> LoadError {
    LoadError::Corrupt {
        path: shown(path),
        problem: problem.into(),
    }
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> LoadError {
    LoadError::Write {
        path: shown(path),
        problem: format!("cannot write the storage file: {e}"),
    }
}

/// Creates and removes a file beside `path`: the directory exists and this
/// process may write there (permissions, a read-only mount), as `open` will.
fn probe_directory(path: &Path) -> Result<(), LoadError> {
    let probe = snapshot::sibling(path, &format!(".check-{}", std::process::id()));
    let refused = |e: std::io::Error| {
        LoadError::Write {
        path: shown(path),
        problem: format!(
            "cannot write the storage file: its directory {} does not take new files ({e}); create it, or make it writable for this user",
            snapshot::dir_of(path).display()
        ),
    }
    };
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(refused)?;
    std::fs::remove_file(&probe).map_err(refused)
}

/// Reads the snapshot (ours or the original's) and replays the journals.
fn load(path: &Path, id_len: usize) -> Result<Loaded, LoadError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(LoadError::Read {
                path: shown(path),
                source,
            })
        }
    };
    let mut loaded = match bytes {
        None => Loaded {
            workspaces: Vec::new(),
            seq: 0,
            imported_from_original: false,
            rewrite: true,
            original: None,
            skipped: Vec::new(),
        },
        Some(bytes) if is_ours(path, &bytes)? => {
            let s: Snapshot = serde_json::from_slice(&bytes).map_err(|e| corrupt(path, e.to_string()))?;
            if s.format != snapshot::FORMAT {
                return Err(corrupt(path, format!("unknown format {:?}", s.format)));
            }
            Loaded {
                workspaces: s.workspaces,
                seq: s.seq,
                imported_from_original: s.imported_from_original,
                rewrite: false,
                original: None,
                skipped: Vec::new(),
            }
        }
        Some(bytes) => import_original(path, &bytes, id_len)?,
    };
    let mut by_id: std::collections::HashMap<WorkspaceId, Workspace> =
        loaded.workspaces.drain(..).map(|w| (w.id.clone(), w)).collect();
    for name in [".journal.old", ".journal"] {
        let jpath = snapshot::sibling(path, name);
        let replayed = journal::read(&jpath).map_err(|problem| LoadError::Corrupt {
            path: shown(&jpath),
            problem: format!("journal: {problem}"),
        })?;
        if replayed.torn_bytes > 0 {
            tracing::warn!(file = %jpath.display(), bytes = replayed.torn_bytes, "ignored a torn last journal line (a crash during a write it never acknowledged)");
        }
        for (seq, change) in replayed.records {
            if seq <= loaded.seq {
                continue;
            }
            loaded.seq = seq;
            loaded.rewrite = true;
            match change {
                Change::Put(w) => {
                    by_id.insert(w.id.clone(), w);
                }
                Change::Del(id) => {
                    by_id.remove(&id);
                }
            }
        }
    }
    loaded.workspaces = by_id.into_values().collect();
    Ok(loaded)
}

/// Our snapshot is an object with a `format` key; the original's is an
/// object keyed by workspace id. Anything else is refused as it is.
fn is_ours(path: &Path, bytes: &[u8]) -> Result<bool, LoadError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        format: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(bytes)
        .map(|p| p.format.is_some())
        .map_err(|e| corrupt(path, e.to_string()))
}

/// Reads the original server's file (converted; written nowhere yet).
fn import_original(path: &Path, bytes: &[u8], id_len: usize) -> Result<Loaded, LoadError> {
    let imported = original::parse(bytes, id_len).map_err(|p| {
        corrupt(
            path,
            format!("neither this server's snapshot nor the original server's file: {p}"),
        )
    })?;
    Ok(Loaded {
        workspaces: imported.workspaces,
        seq: 0,
        imported_from_original: true,
        rewrite: true,
        original: Some(bytes.to_vec()),
        skipped: imported.skipped,
    })
}

/// Keeps the original server's file as `<file>.original`, before anything of
/// ours is written over it.
fn back_up_original(path: &Path, bytes: &[u8], skipped: &[String], workspaces: usize) -> Result<(), LoadError> {
    let backup = snapshot::sibling(path, ".original");
    match std::fs::read(&backup) {
        Ok(existing) if existing == bytes => {}
        Ok(_) => {
            return Err(LoadError::Write {
                path: shown(&backup),
                problem: format!(
                    "a different backup of the original server's file is already here; move it away to import {}",
                    path.display()
                ),
            })
        }
        Err(_) => snapshot::replace_atomically(&backup, |w| w.write_all(bytes)).map_err(|e| write_error(&backup, e))?,
    }
    for why in skipped {
        tracing::warn!(file = %path.display(), skipped = %why, "a workspace of the original's file was left out (kept in the .original backup)");
    }
    tracing::info!(
        file = %path.display(),
        backup = %backup.display(),
        workspaces,
        skipped = skipped.len(),
        "imported the original server's storage file"
    );
    Ok(())
}

impl FileStore {
    /// Loads `path` (a missing file is an empty store), folds any journal
    /// into a fresh snapshot, and starts the writer. Must run inside tokio.
    pub fn open(path: &Path, window: Duration, id_len: usize) -> Result<FileStore, LoadError> {
        FileStore::open_with(path, window, id_len, MIN_COMPACTION_BYTES)
    }

    /// Loads `path` as `open` would and checks that its directory takes new
    /// files (`open` writes the journal and snapshots there), leaving nothing
    /// behind: what `check` runs.
    pub fn inspect(path: &Path, id_len: usize) -> Result<Inspection, LoadError> {
        let loaded = load(path, id_len)?;
        probe_directory(path)?;
        Ok(Inspection {
            workspaces: loaded.workspaces.len(),
            imported_from_original: loaded.imported_from_original,
            original_format: loaded.original.is_some(),
            skipped: loaded.skipped,
        })
    }

    fn open_with(path: &Path, window: Duration, id_len: usize, compaction_floor: u64) -> Result<FileStore, LoadError> {
        let loaded = load(path, id_len)?;
        probe_directory(path)?;
        if let Some(bytes) = &loaded.original {
            back_up_original(path, bytes, &loaded.skipped, loaded.workspaces.len())?;
        }
        let snap = Snapshot::new(loaded.seq, loaded.imported_from_original, loaded.workspaces);
        let snapshot_bytes = if loaded.rewrite {
            snapshot::write(path, &snap).map_err(|e| write_error(path, e))?
        } else {
            std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        };
        // Everything of the journals is now in the snapshot (or older than it).
        match std::fs::remove_file(snapshot::sibling(path, ".journal.old")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(write_error(path, e)),
            _ => {}
        }
        let journal = Journal::create(&snapshot::sibling(path, ".journal")).map_err(|e| write_error(path, e))?;
        tracing::info!(file = %path.display(), workspaces = snap.workspaces.len(), "storage file loaded");
        let (written, _) = watch::channel(Written::default());
        let (compact, requests) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            memory: MemoryStore::with(snap.workspaces),
            path: path.to_path_buf(),
            pending: Mutex::new(Pending::default()),
            dirty: Arc::new(Notify::new()),
            urgent: Notify::new(),
            written,
            window,
            imported_from_original: loaded.imported_from_original,
            appends: Default::default(),
            compaction_floor,
            compact,
        });
        let writer = Writer {
            shared: Arc::downgrade(&shared),
            dirty: shared.dirty.clone(),
            journal,
            seq: loaded.seq,
            snapshot_bytes,
            compaction: None,
        };
        tokio::spawn(writer.run(requests));
        Ok(FileStore { shared })
    }

    /// Whether this store's state began as the original server's file.
    pub fn imported_from_original(&self) -> bool {
        self.shared.imported_from_original
    }

    /// Records that `id` changed; unless a flush window is set, waits until it is on disk.
    async fn changed(&self, id: &WorkspaceId) -> Result<(), StoreError> {
        let generation = {
            let mut p = self.shared.pending.lock().expect("pending lock");
            p.ids.insert(id.clone());
            p.generation += 1;
            p.generation
        };
        self.shared.dirty.notify_one();
        if self.shared.window.is_zero() {
            self.durable(generation).await
        } else {
            Ok(())
        }
    }

    async fn durable(&self, generation: u64) -> Result<(), StoreError> {
        let mut rx = self.shared.written.subscribe();
        let outcome = rx
            .wait_for(|w| w.durable >= generation || matches!(w.failed, Some((g, _)) if g >= generation))
            .await
            .map(|w| w.clone());
        match outcome {
            Ok(w) if w.durable >= generation => Ok(()),
            Ok(w) => Err(StoreError::Backend(w.failed.map(|(_, e)| e).unwrap_or_default())),
            Err(_) => Err(StoreError::Backend("the storage writer stopped".into())),
        }
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        // Wakes the writer, which then finds the store gone and ends.
        self.shared.dirty.notify_one();
    }
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
    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<oneshot::Sender<std::io::Result<()>>>) {
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

#[async_trait]
impl Store for FileStore {
    async fn create(&self, workspace: Workspace) -> Result<(), StoreError> {
        let id = workspace.id.clone();
        self.shared.memory.create(workspace).await?;
        self.changed(&id).await
    }

    /// A reply built from what `get` returns may tell a client that something
    /// exists, so a workspace whose last change is not on disk yet is only
    /// returned once it is (the few milliseconds of an fsync in flight). A
    /// flush window opts out of this as of every other wait.
    async fn get(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        let unsettled = match self.shared.window.is_zero() {
            true => self.shared.pending.lock().expect("pending lock").unsettled(id),
            false => None,
        };
        if let Some(generation) = unsettled {
            self.durable(generation).await?;
        }
        self.shared.memory.get(id).await
    }

    async fn membership(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Membership, StoreError> {
        self.shared.memory.membership(id, attendee).await
    }

    async fn add_attendee(
        &self,
        id: &WorkspaceId,
        attendee: Attendee,
        capacity: usize,
    ) -> Result<Workspace, StoreError> {
        let w = self.shared.memory.add_attendee(id, attendee, capacity).await?;
        self.changed(id).await?;
        Ok(w)
    }

    async fn remove_attendee(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Option<Attendee>, StoreError> {
        let gone = self.shared.memory.remove_attendee(id, attendee).await?;
        self.changed(id).await?;
        Ok(gone)
    }

    async fn set_pin_check(&self, id: &WorkspaceId, check: PinCheck, token: String) -> Result<(), StoreError> {
        self.shared.memory.set_pin_check(id, check, token).await?;
        self.changed(id).await
    }

    async fn set_call(&self, id: &WorkspaceId, call: serde_json::Value) -> Result<(), StoreError> {
        self.shared.memory.set_call(id, call).await?;
        self.changed(id).await
    }

    async fn destroy(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        let gone = self.shared.memory.destroy(id).await?;
        if gone.is_some() {
            self.changed(id).await?;
        }
        Ok(gone)
    }

    async fn lapse_attendee(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Option<Attendee>, StoreError> {
        let gone = self.shared.memory.lapse_attendee(id, attendee).await?;
        if gone.is_some() {
            self.changed(id).await?;
        }
        Ok(gone)
    }

    async fn restore_attendee(
        &self,
        id: &WorkspaceId,
        attendee: &AttendeeId,
        capacity: usize,
    ) -> Result<Option<Workspace>, StoreError> {
        let back = self.shared.memory.restore_attendee(id, attendee, capacity).await?;
        if back.is_some() {
            self.changed(id).await?;
        }
        Ok(back)
    }

    async fn ids(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        self.shared.memory.ids().await
    }

    async fn workspace_count(&self) -> Result<usize, StoreError> {
        self.shared.memory.workspace_count().await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.shared.memory.stats().await
    }

    /// Makes every change durable, then folds the journal into the snapshot.
    async fn flush(&self) -> Result<(), StoreError> {
        let generation = self.shared.pending.lock().expect("pending lock").generation;
        self.shared.dirty.notify_one();
        self.shared.urgent.notify_one();
        self.durable(generation).await?;
        let (reply, done) = oneshot::channel();
        self.shared
            .compact
            .send(reply)
            .map_err(|_| StoreError::Backend("the storage writer stopped".into()))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Backend(format!("compaction: {e}"))),
            Err(_) => Err(StoreError::Backend("the storage writer stopped".into())),
        }
    }
}

#[cfg(test)]
mod tests;
