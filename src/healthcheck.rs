//! `healthcheck`: the container image's HEALTHCHECK, done by the binary
//! itself so that the image needs no curl, and over HTTPS when the server
//! serves HTTPS. It reads the settings the server it checks reads (`PORT`,
//! `ENABLE_HTTPS`, `host`), GETs `/health` on the loopback and succeeds on a
//! 200 only (a cluster node answers 503 while it cannot reach Redis).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use wrw::settings::Settings;

/// Bound on the whole request, below the Dockerfile's `HEALTHCHECK --timeout`
/// so that a hung server is reported by us, with the reason, not killed by the runtime.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The `/health` URL of the server these settings start: the loopback when
/// it listens on every address, else the one address it listens on.
pub fn url(settings: &Settings) -> Result<String, String> {
    if settings.port == 0 {
        return Err("PORT is 0 (any free port): there is no known port to check".into());
    }
    let ip = match settings.host {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if settings.enable_https { "https" } else { "http" };
    Ok(format!("{scheme}://{}/health", SocketAddr::new(ip, settings.port)))
}

/// One GET of `url`: Ok on a 200, else what went wrong.
pub fn probe(url: &str) -> Result<(), String> {
    // This process makes no other TLS connection: the process-wide provider is ours to set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        // An HTTP(S)_PROXY of the container's environment must not carry a loopback check away.
        .no_proxy()
        // The certificate names the public host, not the loopback, and may be
        // self-signed; what is checked is that this very server answers, and
        // the request never leaves the machine.
        .danger_accept_invalid_certs(true)
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))?;
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
