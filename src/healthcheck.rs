//! `healthcheck`: the container image's HEALTHCHECK, done by the binary
//! itself so that the image needs no curl, and over HTTPS when the server
//! serves HTTPS. It reads the settings the server it checks reads (`PORT`,
//! `ENABLE_HTTPS`, `host`), GETs `/health` on the loopback and succeeds on a
//! 200 only (a cluster node answers 503 while it cannot reach Redis).
//!
//! How to reach the server these settings start (`origin`, `client`)
//! is also what `workspaces …` (operator_cli) calls the operator API with:
//! one answer for both, so that they cannot disagree on where the server is.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use wrw::settings::Settings;

/// Bound on the whole request, below the Dockerfile's `HEALTHCHECK --timeout`
/// so that a hung server is reported by us, with the reason, not killed by the runtime.
const TIMEOUT: Duration = Duration::from_secs(3);

/// An address to connect to for one a server listens on: a server bound to
/// every address is reached on the loopback, where no firewall stands between.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// `scheme://ip:port` of the main port of the server these settings start.
pub fn origin(settings: &Settings) -> Result<String, String> {
    if settings.port == 0 {
        return Err("PORT is 0 (any free port): there is no known port to connect to".into());
    }
    let scheme = if settings.enable_https { "https" } else { "http" };
    let addr = reachable(SocketAddr::new(settings.host, settings.port));
    Ok(format!("{scheme}://{addr}"))
}

/// The `/health` URL of the server these settings start.
pub fn url(settings: &Settings) -> Result<String, String> {
    Ok(format!("{}/health", origin(settings)?))
}

/// Whom a client calls, which decides what it trusts.
pub enum Peer {
    /// The server these settings start, on this machine.
    OwnServer,
    /// A server named on the command line: its certificate is verified, and
    /// the environment's proxy settings apply.
    Elsewhere,
}

/// An HTTP client for `peer`, each request bounded by `timeout`.
pub fn client(peer: Peer, timeout: Duration) -> Result<reqwest::Client, String> {
    // This process makes no other TLS connection: the process-wide provider is ours to set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder().timeout(timeout);
    let builder = match peer {
        Peer::OwnServer => builder
            // An HTTP(S)_PROXY of the container's environment must not carry a loopback request away.
            .no_proxy()
            // The certificate names the public host, not the loopback, and may be
            // self-signed; what matters is that this very server answers, and
            // the request never leaves the machine.
            .danger_accept_invalid_certs(true),
        Peer::Elsewhere => builder,
    };
    builder.build().map_err(|e| format!("building the HTTP client: {e}"))
}

/// One GET of `url`: Ok on a 200, else what went wrong.
pub fn probe(url: &str) -> Result<(), String> {
    let client = client(Peer::OwnServer, TIMEOUT)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let status = runtime
        .block_on(async { client.get(url).send().await.map(|r| r.status()) })
        .map_err(|e| format!("GET {url}: {e}"))?;
    if status == reqwest::StatusCode::OK {
        Ok(())
    } else {
        Err(format!("GET {url}: {status}"))
    }
}
