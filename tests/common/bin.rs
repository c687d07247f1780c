//! The real binary, run in a directory with only the environment given (and
//! PATH): once to its end, or serving until dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::process::{output_within, spawn_until_line, Process};

pub const BIN: &str = env!("CARGO_BIN_EXE_webrtc-workspaces-server");

/// How long a command that must not serve may take.
const RUN_BOUND: Duration = Duration::from_secs(20);
/// How long a server may take to print its banner.
const BANNER_BOUND: Duration = Duration::from_secs(15);

fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// Runs the binary with `args` to its end (it must not serve: bounded).
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    output_within(&mut command(dir, args, env), RUN_BOUND)
}

/// A server of the binary, killed when dropped.
pub struct Serving {
    process: Process,
    /// Where the banner says it listens.
    pub addr: SocketAddr,
    _dir: Option<tempfile::TempDir>,
}

impl Serving {
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Keeps `dir` (its working directory) until the server is dropped.
    pub fn owning(mut self, dir: tempfile::TempDir) -> Self {
        self._dir = Some(dir);
        self
    }
}

/// Starts the binary serving in `dir` with `env` (RUST_LOG=warn unless
/// `env` says otherwise), and waits for the banner's address.
pub fn serve(dir: &Path, env: &[(&str, &str)]) -> Serving {
    let mut cmd = command(dir, &[], &[&[("RUST_LOG", "warn")], env].concat());
    cmd.stderr(Stdio::inherit());
    let (process, banner) = spawn_until_line(&mut cmd, "listening on ", BANNER_BOUND).expect("spawn the server binary");
    let addr = banner
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split("://").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in the banner: {banner}"));
    Serving {
        process,
        addr,
        _dir: None,
    }
}
