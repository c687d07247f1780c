//! The `Hub` of a Socket.IO server, whatever its adapter (local, or Redis
//! across nodes).

use std::time::Duration;

use async_trait::async_trait;

use crate::hub::Hub;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;
use socketioxide::{ProtocolVersion, SocketIo, TransportType};

/// The root namespace, which is gone once shutdown has closed it: every
/// question then has the empty answer (socketioxide's own shortcuts panic).
fn root<A: Adapter>(io: &SocketIo<A>) -> Option<BroadcastOperators<A>> {
    io.of("/")
}

#[async_trait]
impl<A: Adapter> Hub for SocketIo<A> {
    fn local_sockets(&self) -> Vec<(&'static str, &'static str)> {
        let Some(root) = root(self) else {
            return Vec::new();
        };
        root.sockets()
            .iter()
            .map(|s| {
                let eio = match s.protocol() {
                    ProtocolVersion::V4 => "3",
                    ProtocolVersion::V5 => "4",
                };
                let transport = match s.transport_type() {
                    TransportType::Polling => "polling",
                    TransportType::Websocket => "websocket",
                };
                (eio, transport)
            })
            .collect()
    }

    async fn has_socket_besides(&self, room: String, except: Option<Sid>) -> bool {
        let Some(root) = root(self) else {
            return false;
        };
        match root.within(room).fetch_sockets().await {
            Ok(sockets) => sockets.iter().any(|s| Some(s.data().id) != except),
            Err(e) => {
                // Unknown counts as present: a ghost for a while beats a wrong `leave`.
                tracing::warn!(error = %e, "could not list a room's sockets");
                true
            }
        }
    }

    async fn emit_to(&self, room: String, event: &'static str, data: Value) {
        let Some(root) = root(self) else {
            return;
        };
        // From presence's own loop, which must not stall on one full socket.
        super::send(|| root.clone().to(room.clone()), event, &data, Duration::ZERO).await;
    }

    async fn leave(&self, room: String, rooms: Vec<String>) {
        let Some(root) = root(self) else {
            return;
        };
        if let Err(e) = root.within(room).leave(rooms).await {
            tracing::warn!(error = %e, "could not remove sockets from rooms");
        }
    }

    async fn local_rooms(&self) -> Vec<String> {
        let Some(root) = root(self) else {
            return Vec::new();
        };
        match root.local().rooms().await {
            Ok(rooms) => rooms.into_iter().map(|r| r.into_owned()).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not list this node's rooms");
                Vec::new()
            }
        }
    }

    fn holds_room(&self, room: &str) -> bool {
        root(self).is_some_and(|root| !root.local().within(room.to_string()).sockets().is_empty())
    }

    async fn close(&self) {
        SocketIo::close(self).await;
    }
}
