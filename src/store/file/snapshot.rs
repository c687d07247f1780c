//! The snapshot: the whole state as one JSON document, only ever replaced
//! atomically (temp file, fsync, rename, fsync of the directory), so after a
//! crash at any moment the file holds a complete state.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::Workspace;

pub const FORMAT: &str = "webrtc-workspaces-server/1";

#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    pub format: String,
    /// The last journal record this snapshot includes; replay skips up to it.
    #[serde(default)]
    pub seq: u64,
    /// The state began as the original server's file: its tokens are accepted
    /// (`legacy_tokens = "auto"`) for as long as this store lives.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imported_from_original: bool,
    pub workspaces: Vec<Workspace>,
}

impl Snapshot {
    pub fn new(seq: u64, imported_from_original: bool, workspaces: Vec<Workspace>) -> Snapshot {
        Snapshot {
            format: FORMAT.to_string(),
            seq,
            imported_from_original,
            workspaces,
        }
    }
}

/// The directory holding `path`, for the fsync that makes a rename durable.
pub fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `path` with `suffix` appended to its file name (`store.json` → `store.json.journal`).
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir_of(path).join(name)
}

pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir_of(path))?.sync_all()
}

/// Replaces `path` with `bytes` atomically; returns nothing until it is durable.
pub fn replace_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = sibling(path, ".tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(&mut f);
        write(&mut w)?;
        w.flush()?;
        drop(w);
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

/// Writes the snapshot; returns its size in bytes.
pub fn write(path: &Path, snapshot: &Snapshot) -> std::io::Result<u64> {
    replace_atomically(path, |w| {
        serde_json::to_writer(w, snapshot).map_err(std::io::Error::other)
    })?;
    Ok(std::fs::metadata(path)?.len())
}
