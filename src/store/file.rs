//! The file-backed store (`json_storage_file`): the memory store, plus a
//! writer that keeps a JSON snapshot of it on disk.
//!
//! The original rewrote its file synchronously on every change, so a crash
//! mid-write left a truncated file. Here the file is only ever replaced
//! atomically (temp file, fsync, rename, fsync of the directory), so after
//! `kill -9` at any moment it holds a complete state; and writes are grouped:
//! a burst of changes within the flush window costs one write. With a window
//! of 0 every change waits for its write before the handler replies.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::{watch, Notify};

use super::{Membership, MemoryStore, Store, StoreError, StoreStats};
use crate::model::{Attendee, AttendeeId, Workspace, WorkspaceId};

const FORMAT: &str = "webrtc-workspaces-server/1";

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
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: String,
    workspaces: Vec<Workspace>,
}

/// What the writer has made durable: the last change generation written, or the last error.
type Written = Result<u64, String>;

struct Shared {
    memory: MemoryStore,
    path: PathBuf,
    /// Bumped on every change; the writer records which one it has written.
    changes: AtomicU64,
    dirty: Arc<Notify>,
    written: watch::Sender<Written>,
    window: Duration,
}

pub struct FileStore {
    shared: Arc<Shared>,
}

impl FileStore {
    /// Loads `path` (a missing file is an empty store) and starts the writer.
    pub fn open(path: &Path, window: Duration) -> Result<FileStore, LoadError> {
        let shown = path.display().to_string();
        let workspaces = match std::fs::read(path) {
            Ok(bytes) => {
                let snapshot: Snapshot = serde_json::from_slice(&bytes).map_err(|e| LoadError::Corrupt {
                    path: shown.clone(),
                    problem: e.to_string(),
                })?;
                if snapshot.format != FORMAT {
                    return Err(LoadError::Corrupt {
                        path: shown,
                        problem: format!("unknown format {:?}", snapshot.format),
                    });
                }
                snapshot.workspaces
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(LoadError::Read { path: shown, source }),
        };
        tracing::info!(file = %path.display(), workspaces = workspaces.len(), "storage file loaded");
        let (written, _) = watch::channel(Ok(0));
        let shared = Arc::new(Shared {
            memory: MemoryStore::with(workspaces),
            path: path.to_path_buf(),
            changes: AtomicU64::new(0),
            dirty: Arc::new(Notify::new()),
            written,
            window,
        });
        tokio::spawn(writer(Arc::downgrade(&shared), shared.dirty.clone()));
        Ok(FileStore { shared })
    }

    /// Records a change; with a zero window, waits until it is on disk.
    async fn changed(&self) -> Result<(), StoreError> {
        let generation = self.shared.changes.fetch_add(1, Ordering::SeqCst) + 1;
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
            .wait_for(|w| !matches!(w, Ok(g) if *g < generation))
            .await
            .map(|w| w.clone());
        match outcome {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(StoreError::Backend(e)),
            Err(_) => Err(StoreError::Backend("the storage writer stopped".into())),
        }
    }
}

/// Writes a snapshot whenever something changed, at most once per window.
/// Holds the store only weakly: dropping the `FileStore` wakes it up to end.
async fn writer(shared: std::sync::Weak<Shared>, dirty: Arc<Notify>) {
    loop {
        dirty.notified().await;
        let Some(window) = shared.upgrade().map(|s| s.window) else {
            return;
        };
        tokio::time::sleep(window).await;
        let Some(s) = shared.upgrade() else { return };
        write_once(&s).await;
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        self.shared.dirty.notify_one();
    }
}

async fn write_once(s: &Arc<Shared>) {
    let generation = s.changes.load(Ordering::SeqCst);
    let snapshot = Snapshot {
        format: FORMAT.to_string(),
        workspaces: s.memory.snapshot(),
    };
    let path = s.path.clone();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || write_atomically(&path, &snapshot))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    metrics::histogram!("wrw_store_write_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(()) => {
            metrics::counter!("wrw_store_writes_total", "outcome" => "ok").increment(1);
            let _previous = s.written.send_replace(Ok(generation));
        }
        Err(e) => {
            metrics::counter!("wrw_store_writes_total", "outcome" => "error").increment(1);
            tracing::error!(file = %s.path.display(), error = %e, "could not write the storage file; retrying");
            let _previous = s.written.send_replace(Err(e.to_string()));
            // Retry after a pause: the change is still pending.
            tokio::time::sleep(Duration::from_millis(500)).await;
            s.dirty.notify_one();
        }
    }
}

fn write_atomically(path: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(&mut f);
        serde_json::to_writer(&mut w, snapshot)?;
        w.flush()?;
        drop(w);
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(&dir)?.sync_all()
}

#[async_trait]
impl Store for FileStore {
    async fn create(&self, workspace: Workspace) -> Result<(), StoreError> {
        self.shared.memory.create(workspace).await?;
        self.changed().await
    }

    async fn get(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
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
        self.changed().await?;
        Ok(w)
    }

    async fn remove_attendee(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Option<Attendee>, StoreError> {
        let gone = self.shared.memory.remove_attendee(id, attendee).await?;
        self.changed().await?;
        Ok(gone)
    }

    async fn set_call(&self, id: &WorkspaceId, call: serde_json::Value) -> Result<(), StoreError> {
        self.shared.memory.set_call(id, call).await?;
        self.changed().await
    }

    async fn destroy(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        let gone = self.shared.memory.destroy(id).await?;
        if gone.is_some() {
            self.changed().await?;
        }
        Ok(gone)
    }

    async fn lapse_attendee(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Option<Attendee>, StoreError> {
        let gone = self.shared.memory.lapse_attendee(id, attendee).await?;
        self.changed().await?;
        Ok(gone)
    }

    async fn restore_attendee(
        &self,
        id: &WorkspaceId,
        attendee: &AttendeeId,
        capacity: usize,
    ) -> Result<Option<Workspace>, StoreError> {
        let back = self.shared.memory.restore_attendee(id, attendee, capacity).await?;
        self.changed().await?;
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

    async fn flush(&self) -> Result<(), StoreError> {
        let generation = self.shared.changes.load(Ordering::SeqCst);
        if matches!(*self.shared.written.borrow(), Ok(g) if g >= generation) {
            return Ok(());
        }
        write_once(&self.shared).await;
        self.durable(generation).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn workspace() -> Workspace {
        let owner = Attendee {
            id: AttendeeId::generate(10),
            name: "o".into(),
            avatar: "a".into(),
        };
        Workspace {
            id: WorkspaceId::generate(10),
            name: "w".into(),
            avatar: "a".into(),
            owner: owner.id.clone(),
            created: 1,
            token: "t".into(),
            pin_check: "p".into(),
            attendees: BTreeMap::from([(owner.id.clone(), owner)]),
            call: serde_json::Value::Null,
            lapsed: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn changes_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.json");
        let w = workspace();
        {
            let store = FileStore::open(&path, Duration::ZERO).unwrap();
            store.create(w.clone()).await.unwrap();
        }
        let store = FileStore::open(&path, Duration::from_millis(50)).unwrap();
        assert_eq!(store.get(&w.id).await.unwrap(), Some(w.clone()));
        store.destroy(&w.id).await.unwrap();
        store.flush().await.unwrap();
        let reopened = FileStore::open(&path, Duration::ZERO).unwrap();
        assert_eq!(reopened.get(&w.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_burst_costs_few_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.json");
        let store = FileStore::open(&path, Duration::from_millis(200)).unwrap();
        let mut rx = store.shared.written.subscribe();
        for _ in 0..200 {
            store.create(workspace()).await.unwrap();
        }
        rx.wait_for(|w| matches!(w, Ok(g) if *g >= 200)).await.unwrap();
        let reopened = FileStore::open(&path, Duration::ZERO).unwrap();
        assert_eq!(reopened.stats().await.unwrap().workspaces, 200);
    }

    #[test]
    fn a_corrupt_file_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.json");
        std::fs::write(&path, b"{\"format\":\"webrtc-workspaces-server/1\",\"workspaces\":[").unwrap();
        let err = FileStore::open(&path, Duration::ZERO)
            .err()
            .expect("corrupt file refused");
        assert!(err.to_string().contains("store.json"), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{\"format\":\"webrtc-workspaces-server/1\",\"workspaces\":["
        );
    }
}
