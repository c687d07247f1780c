//! Relays that arrive on a room's channel (`rooms.rs`) are delivered to this
//! node's sockets here, not by the adapter: socketioxide-core's remote
//! handler sends once to each socket and, when a socket's queue is full,
//! drops the message and logs a WARN line per drop. Here a full socket's
//! relays wait for it in order (`signaling::backlog`), and drops are counted
//! and logged once per socket per interval, as on the local path.
//!
//! Only the shape the room channels carry is taken: a plain broadcast of a
//! text event with one argument to one room. Anything else (which the
//! publishing side never puts on a room's channel today) goes to the
//! adapter as before, so a shape this decoder does not know costs the
//! waiting, never the message.
//!
//! The adapter's other requests (on the namespace's channel and this node's
//! own) pass through here too, handed on in the order they arrived: a
//! `kicked` relay on the attendee's channel is in the socket's queue before
//! the disconnect published after it reaches the adapter.

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
use crate::signaling::backlog::{Backlogs, Outgoing, MAX_PAUSE, MIN_PAUSE};

/// Room-channel messages received and not yet delivered; beyond this they
/// are dropped (counted in `wrw_redis_messages_dropped_total`).
pub const QUEUE: usize = 8192;

/// A message as it arrived: (channel, payload).
pub type Received = (String, Vec<u8>);

/// A relay to this node's sockets in one room.
#[derive(Debug)]
struct Relay {
    room: Room,
    except: Vec<Room>,
    msg: Arc<Outgoing>,
}

/// The relay in a room channel's message, if it has the shape delivered here.
fn decode(payload: &[u8]) -> Option<Relay> {
    let request: RequestIn = rmp_serde::from_slice(payload).ok()?;
    let (RequestTypeIn::Broadcast(packet), Some(opts)) = (request.r#type, request.opts) else {
        return None;
    };
    if opts.rooms.len() != 1 || opts.has_flag(BroadcastFlags::Volatile) || packet.ns != "/" {
        return None;
    }
    let PacketData::Event(Value::Str(text, None), None) = packet.inner else {
        return None;
    };
    let (event, data): (String, Box<RawValue>) = serde_json::from_str(text.as_str()).ok()?;
    Some(Relay {
        room: opts.rooms.into_iter().next()?,
        except: opts.except.into_vec(),
        msg: Arc::new(Outgoing { event, data }),
    })
}

/// Delivers what arrives on `rx` until the cluster is dropped; what is not
/// a relay on a room's channel goes to the adapter.
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
                let room_channel = chan != request && !handlers.read().expect("not poisoned").contains_key(&chan);
                let Some(relay) = room_channel.then(|| decode(&payload)).flatten() else {
                    to_adapter(&handlers, &request, chan, payload);
                    continue;
                };
                let now = Instant::now();
                for socket in io.to(relay.room).except(relay.except).sockets() {
                    backlogs.send(socket, &relay.msg, now);
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
            metrics::counter!("wrw_redis_messages_dropped_total").increment(1);
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
    fn a_text_event_with_one_argument_to_one_room_is_delivered_here() {
        let sdp = format!("{}a=é✓\\r\\n", "v=0\\r\\n".repeat(700));
        let text = format!("[\"negotiation\",{{\"message\":{{\"sdp\":\"{sdp}\"}}}}]");
        let packet = event(&text);
        let relay = decode(&encoded(
            RequestTypeOut::Broadcast(&packet),
            &["ws:_abcdefghij"],
            &["at:_x"],
            Some(BroadcastFlags::Broadcast),
        ))
        .expect("decoded");
        assert_eq!(relay.room, "ws:_abcdefghij");
        assert_eq!(relay.except, vec![Room::from("at:_x")]);
        assert_eq!(relay.msg.event, "negotiation");
        assert_eq!(relay.msg.data.get(), format!("{{\"message\":{{\"sdp\":\"{sdp}\"}}}}"));
    }

    #[test]
    fn every_other_shape_goes_to_the_adapter() {
        let one = event("[\"kicked\",{}]");
        for (what, msg) in [
            (
                "two rooms",
                encoded(RequestTypeOut::Broadcast(&one), &["a", "b"], &[], None),
            ),
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
                "a disconnect",
                encoded(RequestTypeOut::DisconnectSockets, &["a"], &[], None),
            ),
            ("garbage", b"\x93\x01\x02".to_vec()),
        ] {
            assert!(decode(&msg).is_none(), "{what}");
        }
    }
}
