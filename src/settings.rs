//! Settings: the original `.env` keys and `config.js` keys (as `config.js.toml`),
//! parsed once into typed values. Every bad value is a startup error that names
//! the key, so an operator never finds out about a typo from a runtime failure.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

/// The file name the original's `config.js` becomes.
pub const CONFIG_FILE: &str = "config.js.toml";

/// Google's public STUN servers: the development default, as in the original.
pub const PUBLIC_STUN: [&str; 5] = [
    "stun:stun.l.google.com:19302",
    "stun:stun1.l.google.com:19302",
    "stun:stun2.l.google.com:19302",
    "stun:stun3.l.google.com:19302",
    "stun:stun4.l.google.com:19302",
];

#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("{key}: {problem}")]
    Invalid { key: String, problem: String },
    #[error("{key} is missing or still the placeholder from env-sample; set it to a long random secret (outside DEVELOPMENT mode the server refuses to start without it)")]
    MissingSecret { key: &'static str },
    #[error("{path}: {source}")]
    ConfigSyntax {
        path: String,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("{path}: cannot read the env file: {problem}")]
    EnvRead { path: String, problem: String },
    #[error("{path}: cannot read: {source}")]
    ConfigRead {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn invalid(key: &str, problem: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// Where the HMAC/JWT secrets came from, so the banner can warn about throwaway ones.
#[derive(Clone)]
pub struct Secrets {
    pub jwt: Vec<u8>,
    pub salt: Vec<u8>,
    /// True when development mode made them up for this run only.
    pub ephemeral: bool,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("ephemeral", &self.ephemeral)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Default)]
pub struct HttpsFiles {
    pub key: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub ca: Option<PathBuf>,
}

/// Which origins may talk to the server from a browser.
#[derive(Clone, Debug, PartialEq)]
pub enum CorsOrigins {
    /// Echo whatever `Origin` the request carries (the original's behaviour).
    Any,
    List(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    pub development: bool,
    pub enable_https: bool,
    pub https: HttpsFiles,
    pub secrets: Secrets,
    pub twilio: Option<(String, String)>,
    pub token_delimiter: String,
    pub workspace_id_len: usize,
    pub untitled_workspace: String,
    pub default_workspace_avatar: String,
    pub anonymous_attendee: String,
    pub default_attendee_avatar: String,
    pub json_storage_file: Option<PathBuf>,
    pub max_capacity_of_workspace: usize,
    pub cors_origins: CorsOrigins,
    pub max_payload_bytes: u64,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub ice_servers: Vec<String>,
    pub public_dir: PathBuf,
    pub flush_window: Duration,
    pub legacy_tokens: LegacyTokens,
    pub presence_grace: Duration,
    pub workspace_expiry: Duration,
    pub metrics: MetricsEndpoint,
    pub log_format: LogFormat,
    pub shutdown_timeout: Duration,
    pub tls_reload_check: Duration,
    pub twilio_api_base: String,
    pub twilio_timeout: Duration,
    pub twilio_ttl_margin: Duration,
    pub turn_rest: Option<TurnRest>,
    pub limits: LimitSettings,
}

/// The limits against hostile clients (see `limits`), all settings.
#[derive(Clone, Debug)]
pub struct LimitSettings {
    pub max_failed_pins_per_ip: usize,
    pub max_failed_pins_per_workspace: usize,
    pub failed_pin_window: Duration,
    pub events_per_second: f64,
    pub event_burst: f64,
    pub max_refused_events: usize,
    pub max_workspaces_per_ip_per_hour: usize,
    pub max_live_workspaces: usize,
    pub max_connections_per_ip: usize,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub max_name_length: usize,
    pub max_avatar_length: usize,
}

impl Default for LimitSettings {
    fn default() -> LimitSettings {
        LimitSettings {
            max_failed_pins_per_ip: 5,
            max_failed_pins_per_workspace: 50,
            failed_pin_window: Duration::from_secs(60),
            events_per_second: 300.0,
            event_burst: 600.0,
            max_refused_events: 1000,
            max_workspaces_per_ip_per_hour: 500,
            max_live_workspaces: 100_000,
            max_connections_per_ip: 2000,
            trusted_proxies: Vec::new(),
            max_name_length: 256,
            max_avatar_length: 8192,
        }
    }
}

/// coturn's `use-auth-secret` mode: credentials made here with the shared secret.
#[derive(Clone, Debug)]
pub struct TurnRest {
    pub secret: String,
    pub urls: Vec<String>,
    pub ttl: Duration,
}

/// Where `/metrics` is served.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricsEndpoint {
    /// On the main port, beside the Socket.IO endpoint.
    SamePort,
    /// On a listener of its own (e.g. only on a private interface).
    Separate(std::net::SocketAddr),
    Off,
}

/// Whether tokens signed by the original Node server are accepted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LegacyTokens {
    /// On when the store was imported from the original's file.
    Auto,
    On,
    Off,
}

impl LegacyTokens {
    /// The decision, given whether the store began as the original's file.
    pub fn enabled(self, imported_from_original: bool) -> bool {
        match self {
            LegacyTokens::Auto => imported_from_original,
            LegacyTokens::On => true,
            LegacyTokens::Off => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LogFormat {
    Text,
    Json,
}

/// `config.js.toml` as written; unknown keys are refused so typos surface.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
struct ConfigFile {
    tokenDelimiter: Option<String>,
    WORKSPACE_ID_LEN: Option<i64>,
    untitled_workspace: Option<String>,
    default_workspace_avatar: Option<String>,
    anonymous_attendee: Option<String>,
    default_attendee_avatar: Option<String>,
    https: Option<HttpsSection>,
    json_storage_file: Option<String>,
    max_capacity_of_workspace: Option<i64>,
    host: Option<String>,
    cors_origins: Option<Vec<String>>,
    max_payload_bytes: Option<i64>,
    ping_interval_secs: Option<i64>,
    ping_timeout_secs: Option<i64>,
    ice_servers: Option<Vec<String>>,
    public_dir: Option<String>,
    flush_window_ms: Option<i64>,
    legacy_tokens: Option<String>,
    presence_grace_secs: Option<f64>,
    workspace_expiry_secs: Option<f64>,
    metrics_address: Option<String>,
    log_format: Option<String>,
    shutdown_timeout_secs: Option<i64>,
    tls_reload_check_secs: Option<f64>,
    twilio_api_base: Option<String>,
    twilio_timeout_ms: Option<i64>,
    twilio_ttl_margin_secs: Option<i64>,
    turn_urls: Option<Vec<String>>,
    turn_ttl_secs: Option<i64>,
    max_failed_pins_per_ip: Option<i64>,
    max_failed_pins_per_workspace: Option<i64>,
    failed_pin_window_secs: Option<f64>,
    events_per_second: Option<f64>,
    event_burst: Option<f64>,
    max_refused_events: Option<i64>,
    max_workspaces_per_ip_per_hour: Option<i64>,
    max_live_workspaces: Option<i64>,
    max_connections_per_ip: Option<i64>,
    trusted_proxies: Option<Vec<String>>,
    max_name_length: Option<i64>,
    max_avatar_length: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HttpsSection {
    key: Option<String>,
    cert: Option<String>,
    ca: Option<String>,
}

fn parse_bool(key: &str, value: Option<&String>) -> Result<bool, SettingsError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("false") | Some("0") | Some("no") | Some("off") => Ok(false),
        Some("true") | Some("1") | Some("yes") | Some("on") => Ok(true),
        Some(other) => Err(invalid(key, format!("expected true or false, got {other:?}"))),
    }
}

fn ranged(key: &str, value: Option<i64>, default: i64, min: i64, max: i64) -> Result<i64, SettingsError> {
    let v = value.unwrap_or(default);
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(invalid(key, format!("must be between {min} and {max}, got {v}")))
    }
}

fn limit_settings(file: &ConfigFile) -> Result<LimitSettings, SettingsError> {
    let d = LimitSettings::default();
    let count = |key: &str, v: Option<i64>, default: usize| -> Result<usize, SettingsError> {
        Ok(ranged(key, v, default as i64, 1, 1 << 40)? as usize)
    };
    let rate = |key: &str, v: Option<f64>, default: f64| -> Result<f64, SettingsError> {
        match v.unwrap_or(default) {
            r if r.is_finite() && r >= 0.0 => Ok(r),
            r => Err(invalid(key, format!("must be a number of events, 0 or more, got {r}"))),
        }
    };
    let trusted_proxies = file
        .trusted_proxies
        .iter()
        .flatten()
        .map(|p| {
            p.parse::<ipnet::IpNet>()
                .or_else(|_| p.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    invalid(
                        "trusted_proxies",
                        format!("{p:?} is not an IP address or network like 10.0.0.0/8"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let events_per_second = rate("events_per_second", file.events_per_second, d.events_per_second)?;
    let event_burst = rate("event_burst", file.event_burst, d.event_burst)?;
    if events_per_second > 0.0 && event_burst < 1.0 {
        return Err(invalid(
            "event_burst",
            "must be at least 1 when events_per_second is set",
        ));
    }
    Ok(LimitSettings {
        max_failed_pins_per_ip: count(
            "max_failed_pins_per_ip",
            file.max_failed_pins_per_ip,
            d.max_failed_pins_per_ip,
        )?,
        max_failed_pins_per_workspace: count(
            "max_failed_pins_per_workspace",
            file.max_failed_pins_per_workspace,
            d.max_failed_pins_per_workspace,
        )?,
        failed_pin_window: seconds("failed_pin_window_secs", file.failed_pin_window_secs, 60.0)?,
        events_per_second,
        event_burst,
        max_refused_events: count("max_refused_events", file.max_refused_events, d.max_refused_events)?,
        max_workspaces_per_ip_per_hour: count(
            "max_workspaces_per_ip_per_hour",
            file.max_workspaces_per_ip_per_hour,
            d.max_workspaces_per_ip_per_hour,
        )?,
        max_live_workspaces: count("max_live_workspaces", file.max_live_workspaces, d.max_live_workspaces)?,
        max_connections_per_ip: count(
            "max_connections_per_ip",
            file.max_connections_per_ip,
            d.max_connections_per_ip,
        )?,
        trusted_proxies,
        max_name_length: count("max_name_length", file.max_name_length, d.max_name_length)?,
        max_avatar_length: count("max_avatar_length", file.max_avatar_length, d.max_avatar_length)?,
    })
}

/// A positive duration in (possibly fractional) seconds, at most 30 days.
fn seconds(key: &str, value: Option<f64>, default: f64) -> Result<Duration, SettingsError> {
    let v = value.unwrap_or(default);
    if v.is_finite() && v > 0.0 && v <= 30.0 * 86_400.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(invalid(
            key,
            format!("must be a number of seconds above 0 and at most 30 days, got {v}"),
        ))
    }
}

fn non_empty(key: &str, value: Option<String>, default: &str) -> Result<String, SettingsError> {
    match value {
        None => Ok(default.to_string()),
        Some(v) if v.is_empty() => Err(invalid(key, "must not be empty")),
        Some(v) => Ok(v),
    }
}

/// A secret that still looks like env-sample's placeholder counts as missing.
fn is_placeholder(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    v.is_empty() || v.contains("change-me") || v.contains("changeme") || v.starts_with('<') || v == "secret"
}

fn random_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut b = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

impl Settings {
    /// Builds settings from the environment (already merged with `.env`) and
    /// the text of `config.js.toml` (None when there is no file).
    pub fn from_sources(
        env: &HashMap<String, String>,
        config_text: Option<(&str, &str)>,
    ) -> Result<Settings, SettingsError> {
        let file: ConfigFile = match config_text {
            None => ConfigFile::default(),
            Some((path, text)) => toml::from_str(text).map_err(|e| SettingsError::ConfigSyntax {
                path: path.to_string(),
                source: Box::new(e),
            })?,
        };
        // Nothing configured at all (no DEVELOPMENT, no secrets) is someone
        // trying the server out: development mode, as the banner says.
        let unconfigured = ["DEVELOPMENT", "MAGICK_TOKEN", "SALT_STRING"]
            .iter()
            .all(|k| env.get(*k).is_none_or(|v| v.trim().is_empty()));
        let limits = limit_settings(&file)?;
        let development = unconfigured || parse_bool("DEVELOPMENT", env.get("DEVELOPMENT"))?;
        let enable_https = parse_bool("ENABLE_HTTPS", env.get("ENABLE_HTTPS"))?;
        let port = match env.get("PORT").map(|p| p.trim()) {
            None | Some("") => 9090,
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| invalid("PORT", format!("expected a port number 0-65535, got {p:?}")))?,
        };

        let mut ephemeral = false;
        let mut secret = |key: &'static str| -> Result<Vec<u8>, SettingsError> {
            match env.get(key) {
                Some(v) if !is_placeholder(v) => Ok(v.as_bytes().to_vec()),
                _ if development => {
                    ephemeral = true;
                    Ok(random_secret())
                }
                _ => Err(SettingsError::MissingSecret { key }),
            }
        };
        let jwt = secret("MAGICK_TOKEN")?;
        let salt = secret("SALT_STRING")?;
        let secrets = Secrets { jwt, salt, ephemeral };

        let twilio = match (
            env.get("TWILIO_ACCOUNT_SID").filter(|v| !v.trim().is_empty()),
            env.get("TWILIO_AUTH_TOKEN").filter(|v| !v.trim().is_empty()),
        ) {
            (Some(sid), Some(token)) => Some((sid.clone(), token.clone())),
            (None, None) => None,
            (Some(_), None) => return Err(invalid("TWILIO_AUTH_TOKEN", "must be set when TWILIO_ACCOUNT_SID is")),
            (None, Some(_)) => return Err(invalid("TWILIO_ACCOUNT_SID", "must be set when TWILIO_AUTH_TOKEN is")),
        };

        let host = match file.host.as_deref() {
            None => IpAddr::from([0, 0, 0, 0]),
            Some(h) => h
                .parse()
                .map_err(|_| invalid("host", format!("expected an IP address such as 0.0.0.0, got {h:?}")))?,
        };
        let https_section = file.https.unwrap_or_default();
        let https = HttpsFiles {
            key: https_section.key.filter(|s| !s.is_empty()).map(PathBuf::from),
            cert: https_section.cert.filter(|s| !s.is_empty()).map(PathBuf::from),
            ca: https_section.ca.filter(|s| !s.is_empty()).map(PathBuf::from),
        };
        if enable_https && (https.key.is_none() || https.cert.is_none()) {
            return Err(invalid(
                "https",
                "ENABLE_HTTPS is true but [https] key and cert are not both set",
            ));
        }
        let cors_origins = match file.cors_origins {
            None => CorsOrigins::Any,
            Some(list) if list.is_empty() => CorsOrigins::Any,
            Some(list) => {
                for o in &list {
                    if !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/') {
                        return Err(invalid(
                            "cors_origins",
                            format!("{o:?} is not an origin like \"https://app.example.com\""),
                        ));
                    }
                }
                CorsOrigins::List(list)
            }
        };
        let ice_servers = match file.ice_servers {
            Some(list) => {
                for u in &list {
                    if !(u.starts_with("stun:") || u.starts_with("turn:") || u.starts_with("turns:")) {
                        return Err(invalid("ice_servers", format!("{u:?} is not a stun:/turn:/turns: URL")));
                    }
                }
                list
            }
            None => PUBLIC_STUN.iter().map(|s| s.to_string()).collect(),
        };
        let turn_urls = file.turn_urls.unwrap_or_default();
        for u in &turn_urls {
            if !(u.starts_with("turn:") || u.starts_with("turns:")) {
                return Err(invalid("turn_urls", format!("{u:?} is not a turn:/turns: URL")));
            }
        }
        let turn_secret = env.get("TURN_SECRET").filter(|s| !s.trim().is_empty());
        let turn_rest = match (turn_secret, turn_urls.is_empty()) {
            (Some(secret), false) => Some(TurnRest {
                secret: secret.clone(),
                urls: turn_urls,
                ttl: Duration::from_secs(ranged("turn_ttl_secs", file.turn_ttl_secs, 86_400, 60, 30 * 86_400)? as u64),
            }),
            (None, true) => None,
            (Some(_), true) => {
                return Err(invalid(
                    "turn_urls",
                    "TURN_SECRET is set, so turn_urls must list the TURN server URLs",
                ))
            }
            (None, false) => {
                return Err(invalid(
                    "TURN_SECRET",
                    "turn_urls is set, so TURN_SECRET (coturn's static-auth-secret) must be set too",
                ))
            }
        };
        let twilio_api_base = file.twilio_api_base.unwrap_or_else(|| "https://api.twilio.com".into());
        if !(twilio_api_base.starts_with("https://") || twilio_api_base.starts_with("http://")) {
            return Err(invalid(
                "twilio_api_base",
                format!("{twilio_api_base:?} is not an http(s) URL"),
            ));
        }
        let metrics = match file.metrics_address.as_deref().map(str::trim) {
            None | Some("") => MetricsEndpoint::SamePort,
            Some("off") => MetricsEndpoint::Off,
            Some(a) => MetricsEndpoint::Separate(a.parse().map_err(|_| {
                invalid(
                    "metrics_address",
                    format!("expected \"\", \"off\" or an address like 127.0.0.1:9100, got {a:?}"),
                )
            })?),
        };
        let log_format = match file.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "log_format",
                    format!("expected \"text\" or \"json\", got {other:?}"),
                ))
            }
        };
        let legacy_tokens = match file.legacy_tokens.as_deref() {
            None | Some("auto") => LegacyTokens::Auto,
            Some("on") => LegacyTokens::On,
            Some("off") => LegacyTokens::Off,
            Some(other) => {
                return Err(invalid(
                    "legacy_tokens",
                    format!("expected \"auto\", \"on\" or \"off\", got {other:?}"),
                ))
            }
        };
        let ping_interval = ranged("ping_interval_secs", file.ping_interval_secs, 25, 1, 3600)?;
        let ping_timeout = ranged("ping_timeout_secs", file.ping_timeout_secs, 12, 1, 3600)?;

        Ok(Settings {
            host,
            port,
            development,
            enable_https,
            https,
            secrets,
            twilio,
            token_delimiter: non_empty("tokenDelimiter", file.tokenDelimiter, ":")?,
            workspace_id_len: ranged("WORKSPACE_ID_LEN", file.WORKSPACE_ID_LEN, 10, 6, 64)? as usize,
            // The original `config.js`'s defaults.
            untitled_workspace: non_empty("untitled_workspace", file.untitled_workspace, "Untitled Workspace")?,
            default_workspace_avatar: file.default_workspace_avatar.unwrap_or_default(),
            anonymous_attendee: non_empty("anonymous_attendee", file.anonymous_attendee, "Anonymous Attendee")?,
            default_attendee_avatar: file.default_attendee_avatar.unwrap_or_default(),
            json_storage_file: file.json_storage_file.filter(|s| !s.is_empty()).map(PathBuf::from),
            max_capacity_of_workspace: ranged(
                "max_capacity_of_workspace",
                file.max_capacity_of_workspace,
                4,
                1,
                10_000,
            )? as usize,
            cors_origins,
            max_payload_bytes: ranged("max_payload_bytes", file.max_payload_bytes, 1_000_000, 1024, 64 << 20)? as u64,
            ping_interval: Duration::from_secs(ping_interval as u64),
            ping_timeout: Duration::from_secs(ping_timeout as u64),
            ice_servers,
            public_dir: PathBuf::from(file.public_dir.unwrap_or_else(|| "public".into())),
            flush_window: Duration::from_millis(ranged("flush_window_ms", file.flush_window_ms, 0, 0, 60_000)? as u64),
            legacy_tokens,
            presence_grace: seconds("presence_grace_secs", file.presence_grace_secs, 60.0)?,
            workspace_expiry: seconds("workspace_expiry_secs", file.workspace_expiry_secs, 86_400.0)?,
            metrics,
            log_format,
            twilio_api_base,
            twilio_timeout: Duration::from_millis(ranged(
                "twilio_timeout_ms",
                file.twilio_timeout_ms,
                3000,
                100,
                60_000,
            )? as u64),
            twilio_ttl_margin: Duration::from_secs(ranged(
                "twilio_ttl_margin_secs",
                file.twilio_ttl_margin_secs,
                600,
                0,
                86_400,
            )? as u64),
            turn_rest,
            limits,
            tls_reload_check: seconds("tls_reload_check_secs", file.tls_reload_check_secs, 10.0)?,
            shutdown_timeout: Duration::from_secs(ranged(
                "shutdown_timeout_secs",
                file.shutdown_timeout_secs,
                10,
                1,
                600,
            )? as u64),
        })
    }

    /// Reads `.env` (the process environment wins over it) and `config.js.toml`
    /// (or the file named by `CONFIG_FILE`) from the current directory.
    pub fn load() -> Result<Settings, SettingsError> {
        Settings::load_from(None, None)
    }

    /// `load`, with the command line's `--env-file` and `--config` in place of
    /// `.env` and `CONFIG_FILE`/`config.js.toml`. A file named explicitly must exist.
    pub fn load_from(env_file: Option<&Path>, config_file: Option<&Path>) -> Result<Settings, SettingsError> {
        match env_file {
            Some(path) => {
                dotenvy::from_path(path).map_err(|e| SettingsError::EnvRead {
                    path: path.display().to_string(),
                    problem: e.to_string(),
                })?;
            }
            None => {
                let _ = dotenvy::dotenv();
            }
        }
        let env: HashMap<String, String> = std::env::vars().collect();
        let (path, explicit) = match (config_file, env.get("CONFIG_FILE")) {
            (Some(p), _) => (p.display().to_string(), true),
            (None, Some(p)) => (p.clone(), true),
            (None, None) => (CONFIG_FILE.to_string(), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => None,
            Err(source) => return Err(SettingsError::ConfigRead { path, source }),
        };
        Settings::from_sources(&env, text.as_deref().map(|t| (path.as_str(), t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn err(pairs: &[(&str, &str)], toml: Option<&str>) -> String {
        Settings::from_sources(&env(pairs), toml.map(|t| ("config.js.toml", t)))
            .unwrap_err()
            .to_string()
    }

    const SECRETS: [(&str, &str); 2] = [
        ("MAGICK_TOKEN", "a-real-secret-123"),
        ("SALT_STRING", "another-secret-456"),
    ];

    #[test]
    fn nothing_at_all_is_a_working_development_server() {
        let s = Settings::from_sources(&env(&[]), None).unwrap();
        assert!(s.development);
        assert_eq!(s.port, 9090);
        assert!(s.secrets.ephemeral);
        assert_eq!(s.max_capacity_of_workspace, 4);
        assert_eq!(s.workspace_id_len, 10);
        assert_eq!(s.ice_servers.len(), 5);
        assert_eq!(s.ping_interval, Duration::from_secs(25));
        assert_eq!(s.ping_timeout, Duration::from_secs(12));
        assert_eq!(s.max_payload_bytes, 1_000_000);
        assert_eq!(s.cors_origins, CorsOrigins::Any);
        assert_eq!(s.flush_window, Duration::ZERO);
        assert_eq!(s.presence_grace, Duration::from_secs(60));
        assert_eq!(s.workspace_expiry, Duration::from_secs(86_400));
        assert_eq!(s.metrics, MetricsEndpoint::SamePort);
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.legacy_tokens, LegacyTokens::Auto);
        // The original config.js's defaults.
        assert_eq!(s.untitled_workspace, "Untitled Workspace");
        assert_eq!(s.anonymous_attendee, "Anonymous Attendee");
        assert_eq!(s.default_workspace_avatar, "");
        assert_eq!(s.default_attendee_avatar, "");
    }

    #[test]
    fn legacy_tokens_takes_auto_on_off_only() {
        let s =
            |v: &str| Settings::from_sources(&env(&[]), Some(("config.js.toml", &format!("legacy_tokens = \"{v}\""))));
        assert_eq!(s("on").unwrap().legacy_tokens, LegacyTokens::On);
        assert_eq!(s("off").unwrap().legacy_tokens, LegacyTokens::Off);
        assert!(s("maybe").unwrap_err().to_string().contains("legacy_tokens"));
        assert!(LegacyTokens::Auto.enabled(true) && !LegacyTokens::Auto.enabled(false));
    }

    #[test]
    fn production_refuses_missing_or_placeholder_secrets_by_name() {
        assert!(err(&[("DEVELOPMENT", "false")], None).contains("MAGICK_TOKEN"));
        assert!(err(&[("MAGICK_TOKEN", "real-one-xyz")], None).contains("SALT_STRING"));
        assert!(err(&[("MAGICK_TOKEN", "change-me"), ("SALT_STRING", "x-real")], None).contains("MAGICK_TOKEN"));
        let s = Settings::from_sources(&env(&SECRETS), None).unwrap();
        assert!(!s.secrets.ephemeral);
        assert_eq!(s.secrets.jwt, b"a-real-secret-123");
    }

    #[test]
    fn bad_values_name_their_key() {
        assert!(err(&[("PORT", "90x"), SECRETS[0], SECRETS[1]], None).starts_with("PORT"));
        assert!(err(&[("DEVELOPMENT", "maybe")], None).starts_with("DEVELOPMENT"));
        assert!(err(&SECRETS, Some("max_capacity_of_workspace = 0")).starts_with("max_capacity_of_workspace"));
        assert!(err(&SECRETS, Some("WORKSPACE_ID_LEN = 2")).starts_with("WORKSPACE_ID_LEN"));
        assert!(err(&SECRETS, Some("host = \"nowhere\"")).starts_with("host"));
        assert!(err(&SECRETS, Some("cors_origins = [\"example.com\"]")).starts_with("cors_origins"));
        assert!(err(&SECRETS, Some("ice_servers = [\"http://x\"]")).starts_with("ice_servers"));
        assert!(err(&SECRETS, Some("max_capacity = 3")).contains("unknown field"));
        assert!(err(&SECRETS, Some("presence_grace_secs = 0")).starts_with("presence_grace_secs"));
        assert!(err(&SECRETS, Some("metrics_address = \"nine\"")).starts_with("metrics_address"));
        assert!(err(&SECRETS, Some("log_format = \"xml\"")).starts_with("log_format"));
        assert!(err(&SECRETS, Some("trusted_proxies = [\"proxy\"]")).starts_with("trusted_proxies"));
        assert!(err(&SECRETS, Some("max_connections_per_ip = 0")).starts_with("max_connections_per_ip"));
        assert!(err(&SECRETS, Some("events_per_second = -1.0")).starts_with("events_per_second"));
        assert!(err(&SECRETS, Some("max_capacity_of_workspace = \"four\"")).contains("config.js.toml"));
        assert!(err(&[("ENABLE_HTTPS", "true"), SECRETS[0], SECRETS[1]], None).starts_with("https"));
        assert!(err(&[("TWILIO_ACCOUNT_SID", "AC1"), SECRETS[0], SECRETS[1]], None).starts_with("TWILIO_AUTH_TOKEN"));
    }

    #[test]
    fn original_config_keys_are_read() {
        let s = Settings::from_sources(
            &env(&SECRETS),
            Some((
                "c",
                r#"
tokenDelimiter = "|"
WORKSPACE_ID_LEN = 12
untitled_workspace = "U"
default_workspace_avatar = "w.png"
anonymous_attendee = "A"
default_attendee_avatar = "a.png"
json_storage_file = ""
max_capacity_of_workspace = 8
cors_origins = ["https://app.example.com"]
[https]
key = "k.pem"
cert = "c.pem"
"#,
            )),
        )
        .unwrap();
        assert_eq!(s.token_delimiter, "|");
        assert_eq!(s.workspace_id_len, 12);
        assert_eq!(s.untitled_workspace, "U");
        assert_eq!(s.default_attendee_avatar, "a.png");
        assert_eq!(s.json_storage_file, None);
        assert_eq!(s.max_capacity_of_workspace, 8);
        assert_eq!(s.https.key, Some(PathBuf::from("k.pem")));
        assert_eq!(
            s.cors_origins,
            CorsOrigins::List(vec!["https://app.example.com".into()])
        );
    }
}
