//! Reading fields out of a payload as it arrives. Payloads stay untyped on
//! purpose: a payload of the wrong shape must be answered with an alert that
//! says what is wrong, which a typed extractor would silently skip.
//!
//! Each top-level field is kept as the raw JSON text the client sent. A
//! handler parses only the fields it inspects (ids, token, names, PIN) and
//! forwards the others (`message`, `candidate`, `offer`, `call`, …) as sent:
//! a 3 KB SDP is scanned once, never unescaped into a `String` nor escaped
//! again on the way out, and it reaches its target byte for byte as the
//! sender wrote it (which is also what the original server, relaying the
//! parsed object through `JSON.stringify`, sends for any JavaScript client).

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::alerts::{Alert, Rejection};

mod borrowed;
mod decode;
mod fields;

pub use decode::decode_event;
pub use fields::{is_object, nested_id, non_empty_str, nonce, object, optional_object, pin, text_or};

/// A field forwarded as sent; absent is `None`, which is emitted as `null`.
pub type Raw = Option<Box<RawValue>>;

/// An object as parsed (the sub-objects a handler inspects, e.g. `workspace`).
pub type Object = Map<String, Value>;

/// A payload object, each field still its raw JSON text. A key given twice
/// keeps its last value, as a parsed object does.
pub struct Payload(Fields);

/// A payload's fields, each its raw JSON text.
type Fields = BTreeMap<String, Box<RawValue>>;

/// Field names and their sizes in bytes only: a payload carries an access token, which must never reach a log.
impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v.get().len())))
            .finish()
    }
}

impl Payload {
    /// A payload from its JSON text, for tests of what reads payloads.
    #[cfg(test)]
    pub fn from_json(text: &str) -> Payload {
        Payload(serde_json::from_str(text).expect("a JSON object"))
    }

    /// Its size as sent, field names included.
    pub fn size(&self) -> usize {
        self.0.iter().map(|(k, v)| k.len() + v.get().len()).sum()
    }

    /// The field parsed, if present. A field the server reads but cannot
    /// parse (a lone surrogate, nesting deeper than serde_json goes — the raw
    /// capture lets both through) is refused as the whole payload used to be.
    pub fn get(&self, field: &str) -> Result<Option<Value>, Rejection> {
        self.0
            .get(field)
            .map(|raw| serde_json::from_str(raw.get()))
            .transpose()
            .map_err(|_| Rejection::Alert(Alert::NotAnObject))
    }

    /// The field as sent, taken out of the payload.
    pub fn take(&mut self, field: &str) -> Raw {
        self.0.remove(field)
    }

    /// The field as sent, left in the payload.
    pub fn raw(&self, field: &str) -> Option<&RawValue> {
        self.0.get(field).map(|raw| &**raw)
    }
}
