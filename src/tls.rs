//! HTTPS: the certificate files of `[https]`, loaded into rustls, and
//! reloaded without a restart when they change on disk (Let's Encrypt
//! renewals) or on SIGHUP. Live connections keep the certificate they were
//! opened with; new ones get the new one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use thiserror::Error;
use tokio::sync::Mutex;

use crate::settings::HttpsFiles;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("[https] {key} = {path}: cannot read: {source}")]
    Read {
        key: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("[https] {key} = {path}: {problem}")]
    Invalid {
        key: &'static str,
        path: String,
        problem: String,
    },
}

/// The three files, as configured (key and cert required, ca optional).
#[derive(Clone, Debug)]
pub struct CertFiles {
    key: PathBuf,
    cert: PathBuf,
    ca: Option<PathBuf>,
}

impl CertFiles {
    pub fn from_settings(https: &HttpsFiles) -> Option<CertFiles> {
        Some(CertFiles {
            key: https.key.clone()?,
            cert: https.cert.clone()?,
            ca: https.ca.clone(),
        })
    }

    fn each(&self) -> impl Iterator<Item = &Path> {
        [Some(&self.key), Some(&self.cert), self.ca.as_ref()]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
    }

    fn mtimes(&self) -> Vec<Option<SystemTime>> {
        self.each()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.display().to_string(),
        source,
    })
}

fn invalid(key: &'static str, path: &Path, problem: impl Into<String>) -> TlsError {
    TlsError::Invalid {
        key,
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

fn certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(key, path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(key, path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(key, path, "contains no PEM certificate"));
    }
    Ok(certs)
}

/// Reads and checks the files: the chain is the certificate followed by the
/// CA file's certificates, and the key must belong to the certificate.
pub fn load(files: &CertFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let mut chain = certs("cert", &files.cert)?;
    if let Some(ca) = &files.ca {
        chain.extend(certs("ca", ca)?);
    }
    let pem = read("key", &files.key)?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| invalid("key", &files.key, format!("not a PEM private key: {e}")))?
        .ok_or_else(|| invalid("key", &files.key, "contains no PEM private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("cert", &files.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid("key", &files.key, format!("does not match the certificate: {e}")))?;
    // HTTP/1.1 only: WebSocket upgrades need it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The live TLS configuration and what it was loaded from.
pub struct Tls {
    files: CertFiles,
    config: RustlsConfig,
    seen: Mutex<Vec<Option<SystemTime>>>,
}

impl Tls {
    pub fn new(files: CertFiles) -> Result<Tls, TlsError> {
        let seen = files.mtimes();
        let config = RustlsConfig::from_config(load(&files)?);
        Ok(Tls {
            files,
            config,
            seen: Mutex::new(seen),
        })
    }

    pub fn config(&self) -> RustlsConfig {
        self.config.clone()
    }

    /// Loads the files again; on error the current certificate stays in use.
    pub async fn reload(&self) -> Result<(), TlsError> {
        let mut seen = self.seen.lock().await;
        *seen = self.files.mtimes();
        let files = self.files.clone();
        let config = tokio::task::spawn_blocking(move || load(&files))
            .await
            .map_err(|e| invalid("cert", &self.files.cert, e.to_string()))??;
        self.config.reload_from_config(config);
        tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
        Ok(())
    }

    /// Reloads whenever a file's modification time changes. Runs until aborted.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let changed = *self.seen.lock().await != self.files.mtimes();
            if changed {
                if let Err(e) = self.reload().await {
                    tracing::error!(error = %e, "TLS files changed but cannot be loaded; keeping the current certificate");
                }
            }
        }
    }
}

/// TLS for the server's own outgoing calls (Twilio, webhooks): the web's
/// public roots, and our crypto provider (the process installs none).
pub fn client_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}
