//! What an old (original server's) access token costs: the first check of a
//! (token, attendee) pair runs bcrypt at the original's cost 10; later checks
//! are a cache lookup. Tokens are made with the original's recipe.
//!
//!     cargo run --release --example original_tokens [-- ROUNDS]

use std::time::{Duration, Instant};

use jsonwebtoken::{EncodingKey, Header};
use wrw::model::AttendeeId;
use wrw::tokens::{Access, OriginalVerifier, Tokens};

const SECRET: &[u8] = b"bench-magick-token";
const SALT: &str = "bench-salt-string";

fn original_access_token(ws: &str, attendee: &str) -> String {
    let hash = bcrypt::hash(format!("{ws}:{attendee}:{SALT}"), 10).expect("bcrypt");
    let claims = serde_json::json!({ "id": ws, "owner": "_owner00001", "singningToken": hash, "iat": 1_600_000_000 });
    jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET)).expect("sign")
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let tokens = Tokens::new(SECRET, SALT.as_bytes(), ":");
    let verifier = OriginalVerifier::default();
    let (mut first, mut cached) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let attendee = AttendeeId::parse(&format!("_attendee{i:02}"), 10).expect("id");
        let raw = original_access_token("_abcdefghij", attendee.as_str());
        let Ok(Access::Original(t)) = tokens.verify_any_access_token(&raw) else {
            panic!("an original access token")
        };
        let started = Instant::now();
        assert!(verifier.access_allowed(&tokens, &raw, &t, &attendee).await);
        first.push(started.elapsed());
        let started = Instant::now();
        for _ in 0..1000 {
            assert!(verifier.access_allowed(&tokens, &raw, &t, &attendee).await);
        }
        cached.push(started.elapsed() / 1000);
    }
    first.sort();
    cached.sort();
    let median = |v: &[Duration]| v[v.len() / 2];
    println!(
        "{{\"rounds\":{rounds},\"first_check_ms\":{:.1},\"cached_check_us\":{:.2},\"signature_check_us\":{:.2}}}",
        micros(median(&first)) / 1000.0,
        micros(median(&cached)),
        {
            let raw = original_access_token("_abcdefghij", "_attendee00");
            let started = Instant::now();
            for _ in 0..1000 {
                let _ = tokens.verify_any_access_token(&raw);
            }
            micros(started.elapsed() / 1000)
        }
    );
}
