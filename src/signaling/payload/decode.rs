//! An event packet decoded in one pass: its name, and its first argument
//! as a [`Payload`] (or why it is not one).

use std::sync::Arc;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer as _;
use serde_json::value::RawValue;
use serde_json::Value;
use socketioxide::extract::{Event, TryData};
use socketioxide::handler::{FromMessageParts, Value as CoreValue};
use socketioxide::socket::Socket;

use super::{Fields, Payload};

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
