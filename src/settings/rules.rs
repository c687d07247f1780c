//! The kinds of value a key can hold, each with its bounds and the message a
//! bad value gets (always prefixed by the key: `invalid`). `keys.rs` names one
//! per key.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::declare::{EnvRule, Rule};
use super::{
    invalid, CorsOrigins, DemoPage, LegacyTokens, LogFormat, MetricsEndpoint, OperatorEndpoint, OperatorKeys, Secret,
    SettingsError, WebhookSecrets,
};

// ------------------------------------------------------------ config.js.toml

/// Any string.
pub struct Text;

impl Rule<String> for Text {
    type Raw = String;
    fn check(_: &'static str, raw: String) -> Result<String, SettingsError> {
        Ok(raw)
    }
}

/// A string that is not empty.
pub struct NonEmpty;

impl Rule<String> for NonEmpty {
    type Raw = String;
    fn check(key: &'static str, raw: String) -> Result<String, SettingsError> {
        if raw.is_empty() {
            Err(invalid(key, "must not be empty"))
        } else {
            Ok(raw)
        }
    }
}

/// A name that goes into Redis key names: letters, digits, `.`, `_` and
/// `-`, at most 64; empty is allowed where the key has a computed default.
pub struct KeyName;

fn key_name(key: &'static str, raw: String) -> Result<String, SettingsError> {
    if raw.len() > 64 || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err(invalid(
            key,
            format!("must be at most 64 letters, digits, '.', '_' or '-', got {raw:?}"),
        ));
    }
    Ok(raw)
}

impl Rule<String> for KeyName {
    type Raw = String;
    fn check(key: &'static str, raw: String) -> Result<String, SettingsError> {
        key_name(key, raw)
    }
}

/// A `KeyName` that must not be empty.
pub struct NonEmptyKeyName;

impl Rule<String> for NonEmptyKeyName {
    type Raw = String;
    fn check(key: &'static str, raw: String) -> Result<String, SettingsError> {
        if raw.is_empty() {
            return Err(invalid(key, "must not be empty"));
        }
        key_name(key, raw)
    }
}

/// A path; empty means none.
pub struct OptionalPath;

impl Rule<Option<PathBuf>> for OptionalPath {
    type Raw = String;
    fn check(_: &'static str, raw: String) -> Result<Option<PathBuf>, SettingsError> {
        Ok(Some(raw).filter(|s| !s.is_empty()).map(PathBuf::from))
    }
}

/// A path.
pub struct FilePath;

impl Rule<PathBuf> for FilePath {
    type Raw = String;
    fn check(_: &'static str, raw: String) -> Result<PathBuf, SettingsError> {
        Ok(PathBuf::from(raw))
    }
}

/// An integer from `MIN` to `MAX`.
pub struct Int<const MIN: i64, const MAX: i64>;

/// A count of something, at least 1 (the limits).
pub type Count = Int<1, { 1 << 40 }>;

fn int_in(key: &'static str, v: i64, min: i64, max: i64) -> Result<i64, SettingsError> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(invalid(key, format!("must be between {min} and {max}, got {v}")))
    }
}

impl<const MIN: i64, const MAX: i64> Rule<usize> for Int<MIN, MAX> {
    type Raw = i64;
    fn check(key: &'static str, raw: i64) -> Result<usize, SettingsError> {
        let v = int_in(key, raw, MIN, MAX)?;
        usize::try_from(v).map_err(|_| invalid(key, format!("must be between {MIN} and {MAX}, got {v}")))
    }
}

impl<const MIN: i64, const MAX: i64> Rule<u64> for Int<MIN, MAX> {
    type Raw = i64;
    fn check(key: &'static str, raw: i64) -> Result<u64, SettingsError> {
        let v = int_in(key, raw, MIN, MAX)?;
        u64::try_from(v).map_err(|_| invalid(key, format!("must be between {MIN} and {MAX}, got {v}")))
    }
}

/// A whole number of seconds from `MIN` to `MAX` (`MIN` ≥ 0).
pub struct IntSecs<const MIN: i64, const MAX: i64>;

impl<const MIN: i64, const MAX: i64> Rule<Duration> for IntSecs<MIN, MAX> {
    type Raw = i64;
    fn check(key: &'static str, raw: i64) -> Result<Duration, SettingsError> {
        Ok(Duration::from_secs(<Int<MIN, MAX> as Rule<u64>>::check(key, raw)?))
    }
}

/// A whole number of milliseconds from `MIN` to `MAX` (`MIN` ≥ 0).
pub struct IntMillis<const MIN: i64, const MAX: i64>;

impl<const MIN: i64, const MAX: i64> Rule<Duration> for IntMillis<MIN, MAX> {
    type Raw = i64;
    fn check(key: &'static str, raw: i64) -> Result<Duration, SettingsError> {
        Ok(Duration::from_millis(<Int<MIN, MAX> as Rule<u64>>::check(key, raw)?))
    }
}

/// A positive number of seconds, possibly fractional, at most 30 days.
pub struct PositiveSecs;

impl Rule<Duration> for PositiveSecs {
    type Raw = f64;
    fn check(key: &'static str, v: f64) -> Result<Duration, SettingsError> {
        if v.is_finite() && v > 0.0 && v <= 30.0 * 86_400.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(invalid(
                key,
                format!("must be a number of seconds above 0 and at most 30 days, got {v}"),
            ))
        }
    }
}

/// A number of events, 0 or more (a token bucket's rate or size).
pub struct EventRate;

impl Rule<f64> for EventRate {
    type Raw = f64;
    fn check(key: &'static str, r: f64) -> Result<f64, SettingsError> {
        if r.is_finite() && r >= 0.0 {
            Ok(r)
        } else {
            Err(invalid(key, format!("must be a number of events, 0 or more, got {r}")))
        }
    }
}

/// An IP address to listen on.
pub struct IpAddress;

impl Rule<IpAddr> for IpAddress {
    type Raw = String;
    fn check(key: &'static str, h: String) -> Result<IpAddr, SettingsError> {
        h.parse()
            .map_err(|_| invalid(key, format!("expected an IP address such as 0.0.0.0, got {h:?}")))
    }
}

/// Browser origins; an empty list allows any.
pub struct Origins;

/// An origin as a browser sends it in `Origin`: `scheme://host[:port]`, in
/// lower case, with no default port, and nothing else (no path, not even
/// `/`, no query, no user). Case and a default port are normalized, since
/// they name the same origin; anything else could never match and is refused.
fn origin(raw: &str) -> Result<String, &'static str> {
    let (scheme, rest) = raw.split_once("://").ok_or("it has no scheme://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
        return Err("its scheme is not a scheme");
    }
    if rest.contains(['/', '?', '#']) {
        return Err("an origin has no path, query or fragment (not even a trailing /)");
    }
    if rest.contains('@') {
        return Err("an origin has no user or password");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.starts_with('[') || h.ends_with(']') => (h, Some(p)),
        _ => (rest, None),
    };
    let host = host.to_ascii_lowercase();
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .split('.')
                    .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        }
    };
    if !host_ok {
        return Err("its host is not a host name or IP address");
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err("its port is not a port number"),
        },
    };
    Ok(match (scheme.as_str(), port) {
        ("http", Some(80)) | ("https", Some(443)) | (_, None) => format!("{scheme}://{host}"),
        (_, Some(n)) => format!("{scheme}://{host}:{n}"),
    })
}

impl Rule<CorsOrigins> for Origins {
    type Raw = Vec<String>;
    fn check(key: &'static str, list: Vec<String>) -> Result<CorsOrigins, SettingsError> {
        if list.is_empty() {
            return Ok(CorsOrigins::Any);
        }
        list.iter()
            .map(|o| {
                origin(o).map_err(|why| {
                    invalid(
                        key,
                        format!("{o:?} is not an origin like \"https://app.example.com\" or \"http://localhost:8080\": {why}"),
                    )
                })
            })
            .collect::<Result<_, _>>()
            .map(CorsOrigins::List)
    }
}

/// STUN/TURN server URLs.
pub struct IceUrls;

impl Rule<Vec<String>> for IceUrls {
    type Raw = Vec<String>;
    fn check(key: &'static str, list: Vec<String>) -> Result<Vec<String>, SettingsError> {
        match list
            .iter()
            .find(|u| !(u.starts_with("stun:") || u.starts_with("turn:") || u.starts_with("turns:")))
        {
            Some(u) => Err(invalid(key, format!("{u:?} is not a stun:/turn:/turns: URL"))),
            None => Ok(list),
        }
    }
}

/// TURN server URLs.
pub struct TurnUrls;

impl Rule<Vec<String>> for TurnUrls {
    type Raw = Vec<String>;
    fn check(key: &'static str, list: Vec<String>) -> Result<Vec<String>, SettingsError> {
        match list
            .iter()
            .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
        {
            Some(u) => Err(invalid(key, format!("{u:?} is not a turn:/turns: URL"))),
            None => Ok(list),
        }
    }
}

/// An http:// or https:// URL.
pub struct HttpUrl;

impl Rule<String> for HttpUrl {
    type Raw = String;
    fn check(key: &'static str, url: String) -> Result<String, SettingsError> {
        if url.starts_with("https://") || url.starts_with("http://") {
            Ok(url)
        } else {
            Err(invalid(key, format!("{url:?} is not an http(s) URL")))
        }
    }
}

/// http:// or https:// URLs.
pub struct HttpUrls;

impl Rule<Vec<String>> for HttpUrls {
    type Raw = Vec<String>;
    fn check(key: &'static str, list: Vec<String>) -> Result<Vec<String>, SettingsError> {
        list.into_iter().map(|u| HttpUrl::check(key, u)).collect()
    }
}

/// Pauses in milliseconds, each at most a day.
pub struct MillisList;

impl Rule<Vec<Duration>> for MillisList {
    type Raw = Vec<u64>;
    fn check(key: &'static str, list: Vec<u64>) -> Result<Vec<Duration>, SettingsError> {
        match list.iter().find(|ms| **ms > 86_400_000) {
            Some(ms) => Err(invalid(key, format!("{ms} is more than a day (86400000 ms)"))),
            None => Ok(list.into_iter().map(Duration::from_millis).collect()),
        }
    }
}

/// `""` (the main port), `"off"` or `"ip:port"`.
pub struct MetricsAddress;

impl Rule<MetricsEndpoint> for MetricsAddress {
    type Raw = String;
    fn check(key: &'static str, raw: String) -> Result<MetricsEndpoint, SettingsError> {
        match raw.trim() {
            "" => Ok(MetricsEndpoint::SamePort),
            "off" => Ok(MetricsEndpoint::Off),
            a => a.parse().map(MetricsEndpoint::Separate).map_err(|_| {
                invalid(
                    key,
                    format!("expected \"\", \"off\" or an address like 127.0.0.1:9100, got {a:?}"),
                )
            }),
        }
    }
}

/// `""` (the main port) or `"ip:port"`.
pub struct OperatorAddress;

impl Rule<OperatorEndpoint> for OperatorAddress {
    type Raw = String;
    fn check(key: &'static str, raw: String) -> Result<OperatorEndpoint, SettingsError> {
        match raw.trim() {
            "" => Ok(OperatorEndpoint::SamePort),
            a => a.parse().map(OperatorEndpoint::Separate).map_err(|_| {
                invalid(
                    key,
                    format!("expected \"\" or an address like 127.0.0.1:9200, got {a:?}"),
                )
            }),
        }
    }
}

/// IP addresses or networks (`10.0.0.0/8`).
pub struct Networks;

impl Rule<Vec<ipnet::IpNet>> for Networks {
    type Raw = Vec<String>;
    fn check(key: &'static str, list: Vec<String>) -> Result<Vec<ipnet::IpNet>, SettingsError> {
        list.iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| invalid(key, format!("{p:?} is not an IP address or network like 10.0.0.0/8")))
            })
            .collect()
    }
}

/// An enum written as one of a few words.
pub struct OneOf;

/// The words of an enum `OneOf` reads.
pub trait Words: Copy + 'static {
    const WORDS: &'static [(&'static str, Self)];
}

impl Words for LogFormat {
    const WORDS: &'static [(&'static str, LogFormat)] = &[("text", LogFormat::Text), ("json", LogFormat::Json)];
}

impl Words for LegacyTokens {
    const WORDS: &'static [(&'static str, LegacyTokens)] = &[
        ("auto", LegacyTokens::Auto),
        ("on", LegacyTokens::On),
        ("off", LegacyTokens::Off),
    ];
}

impl Words for DemoPage {
    const WORDS: &'static [(&'static str, DemoPage)] =
        &[("auto", DemoPage::Auto), ("on", DemoPage::On), ("off", DemoPage::Off)];
}

impl<T: Words> Rule<T> for OneOf {
    type Raw = String;
    fn check(key: &'static str, raw: String) -> Result<T, SettingsError> {
        if let Some((_, v)) = T::WORDS.iter().find(|(w, _)| *w == raw) {
            return Ok(*v);
        }
        // "a" or "b"; "a", "b" or "c"
        let quoted: Vec<String> = T::WORDS.iter().map(|(w, _)| format!("{w:?}")).collect();
        let (last, rest) = quoted.split_last().expect("an enum has words");
        let expected = if rest.is_empty() {
            last.clone()
        } else {
            format!("{} or {last}", rest.join(", "))
        };
        Err(invalid(key, format!("expected {expected}, got {raw:?}")))
    }
}

// ---------------------------------------------------------------------- .env

/// A TCP port.
pub struct Port;

impl EnvRule<u16> for Port {
    fn check(key: &'static str, value: Option<&str>) -> Result<u16, SettingsError> {
        let p = value.unwrap_or_default().trim();
        p.parse::<u16>()
            .map_err(|_| invalid(key, format!("expected a port number 0-65535, got {p:?}")))
    }
}

/// true/false (also 1/0, yes/no, on/off).
pub struct Flag;

fn flag(key: &'static str, value: &str) -> Result<bool, SettingsError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" | "off" => Ok(false),
        "true" | "1" | "yes" | "on" => Ok(true),
        other => Err(invalid(key, format!("expected true or false, got {other:?}"))),
    }
}

impl EnvRule<bool> for Flag {
    fn check(key: &'static str, value: Option<&str>) -> Result<bool, SettingsError> {
        flag(key, value.unwrap_or_default())
    }
}

impl EnvRule<Option<bool>> for Flag {
    fn check(key: &'static str, value: Option<&str>) -> Result<Option<bool>, SettingsError> {
        value.map(|v| flag(key, v)).transpose()
    }
}

/// Any text (kept as written).
pub struct Plain;

impl EnvRule<Option<String>> for Plain {
    fn check(_: &'static str, value: Option<&str>) -> Result<Option<String>, SettingsError> {
        Ok(value.map(str::to_string))
    }
}

/// A secret (kept as written, printed as `[redacted]`).
pub struct Hidden;

impl EnvRule<Option<Secret<String>>> for Hidden {
    fn check(_: &'static str, value: Option<&str>) -> Result<Option<Secret<String>>, SettingsError> {
        Ok(value.map(Secret::from))
    }
}

/// `OPERATOR_API_KEYS`: comma-separated keys, none blank or short. The
/// error never repeats a key.
pub struct OperatorApiKeys;

impl EnvRule<Option<OperatorKeys>> for OperatorApiKeys {
    fn check(key: &'static str, value: Option<&str>) -> Result<Option<OperatorKeys>, SettingsError> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let mut keys = Vec::new();
        for (i, k) in value.split(',').map(str::trim).enumerate() {
            if k.chars().count() < OperatorKeys::MIN_LEN {
                return Err(invalid(
                    key,
                    format!(
                        "key {} of the list is {}; each key needs at least {} characters (e.g. `openssl rand -hex 32`)",
                        i + 1,
                        if k.is_empty() {
                            "blank".to_string()
                        } else {
                            "too short".to_string()
                        },
                        OperatorKeys::MIN_LEN
                    ),
                ));
            }
            keys.push(Secret::from(k));
        }
        Ok(Some(OperatorKeys::new(keys)))
    }
}

/// `WEBHOOK_SECRET`: comma-separated `whsec_<base64>` secrets. The error
/// never repeats a secret.
pub struct WebhookSecretList;

impl EnvRule<Option<WebhookSecrets>> for WebhookSecretList {
    fn check(key: &'static str, value: Option<&str>) -> Result<Option<WebhookSecrets>, SettingsError> {
        use base64::Engine;
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let mut secrets = Vec::new();
        for (i, s) in value.split(',').map(str::trim).enumerate() {
            let bytes = s
                .strip_prefix("whsec_")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .filter(|b| b.len() >= WebhookSecrets::MIN_BYTES);
            let Some(bytes) = bytes else {
                return Err(invalid(
                    key,
                    format!(
                        "secret {} of the list is not whsec_ followed by the base64 of at least {} bytes (e.g. whsec_$(openssl rand -base64 32))",
                        i + 1,
                        WebhookSecrets::MIN_BYTES
                    ),
                ));
            };
            secrets.push(Secret::new(bytes));
        }
        Ok(Some(WebhookSecrets::new(secrets)))
    }
}

/// `REDIS_URL`: a `redis://` or `rediss://` URL (it may carry a password, so
/// it is kept as a secret); empty is unset.
pub struct RedisUrl;

impl EnvRule<Option<Secret<String>>> for RedisUrl {
    fn check(key: &'static str, value: Option<&str>) -> Result<Option<Secret<String>>, SettingsError> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) if v.starts_with("redis://") || v.starts_with("rediss://") => Ok(Some(Secret::from(v))),
            Some(_) => Err(invalid(
                key,
                "must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0",
            )),
        }
    }
}
