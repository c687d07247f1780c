//! The binary: settings → logs → serve → wait for SIGTERM/SIGINT. No logic.

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;
use wrw::settings::{LogFormat, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("configuration error: {e}");
            std::process::exit(2);
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }

    if settings.secrets.ephemeral {
        tracing::warn!(
            "MAGICK_TOKEN/SALT_STRING not set: using random secrets for this run; tokens will not survive a restart"
        );
    }
    let store = match &settings.json_storage_file {
        Some(file) => format!("workspaces stored in {}", file.display()),
        None => "in-memory store".to_string(),
    };
    let mode = if settings.development {
        format!("development mode: public STUN servers, {store}")
    } else {
        format!("production mode, {store}")
    };
    let server = match wrw::serve(settings).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("startup error: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "webRTCWorkspaces signaling server {} listening on {}://{} ({mode})",
        wrw::http::VERSION,
        server.scheme(),
        server.local_addr()
    );
    if let Some(addr) = server.metrics_addr() {
        println!("metrics on http://{addr}/metrics");
    }

    let mut hup = signal(SignalKind::hangup()).expect("installing the SIGHUP handler");
    let tls = server.tls();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let Some(tls) = &tls else { continue };
            if let Err(e) = tls.reload().await {
                tracing::error!(error = %e, "SIGHUP: cannot reload the TLS files; keeping the current certificate");
            }
        }
    });
    wait_for_signal().await;
    tracing::info!("shutting down: draining connections and flushing the store");
    let first = std::time::Instant::now();
    tokio::spawn(async move {
        loop {
            wait_for_signal().await;
            // The same stop request often arrives twice at once (npm or a
            // process manager passing it on, plus a group-wide kill); only a
            // later one means "now".
            if first.elapsed() > std::time::Duration::from_secs(1) {
                eprintln!("second signal: exiting at once");
                std::process::exit(1);
            }
        }
    });
    server.shutdown().await.context("shutdown")?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
