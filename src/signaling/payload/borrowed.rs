//! Reading a string or an object's `id` borrowed from the raw text, without
//! parsing into a `Value` (the guard reads two or three per relay). What is
//! not read is still parsed as a `Value` would be, so exactly the same
//! payloads are refused.

use std::borrow::Cow;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON string, borrowed when it has no escapes.
pub(super) struct Text<'a>(pub(super) Cow<'a, str>);

/// `Some` for a string, `None` for any other JSON value (parsed as a `Value`
/// would be, so the same payloads are refused).
#[derive(Default)]
pub(super) struct Scalar<'a>(pub(super) Option<Text<'a>>);

/// An object's last `id` member if that is a string; `None` for an object
/// without one and for anything that is not an object.
#[derive(Default)]
pub(super) struct IdOf<'a>(pub(super) Option<Text<'a>>);

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
