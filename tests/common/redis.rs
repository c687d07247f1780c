//! A real redis-server on a free port, with its own data dir, stopped when
//! dropped.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::process::{spawn_until_line, Process};

pub struct Redis {
    process: Process,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Sends `sig` to the server ("-STOP", "-CONT").
    pub fn signal(&self, sig: &str) {
        self.process.signal(sig);
    }
}

/// A real redis-server, listening; or None when it cannot be started (the
/// test says it is skipped and why; in CI it fails: `super::cannot_run`).
pub fn redis() -> Option<Redis> {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = super::free_port();
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .args(["--appendonly", "no", "--protected-mode", "no", "--loglevel", "notice"])
        .arg("--dir")
        .arg(dir.path())
        .stderr(Stdio::null());
    match spawn_until_line(&mut cmd, "Ready to accept connections", Duration::from_secs(10)) {
        Ok((process, _)) => Some(Redis {
            process,
            port,
            _dir: dir,
        }),
        Err(e) => {
            super::cannot_run(&format!(
                "redis-server cannot be started ({e}); install Debian's redis-server"
            ));
            None
        }
    }
}
