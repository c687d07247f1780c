//! The journal: what changed since the snapshot, one JSON line per changed
//! workspace (its whole new state, or its deletion), appended and fsynced in
//! groups. Rewriting a snapshot costs time in proportion to the whole state;
//! appending costs time in proportion to the change, so a create costs the
//! same at 100 000 stored workspaces as at 10.
//!
//! Each record is a workspace's complete state, so replaying a record is
//! idempotent and a record is never half-applied: after a crash, a workspace
//! is as some whole record left it. Only the tail can be torn (a crash during
//! an append); a line that does not parse followed by one that does is
//! corruption, and the start refuses it.

use std::io::{Seek, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::model::{Workspace, WorkspaceId};

/// One line as written.
#[derive(Serialize)]
pub struct RecordOut<'a> {
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub put: Option<&'a Workspace>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub del: Option<&'a WorkspaceId>,
}

/// One line as read back.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordIn {
    seq: u64,
    put: Option<Workspace>,
    del: Option<WorkspaceId>,
}

pub enum Change {
    Put(Workspace),
    Del(WorkspaceId),
}

/// What a journal file held.
pub struct Replayed {
    pub records: Vec<(u64, Change)>,
    /// Bytes of a torn last line that were ignored.
    pub torn_bytes: usize,
}

/// Reads a journal; a missing file is an empty one. `Err` names the line.
pub fn read(path: &Path) -> Result<Replayed, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let mut records = Vec::new();
    let mut bad: Option<(usize, String, usize)> = None;
    let mut offset = 0;
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let start = offset;
        offset += line.len() + 1;
        if line.is_empty() {
            continue;
        }
        match parse(line) {
            Ok(record) => {
                if let Some((n, problem, _)) = bad {
                    return Err(format!(
                        "line {} is not a valid record ({problem}) but later lines are",
                        n + 1
                    ));
                }
                records.push(record);
            }
            Err(problem) => {
                if bad.is_none() {
                    bad = Some((i, problem, start));
                }
            }
        }
    }
    let torn_bytes = bad.map(|(_, _, start)| bytes.len() - start).unwrap_or(0);
    Ok(Replayed { records, torn_bytes })
}

fn parse(line: &[u8]) -> Result<(u64, Change), String> {
    let r: RecordIn = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    match (r.put, r.del) {
        (Some(w), None) => Ok((r.seq, Change::Put(w))),
        (None, Some(id)) => Ok((r.seq, Change::Del(id))),
        _ => Err("a record has exactly one of put and del".into()),
    }
}

/// The open journal, appended to by the one writer task.
pub struct Journal {
    file: std::fs::File,
    /// Bytes known to be complete and durable; a failed append is cut back to it.
    len: u64,
}

impl Journal {
    /// Creates an empty journal at `path` (replacing any), durably.
    pub fn create(path: &Path) -> std::io::Result<Journal> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        file.sync_all()?;
        super::snapshot::sync_dir(path)?;
        Ok(Journal { file, len: 0 })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Appends `lines` and waits until they are on disk. On failure the
    /// journal is cut back to what it held, so no torn line stays in the middle.
    pub fn append(&mut self, lines: &[u8]) -> std::io::Result<()> {
        let written = self
            .file
            .seek(std::io::SeekFrom::Start(self.len))
            .and_then(|_| self.file.write_all(lines))
            .and_then(|_| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += lines.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, id: &WorkspaceId) -> Vec<u8> {
        let mut v = serde_json::to_vec(&RecordOut {
            seq,
            put: None,
            del: Some(id),
        })
        .unwrap();
        v.push(b'\n');
        v
    }

    #[test]
    fn a_torn_tail_is_ignored_and_a_bad_middle_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let id = WorkspaceId::generate(10);
        let mut good = line(1, &id);
        good.extend(line(2, &id));
        let mut torn = good.clone();
        torn.extend(b"{\"seq\":3,\"put\":{\"id\":\"_ab");
        std::fs::write(&path, &torn).unwrap();
        let r = read(&path).unwrap();
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.torn_bytes, torn.len() - good.len());

        let mut middle = line(1, &id);
        middle.extend(b"garbage\n");
        middle.extend(line(2, &id));
        std::fs::write(&path, &middle).unwrap();
        let err = read(&path).err().expect("refused");
        assert!(err.contains("line 2"), "{err}");
    }
}
