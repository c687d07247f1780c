//! Every setting, declared once: key, type, default, rule (bounds) and doc
//! line. The structs, parsing, checks and key tables are generated from this
//! (`declare.rs`); `config.js.toml`, `env-sample` and the README's tables are
//! tested against it (`tests.rs`).
//!
//! Adding a `config.js.toml` setting: one line here (in `Settings`, or in
//! `LimitSettings` for a limit), its line in `config.js.toml` and its row in
//! the README's table. A rule that does not exist yet goes in `rules.rs`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::declare::{env_keys, file_keys};
use super::https::{HttpsFiles, HttpsTable};
use super::rules::*;
use super::{
    CorsOrigins, DemoPage, LegacyTokens, LogFormat, MetricsEndpoint, OperatorEndpoint, OperatorKeys, Secret, Secrets,
    TurnRest, WebhookSecrets, CONFIG_FILE,
};

env_keys! {
    keys ENV_KEYS;

    /// `.env` (the process environment wins over it), the original's keys and a few of ours.
    pub(super) struct EnvKeys {
        /// TCP port (0: any free port, printed in the banner).
        "PORT" => port: u16 = "9090", Port;
        /// Serve HTTPS with `[https]` of `config.js.toml`.
        "ENABLE_HTTPS" => enable_https: bool = "false", Flag;
        /// Secret signing every token (HS256). Required unless development mode.
        "MAGICK_TOKEN" => magick_token: Option<Secret<String>>, Hidden;
        /// Secret keying the PIN hash. Required unless development mode.
        "SALT_STRING" => salt_string: Option<Secret<String>>, Hidden;
        /// Development mode (random secrets when unset). Unset: on when nothing at all is configured.
        "DEVELOPMENT" => development: Option<bool>, Flag;
        /// Twilio Network Traversal Service account, for TURN (with TWILIO_AUTH_TOKEN).
        "TWILIO_ACCOUNT_SID" => twilio_account_sid: Option<String>, Plain;
        /// Twilio auth token (with TWILIO_ACCOUNT_SID).
        "TWILIO_AUTH_TOKEN" => twilio_auth_token: Option<Secret<String>>, Hidden;
        /// coturn `static-auth-secret`, for TURN REST credentials (with `turn_urls`).
        "TURN_SECRET" => turn_secret: Option<Secret<String>>, Hidden;
        /// Cluster mode: the Redis every node shares (`redis://host:port/db`, `rediss://` for TLS).
        "REDIS_URL" => redis_url: Option<Secret<String>>, RedisUrl;
        /// Keys of the operator API (`/api/v1`), comma-separated (several: rotation), each at least 16 characters. Unset: the API is off.
        "OPERATOR_API_KEYS" => operator_api_keys: Option<OperatorKeys>, OperatorApiKeys;
        /// Signs the webhooks (Standard Webhooks, `whsec_…`), comma-separated (several: rotation). Required with `webhook_urls`.
        "WEBHOOK_SECRET" => webhook_secret: Option<WebhookSecrets>, WebhookSecretList;
    }
    read elsewhere {
        /// Path of the config file (`Settings::load_from`; `--config` wins over it).
        "CONFIG_FILE" = CONFIG_FILE;
        /// Log filter, `tracing` env-filter syntax (main.rs).
        "RUST_LOG" = "info";
    }
}

file_keys! {
    raw RawFile, keys FILE_KEYS;

    /// Everything the server runs with, parsed and checked once at startup.
    #[derive(Clone, Debug)]
    pub struct Settings {
        // --- the original's config.js
        /// Joins workspace id and PIN in the keyed PIN hash (docs/PROTOCOL.md § Tokens).
        "tokenDelimiter" => token_delimiter: String = ":", NonEmpty;
        /// Characters after the `_` of generated ids.
        "WORKSPACE_ID_LEN" => workspace_id_len: usize = 10, Int<6, 64>;
        /// Name of a workspace created without one (the original's default).
        "untitled_workspace" => untitled_workspace: String = "Untitled Workspace", NonEmpty;
        /// Avatar of a workspace created without one.
        "default_workspace_avatar" => default_workspace_avatar: String = "", Text;
        /// Name of an attendee without one (the original's default).
        "anonymous_attendee" => anonymous_attendee: String = "Anonymous Attendee", NonEmpty;
        /// Avatar of an attendee without one.
        "default_attendee_avatar" => default_attendee_avatar: String = "", Text;
        /// File the workspaces persist in; empty: memory only.
        "json_storage_file" => json_storage_file: Option<PathBuf> = "", OptionalPath;
        /// Attendees per workspace, owner included.
        "max_capacity_of_workspace" => max_capacity_of_workspace: usize = 4, Int<1, 10_000>;
        /// The PEM files for `ENABLE_HTTPS`.
        "https" => https: HttpsFiles = {}, HttpsTable;
        // --- ours
        /// Address to listen on.
        "host" => host: IpAddr = "0.0.0.0", IpAddress;
        /// Browser origins allowed; empty: any origin, echoed with credentials.
        "cors_origins" => cors_origins: CorsOrigins = [], Origins;
        /// Largest Socket.IO message, polling and WebSocket.
        "max_payload_bytes" => max_payload_bytes: u64 = 1_000_000, Int<1024, { 64 << 20 }>;
        /// Engine.IO ping interval.
        "ping_interval_secs" => ping_interval: Duration = 25, IntSecs<1, 3600>;
        /// Engine.IO ping timeout.
        "ping_timeout_secs" => ping_timeout: Duration = 12, IntSecs<1, 3600>;
        /// Bytes a WebSocket connection reads per read call, and its first read buffer: a trade of memory per idle socket for read calls per large message.
        "ws_read_buffer_bytes" => ws_read_buffer_bytes: usize = 4096, Int<256, { 1 << 20 }>;
        /// A connection whose client has read nothing of what it was sent for this long is closed (0: never).
        "stalled_socket_timeout_ms" => stalled_socket_timeout: Duration = 5000, IntMillis<0, 600_000>;
        /// Directory of the static files served at `/`.
        "public_dir" => public_dir: PathBuf = "public", FilePath;
        /// Static STUN/TURN URLs; the fallback when Twilio fails (Google's public STUN servers).
        "ice_servers" => ice_servers: Vec<String> = [
            "stun:stun.l.google.com:19302",
            "stun:stun1.l.google.com:19302",
            "stun:stun2.l.google.com:19302",
            "stun:stun3.l.google.com:19302",
            "stun:stun4.l.google.com:19302",
        ], IceUrls;
        /// Twilio API base URL (tests point it at a stub).
        "twilio_api_base" => twilio_api_base: String = "https://api.twilio.com", HttpUrl;
        /// Bound on one Twilio call.
        "twilio_timeout_ms" => twilio_timeout: Duration = 3000, IntMillis<100, 60_000>;
        /// The cached Twilio token is renewed this long before its ttl ends (at most ttl/2).
        "twilio_ttl_margin_secs" => twilio_ttl_margin: Duration = 600, IntSecs<0, 86_400>;
        /// How often the certificate files are checked for changes.
        "tls_reload_check_secs" => tls_reload_check: Duration = 10, PositiveSecs;
        /// 0: a change is fsynced before its reply; N: reply first, write within N ms.
        "flush_window_ms" => flush_window: Duration = 0, IntMillis<0, 60_000>;
        /// Accept tokens signed by the original server: "auto", "on" or "off".
        "legacy_tokens" => legacy_tokens: LegacyTokens = "auto", OneOf;
        /// How long a disconnected attendee stays before `leave`.
        "presence_grace_secs" => presence_grace: Duration = 60, PositiveSecs;
        /// A workspace with no connected member this long is deleted.
        "workspace_expiry_secs" => workspace_expiry: Duration = 86_400, PositiveSecs;
        /// Where `/metrics` is served: "" (the main port), "off" or "ip:port".
        "metrics_address" => metrics: MetricsEndpoint = "", MetricsAddress;
        /// Where the operator API (`/api/v1`, with OPERATOR_API_KEYS) is served: "" (the main port) or "ip:port".
        "operator_address" => operator: OperatorEndpoint = "", OperatorAddress;
        /// URLs that receive every workspace event as a signed POST (webhooks; with WEBHOOK_SECRET).
        "webhook_urls" => webhook_urls: Vec<String> = [], HttpUrls;
        /// The pauses before each retry of a webhook that failed (each ±20 % jitter; a longer Retry-After wins).
        "webhook_retry_delays_ms" => webhook_retry_delays: Vec<Duration> = [5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000], MillisList;
        /// Bound on one webhook try.
        "webhook_timeout_ms" => webhook_timeout: Duration = 5000, IntMillis<100, 60_000>;
        /// Serve the demo and self-test page at `/demo`: "auto" (in development mode), "on" or "off".
        "demo_page" => demo_page: DemoPage = "auto", OneOf;
        /// "text" or "json" (one object per line).
        "log_format" => log_format: LogFormat = "text", OneOf;
        /// Bound on the graceful shutdown.
        "shutdown_timeout_secs" => shutdown_timeout: Duration = 10, IntSecs<1, 600>;
        /// This node's name (in Redis with REDIS_URL); empty: made up at each start in cluster mode.
        "node_id" => node_id: String = "", KeyName;
        /// With REDIS_URL: what every key and channel in Redis starts with.
        "redis_prefix" => redis_prefix: String = "wrw", NonEmptyKeyName;
        /// With REDIS_URL: heartbeat period; a node silent for three is dead.
        "cluster_heartbeat_ms" => cluster_heartbeat: Duration = 1000, IntMillis<100, 60_000>;
        ..Assembled {
            /// `PORT`.
            pub port: u16,
            /// `DEVELOPMENT`, or true when nothing at all is configured.
            pub development: bool,
            /// `ENABLE_HTTPS` (with `https.key` and `https.cert`).
            pub enable_https: bool,
            /// `MAGICK_TOKEN` and `SALT_STRING`, or random ones in development mode.
            pub secrets: Secrets,
            /// `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN` (both or neither).
            pub twilio: Option<(String, Secret<String>)>,
            /// `TURN_SECRET` with `turn_urls` and `turn_ttl_secs` (both or neither).
            pub turn_rest: Option<TurnRest>,
            /// The limits against hostile clients.
            pub limits: LimitSettings,
            /// `REDIS_URL`: cluster mode when set.
            pub redis_url: Option<Secret<String>>,
            /// `OPERATOR_API_KEYS`: the operator API is on when set.
            pub operator_api_keys: Option<OperatorKeys>,
            /// `WEBHOOK_SECRET` (set whenever `webhook_urls` is not empty).
            pub webhook_secret: Option<WebhookSecrets>,
        }
    }

    /// The limits against hostile clients (see `limits`), all settings.
    #[derive(Clone, Debug)]
    pub struct LimitSettings {
        /// Wrong PINs per client address and workspace within the window.
        "max_failed_pins_per_ip" => max_failed_pins_per_ip: usize = 5, Count;
        /// Wrong PINs per workspace, from everyone, within the window.
        "max_failed_pins_per_workspace" => max_failed_pins_per_workspace: usize = 50, Count;
        /// The window of the two above.
        "failed_pin_window_secs" => failed_pin_window: Duration = 60, PositiveSecs;
        /// Per-socket event rate (token bucket; 0: unlimited).
        "events_per_second" => events_per_second: f64 = 300, EventRate;
        /// Per-socket burst (at least 1 when events_per_second is set).
        "event_burst" => event_burst: f64 = 600, EventRate;
        /// A socket refused more often than this is disconnected.
        "max_refused_events" => max_refused_events: usize = 1000, Count;
        /// Workspaces one client address may create per hour.
        "max_workspaces_per_ip_per_hour" => max_workspaces_per_ip_per_hour: usize = 500, Count;
        /// Workspaces alive at once.
        "max_live_workspaces" => max_live_workspaces: usize = 100_000, Count;
        /// Connections from one client address at once.
        "max_connections_per_ip" => max_connections_per_ip: usize = 2000, Count;
        /// Proxies (IPs or CIDRs) whose X-Forwarded-For is believed; empty: nobody's.
        "trusted_proxies" => trusted_proxies: Vec<ipnet::IpNet> = [], Networks;
        /// Longest workspace or attendee name.
        "max_name_length" => max_name_length: usize = 256, Count;
        /// Longest avatar.
        "max_avatar_length" => max_avatar_length: usize = 8192, Count;
    }

    /// TURN REST: with `TURN_SECRET`, these make `Settings::turn_rest`.
    pub(super) struct TurnKeys {
        /// URLs of your coturn (with TURN_SECRET).
        "turn_urls" => urls: Vec<String> = [], TurnUrls;
        /// Lifetime of a TURN REST credential.
        "turn_ttl_secs" => ttl: Duration = 86_400, IntSecs<60, { 30 * 86_400 }>;
    }
}
