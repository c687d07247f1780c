//! Reading fields out of a raw JSON payload. Payloads arrive as untyped JSON
//! on purpose: a payload of the wrong shape must be answered with an alert
//! that says what is wrong, which a typed extractor would silently skip.

use serde_json::{Map, Value};

use super::alerts::{Alert, Invalid, Rejection};

pub type Payload = Map<String, Value>;

/// The payload as an object, or the alert for anything else (or nothing).
pub fn object<E>(data: Result<Value, E>) -> Result<Payload, Rejection> {
    match data {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Rejection::Alert(Alert::NotAnObject)),
    }
}

/// `payload[field].id` parsed as an id, or `error` when absent or malformed.
pub fn nested_id<T>(
    payload: &Payload,
    field: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    error: Alert,
) -> Result<T, Rejection> {
    payload
        .get(field)
        .and_then(Value::as_object)
        .and_then(|o| o.get("id"))
        .and_then(Value::as_str)
        .and_then(parse)
        .ok_or(Rejection::Alert(error))
}

/// The sub-object `payload[field]`: absent or null is `None`, another type an alert.
pub fn optional_object<'a>(payload: &'a Payload, field: &'static str) -> Result<Option<&'a Payload>, Rejection> {
    match payload.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(Invalid::NotAnObject { field }.into()),
    }
}

/// A display string (`workspace.name` …): absent, null or empty gives
/// `default`; longer than `max` characters is refused, never truncated.
pub fn text_or(
    object: Option<&Payload>,
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
pub fn pin(object: Option<&Payload>) -> Result<String, Rejection> {
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

/// The request's `nonce`, echoed as given; `''` when there is none.
pub fn nonce(payload: &Payload) -> Value {
    payload
        .get("nonce")
        .cloned()
        .unwrap_or_else(|| Value::String(String::new()))
}

/// A pass-through field (`offer`, `call`, …): null when absent.
pub fn take(payload: &mut Payload, field: &str) -> Value {
    payload.remove(field).unwrap_or(Value::Null)
}
