//! `check`: what `serve` would load, loaded without serving.

use crate::settings::{MetricsEndpoint, Settings};
use crate::startup::ServeError;
use crate::store::FileStore;
use crate::tls::{CertFiles, Tls};

/// Everything `serve` would load, checked without binding a port or writing
/// a file: the certificate files and the storage file. Returns a summary.
pub fn check(settings: &Settings) -> Result<String, ServeError> {
    let mut summary = vec![format!(
        "listen {}:{}{}",
        settings.host,
        settings.port,
        if settings.development {
            " (development mode)"
        } else {
            ""
        }
    )];
    match CertFiles::from_settings(&settings.https).filter(|_| settings.enable_https) {
        Some(files) => {
            Tls::new(files)?;
            summary.push("HTTPS: certificate and key load and match".into());
        }
        None => summary.push("HTTPS: off".into()),
    }
    if settings.redis_url.is_some() {
        summary.push(format!(
            "cluster mode: node {}, keys under {}:",
            settings.node_id, settings.redis_prefix
        ));
    }
    let imported = match &settings.json_storage_file {
        file if settings.redis_url.is_some() => {
            summary.push(format!(
                "store: Redis{}",
                if file.is_some() {
                    " (json_storage_file is not used in cluster mode)"
                } else {
                    ""
                }
            ));
            false
        }
        Some(path) => {
            let found = FileStore::inspect(path, settings.workspace_id_len)?;
            summary.push(format!(
                "store: {} ({} workspaces{}{})",
                path.display(),
                found.workspaces,
                if found.original_format {
                    ", the original server's file: imported on start"
                } else {
                    ""
                },
                if found.skipped.is_empty() {
                    String::new()
                } else {
                    format!(", {} left out", found.skipped.len())
                }
            ));
            found.imported_from_original
        }
        None => {
            summary.push("store: memory only".into());
            false
        }
    };
    summary.push(format!(
        "original server's tokens: {}",
        if settings.legacy_tokens.enabled(imported) {
            "accepted"
        } else {
            "refused"
        }
    ));
    let mut unchecked = vec![format!("that {}:{} is free to listen on", settings.host, settings.port)];
    if let MetricsEndpoint::Separate(addr) = settings.metrics {
        unchecked.push(format!("that {addr} (metrics_address) is free"));
    }
    if settings.redis_url.is_some() {
        unchecked.push("that Redis (REDIS_URL) answers".into());
    }
    summary.push(format!("not checked (only a start can tell): {}", unchecked.join(", ")));
    Ok(summary.join("\n"))
}
