//! The binary: the command line, then settings → logs → serve → wait for
//! SIGTERM/SIGINT. No logic of its own.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;
use wrw::settings::{LogFormat, Settings};

mod banner;
mod healthcheck;
mod operator_cli;

/// The webRTCWorkspaces signaling server. With no arguments it serves, reading
/// `.env` and `config.js.toml` from the current directory, as the original did.
#[derive(Parser)]
#[command(name = "webrtc-workspaces-server", version, about, long_about = None)]
struct Cli {
    /// The env file to read instead of `./.env` (the process environment still wins).
    #[arg(long, value_name = "PATH", global = true)]
    env_file: Option<PathBuf>,
    /// The config file to read instead of `./config.js.toml` (or `CONFIG_FILE`).
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    /// Print the events the server handles, as JSON, and exit.
    #[arg(long)]
    list_events: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve (what no arguments at all does).
    Serve,
    /// Load and validate everything (settings, certificate files, the storage
    /// file) without binding a port or writing anything; exit 0 with a
    /// summary, or 1 with the error the server would give.
    Check,
    /// GET /health of the server these settings start (on the loopback; over
    /// HTTPS with ENABLE_HTTPS, any certificate accepted) within 3 s; exit 0
    /// on a 200, else 1 with the reason. The container image's HEALTHCHECK.
    Healthcheck,
    /// The operator API (/api/v1) of the server these settings start, with
    /// the first of its OPERATOR_API_KEYS; exit 0 done, 1 with the API's
    /// error, 2 for a configuration problem.
    Workspaces(operator_cli::Workspaces),
}

fn settings(cli: &Cli) -> Result<Settings, wrw::settings::SettingsError> {
    Settings::load_from(cli.env_file.as_deref(), cli.config.as_deref())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.list_events {
        println!("{}", wrw::signaling::event_table());
        return Ok(());
    }
    match &cli.command {
        Some(Command::Check) => check(&cli),
        Some(Command::Healthcheck) => health(&cli),
        Some(Command::Workspaces(args)) => operator_cli::run(settings(&cli), args),
        Some(Command::Serve) | None => {
            let settings = match settings(&cli) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("configuration error: {e}");
                    std::process::exit(2);
                }
            };
            tokio::runtime::Runtime::new()
                .context("starting the runtime")?
                .block_on(serve(settings))
        }
    }
}

fn check(cli: &Cli) -> anyhow::Result<()> {
    let outcome = settings(cli)
        .map_err(|e| format!("configuration error: {e}"))
        .and_then(|s| wrw::check(&s).map_err(|e| format!("startup error: {e}")));
    match outcome {
        Ok(summary) => {
            println!("configuration OK\n{summary}");
            Ok(())
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

fn health(cli: &Cli) -> anyhow::Result<()> {
    let outcome = settings(cli)
        .map_err(|e| format!("configuration error: {e}"))
        .and_then(|s| healthcheck::url(&s))
        .and_then(|url| healthcheck::probe(&url).map(|()| url));
    match outcome {
        Ok(url) => {
            println!("healthy: {url}");
            Ok(())
        }
        Err(e) => {
            eprintln!("unhealthy: {e}");
            std::process::exit(1);
        }
    }
}

fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_logs(settings.log_format);
    if settings.secrets.ephemeral {
        tracing::warn!(
            "MAGICK_TOKEN/SALT_STRING not set: using random secrets for this run; tokens will not survive a restart"
        );
    }
    let banner = banner::Banner::new(&settings);
    let server = match wrw::serve(settings).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("startup error: {e}");
            std::process::exit(2);
        }
    };
    banner.print(
        server.scheme(),
        server.local_addr(),
        server.metrics_addr(),
        server.operator_addr(),
    );

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
