//! Workspace and access tokens (docs/PROTOCOL.md § Tokens).
//!
//! Both are HS256 JWTs signed with `MAGICK_TOKEN`; the `typ` claim keeps one
//! kind from being accepted as the other. The PIN never leaves the server in
//! any form that can be reversed: the workspace stores (and its token carries)
//! HMAC-SHA-256 keyed with `SALT_STRING` over id, delimiter and PIN, and
//! `attend` compares the recomputed value in constant time.
//!
//! Tokens the original Node server signed with the same `MAGICK_TOKEN` are
//! read too (`original.rs`): invite links and stored sessions in circulation
//! keep working after the swap.

mod original;

pub use original::{OriginalToken, OriginalVerifier};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::model::{AttendeeId, WorkspaceId};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token does not verify")]
    Invalid,
    #[error("token is of the wrong kind")]
    WrongKind,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "typ")]
enum Claims {
    #[serde(rename = "ws")]
    Workspace {
        ws: WorkspaceId,
        /// The invite's version: set when the operator changed the PIN, so
        /// that the invites handed out before stop working (`pin_check_for`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v: Option<String>,
    },
    #[serde(rename = "acc")]
    Access {
        ws: WorkspaceId,
        att: AttendeeId,
        own: bool,
    },
}

/// Our claims, or the original server's (which carry no `typ`).
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyClaims {
    Ours(Claims),
    Original(original::OriginalClaims),
}

/// A verified invite (workspace token): the workspace, and the version
/// its PIN is checked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    pub workspace: WorkspaceId,
    pub version: Option<String>,
}

/// A verified access token: ours, or the original's (whose attendee is not
/// in clear: `OriginalVerifier::access_allowed` checks it).
#[derive(Clone, Debug)]
pub enum Access {
    Ours(AccessClaims),
    Original(OriginalToken),
}

/// What a verified access token says about its bearer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    pub workspace: WorkspaceId,
    pub attendee: AttendeeId,
    pub owner: bool,
}

/// The JOSE header of every token we sign, base64url-encoded: what
/// `jsonwebtoken::encode` writes for `Header::new(HS256)` (`{"typ":"JWT","alg":"HS256"}`),
/// so tokens are byte for byte what they were (a test compares).
const HEADER_B64: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9";

/// Issues and verifies tokens; cheap to share behind an `Arc`.
///
/// The two HMACs are keyed once and cloned per use: keying hashes the padded
/// key twice, and `jsonwebtoken::encode` did it (and encoded the constant
/// header) for every token — under callgrind a quarter of a join's token work.
pub struct Tokens {
    signer: Hmac<Sha256>,
    pin_key: Hmac<Sha256>,
    decoding: DecodingKey,
    validation: Validation,
    salt: Vec<u8>,
    delimiter: String,
}

impl Tokens {
    pub fn new(jwt_secret: &[u8], salt: &[u8], delimiter: &str) -> Tokens {
        let mut validation = Validation::new(Algorithm::HS256);
        // Tokens live as long as their workspace; membership is what revokes them.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        Tokens {
            signer: Hmac::new_from_slice(jwt_secret).expect("HMAC takes any key length"),
            pin_key: Hmac::new_from_slice(salt).expect("HMAC takes any key length"),
            decoding: DecodingKey::from_secret(jwt_secret),
            validation,
            salt: salt.to_vec(),
            delimiter: delimiter.to_string(),
        }
    }

    /// An HS256 JWT: header, claims and signature, each base64url without padding.
    fn sign(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).expect("plain claims serialize");
        let mut token = String::with_capacity(HEADER_B64.len() + payload.len().div_ceil(3) * 4 + 46);
        token.push_str(HEADER_B64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let mut mac = self.signer.clone();
        mac.update(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
        token
    }

    fn verify_any(&self, token: &str) -> Result<AnyClaims, TokenError> {
        jsonwebtoken::decode::<AnyClaims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| TokenError::Invalid)
    }

    fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        match self.verify_any(token)? {
            AnyClaims::Ours(c) => Ok(c),
            AnyClaims::Original(_) => Err(TokenError::Invalid),
        }
    }

    /// An access token of ours or of the original server.
    pub fn verify_any_access_token(&self, token: &str) -> Result<Access, TokenError> {
        match self.verify_any(token)? {
            AnyClaims::Ours(Claims::Access { ws, att, own }) => Ok(Access::Ours(AccessClaims {
                workspace: ws,
                attendee: att,
                owner: own,
            })),
            AnyClaims::Original(c) => match c.into_token() {
                t if t.is_access() => Ok(Access::Original(t)),
                _ => Err(TokenError::WrongKind),
            },
            AnyClaims::Ours(Claims::Workspace { .. }) => Err(TokenError::WrongKind),
        }
    }

    /// A workspace (invite) token of ours, or of the original server when
    /// `original` is set; the PIN check is the stored workspace's business.
    pub fn verify_any_workspace_token(&self, token: &str, original: bool) -> Result<Invite, TokenError> {
        match self.verify_any(token)? {
            AnyClaims::Ours(Claims::Workspace { ws, v }) => Ok(Invite {
                workspace: ws,
                version: v,
            }),
            AnyClaims::Original(c) if original => match c.into_token() {
                t if !t.is_access() => Ok(Invite {
                    workspace: t.workspace,
                    version: None,
                }),
                _ => Err(TokenError::WrongKind),
            },
            AnyClaims::Original(_) => Err(TokenError::Invalid),
            AnyClaims::Ours(Claims::Access { .. }) => Err(TokenError::WrongKind),
        }
    }

    /// The original's invite token stored with an imported workspace, whose
    /// bcrypt hash checks its PIN.
    pub fn original_workspace_token(&self, token: &str) -> Option<OriginalToken> {
        match self.verify_any(token) {
            Ok(AnyClaims::Original(c)) => Some(c.into_token()).filter(|t| !t.is_access()),
            _ => None,
        }
    }

    /// What the original hashed with bcrypt: `id + delimiter + code + delimiter + SALT_STRING`.
    fn original_input(&self, workspace: &WorkspaceId, code: &str) -> Vec<u8> {
        let mut v =
            Vec::with_capacity(workspace.as_str().len() + code.len() + self.salt.len() + 2 * self.delimiter.len());
        v.extend_from_slice(workspace.as_str().as_bytes());
        v.extend_from_slice(self.delimiter.as_bytes());
        v.extend_from_slice(code.as_bytes());
        v.extend_from_slice(self.delimiter.as_bytes());
        v.extend_from_slice(&self.salt);
        v
    }

    /// The keyed PIN check value stored with the workspace (hex).
    pub fn pin_check(&self, workspace: &WorkspaceId, pin: &str) -> String {
        self.pin_check_for(workspace, None, pin)
    }

    /// The check value of `pin` for the invite of `version`: an invite of
    /// another version offers another value, so the PIN does not match.
    /// Without a version it is what every earlier invite checks against.
    pub fn pin_check_for(&self, workspace: &WorkspaceId, version: Option<&str>, pin: &str) -> String {
        let mut mac = self.pin_key.clone();
        mac.update(workspace.as_str().as_bytes());
        mac.update(self.delimiter.as_bytes());
        mac.update(pin.as_bytes());
        if let Some(v) = version {
            mac.update(b"\0v");
            mac.update(v.as_bytes());
        }
        hex(&mac.finalize().into_bytes())
    }

    /// Constant-time comparison of a PIN against the stored check value.
    pub fn pin_matches(&self, workspace: &WorkspaceId, pin: &str, stored_check: &str) -> bool {
        self.pin_check(workspace, pin)
            .as_bytes()
            .ct_eq(stored_check.as_bytes())
            .into()
    }

    pub fn workspace_token(&self, workspace: &WorkspaceId) -> String {
        self.invite_token(workspace, None)
    }

    /// An invite token of `version` (`pin_check_for`).
    pub fn invite_token(&self, workspace: &WorkspaceId, version: Option<&str>) -> String {
        self.sign(&Claims::Workspace {
            ws: workspace.clone(),
            v: version.map(str::to_string),
        })
    }

    /// The workspace a workspace token names.
    pub fn verify_workspace_token(&self, token: &str) -> Result<WorkspaceId, TokenError> {
        match self.verify(token)? {
            Claims::Workspace { ws, .. } => Ok(ws),
            Claims::Access { .. } => Err(TokenError::WrongKind),
        }
    }

    pub fn access_token(&self, workspace: &WorkspaceId, attendee: &AttendeeId, owner: bool) -> String {
        self.sign(&Claims::Access {
            ws: workspace.clone(),
            att: attendee.clone(),
            own: owner,
        })
    }

    pub fn verify_access_token(&self, token: &str) -> Result<AccessClaims, TokenError> {
        match self.verify(token)? {
            Claims::Access { ws, att, own } => Ok(AccessClaims {
                workspace: ws,
                attendee: att,
                owner: own,
            }),
            Claims::Workspace { .. } => Err(TokenError::WrongKind),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn tokens() -> Tokens {
        Tokens::new(b"jwt-secret", b"salt", ":")
    }

    /// The hand-made signing against the library's, for both kinds of token;
    /// and the PIN check against an HMAC keyed on the spot.
    #[test]
    fn tokens_and_pin_checks_are_what_the_libraries_make() {
        let t = tokens();
        let ws = WorkspaceId::generate(10);
        let att = AttendeeId::generate(10);
        let key = jsonwebtoken::EncodingKey::from_secret(b"jwt-secret");
        let header = jsonwebtoken::Header::new(Algorithm::HS256);
        let claims = [
            Claims::Workspace {
                ws: ws.clone(),
                v: None,
            },
            Claims::Access {
                ws: ws.clone(),
                att: att.clone(),
                own: true,
            },
            Claims::Access {
                ws: ws.clone(),
                att,
                own: false,
            },
        ];
        for c in &claims {
            assert_eq!(t.sign(c), jsonwebtoken::encode(&header, c, &key).unwrap());
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(b"salt").unwrap();
        mac.update(format!("{}:1234", ws.as_str()).as_bytes());
        assert_eq!(t.pin_check(&ws, "1234"), hex(&mac.finalize().into_bytes()));
    }

    #[test]
    fn access_token_round_trips_and_binds_ids() {
        let t = tokens();
        let ws = WorkspaceId::generate(10);
        let att = AttendeeId::generate(10);
        let tok = t.access_token(&ws, &att, true);
        assert_eq!(
            t.verify_access_token(&tok).unwrap(),
            AccessClaims {
                workspace: ws,
                attendee: att,
                owner: true
            }
        );
    }

    #[test]
    fn tampered_tokens_fail() {
        let t = tokens();
        let tok = t.access_token(&WorkspaceId::generate(10), &AttendeeId::generate(10), false);
        // Flip the owner flag in the payload, keep the signature.
        let parts: Vec<&str> = tok.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = String::from_utf8(b64.decode(parts[1]).unwrap()).unwrap();
        let forged = b64.encode(payload.replace("\"own\":false", "\"own\":true"));
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert_eq!(t.verify_access_token(&tampered), Err(TokenError::Invalid));
        // alg: none with the same claims.
        let none = format!("{}.{}.", b64.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert_eq!(t.verify_access_token(&none), Err(TokenError::Invalid));
        assert_eq!(t.verify_access_token("garbage"), Err(TokenError::Invalid));
    }

    #[test]
    fn wrong_key_fails() {
        let other = Tokens::new(b"other-secret", b"salt", ":");
        let tok = other.access_token(&WorkspaceId::generate(10), &AttendeeId::generate(10), true);
        assert_eq!(tokens().verify_access_token(&tok), Err(TokenError::Invalid));
    }

    #[test]
    fn kinds_are_not_interchangeable() {
        let t = tokens();
        let ws = WorkspaceId::generate(10);
        assert_eq!(
            t.verify_access_token(&t.workspace_token(&ws)),
            Err(TokenError::WrongKind)
        );
        let acc = t.access_token(&ws, &AttendeeId::generate(10), true);
        assert_eq!(t.verify_workspace_token(&acc), Err(TokenError::WrongKind));
        assert_eq!(t.verify_workspace_token(&t.workspace_token(&ws)), Ok(ws));
    }

    #[test]
    fn pin_check_is_keyed_and_bound_to_the_workspace() {
        let t = tokens();
        let a = WorkspaceId::generate(10);
        let b = WorkspaceId::generate(10);
        let check = t.pin_check(&a, "1234");
        assert!(t.pin_matches(&a, "1234", &check));
        assert!(!t.pin_matches(&a, "1235", &check));
        assert!(!t.pin_matches(&a, "", &check));
        assert!(!t.pin_matches(&b, "1234", &check));
        assert_ne!(
            Tokens::new(b"jwt-secret", b"other-salt", ":").pin_check(&a, "1234"),
            check
        );
        assert!(!check.contains("1234"));
    }
}
