//! The file-backed store (`json_storage_file`): the memory store, made
//! durable by a snapshot (`<file>`) and a journal of changes since
//! (`<file>.journal`), compacted into the snapshot in the background.
//!
//! Reading the file at start is `load.rs`; every write goes through the one
//! writer task (`writer.rs`, group commit); this module is the `Store` that
//! answers from memory and waits for the writer where a reply needs it.
//!
//! The original server's file (see `original.rs`) is imported on the first
//! start and kept next to ours as `<file>.original`.

mod journal;
mod load;
mod original;
mod snapshot;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, watch, Notify};

use super::{Membership, MemoryStore, Store, StoreError, StoreStats, WorkspaceUpdate};
use crate::model::{Attendee, AttendeeId, PinCheck, Workspace, WorkspaceId};
use journal::Journal;
use load::{back_up_original, load, probe_directory, write_error};
pub use load::{Inspection, LoadError};
use snapshot::Snapshot;
use writer::{CompactNow, Pending, Written, MIN_COMPACTION_BYTES};

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
    compact: mpsc::UnboundedSender<CompactNow>,
}

pub struct FileStore {
    shared: Arc<Shared>,
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
        writer::spawn(&shared, journal, loaded.seq, snapshot_bytes, requests);
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

    async fn update(&self, id: &WorkspaceId, update: WorkspaceUpdate) -> Result<(), StoreError> {
        self.shared.memory.update(id, update).await?;
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
