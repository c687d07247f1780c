//! What other nodes ask of this node's sockets, as it arrives from Redis
//! (room channels, the namespace's channel, this node's own), is done here,
//! in arrival order, not by the adapter: socketioxide-core's remote handler
//! sends a relay once to each socket and, when a socket's queue is full,
//! drops it and logs a WARN line per drop. Here a full socket's relays wait
//! for it in order (`signaling::backlog`), and drops are counted and logged
//! once per socket per interval, as on the local path.
//!
//! Relays (a plain broadcast of a text event with one argument), joins,
//! leaves and disconnects are done here, all of them, so that their order
//! holds: a `kicked` relay is in the socket's queue before the leave
//! published after it, and a relay published after a leave never reaches
//! the socket that left. The rest (acknowledged broadcasts, fetches, the
//! adapter's heartbeats, any shape not decoded here) goes to the adapter as
//! before; none of it changes rooms or carries a relay of ours.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use socketioxide::adapter::Adapter;
use socketioxide::SocketIo;
use socketioxide_core::adapter::remote_packet::{RequestIn, RequestTypeIn};
use socketioxide_core::adapter::{BroadcastFlags, Room};
use socketioxide_core::packet::PacketData;
use socketioxide_core::Value;
use tokio::sync::mpsc;

use super::driver::Handlers;
use crate::slow_clients::backlog::{Backlogs, Outgoing, MAX_PAUSE, MIN_PAUSE};
use crate::telemetry;

/// Room-channel messages received and not yet delivered; beyond this they
/// are dropped (counted in `wrw_redis_messages_dropped_total`).
pub const QUEUE: usize = 8192;

/// A message as it arrived: (channel, payload).
pub type Received = (String, Vec<u8>);

/// What another node asks of this node's sockets, in the order it asked:
/// the sockets are those in any of `rooms` (never empty) and in none of
/// `except` (as the adapter's own choice of sockets; the sender it leaves
/// out is on another node).
#[derive(Debug)]
struct Request {
    rooms: Vec<Room>,
    except: Vec<Room>,
    action: Action,
}

#[derive(Debug)]
enum Action {
    /// A broadcast of a text event with one argument.
    Relay(Arc<Outgoing>),
    Join(Vec<Room>),
    Leave(Vec<Room>),
    Disconnect,
}

/// The request in an adapter's message, if it is one handled here.
fn decode(payload: &[u8]) -> Option<Request> {
    let request: RequestIn = rmp_serde::from_slice(payload).ok()?;
    let opts = request.opts?;
    // Without rooms the adapter's choice depends on flags and a sender id
    // (everyone, or one socket); every request of ours names its rooms.
    if opts.rooms.is_empty() {
        return None;
    }
    let action = match request.r#type {
        RequestTypeIn::Broadcast(packet) => {
            if opts.has_flag(BroadcastFlags::Volatile) || packet.ns != "/" {
                return None;
            }
            let PacketData::Event(Value::Str(text, None), None) = packet.inner else {
                return None;
            };
            let (event, data): (String, Box<RawValue>) = serde_json::from_str(text.as_str()).ok()?;
            Action::Relay(Arc::new(Outgoing { event, data }))
        }
        RequestTypeIn::AddSockets(rooms) => Action::Join(rooms),
        RequestTypeIn::DelSockets(rooms) => Action::Leave(rooms),
        RequestTypeIn::DisconnectSockets => Action::Disconnect,
        _ => return None,
    };
    Some(Request {
        rooms: opts.rooms.into_vec(),
        except: opts.except.into_vec(),
        action,
    })
}

/// Delivers what arrives on `rx` until the cluster is dropped. The rest
/// (acknowledged broadcasts, fetches, the adapter's heartbeats, a shape not
/// decoded) goes to the adapter.
pub async fn run<A: Adapter>(
    io: SocketIo<A>,
    mut rx: mpsc::Receiver<Received>,
    handlers: Handlers,
    request: String,
    patience: Duration,
) {
    let mut backlogs = Backlogs::new(patience);
    let mut pause = MIN_PAUSE;
    // When to try again what waits; set only while something waits, and not
    // moved by arrivals (a steady stream must not starve the retries).
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            received = rx.recv() => {
                let Some((chan, payload)) = received else { return };
                let Some(req) = decode(&payload) else {
                    to_adapter(&handlers, &request, chan, payload);
                    continue;
                };
                let sockets = io.within(req.rooms).except(req.except).sockets();
                match req.action {
                    Action::Relay(msg) => {
                        let now = Instant::now();
                        for socket in sockets {
                            backlogs.send(socket, &msg, now);
                        }
                    }
                    Action::Join(rooms) => sockets.iter().for_each(|s| s.join(rooms.clone())),
                    Action::Leave(rooms) => sockets.iter().for_each(|s| s.leave(rooms.clone())),
                    Action::Disconnect => {
                        for socket in sockets {
                            let _ = socket.disconnect();
                        }
                    }
                }
                if retry_at.is_none() && !backlogs.is_empty() {
                    pause = MIN_PAUSE;
                    retry_at = Some(tokio::time::Instant::now() + pause);
                }
            }
            _ = tokio::time::sleep_until(retry_at.unwrap_or_else(tokio::time::Instant::now)), if retry_at.is_some() => {
                let sent = backlogs.retry(Instant::now());
                pause = if sent { MIN_PAUSE } else { (pause * 2).min(MAX_PAUSE) };
                retry_at = (!backlogs.is_empty()).then(|| tokio::time::Instant::now() + pause);
            }
        }
    }
}

/// Hands a message to the adapter's stream of its channel (a room's channel
/// feeds the namespace's).
fn to_adapter(handlers: &Handlers, request: &str, chan: String, payload: Vec<u8>) {
    let handlers = handlers.read().expect("not poisoned");
    if let Some(tx) = handlers.get(&chan).or_else(|| handlers.get(request)) {
        if tx.try_send((chan, payload)).is_err() {
            metrics::counter!(telemetry::REDIS_MESSAGES_DROPPED_TOTAL).increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socketioxide_core::adapter::remote_packet::{RequestOut, RequestTypeOut};
    use socketioxide_core::adapter::BroadcastOptions;
    use socketioxide_core::packet::Packet;
    use socketioxide_core::{Sid, Uid};

    fn encoded(r#type: RequestTypeOut<'_>, rooms: &[&str], except: &[&str], flag: Option<BroadcastFlags>) -> Vec<u8> {
        let mut opts = BroadcastOptions::new(Sid::new());
        opts.rooms = rooms.iter().map(|r| r.to_string().into()).collect();
        opts.except = except.iter().map(|r| r.to_string().into()).collect();
        if let Some(flag) = flag {
            opts.add_flag(flag);
        }
        rmp_serde::to_vec(&RequestOut::new(Uid::new(), r#type, &opts)).unwrap()
    }

    fn event(text: &str) -> Packet {
        Packet::event("/", Value::Str(text.to_string().into(), None))
    }

    #[test]
    fn a_text_event_with_one_argument_is_a_relay_done_here() {
        let sdp = format!("{}a=é✓\\r\\n", "v=0\\r\\n".repeat(700));
        let text = format!("[\"negotiation\",{{\"message\":{{\"sdp\":\"{sdp}\"}}}}]");
        let packet = event(&text);
        let req = decode(&encoded(
            RequestTypeOut::Broadcast(&packet),
            &["ws:_abcdefghij"],
            &["at:_x"],
            Some(BroadcastFlags::Broadcast),
        ))
        .expect("decoded");
        assert_eq!(req.rooms, vec![Room::from("ws:_abcdefghij")]);
        assert_eq!(req.except, vec![Room::from("at:_x")]);
        let Action::Relay(msg) = req.action else {
            panic!("a relay: {req:?}")
        };
        assert_eq!(msg.event, "negotiation");
        assert_eq!(msg.data.get(), format!("{{\"message\":{{\"sdp\":\"{sdp}\"}}}}"));
        let two = decode(&encoded(RequestTypeOut::Broadcast(&packet), &["a", "b"], &[], None)).expect("decoded");
        assert_eq!(two.rooms.len(), 2, "to two rooms");
    }

    #[test]
    fn joins_leaves_and_disconnects_are_done_here() {
        let rooms: Vec<Room> = vec!["ws:_a".into(), "at:_b".into()];
        let leave = decode(&encoded(RequestTypeOut::DelSockets(&rooms), &["at:_b"], &[], None)).expect("decoded");
        assert_eq!(leave.rooms, vec![Room::from("at:_b")]);
        assert!(matches!(leave.action, Action::Leave(r) if r == rooms));
        let join = decode(&encoded(RequestTypeOut::AddSockets(&rooms), &["at:_b"], &[], None)).expect("decoded");
        assert!(matches!(join.action, Action::Join(r) if r == rooms));
        let cut = decode(&encoded(RequestTypeOut::DisconnectSockets, &["at:_b"], &[], None)).expect("decoded");
        assert!(matches!(cut.action, Action::Disconnect));
    }

    #[test]
    fn every_other_request_goes_to_the_adapter() {
        let one = event("[\"kicked\",{}]");
        for (what, msg) in [
            (
                "volatile",
                encoded(
                    RequestTypeOut::Broadcast(&one),
                    &["a"],
                    &[],
                    Some(BroadcastFlags::Volatile),
                ),
            ),
            (
                "with acks",
                encoded(RequestTypeOut::BroadcastWithAck(&one), &["a"], &[], None),
            ),
            (
                "no argument",
                encoded(RequestTypeOut::Broadcast(&event("[\"x\"]")), &["a"], &[], None),
            ),
            (
                "two arguments",
                encoded(RequestTypeOut::Broadcast(&event("[\"x\",1,2]")), &["a"], &[], None),
            ),
            (
                "another namespace",
                encoded(
                    RequestTypeOut::Broadcast(&Packet::event("/admin", Value::Str("[\"x\",1]".into(), None))),
                    &["a"],
                    &[],
                    None,
                ),
            ),
            (
                "to everyone",
                encoded(
                    RequestTypeOut::Broadcast(&one),
                    &[],
                    &[],
                    Some(BroadcastFlags::Broadcast),
                ),
            ),
            (
                "to one socket by its id",
                encoded(RequestTypeOut::DisconnectSockets, &[], &[], None),
            ),
            ("a fetch", encoded(RequestTypeOut::FetchSockets, &["a"], &[], None)),
            ("the rooms", encoded(RequestTypeOut::AllRooms, &[], &[], None)),
            ("a heartbeat", encoded(RequestTypeOut::Heartbeat, &[], &[], None)),
            ("garbage", b"\x93\x01\x02".to_vec()),
        ] {
            assert!(decode(&msg).is_none(), "{what}");
        }
    }
}
