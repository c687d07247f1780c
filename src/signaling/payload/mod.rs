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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer as _;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use socketioxide::extract::{Event, TryData};
use socketioxide::handler::{FromMessageParts, Value as CoreValue};
use socketioxide::socket::Socket;

use super::alerts::{Alert, Invalid, Rejection};

/// A field forwarded as sent; absent is `None`, which is emitted as `null`.
pub type Raw = Option<Box<RawValue>>;

/// An object as parsed (the sub-objects a handler inspects, e.g. `workspace`).
pub type Object = Map<String, Value>;

/// A payload object, each field still its raw JSON text. A key given twice
/// keeps its last value, as a parsed object does.
pub struct Payload(BTreeMap<String, Box<RawValue>>);

/// Field names and their sizes in bytes only: a payload carries an access token, which must never reach a log.
impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, v.get().len())))
            .finish()
    }
}

impl Payload {
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

/// Decodes an event packet into its name and first argument, in one pass
/// over the packet text (socketioxide's own extractors scan it twice: once
/// to read the name, skipping the rest, and once for the data). `None` when
/// the packet has no readable event name. A packet that pass cannot read (a
/// lone surrogate in a string argument, say) and an attachment-carrying
/// (binary) one take socketioxide's extractors; a binary one its parsed path,
/// so placeholders are resolved as before and never forwarded as text.
pub fn decode_event<A: socketioxide::adapter::Adapter>(
    socket: &Arc<Socket<A>>,
    value: &mut CoreValue,
    ack: &Option<i64>,
) -> Option<(String, Result<Payload, String>)> {
    let binary = match value {
        CoreValue::Str(text, None) => {
            let mut de = serde_json::Deserializer::from_str(text.as_str());
            if let Ok(decoded) = de.deserialize_seq(EventVisitor) {
                return Some(decoded);
            }
            false
        }
        _ => true,
    };
    let Event(name) = Event::from_message_parts(socket, value, ack).ok()?;
    let data = if binary {
        decode_binary(socket, value, ack)
    } else {
        let TryData(data) = match TryData::<Fields>::from_message_parts(socket, value, ack) {
            Ok(data) => data,
            Err(never) => match never {},
        };
        data.map(Payload).map_err(|e| e.to_string())
    };
    Some((name, data))
}

/// The parsed path, for binary packets only: the first argument as a `Value`, its fields re-encoded.
fn decode_binary<A: socketioxide::adapter::Adapter>(
    socket: &Arc<Socket<A>>,
    value: &mut CoreValue,
    ack: &Option<i64>,
) -> Result<Payload, String> {
    let TryData(data) = match TryData::<Value>::from_message_parts(socket, value, ack) {
        Ok(data) => data,
        Err(never) => match never {},
    };
    match data.map_err(|e| e.to_string())? {
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| Ok((k, serde_json::value::to_raw_value(&v).map_err(|e| e.to_string())?)))
            .collect::<Result<_, String>>()
            .map(Payload),
        _ => Err(NOT_AN_OBJECT.into()),
    }
}

const NOT_AN_OBJECT: &str = "the first argument is not an object";

/// `["name", arg, …]`: the name, and the first argument as a payload (or why not).
struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = (String, Result<Payload, String>);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an event packet")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let name: String = seq
            .next_element()?
            .ok_or_else(|| serde::de::Error::custom("no event name"))?;
        let payload = match seq.next_element_seed(FirstArgument)? {
            Some(Some(fields)) => Ok(Payload(fields)),
            Some(None) => Err(NOT_AN_OBJECT.to_string()),
            None => Err("no payload".to_string()),
        };
        // Further arguments are not part of the protocol; skipped, as socketioxide does.
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok((name, payload))
    }
}

/// The first argument: its fields raw if it is an object, `None` (consumed) if it is anything else.
struct FirstArgument;

type Fields = BTreeMap<String, Box<RawValue>>;

impl<'de> DeserializeSeed<'de> for FirstArgument {
    type Value = Option<Fields>;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstArgument {
    type Value = Option<Fields>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut fields = Fields::new();
        while let Some((key, value)) = map.next_entry::<String, Box<RawValue>>()? {
            fields.insert(key, value);
        }
        Ok(Some(fields))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Whether a raw value is a JSON object (its text starts with the brace:
/// serde_json captures a raw value from its first byte, after whitespace).
pub fn is_object(raw: &RawValue) -> bool {
    raw.get().starts_with('{')
}

/// The payload, or the alert for anything but an object (or nothing).
pub fn object(data: Result<Payload, String>) -> Result<Payload, Rejection> {
    data.map_err(|_| Rejection::Alert(Alert::NotAnObject))
}

/// `payload[field].id` parsed as an id, or `error` when absent or malformed.
/// The guard reads two or three of these per relay, so the id is borrowed
/// from the raw text rather than parsed into a `Value` object; the other
/// members of `payload[field]` are still parsed (and dropped), so a payload
/// is refused exactly when [`Payload::get`] would refuse it.
pub fn nested_id<T>(
    payload: &Payload,
    field: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    error: Alert,
) -> Result<T, Rejection> {
    let Some(raw) = payload.raw(field) else {
        return Err(Rejection::Alert(error));
    };
    match serde_json::from_str::<IdOf>(raw.get()) {
        Ok(IdOf(Some(Text(id)))) => parse(&id).ok_or(Rejection::Alert(error)),
        Ok(IdOf(None)) => Err(Rejection::Alert(error)),
        Err(_) => Err(Rejection::Alert(Alert::NotAnObject)),
    }
}

/// A non-empty string field, or `None`; borrowed from the payload unless
/// the client escaped something in it (tokens never need escapes).
pub fn non_empty_str<'p>(payload: &'p Payload, field: &str) -> Result<Option<Cow<'p, str>>, Rejection> {
    let Some(raw) = payload.raw(field) else {
        return Ok(None);
    };
    match serde_json::from_str::<Scalar>(raw.get()) {
        Ok(Scalar(Some(Text(s)))) if !s.is_empty() => Ok(Some(s)),
        Ok(_) => Ok(None),
        Err(_) => Err(Rejection::Alert(Alert::NotAnObject)),
    }
}

/// A JSON string, borrowed when it has no escapes.
struct Text<'a>(Cow<'a, str>);

/// `Some` for a string, `None` for any other JSON value (parsed as a `Value`
/// would be, so the same payloads are refused).
#[derive(Default)]
struct Scalar<'a>(Option<Text<'a>>);

/// An object's last `id` member if that is a string; `None` for an object
/// without one and for anything that is not an object.
#[derive(Default)]
struct IdOf<'a>(Option<Text<'a>>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        Scalar::deserialize(de)?
            .0
            .ok_or_else(|| serde::de::Error::custom("not a string"))
    }
}

impl<'de> serde::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(ScalarVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for IdOf<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(IdOfVisitor)
    }
}

struct ScalarVisitor;

/// Everything that is not a string is consumed as a `Value`, for its checks.
macro_rules! not_a_string {
    () => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Self::Value::default())
        }
        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
            while seq.next_element::<Value>()?.is_some() {}
            Ok(Self::Value::default())
        }
    };
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    not_a_string!();

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Text(Cow::Borrowed(s)))))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Scalar(Some(Text(Cow::Owned(s.to_owned())))))
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        while map.next_entry::<String, Value>()?.is_some() {}
        Ok(Scalar(None))
    }
}

struct IdOfVisitor;

impl<'de> Visitor<'de> for IdOfVisitor {
    type Value = IdOf<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    not_a_string!();

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(IdOf(None))
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut id = None;
        while let Some(Text(key)) = map.next_key::<Text>()? {
            if key == "id" {
                // The last `id` counts, as in a parsed object.
                id = map.next_value::<Scalar>()?.0;
            } else {
                map.next_value::<Value>()?;
            }
        }
        Ok(IdOf(id))
    }
}

/// The sub-object `payload[field]`: absent or null is `None`, another type an alert.
pub fn optional_object(payload: &Payload, field: &'static str) -> Result<Option<Object>, Rejection> {
    match payload.get(field)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(Invalid::NotAnObject { field }.into()),
    }
}

/// A display string (`workspace.name` …): absent, null or empty gives
/// `default`; longer than `max` characters is refused, never truncated.
pub fn text_or(
    object: Option<&Object>,
    path: (&'static str, &'static str),
    default: &str,
    max: usize,
) -> Result<String, Rejection> {
    match object.and_then(|o| o.get(path.1)) {
        None | Some(Value::Null) => Ok(default.to_string()),
        Some(Value::String(s)) if s.is_empty() => Ok(default.to_string()),
        Some(Value::String(s)) if s.chars().count() > max => Err(Invalid::TooLong {
            object: path.0,
            field: path.1,
            max,
        }
        .into()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(must_be_string(path)),
    }
}

/// The PIN as typed: a string or a number (form fields sometimes arrive as
/// numbers); absent or null is the empty PIN, which is what a PIN-less
/// workspace hashed.
pub fn pin(object: Option<&Object>) -> Result<String, Rejection> {
    match object.and_then(|o| o.get("pin")) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(must_be_string(("workspace", "pin"))),
    }
}

fn must_be_string((object, field): (&'static str, &'static str)) -> Rejection {
    Invalid::NotAString { object, field }.into()
}

/// The request's `nonce`, echoed as sent; `''` when there is none.
pub fn nonce(payload: &Payload) -> Box<RawValue> {
    payload
        .raw("nonce")
        .map(RawValue::to_owned)
        .unwrap_or_else(|| RawValue::from_string("\"\"".to_string()).expect("a JSON string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(field: &str, raw: &str) -> Payload {
        let raw = RawValue::from_string(raw.to_string()).expect("test input is JSON");
        Payload(BTreeMap::from([(field.to_string(), raw)]))
    }

    /// What the readers did before they borrowed: parse into a `Value`.
    fn id_by_value(p: &Payload) -> Result<Option<String>, Rejection> {
        Ok(p.get("f")?
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|o| o.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string))
    }

    fn id_borrowed(p: &Payload) -> Result<Option<String>, Rejection> {
        match nested_id(p, "f", |s| Some(s.to_string()), Alert::BadWorkspaceId) {
            Ok(id) => Ok(Some(id)),
            Err(Rejection::Alert(Alert::BadWorkspaceId)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn str_by_value(p: &Payload) -> Result<Option<String>, Rejection> {
        Ok(match p.get("f")? {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        })
    }

    fn deep(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn the_borrowed_readers_accept_and_refuse_what_a_parsed_value_does() {
        let deep_member = format!(r#"{{"id":"abc","x":{}}}"#, deep(200));
        let shallow_member = format!(r#"{{"id":"abc","x":{}}}"#, deep(100));
        let cases = [
            r#"{"id":"abc"}"#,
            r#"{"id":"a\"b\u00e9"}"#,
            r#"{"\u0069d":"escaped key"}"#,
            r#"{"id":"first","id":"last"}"#,
            r#"{"id":"first","id":7}"#,
            r#"{"id":7,"id":"last"}"#,
            r#"{"id":null}"#,
            r#"{"id":{"id":"nested"}}"#,
            r#"{"name":"x"}"#,
            r#"{}"#,
            r#"["id","abc"]"#,
            r#""abc""#,
            r#""""#,
            r#"12"#,
            r#"null"#,
            r#"true"#,
            r#"{"id":"abc","name":"\ud800"}"#,
            r#"{"id":"\ud800"}"#,
            r#""\udc00""#,
            r#"{"id":"abc","n":[1,{"a":[true,null,1.5e300]}]}"#,
            &deep_member,
            &shallow_member,
            &deep(200),
        ];
        for raw in cases {
            let p = payload("f", raw);
            assert_eq!(id_borrowed(&p), id_by_value(&p), "nested_id of {raw:.60}");
            let by_str = non_empty_str(&p, "f").map(|s| s.map(Cow::into_owned));
            assert_eq!(by_str, str_by_value(&p), "non_empty_str of {raw:.60}");
        }
        let absent = Payload(BTreeMap::new());
        assert_eq!(id_borrowed(&absent), Ok(None));
        assert_eq!(non_empty_str(&absent, "f"), Ok(None));
    }

    #[test]
    fn a_token_without_escapes_is_borrowed() {
        let p = payload("f", r#""eyJhbGciOiJIUzI1NiJ9.e30.sig""#);
        assert!(matches!(non_empty_str(&p, "f"), Ok(Some(Cow::Borrowed(_)))));
    }
}
