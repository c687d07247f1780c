//! The original Node server's storage file: one JSON object keyed by
//! workspace id, each `{id, name, avatar, owner, created, token, attendees:
//! {id: {id, name, avatar}}, socketMap, call?}`. Read once, on the first
//! start of this server on it; `socketMap` is dropped (sockets do not survive
//! a restart) and the PIN stays checked by the bcrypt hash inside the stored
//! workspace token until the first correct PIN (`PinCheck::InOriginalToken`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{Attendee, AttendeeId, PinCheck, Workspace, WorkspaceId};

#[derive(Deserialize)]
struct OriginalWorkspace {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
    owner: String,
    #[serde(default)]
    created: Option<f64>,
    token: String,
    attendees: BTreeMap<String, OriginalAttendee>,
    #[serde(default)]
    call: Option<Value>,
}

#[derive(Deserialize)]
struct OriginalAttendee {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    avatar: Option<String>,
}

/// What an import made of the file.
pub struct Imported {
    pub workspaces: Vec<Workspace>,
    /// Workspaces left out, with why (ids this server cannot address).
    pub skipped: Vec<String>,
}

/// Reads `bytes` as the original's file. `Err` says why it is not one, in
/// words for the operator; nothing is half-imported.
pub fn parse(bytes: &[u8], id_len: usize) -> Result<Imported, String> {
    let map: BTreeMap<String, Value> =
        serde_json::from_slice(bytes).map_err(|e| format!("not an object keyed by workspace id: {e}"))?;
    let mut imported = Imported {
        workspaces: Vec::with_capacity(map.len()),
        skipped: Vec::new(),
    };
    for (key, value) in map {
        let w: OriginalWorkspace =
            serde_json::from_value(value).map_err(|e| format!("entry {key:?} is not a workspace: {e}"))?;
        if w.id != key {
            return Err(format!("entry {key:?} holds workspace {:?}", w.id));
        }
        match convert(w, id_len) {
            Ok(w) => imported.workspaces.push(w),
            Err(why) => imported.skipped.push(format!("{key}: {why}")),
        }
    }
    Ok(imported)
}

/// The original accepted ids chosen by clients; ours are always `_` + N
/// letters/digits (the guard refuses anything else), so other ids cannot be
/// reached here and are left out (they stay in the `.original` backup).
fn convert(w: OriginalWorkspace, id_len: usize) -> Result<Workspace, String> {
    let id = WorkspaceId::parse(&w.id, id_len).ok_or("workspace id not of this server's form")?;
    let owner = AttendeeId::parse(&w.owner, id_len).ok_or("owner id not of this server's form")?;
    let mut attendees = BTreeMap::new();
    for (key, a) in w.attendees {
        if a.id != key {
            return Err(format!("attendee entry {key:?} holds {:?}", a.id));
        }
        let aid = AttendeeId::parse(&a.id, id_len).ok_or("an attendee id not of this server's form")?;
        attendees.insert(
            aid.clone(),
            Attendee {
                id: aid,
                name: a.name.unwrap_or_default(),
                avatar: a.avatar.unwrap_or_default(),
            },
        );
    }
    if !attendees.contains_key(&owner) {
        return Err("its owner is not among its attendees".into());
    }
    Ok(Workspace {
        id,
        name: w.name.unwrap_or_default(),
        avatar: w.avatar.unwrap_or_default(),
        owner,
        created: w.created.filter(|c| c.is_finite() && *c >= 0.0).unwrap_or(0.0) as u64,
        token: w.token,
        pin_check: PinCheck::InOriginalToken,
        attendees,
        call: w.call.unwrap_or(Value::Null),
        lapsed: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_originals_layout_and_drops_socket_map() {
        let file = br#"{"_abcdefghij":{"id":"_abcdefghij","name":"n","avatar":"","owner":"_owner00001",
            "created":1600000000000,"token":"t","attendees":{"_owner00001":{"id":"_owner00001","name":"o","avatar":""},
            "_guest00001":{"id":"_guest00001","name":"g","avatar":"a","socket":"x"}},
            "socketMap":{"_owner00001":"sid"},"call":{"id":"c"}},
            "_x":{"id":"_x","owner":"_y","token":"t","attendees":{"_y":{"id":"_y"}}}}"#;
        let imported = parse(file, 10).unwrap();
        assert_eq!(imported.workspaces.len(), 1);
        assert_eq!(imported.skipped.len(), 1);
        let w = &imported.workspaces[0];
        assert_eq!(w.attendees.len(), 2);
        assert_eq!(w.created, 1_600_000_000_000);
        assert_eq!(w.call, serde_json::json!({"id": "c"}));
        assert_eq!(w.pin_check, PinCheck::InOriginalToken);
    }

    #[test]
    fn other_shapes_are_not_the_originals() {
        for bad in [&b"[1,2]"[..], b"{\"_abcdefghij\": 3}", b"{\"workspaces\": 3}", b"nope"] {
            assert!(parse(bad, 10).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
