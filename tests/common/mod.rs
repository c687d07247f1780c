//! What the integration tests share: the server started with test settings
//! (`spawn_app`, in this process through `wrw::serve`, or the real binary),
//! the binary run to its end, a real redis-server, a raw Socket.IO client,
//! free ports, and the rule for a test that cannot run.
//!
//! Every test binary compiles this module (`mod common;`) and uses only part
//! of it: what one binary leaves unused is not dead code.
#![allow(dead_code)]

pub mod bin;
pub mod process;
pub mod redis;
pub mod sio;

use std::collections::HashMap;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use wrw::settings::Settings;

/// Secrets that pass the server's checks, for a test server in any mode.
pub const SECRETS: [(&str, &str); 2] = [
    ("MAGICK_TOKEN", "wrw-test-secret-1f4e9a"),
    ("SALT_STRING", "wrw-test-secret-7c02b5"),
];

/// The test settings' config file: the loopback, and no rate limits (the
/// tests make many sockets and workspaces from one address).
const TEST_CONFIG: &str = "host = \"127.0.0.1\"\nevents_per_second = 0\nmax_connections_per_ip = 1000000\n\
                           max_workspaces_per_ip_per_hour = 1000000\n";

/// A test that cannot run (a tool is missing) says why and is skipped; in
/// CI (`CI` set, as .ci/run does), where everything is installed, it fails
/// instead of passing unrun.
pub fn cannot_run(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{why}, and CI is set");
    }
    eprintln!("skipped: {why}");
}

/// A port held by the caller: a server that tried to listen on it would fail.
pub fn held_port() -> (TcpListener, u16) {
    let held = TcpListener::bind("0.0.0.0:0").expect("bind a free port");
    let port = held.local_addr().expect("bound address").port();
    (held, port)
}

/// A port free a moment ago.
pub fn free_port() -> u16 {
    held_port().1
}

/// Polls `probe` every 20 ms until it gives Ok, at most `within`; for state
/// that changes without an event the test can await.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match probe().await {
            Ok(found) => return found,
            Err(last) => assert!(
                Instant::now() < deadline,
                "{what}: not within {within:?} (last: {last})"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The test settings, to change before starting a server: `app().config(..)
/// .env(..).spawn()`. Port 0 on the loopback, development mode, `SECRETS`
/// and `TEST_CONFIG`.
pub struct AppBuilder {
    env: Vec<(String, String)>,
    config: String,
}

pub fn app() -> AppBuilder {
    AppBuilder {
        env: [("PORT", "0"), ("DEVELOPMENT", "true")]
            .into_iter()
            .chain(SECRETS)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        config: TEST_CONFIG.to_string(),
    }
}

impl AppBuilder {
    /// Adds lines to the config file (a key of `TEST_CONFIG` may not be set again).
    pub fn config(mut self, lines: &str) -> Self {
        self.config.push_str(lines);
        if !self.config.ends_with('\n') {
            self.config.push('\n');
        }
        self
    }

    /// Sets an environment variable of the server.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The settings the server would read from this environment and config file.
    pub fn settings(&self) -> Settings {
        let env: HashMap<String, String> = self.env.iter().cloned().collect();
        Settings::from_sources(&env, None, Some(("config.js.toml", &self.config))).expect("test settings")
    }

    /// Serves in this process (`wrw::serve`).
    pub async fn spawn(self) -> TestApp {
        let server = wrw::serve(self.settings()).await.expect("the server starts");
        TestApp {
            addr: server.local_addr(),
            server,
        }
    }

    /// Runs the real binary in a temp dir holding the config file.
    pub fn spawn_bin(self) -> bin::Serving {
        self.settings(); // a bad test config fails here, with its reason
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("config.js.toml"), &self.config).expect("write the config");
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        bin::serve(dir.path(), &env).owning(dir)
    }
}

/// The server with the test settings, in this process.
pub async fn spawn_app() -> TestApp {
    app().spawn().await
}

/// A server of `AppBuilder::spawn`: its address, and `stop`.
pub struct TestApp {
    pub addr: SocketAddr,
    server: wrw::Server,
}

impl TestApp {
    /// Shuts the server down, and checks that it stopped cleanly.
    pub async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }
}
