//! Where the `iceservers` answer comes from, in order of preference:
//! 1. Twilio's Network Traversal Service (TWILIO_ACCOUNT_SID/AUTH_TOKEN):
//!    one token is cached until a margin before its `ttl`, so a burst of
//!    connections costs one API call, and concurrent misses share it; when
//!    Twilio fails or is slow the client still gets the static list.
//! 2. A self-hosted TURN server with coturn's REST shared secret
//!    (`use-auth-secret`): short-lived credentials made here, per socket.
//! 3. The static list of `ice_servers` (Google's public STUN by default).
//!
//! Every entry carries both `urls` and the legacy `url`, since some browsers
//! and the adapter shim read only one of them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use sha1::Sha1;
use tokio::sync::Mutex;

use crate::settings::{Settings, TurnRest};
use crate::telemetry;

pub struct IceServers {
    fixed: Value,
    /// `fixed` as JSON text: every socket asks at once, and the static answer
    /// is the same for all of them, so it is encoded once.
    fixed_json: Box<RawValue>,
    provider: Provider,
}

/// One socket's answer: the shared static list, or one made for it.
pub enum IceList<'a> {
    Fixed(&'a RawValue),
    Made(Value),
}

impl Serialize for IceList<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IceList::Fixed(raw) => raw.serialize(s),
            IceList::Made(list) => list.serialize(s),
        }
    }
}

enum Provider {
    Static,
    TurnRest(TurnRest),
    Twilio(Twilio),
}

impl IceServers {
    pub fn from_settings(settings: &Settings) -> IceServers {
        let fixed = Value::Array(
            settings
                .ice_servers
                .iter()
                .map(|u| json!({"urls": u, "url": u}))
                .collect(),
        );
        let provider = if let Some((sid, token)) = &settings.twilio {
            Provider::Twilio(Twilio {
                client: reqwest::Client::builder()
                    .use_preconfigured_tls(crate::tls::client_config())
                    .timeout(settings.twilio_timeout)
                    .build()
                    .expect("an HTTP client with a fixed configuration builds"),
                url: format!(
                    "{}/2010-04-01/Accounts/{sid}/Tokens.json",
                    settings.twilio_api_base.trim_end_matches('/')
                ),
                sid: sid.clone(),
                token: token.expose().clone(),
                margin: settings.twilio_ttl_margin,
                cache: Mutex::new(Cache::Empty),
            })
        } else if let Some(turn) = &settings.turn_rest {
            Provider::TurnRest(turn.clone())
        } else {
            Provider::Static
        };
        let fixed_json = serde_json::value::to_raw_value(&fixed).expect("a list of strings encodes");
        IceServers {
            fixed,
            fixed_json,
            provider,
        }
    }

    /// The list for one socket; `who` names it in TURN REST usernames.
    pub async fn for_socket(&self, who: &str) -> IceList<'_> {
        match &self.provider {
            Provider::Static => IceList::Fixed(&self.fixed_json),
            Provider::TurnRest(turn) => {
                let mut list = turn_rest_servers(turn, who, SystemTime::now());
                if let Value::Array(fixed) = &self.fixed {
                    list.extend(fixed.iter().cloned());
                }
                IceList::Made(Value::Array(list))
            }
            Provider::Twilio(twilio) => match twilio.servers().await {
                Some(list) => IceList::Made(list),
                None => IceList::Fixed(&self.fixed_json),
            },
        }
    }
}

/// What the `iceservers` answer holds under these settings, in words, with
/// every secret masked: the banner says it, so an operator sees at start
/// whether clients get their TURN server or the public STUN fallback.
pub fn describe(settings: &Settings) -> String {
    let fixed = if settings
        .ice_servers
        .iter()
        .map(String::as_str)
        .eq(crate::settings::PUBLIC_STUN)
    {
        "Google's public STUN servers".to_string()
    } else if settings.ice_servers.is_empty() {
        "no servers".to_string()
    } else {
        settings
            .ice_servers
            .iter()
            .map(|u| masked(u))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some((sid, _)) = &settings.twilio {
        format!(
            "Twilio TURN (account {}, auth token [redacted]); {fixed} when Twilio fails",
            abbreviated(sid)
        )
    } else if let Some(turn) = &settings.turn_rest {
        let urls: Vec<String> = turn.urls.iter().map(|u| masked(u)).collect();
        format!(
            "TURN REST credentials for {} (TURN_SECRET [redacted], valid {} s), then {fixed}",
            urls.join(", "),
            turn.ttl.as_secs()
        )
    } else {
        fixed
    }
}

/// A URL with any `user:password@` part masked (`turn:[redacted]@host`).
fn masked(url: &str) -> String {
    match (url.split_once(':'), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}:[redacted]{}", &url[at..]),
        _ => url.to_string(),
    }
}

/// The start and end of an identifier that is not a secret but need not be printed whole.
fn abbreviated(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return id.to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// coturn's TURN REST credentials: username `<expiry>:<who>`, credential
/// base64(HMAC-SHA1(secret, username)).
fn turn_rest_servers(turn: &TurnRest, who: &str, now: SystemTime) -> Vec<Value> {
    let expiry = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() + turn.ttl.as_secs();
    let username = format!("{expiry}:{who}");
    let mut mac = Hmac::<Sha1>::new_from_slice(turn.secret.expose().as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    turn.urls
        .iter()
        .map(|u| json!({"urls": u, "url": u, "username": username, "credential": credential}))
        .collect()
}

struct Twilio {
    client: reqwest::Client,
    url: String,
    sid: String,
    token: String,
    margin: Duration,
    cache: Mutex<Cache>,
}

enum Cache {
    Empty,
    Fresh {
        servers: Value,
        until: Instant,
    },
    /// The last call failed: answer with the fallback until then.
    Failed {
        until: Instant,
    },
}

/// How long to answer with the fallback after Twilio failed.
const RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct TwilioToken {
    /// Twilio sends it as a string ("86400"); accept a number too.
    ttl: Value,
    ice_servers: Value,
}

impl Twilio {
    /// The cached servers, or one fresh call; concurrent callers wait for
    /// that call (the lock) instead of making their own.
    async fn servers(&self) -> Option<Value> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        match &*cache {
            Cache::Fresh { servers, until } if *until > now => return Some(servers.clone()),
            Cache::Failed { until } if *until > now => return None,
            _ => {}
        }
        metrics::counter!(telemetry::ICE_PROVIDER_CALLS_TOTAL, "provider" => "twilio").increment(1);
        match self.fetch().await {
            Ok((servers, ttl)) => {
                let margin = self.margin.min(ttl / 2);
                *cache = Cache::Fresh {
                    servers: servers.clone(),
                    until: now + ttl - margin,
                };
                Some(servers)
            }
            Err(e) => {
                metrics::counter!(telemetry::ICE_PROVIDER_FAILURES_TOTAL, "provider" => "twilio").increment(1);
                tracing::error!(error = %e, "Twilio token request failed; answering with the static ICE servers");
                *cache = Cache::Failed {
                    until: now + RETRY_AFTER,
                };
                None
            }
        }
    }

    async fn fetch(&self) -> Result<(Value, Duration), String> {
        let response = self
            .client
            .post(&self.url)
            .basic_auth(&self.sid, Some(&self.token))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        let token: TwilioToken = response.json().await.map_err(|e| e.to_string())?;
        let ttl = match &token.ttl {
            Value::String(s) => s.parse::<u64>().ok(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
        .filter(|t| *t > 0)
        .ok_or_else(|| format!("unusable ttl {}", token.ttl))?;
        if !token.ice_servers.is_array() {
            return Err("ice_servers is not an array".into());
        }
        Ok((token.ice_servers, Duration::from_secs(ttl)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_rest_credential_is_coturns() {
        let turn = TurnRest {
            secret: "north".into(),
            urls: vec!["turn:turn.example.com:3478".into()],
            ttl: Duration::from_secs(3600),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let list = turn_rest_servers(&turn, "_abc", now);
        assert_eq!(list[0]["username"], "1700003600:_abc");
        // Independently: echo -n '1700003600:_abc' | openssl dgst -sha1 -hmac north -binary | base64
        let mut mac = Hmac::<Sha1>::new_from_slice(b"north").unwrap();
        mac.update(b"1700003600:_abc");
        let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(list[0]["credential"], expected.as_str());
        assert_eq!(list[0]["urls"], list[0]["url"]);
    }

    #[test]
    fn the_description_names_the_servers_and_masks_every_secret() {
        let mut settings = crate::settings::Settings::from_sources(&Default::default(), None, None).unwrap();
        assert_eq!(describe(&settings), "Google's public STUN servers");
        settings.ice_servers = vec![
            "stun:stun.example.com".into(),
            "turn:alice:pa55@turn.example.com".into(),
        ];
        assert_eq!(
            describe(&settings),
            "stun:stun.example.com, turn:[redacted]@turn.example.com"
        );
        settings.turn_rest = Some(TurnRest {
            secret: "north-secret".into(),
            urls: vec!["turn:t.example.com".into()],
            ttl: Duration::from_secs(600),
        });
        let turn = describe(&settings);
        assert!(
            turn.starts_with("TURN REST credentials for turn:t.example.com") && !turn.contains("north"),
            "{turn}"
        );
        settings.twilio = Some(("AC0123456789abcdef".into(), "twilio-token-1".into()));
        let twilio = describe(&settings);
        assert!(
            twilio.contains("AC01…cdef") && !twilio.contains("twilio-token-1") && !twilio.contains("pa55"),
            "{twilio}"
        );
    }
}
