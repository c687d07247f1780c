//! The storage file as found on disk, read into the state to serve from:
//! our snapshot or the original server's file (imported), with the journals
//! replayed on top; and the checks and the backup that come before any write.

use std::path::Path;

use thiserror::Error;

use super::journal::{self, Change};
use super::{original, snapshot};
use crate::model::{Workspace, WorkspaceId};
use snapshot::Snapshot;

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

/// The state found on disk.
pub(super) struct Loaded {
    pub(super) workspaces: Vec<Workspace>,
    pub(super) seq: u64,
    pub(super) imported_from_original: bool,
    /// Anything beyond the snapshot (journal records, an import): a fresh
    /// snapshot is written before serving.
    pub(super) rewrite: bool,
    /// The original server's file, to keep as `<file>.original` before ours replaces it.
    pub(super) original: Option<Vec<u8>>,
    pub(super) skipped: Vec<String>,
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

pub(super) fn write_error(path: &Path, e: impl std::fmt::Display) -> LoadError {
    LoadError::Write {
        path: shown(path),
        problem: format!("cannot write the storage file: {e}"),
    }
}

/// Creates and removes a file beside `path`: the directory exists and this
/// process may write there (permissions, a read-only mount), as `open` will.
pub(super) fn probe_directory(path: &Path) -> Result<(), LoadError> {
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
pub(super) fn load(path: &Path, id_len: usize) -> Result<Loaded, LoadError> {
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
pub(super) fn back_up_original(
    path: &Path,
    bytes: &[u8],
    skipped: &[String],
    workspaces: usize,
) -> Result<(), LoadError> {
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
