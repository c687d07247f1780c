//! The workspace state the server keeps, as types that cannot hold an invalid id.
//!
//! Ids are `'_'` + N ASCII letters/digits: the browser library builds CSS
//! selectors from them, so anything else would break it. Parsing at the edge
//! (`WorkspaceId::parse`) means every id inside the server is well-formed.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Milliseconds since the epoch, as the original stored `created`.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `len` random ASCII letters and digits.
pub fn random_token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// `millis` since the epoch as ISO-8601 UTC (`2026-12-07T18:50:00.123Z`).
pub fn iso8601(millis: u64) -> String {
    let secs = millis / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        millis % 1000
    )
}

fn random_id(len: usize) -> String {
    let mut s = String::with_capacity(len + 1);
    s.push('_');
    s.extend(rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from));
    s
}

fn is_valid_id(s: &str, len: usize) -> bool {
    s.len() == len + 1 && s.starts_with('_') && s[1..].bytes().all(|b| b.is_ascii_alphanumeric())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// A fresh random id; ids are only ever made by the server.
            pub fn generate(len: usize) -> Self {
                Self(random_id(len).into())
            }
            /// Accepts only the exact id form for ids of `len` characters after `_`.
            pub fn parse(s: &str, len: usize) -> Option<Self> {
                is_valid_id(s, len).then(|| Self(s.into()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), &self.0)
            }
        }
    };
}

id_type!(
    /// The id of a workspace, which also names its Socket.IO room.
    WorkspaceId
);
id_type!(
    /// The id of an attendee, unique within the server.
    AttendeeId
);

/// An attendee as clients see it: never carries socket bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    pub id: AttendeeId,
    pub name: String,
    pub avatar: String,
}

/// How a workspace's PIN is checked. Never the PIN itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PinCheckRepr", into = "PinCheckRepr")]
pub enum PinCheck {
    /// HMAC-SHA-256 keyed with `SALT_STRING` (hex), compared in constant time.
    Keyed(String),
    /// Imported from the original server, which kept no check value: the PIN
    /// is checked against the bcrypt hash inside the workspace's stored token
    /// until the first correct PIN replaces this with `Keyed`.
    InOriginalToken,
}

/// The stored form: a plain string as before (files written by earlier
/// versions load unchanged), or a marker object for the imported case.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum PinCheckRepr {
    Keyed(String),
    Marker { in_original_token: bool },
}

impl TryFrom<PinCheckRepr> for PinCheck {
    type Error = &'static str;
    fn try_from(r: PinCheckRepr) -> Result<PinCheck, &'static str> {
        match r {
            PinCheckRepr::Keyed(hex) => Ok(PinCheck::Keyed(hex)),
            PinCheckRepr::Marker {
                in_original_token: true,
            } => Ok(PinCheck::InOriginalToken),
            PinCheckRepr::Marker { .. } => Err("pin_check: in_original_token must be true"),
        }
    }
}

impl From<PinCheck> for PinCheckRepr {
    fn from(p: PinCheck) -> PinCheckRepr {
        match p {
            PinCheck::Keyed(hex) => PinCheckRepr::Keyed(hex),
            PinCheck::InOriginalToken => PinCheckRepr::Marker {
                in_original_token: true,
            },
        }
    }
}

/// A workspace as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub avatar: String,
    pub owner: AttendeeId,
    pub created: u64,
    pub token: String,
    pub pin_check: PinCheck,
    pub attendees: BTreeMap<AttendeeId, Attendee>,
    /// What the last `ring` carried as `workspace.call` (the library sends none, so usually null).
    pub call: serde_json::Value,
    /// Attendees removed only because their grace period ran out: they may
    /// come back with `re-attend` (docs/PROTOCOL.md § Sessions, disconnects
    /// and reconnects); kicked or departed ones may not.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lapsed: BTreeMap<AttendeeId, Attendee>,
}

/// The public view of a workspace in `created` and `re-attendance-granted`.
#[derive(Serialize)]
pub struct WorkspaceView<'a> {
    pub id: &'a WorkspaceId,
    pub name: &'a str,
    pub avatar: &'a str,
    pub owner: &'a AttendeeId,
    pub created: u64,
    pub token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<&'a serde_json::Value>,
}

impl Workspace {
    /// The view without `call` (`created`, `re-attendance-granted`).
    pub fn view(&self) -> WorkspaceView<'_> {
        WorkspaceView {
            id: &self.id,
            name: &self.name,
            avatar: &self.avatar,
            owner: &self.owner,
            created: self.created,
            token: &self.token,
            call: None,
        }
    }

    /// The view with `call` (`attendance-granted`).
    pub fn view_with_call(&self) -> WorkspaceView<'_> {
        WorkspaceView {
            call: Some(&self.call),
            ..self.view()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso8601_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_796_669_024_957), "2026-12-07T18:43:44.957Z");
    }

    #[test]
    fn generated_ids_parse_back() {
        for _ in 0..100 {
            let id = WorkspaceId::generate(10);
            assert_eq!(WorkspaceId::parse(id.as_str(), 10), Some(id.clone()));
        }
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "_",
            "abcdefghijk",
            "_abc",
            "_abcdefghi-",
            "_abcdefghi.",
            "_abcdéfghi",
            "_abcdefghijk",
        ] {
            assert!(AttendeeId::parse(bad, 10).is_none(), "{bad:?}");
        }
    }
}
