//! The webRTCWorkspaces signaling server as a library: `serve` is the one
//! entry point, used by the binary and by the tests alike.

pub mod app;
pub mod check;
pub mod cluster;
pub mod http;
pub mod hub;
pub mod ice;
pub mod limits;
pub mod model;
pub mod presence;
pub mod settings;
pub mod signaling;
pub mod slow_clients;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod tokens;
pub mod webhooks;
pub mod workspaces;

pub use check::check;
pub use startup::{serve, ServeError, Server, ShutdownError};
pub use telemetry::VERSION;
