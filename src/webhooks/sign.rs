//! The Standard Webhooks signature: `v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body">`, one per secret (several during a rotation),
//! space-separated, so a receiver holding any one of them verifies.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::settings::WebhookSecrets;

pub fn signature(secrets: &WebhookSecrets, id: &str, timestamp: u64, body: &str) -> String {
    let signed = format!("{id}.{timestamp}.{body}");
    secrets
        .keys()
        .map(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(signed.as_bytes());
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secret;

    /// The example of the Standard Webhooks specification's reference tests.
    #[test]
    fn matches_the_reference_implementation() {
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let secrets = WebhookSecrets::new(vec![Secret::new(key)]);
        let sig = signature(
            &secrets,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
