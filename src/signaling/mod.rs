//! The Socket.IO side: the table of events, what each token-checked event
//! requires of its sender, and the emit helpers handlers share. How a socket
//! gets here (connect, ordered event loop) is `connection.rs`.

mod alerts;
mod call;
mod connection;
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
use guard::{Member, Rule};
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

/// The token-checked events and what each requires of its sender.
#[derive(Clone, Copy, Debug)]
enum Guarded {
    ReAttend,
    Attendees,
    Leave,
    Kick,
    Destroy,
    Ring,
    Answer,
    Busy,
    Hangup,
    MicToggle,
    CamToggle,
    IceCandidate,
    Negotiation,
}

impl Guarded {
    fn from_name(name: &str) -> Option<Guarded> {
        Some(match name {
            "re-attend" => Guarded::ReAttend,
            "attendees" => Guarded::Attendees,
            "leave" => Guarded::Leave,
            "kick" => Guarded::Kick,
            "destroy" => Guarded::Destroy,
            "ring" => Guarded::Ring,
            "answer" => Guarded::Answer,
            "busy" => Guarded::Busy,
            "hangup" => Guarded::Hangup,
            "mic-toggle" => Guarded::MicToggle,
            "cam-toggle" => Guarded::CamToggle,
            "icecandidate" => Guarded::IceCandidate,
            "negotiation" => Guarded::Negotiation,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Guarded::ReAttend => "re-attend",
            Guarded::Attendees => "attendees",
            Guarded::Leave => "leave",
            Guarded::Kick => "kick",
            Guarded::Destroy => "destroy",
            Guarded::Ring => "ring",
            Guarded::Answer => "answer",
            Guarded::Busy => "busy",
            Guarded::Hangup => "hangup",
            Guarded::MicToggle => "mic-toggle",
            Guarded::CamToggle => "cam-toggle",
            Guarded::IceCandidate => "icecandidate",
            Guarded::Negotiation => "negotiation",
        }
    }

    fn rule(self) -> Rule {
        match self {
            Guarded::IceCandidate | Guarded::Negotiation => Rule {
                sender: "broadcaster",
                owner_only: false,
                restores_lapsed: false,
            },
            Guarded::Kick | Guarded::Destroy => Rule {
                sender: "attendee",
                owner_only: true,
                restores_lapsed: false,
            },
            Guarded::ReAttend => Rule {
                sender: "attendee",
                owner_only: false,
                restores_lapsed: true,
            },
            _ => Rule {
                sender: "attendee",
                owner_only: false,
                restores_lapsed: false,
            },
        }
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
        match name {
            "iceservers" => {
                let servers = self.app.ice.for_socket(&self.socket.id.to_string()).await;
                self.reply("iceservers", &servers);
                Ok(())
            }
            "create" => workspace::create(self, data).await,
            "attend" => workspace::attend(self, data).await,
            other => match Guarded::from_name(other) {
                Some(event) => {
                    let member = guard::admit(self.app, self.socket, self.session, event.rule(), data).await?;
                    self.handle_guarded(event, member).await
                }
                None => {
                    let shown: String = other.chars().take(40).collect();
                    Err(Rejection::Alert(format!("Unknown event {shown:?}.").into()))
                }
            },
        }
    }

    async fn handle_guarded(&mut self, event: Guarded, m: Member) -> Result<(), Rejection> {
        match event {
            Guarded::ReAttend => workspace::re_attend(self, m).await,
            Guarded::Attendees => workspace::attendees(self, m).await,
            Guarded::Leave => workspace::leave(self, m).await,
            Guarded::Kick => workspace::kick(self, m).await,
            Guarded::Destroy => workspace::destroy(self, m).await,
            Guarded::Ring => call::ring(self, m).await,
            Guarded::Answer => call::answer(self, m).await,
            Guarded::Busy => call::busy(self, m).await,
            Guarded::Hangup => call::hangup(self, m).await,
            Guarded::MicToggle => call::toggle(self, m, "mic-toggle").await,
            Guarded::CamToggle => call::toggle(self, m, "cam-toggle").await,
            Guarded::IceCandidate => relay::icecandidate(self, m).await,
            Guarded::Negotiation => relay::negotiation(self, m).await,
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
