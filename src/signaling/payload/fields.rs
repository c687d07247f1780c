//! The field readers handlers share: each reads one field of a [`Payload`]
//! and answers a wrong shape with the alert that says what is wrong.

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::Value;

use super::borrowed::{IdOf, Scalar, Text};
use super::{Object, Payload};
use crate::signaling::alerts::{Alert, Invalid, Rejection};

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
    use std::collections::BTreeMap;

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
