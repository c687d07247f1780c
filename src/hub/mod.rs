//! What the server asks of Socket.IO outside a socket's own event — presence,
//! expiry, `/health`, `/metrics`, shutdown — and the room names every layer
//! shares. A leaf: the app holds a `dyn Hub`, so only the code that builds
//! the namespace knows which adapter (local, or Redis across nodes) carries
//! the rooms (`signaling::hub` implements it for Socket.IO).

pub mod rooms;

use async_trait::async_trait;
use serde_json::Value;
use socketioxide::socket::Sid;

pub use rooms::{attendee_room, rooms_of, workspace_room};

#[async_trait]
pub trait Hub: Send + Sync + 'static {
    /// This node's sockets: Engine.IO protocol (3 or 4) and transport of each.
    fn local_sockets(&self) -> Vec<(&'static str, &'static str)>;

    /// Whether `room` holds a socket other than `except`.
    async fn has_socket_besides(&self, room: String, except: Option<Sid>) -> bool;

    /// Emits to every socket of `room`.
    async fn emit_to(&self, room: String, event: &'static str, data: Value);

    /// Makes every socket in `room` (on any node) leave `rooms`.
    async fn leave(&self, room: String, rooms: Vec<String>);

    /// The rooms this node holds a socket in.
    async fn local_rooms(&self) -> Vec<String>;

    /// Whether this node holds a socket in `room`.
    fn holds_room(&self, room: &str) -> bool;

    /// Disconnects every socket (shutdown).
    async fn close(&self);
}
