//! The Socket.IO side: the table of events (`events.rs`) and the emit
//! helpers handlers share. How a socket
//! gets here (connect, ordered event loop) is `connection.rs`.

mod alerts;
mod call;
mod connection;
mod events;
mod guard;
mod payload;
mod presence;
mod relay;
mod workspace;

use serde::Serialize;
use serde_json::Value;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;

pub use alerts::Rejection;
pub use connection::register;
pub use events::{as_json as event_table, EventName};
pub use presence::sweep_expired;
use presence::Session;

use crate::app::App;
use crate::model::{AttendeeId, WorkspaceId};

/// Emits to a set of sockets; a failure is logged, never the sender's problem.
async fn send<T: ?Sized + Serialize>(to: BroadcastOperators, event: &str, data: &T) {
    if let Err(e) = to.emit(event, data).await {
        tracing::warn!(event, error = %e, "broadcast failed");
    }
}

/// One event being handled: the shared app, the sending socket and its session.
pub struct Ctx<'a> {
    app: &'a App,
    socket: &'a SocketRef,
    session: &'a mut Session,
}

impl Ctx<'_> {
    async fn handle(&mut self, name: &str, data: Result<Value, String>) -> Result<(), Rejection> {
        match EventName::from_wire(name) {
            Some(event) => events::dispatch(self, event, data).await,
            None => {
                let shown: String = name.chars().take(40).collect();
                Err(Rejection::Alert(format!("Unknown event {shown:?}.").into()))
            }
        }
    }

    /// To the sender only.
    fn reply<T: ?Sized + Serialize>(&self, event: &str, data: &T) {
        if let Err(e) = self.socket.emit(event, data) {
            tracing::debug!(sid = %self.socket.id, event, error = %e, "reply not sent");
        }
    }

    /// To every socket in the workspace's room except the sender.
    async fn to_room<T: ?Sized + Serialize>(&self, workspace: &WorkspaceId, event: &str, data: &T) {
        send(self.socket.to(presence::workspace_room(workspace)), event, data).await;
    }

    /// To every socket in the workspace's room, the sender included.
    async fn to_room_and_sender<T: ?Sized + Serialize>(&self, workspace: &WorkspaceId, event: &str, data: &T) {
        send(self.socket.within(presence::workspace_room(workspace)), event, data).await;
    }

    /// To the sockets of one attendee.
    async fn to_attendee<T: ?Sized + Serialize>(&self, attendee: &AttendeeId, event: &str, data: &T) {
        send(self.socket.within(presence::attendee_room(attendee)), event, data).await;
    }

    /// Makes every socket of `attendee` leave the workspace's rooms.
    async fn unbind(&mut self, workspace: &WorkspaceId, attendee: &AttendeeId) {
        let rooms = vec![presence::workspace_room(workspace), presence::attendee_room(attendee)];
        if let Err(e) = self.socket.within(presence::attendee_room(attendee)).leave(rooms).await {
            tracing::warn!(error = %e, "could not remove sockets from rooms");
        }
        self.session.forget(workspace, attendee);
    }
}
