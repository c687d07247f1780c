//! Settings: the original `.env` keys and `config.js` keys (as `config.js.toml`),
//! parsed once into typed values. Every bad value is a startup error that names
//! the key, so an operator never finds out about a typo from a runtime failure.
//!
//! - `keys.rs`: every key, declared once (key, type, default, bounds, doc line);
//!   the `Settings` and `LimitSettings` structs are generated from it.
//! - `https.rs`: the `[https]` table, a setting made of keys of its own
//!   (`HttpsFiles`), declared and read as one.
//! - `rules.rs`: the kinds of value (bounds and messages).
//! - `declare.rs`: the macros behind `keys.rs`.
//! - here: the rules that span several keys (secrets and development mode,
//!   Twilio, TURN REST, HTTPS), and reading the files.
//! - `tests.rs`: among others, `config.js.toml`, `env-sample` and the README's
//!   tables held against the declarations.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use thiserror::Error;

mod declare;
mod https;
mod keys;
mod rules;
mod secret;
#[cfg(test)]
mod tests;

pub use declare::Key;
pub use https::HttpsFiles;
pub use keys::{LimitSettings, Settings, ENV_KEYS, FILE_KEYS};
pub use secret::Secret;

use keys::{Assembled, EnvKeys, RawFile, TurnKeys};

/// The file name the original's `config.js` becomes.
pub const CONFIG_FILE: &str = "config.js.toml";

/// Google's public STUN servers: the development default, as in the original
/// (the default of `ice_servers`; a test holds the two together).
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
    #[error("{key} is {problem}. Make one with `openssl rand -hex 32` and set {key} in .env (the same on every node and across restarts: every token is signed with it). {why}")]
    MissingSecret {
        key: &'static str,
        problem: &'static str,
        why: &'static str,
    },
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

/// The HMAC/JWT secrets, and whether they are throwaway ones (the banner warns).
#[derive(Clone, Debug)]
pub struct Secrets {
    pub jwt: Secret<Vec<u8>>,
    pub salt: Secret<Vec<u8>>,
    /// True when development mode made them up for this run only.
    pub ephemeral: bool,
}

impl Default for LimitSettings {
    fn default() -> LimitSettings {
        LimitSettings::from_keys(&mut RawFile::default()).expect("the declared defaults are valid")
    }
}

/// Which origins may talk to the server from a browser.
#[derive(Clone, Debug, PartialEq)]
pub enum CorsOrigins {
    /// Echo whatever `Origin` the request carries (the original's behaviour).
    Any,
    List(Vec<String>),
}

/// coturn's `use-auth-secret` mode: credentials made here with the shared secret.
#[derive(Clone, Debug)]
pub struct TurnRest {
    pub secret: Secret<String>,
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

/// Where the operator API is served (when `OPERATOR_API_KEYS` is set).
#[derive(Clone, Debug, PartialEq)]
pub enum OperatorEndpoint {
    /// On the main port, under `/api/v1`.
    SamePort,
    /// On a listener of its own (plain HTTP, e.g. only on a private interface).
    Separate(std::net::SocketAddr),
}

/// The operator API's keys. Never printed (`Debug` is redacted); a key
/// offered is compared with each in constant time.
#[derive(Clone)]
pub struct OperatorKeys(Vec<Secret<String>>);

impl OperatorKeys {
    /// The shortest key accepted: a guessable key would make the API an open door.
    pub const MIN_LEN: usize = 16;

    pub fn new(keys: Vec<Secret<String>>) -> OperatorKeys {
        OperatorKeys(keys)
    }

    /// Whether `offered` is one of the keys. Every key is compared, each in
    /// constant time, so neither which key matched nor how much of it leaks.
    pub fn accepts(&self, offered: &str) -> bool {
        use subtle::ConstantTimeEq;
        let mut any = subtle::Choice::from(0u8);
        for key in &self.0 {
            any |= key.expose().as_bytes().ct_eq(offered.as_bytes());
        }
        any.into()
    }

    /// The first key: what the command line (`workspaces …`) calls the API with.
    pub fn first(&self) -> &Secret<String> {
        &self.0[0]
    }
}

impl fmt::Debug for OperatorKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OperatorKeys([redacted] × {})", self.0.len())
    }
}

/// The webhook signing secrets (Standard Webhooks: the bytes after `whsec_`,
/// base64-decoded). Never printed.
#[derive(Clone)]
pub struct WebhookSecrets(Vec<Secret<Vec<u8>>>);

impl WebhookSecrets {
    /// The fewest bytes a secret may have.
    pub const MIN_BYTES: usize = 24;

    pub fn new(secrets: Vec<Secret<Vec<u8>>>) -> WebhookSecrets {
        WebhookSecrets(secrets)
    }

    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().map(|s| s.expose().as_slice())
    }
}

impl fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecrets([redacted] × {})", self.0.len())
    }
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

/// Whether `/demo` (the demo and self-test page) is served.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DemoPage {
    /// On in development mode: an operator trying the server out gets it, a
    /// production deployment exposes nothing it did not ask for.
    Auto,
    On,
    Off,
}

impl DemoPage {
    /// The decision, given whether the server runs in development mode.
    pub fn enabled(self, development: bool) -> bool {
        match self {
            DemoPage::Auto => development,
            DemoPage::On => true,
            DemoPage::Off => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LogFormat {
    Text,
    Json,
}

/// What is wrong with a secret as given, if anything: unset, or a placeholder
/// copied from env-sample or the README rather than a secret of the operator's.
fn secret_problem(given: Option<&Secret<String>>) -> Option<&'static str> {
    let Some(v) = given else {
        return Some("not set");
    };
    let v = v.expose().trim().to_ascii_lowercase();
    let repeated = v.chars().all(|c| v.starts_with(c));
    let placeholder = repeated
        || [
            "change-me",
            "changeme",
            "change_me",
            "…",
            "...",
            "random hex",
            "your-secret",
            "your_secret",
        ]
        .iter()
        .any(|p| v.contains(p))
        || v.starts_with('<')
        || ["secret", "password", "token", "salt"].contains(&v.as_str());
    placeholder.then_some("a placeholder (an example value from env-sample or the README), not a secret")
}

/// Whether the operator configured anything: a `.env` file, a config file, or
/// one of our keys in the environment. Only an unconfigured start (someone
/// trying the server out) gets development mode without asking for it.
/// `RUST_LOG` does not count: it is a log filter, not a deployment.
fn configured(env: &HashMap<String, String>, env_file: Option<&Path>, config_file: bool) -> bool {
    env_file.is_some()
        || config_file
        || ENV_KEYS
            .iter()
            .filter(|k| !["DEVELOPMENT", "RUST_LOG"].contains(&k.name))
            .any(|k| declare::env_value(env, k.name).is_some())
}

/// Why a missing secret stops the start (the end of its message).
const NOT_DEVELOPMENT: &str = "This start is configured (.env, a config file or a server variable in the environment), so the server will not make up throwaway secrets; set DEVELOPMENT=true only to try it out without persistent tokens.";
const DEVELOPMENT_OFF: &str = "DEVELOPMENT is false, so the server will not make up throwaway secrets.";

fn random_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut b = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// A node id for one run: the host name (when it is a valid key name) and random letters.
fn made_up_node_id() -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .take(40)
        .collect();
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(8)
        .map(char::from)
        .collect();
    if host.is_empty() {
        format!("node-{tail}")
    } else {
        format!("{host}-{tail}")
    }
}

impl Settings {
    /// Builds settings from the environment (already merged with `.env`, whose
    /// path is `env_file` when one was read) and the path and text of
    /// `config.js.toml` (None when there is no file).
    pub fn from_sources(
        env: &HashMap<String, String>,
        env_file: Option<&Path>,
        config_text: Option<(&str, &str)>,
    ) -> Result<Settings, SettingsError> {
        let configured = configured(env, env_file, config_text.is_some());
        let mut file: RawFile = match config_text {
            None => RawFile::default(),
            Some((path, text)) => toml::from_str(text).map_err(|e| SettingsError::ConfigSyntax {
                path: path.to_string(),
                source: Box::new(e),
            })?,
        };
        let env = EnvKeys::from_env(env)?;

        // Development mode when asked for, or when nothing at all is
        // configured (someone trying the server out), as the banner says.
        let development = env.development.unwrap_or(!configured);
        let mut ephemeral = false;
        let mut secret = |key: &'static str, given: Option<Secret<String>>| match secret_problem(given.as_ref()) {
            None => Ok(given
                .expect("a secret without a problem is set")
                .map(String::into_bytes)),
            Some(_) if development => {
                ephemeral = true;
                Ok(Secret::new(random_secret()))
            }
            Some(problem) => Err(SettingsError::MissingSecret {
                key,
                problem,
                why: if env.development == Some(false) {
                    DEVELOPMENT_OFF
                } else {
                    NOT_DEVELOPMENT
                },
            }),
        };
        let jwt = secret("MAGICK_TOKEN", env.magick_token)?;
        let salt = secret("SALT_STRING", env.salt_string)?;
        let secrets = Secrets { jwt, salt, ephemeral };

        let twilio = match (env.twilio_account_sid, env.twilio_auth_token) {
            (Some(sid), Some(token)) => Some((sid, token)),
            (None, None) => None,
            (Some(_), None) => return Err(invalid("TWILIO_AUTH_TOKEN", "must be set when TWILIO_ACCOUNT_SID is")),
            (None, Some(_)) => return Err(invalid("TWILIO_ACCOUNT_SID", "must be set when TWILIO_AUTH_TOKEN is")),
        };

        let turn = TurnKeys::from_keys(&mut file)?;
        let turn_rest = match (env.turn_secret, turn.urls.is_empty()) {
            (Some(secret), false) => Some(TurnRest {
                secret,
                urls: turn.urls,
                ttl: turn.ttl,
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

        let limits = LimitSettings::from_keys(&mut file)?;
        if limits.events_per_second > 0.0 && limits.event_burst < 1.0 {
            return Err(invalid(
                "event_burst",
                "must be at least 1 when events_per_second is set",
            ));
        }

        let settings = Settings::from_keys(
            &mut file,
            Assembled {
                port: env.port,
                development,
                enable_https: env.enable_https,
                secrets,
                twilio,
                turn_rest,
                limits,
                redis_url: env.redis_url,
                operator_api_keys: env.operator_api_keys,
                webhook_secret: env.webhook_secret,
            },
        )?;
        if !settings.webhook_urls.is_empty() && settings.webhook_secret.is_none() {
            return Err(invalid(
                "WEBHOOK_SECRET",
                "webhook_urls is set, so WEBHOOK_SECRET (whsec_ followed by base64, e.g. whsec_$(openssl rand -base64 32)) must be set too",
            ));
        }
        let mut settings = settings;
        if settings.redis_url.is_some() && settings.secrets.ephemeral {
            return Err(invalid(
                "REDIS_URL",
                "cluster mode needs the same MAGICK_TOKEN and SALT_STRING on every node; set both (development mode would make up random ones per node)",
            ));
        }
        if settings.redis_url.is_some() && settings.node_id.is_empty() {
            settings.node_id = made_up_node_id();
        }
        if settings.enable_https && (settings.https.key.is_none() || settings.https.cert.is_none()) {
            return Err(invalid(
                "https",
                "ENABLE_HTTPS is true but [https] key and cert are not both set",
            ));
        }
        Ok(settings)
    }

    /// Reads `.env` (the process environment wins over it) and `config.js.toml`
    /// (or the file named by `CONFIG_FILE`) from the current directory.
    pub fn load() -> Result<Settings, SettingsError> {
        Settings::load_from(None, None)
    }

    /// `load`, with the command line's `--env-file` and `--config` in place of
    /// `.env` and `CONFIG_FILE`/`config.js.toml`. A file named explicitly must exist.
    pub fn load_from(env_file: Option<&Path>, config_file: Option<&Path>) -> Result<Settings, SettingsError> {
        let env_file: Option<std::path::PathBuf> = match env_file {
            Some(path) => {
                dotenvy::from_path(path).map_err(|e| SettingsError::EnvRead {
                    path: path.display().to_string(),
                    problem: e.to_string(),
                })?;
                Some(path.to_path_buf())
            }
            None => dotenvy::dotenv().ok(),
        };
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
        Settings::from_sources(&env, env_file.as_deref(), text.as_deref().map(|t| (path.as_str(), t)))
    }
}
