//! The original server's tokens: HS256 JWTs `{id, singningToken}` (invite)
//! and `{id, owner, singningToken}` (access), where `singningToken` is a
//! bcrypt hash of `id + delimiter + PIN-or-attendee-id + delimiter + SALT_STRING`.
//!
//! bcrypt costs ~60 ms of CPU per check, so checks run on the blocking pool,
//! at most one per core at a time (a flood of old tokens queues instead of
//! starving the runtime), and an access token's verdict is cached per
//! (token, attendee) for the life of the process: a client pays it once, not
//! on every relay. Every grant hands out our own tokens, so old ones fade out.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::Tokens;
use crate::model::{AttendeeId, WorkspaceId};
use crate::telemetry;

/// At most this many cached verdicts; the oldest go first.
const MAX_VERDICTS: usize = 100_000;

#[derive(Deserialize)]
pub(super) struct OriginalClaims {
    id: WorkspaceId,
    /// Present (the owner's attendee id) in access tokens only. Never trusted
    /// for ownership: that comes from the store.
    #[serde(default)]
    owner: Option<serde::de::IgnoredAny>,
    #[serde(rename = "singningToken")]
    signing: String,
}

impl OriginalClaims {
    pub(super) fn into_token(self) -> OriginalToken {
        OriginalToken {
            workspace: self.id,
            access: self.owner.is_some(),
            hash: self.signing,
        }
    }
}

/// A token the original signed, its signature verified; what it grants is
/// only known after its bcrypt hash is checked.
#[derive(Clone)]
pub struct OriginalToken {
    pub workspace: WorkspaceId,
    access: bool,
    hash: String,
}

impl std::fmt::Debug for OriginalToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginalToken")
            .field("workspace", &self.workspace)
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

impl OriginalToken {
    pub(super) fn is_access(&self) -> bool {
        self.access
    }
}

#[derive(Default)]
struct Verdicts {
    map: HashMap<[u8; 32], bool>,
    order: VecDeque<[u8; 32]>,
}

/// Checks original tokens' bcrypt hashes, cheaply after the first time.
pub struct OriginalVerifier {
    verdicts: Mutex<Verdicts>,
    permits: Semaphore,
}

impl Default for OriginalVerifier {
    fn default() -> OriginalVerifier {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        OriginalVerifier {
            verdicts: Mutex::default(),
            permits: Semaphore::new(cores),
        }
    }
}

impl OriginalVerifier {
    /// Whether the original access token `raw` (decoded as `t`) was issued to `attendee`.
    pub async fn access_allowed(&self, tokens: &Tokens, raw: &str, t: &OriginalToken, attendee: &AttendeeId) -> bool {
        if !t.access {
            return false;
        }
        let key: [u8; 32] = Sha256::new()
            .chain_update(raw.as_bytes())
            .chain_update([0])
            .chain_update(attendee.as_str().as_bytes())
            .finalize()
            .into();
        if let Some(v) = self.verdicts.lock().expect("verdicts lock").map.get(&key) {
            return *v;
        }
        let allowed = self
            .bcrypt(tokens.original_input(&t.workspace, attendee.as_str()), &t.hash)
            .await;
        let mut v = self.verdicts.lock().expect("verdicts lock");
        if v.map.insert(key, allowed).is_none() {
            v.order.push_back(key);
            while v.order.len() > MAX_VERDICTS {
                if let Some(old) = v.order.pop_front() {
                    v.map.remove(&old);
                }
            }
        }
        allowed
    }

    /// Whether `pin` is the PIN of the original invite token `t` (not cached:
    /// the first correct PIN replaces this check with our own).
    pub async fn pin_matches(&self, tokens: &Tokens, t: &OriginalToken, pin: &str) -> bool {
        !t.access && self.bcrypt(tokens.original_input(&t.workspace, pin), &t.hash).await
    }

    async fn bcrypt(&self, input: Vec<u8>, hash: &str) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let hash = hash.to_string();
        let started = std::time::Instant::now();
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(&input, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        metrics::histogram!(telemetry::ORIGINAL_TOKEN_CHECK_SECONDS).record(started.elapsed().as_secs_f64());
        ok
    }

    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.verdicts.lock().expect("verdicts lock").map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    /// Signs like the original's `models/Workspace.js` (jsonwebtoken adds `iat`).
    fn original_token(secret: &[u8], salt: &str, ws: &str, code: &str, owner: Option<&str>) -> String {
        let hash = bcrypt::hash(format!("{ws}:{code}:{salt}"), 4).unwrap();
        let mut claims = serde_json::json!({ "id": ws, "singningToken": hash, "iat": 1_600_000_000 });
        if let Some(o) = owner {
            claims["owner"] = o.into();
        }
        jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[tokio::test]
    async fn original_tokens_check_like_the_original_and_verdicts_are_cached() {
        let tokens = Tokens::new(b"magick", b"salty", ":");
        let v = OriginalVerifier::default();
        let ws = "_abcdefghij";
        let invite = original_token(b"magick", "salty", ws, "2468", None);
        let id = tokens.verify_any_workspace_token(&invite, true).unwrap().workspace;
        assert_eq!(id.as_str(), ws);
        assert_eq!(
            tokens.verify_any_workspace_token(&invite, false),
            Err(super::super::TokenError::Invalid)
        );
        let t = tokens.original_workspace_token(&invite).unwrap();
        assert!(v.pin_matches(&tokens, &t, "2468").await);
        assert!(!v.pin_matches(&tokens, &t, "2469").await);

        let alice = AttendeeId::parse("_alice00001", 10).unwrap();
        let bob = AttendeeId::parse("_bob0000001", 10).unwrap();
        let access = original_token(b"magick", "salty", ws, alice.as_str(), Some("_owner00001"));
        let super::super::Access::Original(a) = tokens.verify_any_access_token(&access).unwrap() else {
            panic!("an original access token");
        };
        assert!(v.access_allowed(&tokens, &access, &a, &alice).await);
        assert!(!v.access_allowed(&tokens, &access, &a, &bob).await);
        assert_eq!(v.cached(), 2);
        assert!(v.access_allowed(&tokens, &access, &a, &alice).await);
        assert_eq!(v.cached(), 2);
        // An invite token is not an access token, and the other way round.
        assert!(tokens.verify_any_access_token(&invite).is_err());
        assert!(tokens.verify_any_workspace_token(&access, true).is_err());
        // Another MAGICK_TOKEN: refused before any bcrypt.
        let forged = original_token(b"other", "salty", ws, alice.as_str(), Some("_owner00001"));
        assert!(tokens.verify_any_access_token(&forged).is_err());
    }
}
