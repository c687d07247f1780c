//! The Socket.IO side: the table of events (`events.rs`) and the emit
//! helpers handlers share. How a socket
//! gets here (connect, ordered event loop) is `connection.rs`.

mod alerts;
mod announce;
mod call;
mod connection;
mod due;
mod event_counts;
mod events;
mod guard;
mod hub;
mod payload;
mod relay;
mod session;
mod workspace;

use std::time::Duration;

use serde::Serialize;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;

use alerts::Rejection;
pub use announce::from_server as announce_from_server;
pub use connection::{namespace, Connect};
pub use due::apply_due;
pub use events::{as_json as event_table, EventName};
use session::Session;

use crate::app::App;
use crate::model::{AttendeeId, WorkspaceId};
use crate::slow_clients::sends;
use crate::store::Hold;
use crate::workspaces::{LeaveReason, WorkspaceEvent};
use guard::Member;

/// Emits to the sockets `to` builds. A socket of this node whose queue is
/// full gets it once it has room, waiting up to `patience` (zero: no wait);
/// what is dropped is counted and logged (`slow_clients::sends`), never the sender's
/// problem. `to` is built again only after a failure, to find the sockets
/// that failed.
async fn send<A: Adapter, T: ?Sized + Serialize>(
    to: impl Fn() -> BroadcastOperators<A>,
    event: &str,
    data: &T,
    patience: Duration,
) {
    if let Err(e) = to().emit(event, data).await {
        for socket in sends::broadcast_failed(to, event, e, !patience.is_zero()) {
            sends::send_when_room(&socket, event, data, patience).await;
        }
    }
}

/// One event being handled: the shared app, the sending socket and its session.
pub struct Ctx<'a, A: Adapter> {
    app: &'a App,
    socket: &'a SocketRef<A>,
    session: &'a mut Session,
}

impl<A: Adapter> Ctx<'_, A> {
    async fn handle(&mut self, name: &str, data: Result<payload::Payload, String>) -> Result<(), Rejection> {
        match EventName::from_wire(name) {
            Some(event) => events::dispatch(self, event, data).await,
            None => Err(alerts::Invalid::UnknownEvent(name.to_string()).into()),
        }
    }

    /// [`send`], waiting for a recipient's full queue to drain for as long
    /// as a stalled connection is given before it is cut.
    async fn send<'s, T: ?Sized + Serialize>(
        &'s self,
        to: impl Fn() -> BroadcastOperators<A> + 's,
        event: &str,
        data: &T,
    ) {
        send(to, event, data, self.app.settings.stalled_socket_timeout).await;
    }

    /// To the sender only.
    fn reply<T: ?Sized + Serialize>(&self, event: &str, data: &T) {
        if let Err(e) = self.socket.emit(event, data) {
            sends::reply_failed(self.socket, event, &e);
        }
    }

    /// To every socket in the workspace's room except the sender.
    async fn to_room<T: ?Sized + Serialize>(&self, workspace: &WorkspaceId, event: &str, data: &T) {
        self.send(|| self.socket.to(crate::hub::workspace_room(workspace)), event, data)
            .await;
    }

    /// To every socket in the workspace's room, the sender included.
    async fn to_room_and_sender<T: ?Sized + Serialize>(&self, workspace: &WorkspaceId, event: &str, data: &T) {
        self.send(
            || self.socket.within(crate::hub::workspace_room(workspace)),
            event,
            data,
        )
        .await;
    }

    /// To the sockets of one attendee.
    async fn to_attendee<T: ?Sized + Serialize>(&self, attendee: &AttendeeId, event: &str, data: &T) {
        self.send(|| self.socket.within(crate::hub::attendee_room(attendee)), event, data)
            .await;
    }

    /// Joins the sender's socket to the attendee's rooms (see `Session::bind`).
    async fn bind(&mut self, workspace: &WorkspaceId, attendee: &AttendeeId, hold: Hold) {
        self.session
            .bind(self.app, self.socket, workspace, attendee, hold)
            .await;
    }

    /// Binds an admitted member (a socket that reconnected on its own
    /// shows up with a valid token before it is in the rooms).
    async fn bind_member(&mut self, m: &Member) {
        self.bind(&m.workspace, &m.attendee, Hold::ToRecord).await;
    }

    /// Tells the room what the sender's operation caused, in the order the
    /// protocol gives: one who left is out of the rooms before the room
    /// hears `leave`; one kicked, and everyone in a destroyed workspace,
    /// hears it first and is taken out after.
    async fn announce(&mut self, events: &[WorkspaceEvent]) {
        for event in events {
            let Some((name, said)) = announce::message(event) else {
                continue;
            };
            let ws = event.workspace();
            match event {
                WorkspaceEvent::Left {
                    attendee,
                    reason: LeaveReason::Left,
                    ..
                } => {
                    self.unbind(ws, &attendee.id).await;
                    self.to_room(ws, name, &said).await;
                }
                WorkspaceEvent::Left {
                    attendee,
                    reason: LeaveReason::Kicked | LeaveReason::Removed,
                    ..
                } => {
                    self.to_room_and_sender(ws, name, &said).await;
                    self.unbind(ws, &attendee.id).await;
                }
                WorkspaceEvent::Destroyed { attendees, .. } => {
                    self.to_room_and_sender(ws, name, &said).await;
                    for attendee in attendees {
                        self.unbind(ws, attendee).await;
                    }
                }
                _ => self.to_room(ws, name, &said).await,
            }
        }
    }

    /// Makes every socket of `attendee` leave the workspace's rooms.
    async fn unbind(&mut self, workspace: &WorkspaceId, attendee: &AttendeeId) {
        let rooms = crate::hub::rooms_of(workspace, attendee).to_vec();
        if let Err(e) = self
            .socket
            .within(crate::hub::attendee_room(attendee))
            .leave(rooms)
            .await
        {
            tracing::warn!(error = %e, "could not remove sockets from rooms");
        }
        self.session.forget(self.app, workspace, attendee).await;
    }
}
