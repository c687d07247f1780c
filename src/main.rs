//! The binary: settings → logs → serve → wait for SIGTERM/SIGINT. No logic.

use anyhow::Context;
use tracing_subscriber::EnvFilter;
use wrw::settings::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("configuration error: {e}");
            std::process::exit(2);
        }
    };
    if settings.secrets.ephemeral {
        tracing::warn!("MAGICK_TOKEN/SALT_STRING not set: using random secrets for this run; tokens will not survive a restart");
    }
    if let Some(file) = &settings.json_storage_file {
        tracing::warn!(file = %file.display(), "json_storage_file is set, but this build keeps workspaces in memory only");
    }
    let mode = if settings.development {
        "development mode: public STUN servers, in-memory store"
    } else {
        "production mode, in-memory store"
    };
    let server = wrw::serve(settings)
        .await
        .context("cannot start the server")?;
    println!(
        "webRTCWorkspaces signaling server {} listening on http://{} ({mode})",
        wrw::http::VERSION,
        server.local_addr()
    );

    wait_for_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await.context("shutdown failed")?;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
