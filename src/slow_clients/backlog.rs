//! Relays from other nodes (cluster mode) to this node's sockets, sent in
//! order per socket, and sent again when a socket's queue is full.
//!
//! A local relay to a full socket makes its sender wait (`slow_clients/sends.rs`): the
//! sender's socket is read in order, so TCP pushes back on it. A relay from
//! another node has no sender here to slow down, and Redis pub/sub has no
//! way back to it; so the relay waits here instead, behind whatever already
//! waits for that socket, and is tried again after pauses. A socket still
//! full after `patience` (`stalled_socket_timeout_ms`) stopped reading: what
//! waits for it is dropped and counted, and what comes later is dropped at
//! once, as on the local path, until `slow_clients::connections` cuts it. The wait is
//! bounded by time and by [`MAX_WAITING`] messages per socket.
//!
//! One socket's wait holds up nobody else's: each socket has its own queue,
//! and the deliverer never sleeps on one.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError};

use super::sends;

/// At most this many relays wait for one socket (about 7 MB of SDPs); more
/// are dropped and counted.
pub const MAX_WAITING: usize = 2048;

/// The shortest and longest pauses between two tries of what waits.
pub const MIN_PAUSE: Duration = Duration::from_millis(1);
pub const MAX_PAUSE: Duration = Duration::from_millis(16);

/// An event as another node sent it: its name and its one argument, as JSON
/// text (never parsed into values: it is only passed on).
#[derive(Debug)]
pub struct Outgoing {
    pub event: String,
    pub data: Box<RawValue>,
}

impl Outgoing {
    fn emit<A: Adapter>(&self, socket: &SocketRef<A>) -> Result<(), SendError> {
        socket.emit(self.event.as_str(), &*self.data)
    }
}

/// What waits for one socket.
struct Waiting<A: Adapter> {
    socket: SocketRef<A>,
    /// Oldest first, each with when it started to wait.
    queue: VecDeque<(Instant, Arc<Outgoing>)>,
}

/// The relays waiting for this node's full sockets.
pub struct Backlogs<A: Adapter> {
    waiting: HashMap<Sid, Waiting<A>>,
    patience: Duration,
}

impl<A: Adapter> Backlogs<A> {
    pub fn new(patience: Duration) -> Self {
        Backlogs {
            waiting: HashMap::new(),
            patience,
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Sends `msg` to `socket` now, or once what waits before it is sent.
    pub fn send(&mut self, socket: SocketRef<A>, msg: &Arc<Outgoing>, now: Instant) {
        let sid = socket.id;
        if let Some(w) = self.waiting.get_mut(&sid) {
            if w.queue.len() >= MAX_WAITING {
                return sends::dropped(sid, &msg.event, 1);
            }
            return w.queue.push_back((now, msg.clone()));
        }
        if sends::is_stalled(sid) {
            return sends::dropped(sid, &msg.event, 1);
        }
        match msg.emit(&socket) {
            Ok(()) => {}
            Err(SendError::Socket(SocketError::InternalChannelFull)) if !self.patience.is_zero() => {
                self.waiting.insert(
                    sid,
                    Waiting {
                        socket,
                        queue: VecDeque::from([(now, msg.clone())]),
                    },
                );
            }
            Err(SendError::Socket(SocketError::InternalChannelFull)) => sends::dropped(sid, &msg.event, 1),
            Err(e) => tracing::debug!(%sid, event = %msg.event, error = %e, "relay to a closing socket"),
        }
    }

    /// Tries again what waits, oldest first per socket. Returns whether
    /// anything was sent.
    pub fn retry(&mut self, now: Instant) -> bool {
        let mut sent = false;
        let patience = self.patience;
        self.waiting.retain(|sid, w| {
            while let Some((since, msg)) = w.queue.front() {
                match msg.emit(&w.socket) {
                    Ok(()) => {
                        sent = true;
                        w.queue.pop_front();
                    }
                    Err(SendError::Socket(SocketError::InternalChannelFull))
                        if now.saturating_duration_since(*since) < patience =>
                    {
                        return true;
                    }
                    Err(e) => {
                        // Stopped reading (or gone meanwhile): all of it is lost.
                        tracing::debug!(%sid, error = %e, waiting = w.queue.len(), "relays that waited for room were not sent");
                        sends::dropped(*sid, &msg.event, w.queue.len() as u64);
                        return false;
                    }
                }
            }
            false
        });
        sent
    }
}
