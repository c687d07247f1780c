//! A socket's outgoing queue is full (socketioxide refuses what does not
//! fit). Either its client reads slower than a burst arrives, or it stopped
//! reading (a frozen tab, a dead link the kernel has not noticed yet).
//!
//! A relay to a full socket is sent again once its queue has room: the
//! sender's handling waits (its later events queue behind, in order), so a
//! burst between two clients that both read arrives whole (issue 21). The
//! wait is bounded by `stalled_socket_timeout_ms`, the same bound after
//! which the connection is cut (`connections.rs`): a socket still full by then
//! stopped reading, and what is sent to it is dropped without waiting until
//! it is gone. Every drop is counted, and logged at most once per socket per
//! [`LOG_INTERVAL`], instead of one line per message.
//!
//! All of it runs only when a send has failed: the success path of a relay
//! pays nothing.
//!
//! A broadcast's error does not say which socket was full, so a failed one
//! is attributed among the target's sockets on this node: all of them when
//! all failed (an attendee's room is usually one socket: these are sent
//! again), else those already known to be full; what cannot be attributed
//! is dropped and logged without a sid. A relay from another node (cluster
//! mode) cannot make its sender wait: it waits in this node's backlog for
//! the socket instead (`backlog.rs`), bounded the same way, and its drops
//! are counted and logged here too.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, SendError, SocketError};

use crate::telemetry::MESSAGES_DROPPED_TOTAL;

/// At most one line per full socket this often.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A reply to `socket` failed.
pub(crate) fn reply_failed<A: Adapter>(socket: &SocketRef<A>, event: &str, error: &SendError) {
    match error {
        SendError::Socket(SocketError::InternalChannelFull) => {
            dropped(socket.id, event, 1);
        }
        e => tracing::debug!(sid = %socket.id, event, error = %e, "reply not sent"),
    }
}

/// The longest pause between two tries of a send to a full socket.
const MAX_PAUSE: Duration = Duration::from_millis(16);

/// A broadcast failed; `targets` builds its recipients again (only now, so
/// that the successful broadcast did not pay for them). Returns the sockets
/// to send to again once they have room ([`send_when_room`]): those whose
/// queue was full, when `retry` and when the failures can be pinned on them
/// (every socket of this node failed) and none is known to have stopped
/// reading. Everything else is counted as dropped here.
pub(crate) fn broadcast_failed<A: Adapter>(
    targets: impl FnOnce() -> BroadcastOperators<A>,
    event: &str,
    error: BroadcastError,
    retry: bool,
) -> Vec<SocketRef<A>> {
    let errors = match error {
        BroadcastError::Socket(errors) => errors,
        e => {
            tracing::warn!(event, error = %e, "broadcast failed");
            return Vec::new();
        }
    };
    let full = errors
        .iter()
        .filter(|e| matches!(e, SocketError::InternalChannelFull))
        .count();
    if full == 0 {
        // Closed: the socket was leaving anyway.
        tracing::debug!(event, "broadcast to a closing socket");
        return Vec::new();
    }
    let local = targets().sockets();
    let of = local.len();
    let now = Instant::now();
    let full_ones: Vec<SocketRef<A>> = if full == of {
        local
    } else {
        let known = episodes().lock().unwrap();
        local.into_iter().filter(|s| known.contains_key(&s.id)).collect()
    };
    if full_ones.len() != full {
        metrics::counter!(MESSAGES_DROPPED_TOTAL).increment(full as u64);
        unattributed(event, full, of, now);
        return Vec::new();
    }
    let (stalled, busy): (Vec<_>, Vec<_>) = {
        let known = episodes().lock().unwrap();
        full_ones.into_iter().partition(|s| !retry || known.contains_key(&s.id))
    };
    for s in stalled {
        dropped(s.id, event, 1);
    }
    busy
}

/// Sends `data` to `socket`, whose queue was full, once it has room: tried
/// again after pauses of 1, 2, 4 … 16 ms for up to `patience`. socketioxide
/// has no way to wait for room in a socket's queue, hence the pauses; they
/// happen only on this path, for a burst's excess. A socket still full after
/// `patience` stopped reading: the message is dropped and counted, and the
/// socket's later messages are dropped at once (its episode, below) until
/// the connection is cut. A socket cut (or gone) while its message waits
/// counts that message as dropped too: it was accepted and never sent.
pub(crate) async fn send_when_room<A: Adapter, T: ?Sized + Serialize>(
    socket: &SocketRef<A>,
    event: &str,
    data: &T,
    patience: Duration,
) {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        tokio::time::sleep(pause).await;
        match socket.emit(event, data) {
            Ok(()) => return,
            Err(SendError::Socket(SocketError::InternalChannelFull)) if started.elapsed() < patience => {
                pause = (pause * 2).min(MAX_PAUSE);
            }
            Err(e) => {
                // It waited for room and never got it: dropped, whether the
                // socket stayed full or was cut (or left) meanwhile.
                tracing::debug!(sid = %socket.id, event, error = %e, "a relay that waited for room was not sent");
                return dropped(socket.id, event, 1);
            }
        }
    }
}

/// `n` messages to `sid` were dropped: counted, and logged as [`note`] does.
pub(crate) fn dropped(sid: Sid, event: &str, n: u64) {
    metrics::counter!(MESSAGES_DROPPED_TOTAL).increment(n);
    note(sid, event, n, Instant::now());
}

/// Whether `sid` is in a run of drops (it stopped reading): what is sent to
/// it is dropped at once, not waited for.
pub(crate) fn is_stalled(sid: Sid) -> bool {
    episodes().lock().unwrap().contains_key(&sid)
}

/// One socket's run of drops; it ends after [`LOG_INTERVAL`] without one.
struct Episode {
    last: Instant,
    logged: Instant,
    unlogged: u64,
}

/// The sockets of this node whose queue is full, only ever touched after a failed send.
fn episodes() -> &'static Mutex<HashMap<Sid, Episode>> {
    static EPISODES: OnceLock<Mutex<HashMap<Sid, Episode>>> = OnceLock::new();
    EPISODES.get_or_init(Default::default)
}

/// Notes `n` drops for `sid`; returns how many drops the line it wrote reports, if it wrote one.
fn note(sid: Sid, event: &str, n: u64, now: Instant) -> Option<u64> {
    let mut episodes = episodes().lock().unwrap();
    episodes.retain(|_, e| now.saturating_duration_since(e.last) <= LOG_INTERVAL);
    let Some(episode) = episodes.get_mut(&sid) else {
        episodes.insert(
            sid,
            Episode {
                last: now,
                logged: now,
                unlogged: 0,
            },
        );
        tracing::warn!(%sid, event, dropped = n, "a socket's outgoing queue is full (its client stopped reading): messages to it are dropped");
        return Some(n);
    };
    episode.last = now;
    episode.unlogged += n;
    if now.saturating_duration_since(episode.logged) < LOG_INTERVAL {
        return None;
    }
    let dropped = std::mem::take(&mut episode.unlogged);
    episode.logged = now;
    tracing::warn!(%sid, event, dropped, "a socket's outgoing queue is still full: messages to it were dropped");
    Some(dropped)
}

/// Drops in a broadcast that cannot be pinned on a socket: one line per interval.
fn unattributed(event: &str, full: usize, of: usize, now: Instant) {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap();
    if last.is_none_or(|t| now.saturating_duration_since(t) >= LOG_INTERVAL) {
        *last = Some(now);
        tracing::warn!(
            event,
            full,
            of,
            "a broadcast was dropped by sockets whose outgoing queue is full"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_socket_is_logged_when_it_starts_then_once_per_interval_with_the_count() {
        let sid = Sid::new();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(note(sid, "negotiation", 1, t0), Some(1));
        for ms in (1..100).map(|i| i * 100) {
            assert_eq!(note(sid, "negotiation", 1, at(ms)), None, "{ms} ms");
        }
        let interval = LOG_INTERVAL.as_millis() as u64;
        assert_eq!(note(sid, "negotiation", 1, at(interval)), Some(100));
        assert_eq!(note(sid, "negotiation", 1, at(interval + 1)), None);
        // After a quiet interval a new run starts with its own first line.
        assert_eq!(note(sid, "negotiation", 1, at(3 * interval)), Some(1));
    }
}
