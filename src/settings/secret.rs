//! A value that must never reach a log line: `Debug` and `Display` print
//! `[redacted]`, and the only way to the value is the explicit `expose()`.

use std::fmt;

/// A secret setting (`MAGICK_TOKEN`, `SALT_STRING`, `TWILIO_AUTH_TOKEN`,
/// `TURN_SECRET`). Deliberately no `Deref`, no `PartialEq` and no `Serialize`:
/// every read of the value is a visible `.expose()`.
#[derive(Clone, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The value itself, for the one place that needs it (signing, HMAC keys, an API call).
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Transforms the value without it leaving the wrapper.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Secret<U> {
        Secret(f(self.0))
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Secret<T> {
        Secret(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Secret<String> {
        Secret(value.to_string())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
