//! The `[https]` table of `config.js.toml`: its keys, and the rule by which
//! `keys.rs` reads it as the one setting `https`. Apart from the other rules
//! because it is made of declared keys itself: `keys.rs` uses it, and it
//! uses only the plain rules, so the dependency goes one way.

use std::path::PathBuf;

use super::declare::{file_keys, Key, Rule};
use super::rules::OptionalPath;
use super::SettingsError;

file_keys! {
    raw HttpsRaw, keys HTTPS_KEYS;

    /// The `[https]` table: PEM files for `ENABLE_HTTPS`.
    #[derive(Clone, Debug)]
    pub struct HttpsFiles {
        /// Private key.
        "key" => key: Option<PathBuf> = "", OptionalPath;
        /// Certificate chain.
        "cert" => cert: Option<PathBuf> = "", OptionalPath;
        /// Extra CA certificates, appended to the chain.
        "ca" => ca: Option<PathBuf> = "", OptionalPath;
    }
}

/// The `[https]` table.
pub struct HttpsTable;

impl Rule<HttpsFiles> for HttpsTable {
    type Raw = HttpsRaw;
    const TABLE: &'static [Key] = HTTPS_KEYS;
    fn check(_: &'static str, mut raw: HttpsRaw) -> Result<HttpsFiles, SettingsError> {
        HttpsFiles::from_keys(&mut raw)
    }
}

impl Default for HttpsFiles {
    fn default() -> HttpsFiles {
        HttpsFiles::from_keys(&mut HttpsRaw::default()).expect("the declared defaults are valid")
    }
}
