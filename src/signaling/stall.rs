//! Messages dropped because a socket's outgoing queue is full: its client
//! stopped reading (a frozen tab, a dead link the kernel has not noticed
//! yet), and socketioxide drops what is sent to it. Every drop is counted,
//! and logged at most once per socket per [`LOG_INTERVAL`], instead of one
//! line per message. Disconnecting such a client is the connection's job
//! (`severable`): a write that has waited for `stalled_socket_timeout_ms`
//! cuts it.
//!
//! All of it runs only when a send has failed: the success path of a relay
//! pays nothing.
//!
//! A broadcast's error does not say which socket was full, so a failed one
//! is attributed among the target's sockets on this node: all of them when
//! all failed (an attendee's room is usually one socket), else those already
//! known to be full; what cannot be attributed is logged without a sid. A
//! drop on another node (cluster mode) is seen by that node's adapter only,
//! which logs it itself, and is not counted here.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;
use socketioxide::{BroadcastError, SendError, SocketError};

/// The counter of messages dropped because a socket's queue was full.
pub const DROPPED_METRIC: &str = "wrw_messages_dropped_total";

/// At most one line per full socket this often.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Declares the counter at 0, so that `/metrics` lists it before the first drop.
pub fn register_metrics() {
    metrics::counter!(DROPPED_METRIC).increment(0);
}

/// A reply to `socket` failed.
pub(super) fn reply_failed<A: Adapter>(socket: &SocketRef<A>, event: &str, error: &SendError) {
    match error {
        SendError::Socket(SocketError::InternalChannelFull) => {
            metrics::counter!(DROPPED_METRIC).increment(1);
            note(socket.id, event, Instant::now());
        }
        e => tracing::debug!(sid = %socket.id, event, error = %e, "reply not sent"),
    }
}

/// A broadcast failed; `targets` builds its recipients again (only now, so
/// that the successful broadcast did not pay for them).
pub(super) fn broadcast_failed<A: Adapter>(
    targets: impl FnOnce() -> BroadcastOperators<A>,
    event: &str,
    error: BroadcastError,
) {
    let errors = match error {
        BroadcastError::Socket(errors) => errors,
        e => return tracing::warn!(event, error = %e, "broadcast failed"),
    };
    let full = errors
        .iter()
        .filter(|e| matches!(e, SocketError::InternalChannelFull))
        .count();
    if full == 0 {
        // Closed: the socket was leaving anyway.
        return tracing::debug!(event, "broadcast to a closing socket");
    }
    metrics::counter!(DROPPED_METRIC).increment(full as u64);
    let local: Vec<Sid> = targets().sockets().iter().map(|s| s.id).collect();
    let now = Instant::now();
    let full_ones: Vec<Sid> = if full == local.len() {
        local.clone()
    } else {
        let known = episodes().lock().unwrap();
        local.iter().copied().filter(|sid| known.contains_key(sid)).collect()
    };
    if full_ones.len() == full {
        for sid in full_ones {
            note(sid, event, now);
        }
    } else {
        unattributed(event, full, local.len(), now);
    }
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

/// Notes one drop for `sid`; returns how many drops the line it wrote reports, if it wrote one.
fn note(sid: Sid, event: &str, now: Instant) -> Option<u64> {
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
        tracing::warn!(%sid, event, "a socket's outgoing queue is full (its client stopped reading): messages to it are dropped");
        return Some(1);
    };
    episode.last = now;
    episode.unlogged += 1;
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
        assert_eq!(note(sid, "negotiation", t0), Some(1));
        for ms in (1..100).map(|i| i * 100) {
            assert_eq!(note(sid, "negotiation", at(ms)), None, "{ms} ms");
        }
        let interval = LOG_INTERVAL.as_millis() as u64;
        assert_eq!(note(sid, "negotiation", at(interval)), Some(100));
        assert_eq!(note(sid, "negotiation", at(interval + 1)), None);
        // After a quiet interval a new run starts with its own first line.
        assert_eq!(note(sid, "negotiation", at(3 * interval)), Some(1));
    }
}
