//! Per-room channels: a broadcast to one room (an attendee's, a workspace's)
//! is published on that room's own channel, and a node listens on it only
//! while it holds a socket in the room. A node with no part in a room's
//! traffic then receives none of it, where on the namespace's one channel
//! every node heard (and decoded) every relay of the cluster.
//!
//! A room's channel is the adapter's request channel followed by the room
//! (`<prefix>-sio-request#/#at:_x7Gq2LmP0a#`): the adapter takes any message
//! on a channel that starts with its request channel, and a room name (with
//! its `:`) never looks like the node ids of its per-node channels.
//!
//! Subscribing happens on a join, and is confirmed by Redis before the join
//! is answered, so nothing addressed to the newcomer can be published before
//! its node listens. Unsubscribing is lazy: every heartbeat the node compares
//! its channels with the rooms it holds sockets in (a room is left in many
//! ways: a disconnect, a kick or destroy decided on another node) and makes
//! them agree, which also subscribes again whatever a failed join could not.
//!
//! They are sharded channels (`SSUBSCRIBE`/`SPUBLISH`, Redis 7): on one
//! Redis they filter as classic channels do, and on a Redis Cluster a shard
//! channel lives on one shard (a classic `PUBLISH` is copied to every
//! shard). redis-rs has `ssubscribe` on its cluster connection only, so the
//! commands are sent one channel each: a RESP3 `ssubscribe` confirmation is
//! the reply of the command it confirms, and one channel per command means
//! one confirmation per reply (a command of several channels would be
//! answered several times, and the surplus taken for the next replies).
//! After a reconnect the beat subscribes them all again
//! (`Cluster::listening`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dashmap::DashSet;
use redis::aio::ConnectionManager;
use tokio::sync::{Mutex, MutexGuard};

use super::bounded;
use crate::store::StoreError;

/// Locks that serialize the subscribe/unsubscribe decisions of the rooms
/// hashed to each (a join and a sweep of one room must not interleave).
const STRIPES: usize = 64;

pub struct RoomChannels {
    /// The adapter's request channel of the root namespace.
    request: String,
    subscribed: DashSet<String>,
    /// Set when the connection was lost: `subscribed` is what must be
    /// listened on, not what is, until the beat subscribes it all again
    /// (`Cluster::listening`); meanwhile a join subscribes its rooms anyway.
    pub unsubscribed: Arc<AtomicBool>,
    stripes: Vec<Mutex<()>>,
    conn: ConnectionManager,
}

/// The adapter's request channel of the root namespace (socketioxide-redis
/// names it so), which every node listens on.
pub fn request_channel(adapter_prefix: &str) -> String {
    format!("{adapter_prefix}-request#/#")
}

impl RoomChannels {
    pub fn new(adapter_prefix: &str, conn: ConnectionManager, unsubscribed: Arc<AtomicBool>) -> RoomChannels {
        RoomChannels {
            request: request_channel(adapter_prefix),
            subscribed: DashSet::new(),
            unsubscribed,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            conn,
        }
    }

    /// The channel every node listens on.
    pub fn request(&self) -> &str {
        &self.request
    }

    /// The channel of `room`.
    pub fn channel(&self, room: &str) -> String {
        format!("{}{room}#", self.request)
    }

    fn stripe(&self, room: &str) -> usize {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hasher = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        (hasher.hash_one(room) as usize) % STRIPES
    }

    /// Takes the locks of the stripes of `rooms`, in stripe order (so that
    /// two callers never wait on each other's).
    async fn lock_stripes(&self, rooms: &[String]) -> Vec<MutexGuard<'_, ()>> {
        let mut stripes: Vec<usize> = rooms.iter().map(|r| self.stripe(r)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for s in stripes {
            guards.push(self.stripes[s].lock().await);
        }
        guards
    }

    /// Listens on the channels of `rooms` (a socket of this node has just
    /// joined them); returns once Redis has confirmed.
    pub async fn subscribe(&self, rooms: &[String]) -> Result<(), StoreError> {
        let lost = self.unsubscribed.load(Ordering::SeqCst);
        if !lost && rooms.iter().all(|r| self.subscribed.contains(r)) {
            return Ok(());
        }
        let _guards = self.lock_stripes(rooms).await;
        let missing: Vec<&String> = rooms.iter().filter(|r| lost || !self.subscribed.contains(*r)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        bounded(
            self.shard_command("SSUBSCRIBE", missing.iter().copied())
                .exec_async(&mut self.conn.clone()),
        )
        .await?;
        for r in missing {
            self.subscribed.insert(r.clone());
        }
        Ok(())
    }

    /// Makes the channels agree with the rooms this node holds sockets in:
    /// `local` lists them now, `holds` asks again under the room's lock.
    pub async fn sync(&self, local: HashSet<String>, holds: impl Fn(&str) -> bool) -> Result<(), StoreError> {
        let missing: Vec<String> = local
            .iter()
            .filter(|r| !self.subscribed.contains(*r))
            .cloned()
            .collect();
        if !missing.is_empty() {
            self.subscribe(&missing).await?;
        }
        let extra: Vec<String> = self
            .subscribed
            .iter()
            .filter(|r| !local.contains(r.key()))
            .map(|r| r.key().clone())
            .collect();
        if extra.is_empty() {
            return Ok(());
        }
        // One UNSUBSCRIBE for all of them (a busy node leaves thousands of
        // rooms between two beats), under the locks of their stripes, taken
        // in order as `subscribe` does: a join of one of them waits for it.
        let _guards = self.lock_stripes(&extra).await;
        let leaving: Vec<String> = extra
            .into_iter()
            .filter(|r| !holds(r) && self.subscribed.contains(r))
            .collect();
        if leaving.is_empty() {
            return Ok(());
        }
        bounded(
            self.shard_command("SUNSUBSCRIBE", leaving.iter())
                .exec_async(&mut self.conn.clone()),
        )
        .await?;
        for room in &leaving {
            self.subscribed.remove(room);
        }
        Ok(())
    }

    /// `command` (`SSUBSCRIBE`, `SUNSUBSCRIBE`) of the channels of `rooms`,
    /// one channel per command (see the module's doc), in one round trip.
    fn shard_command<'r>(&self, command: &str, rooms: impl Iterator<Item = &'r String>) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        for room in rooms {
            pipe.cmd(command).arg(self.channel(room)).ignore();
        }
        pipe
    }

    /// Listens again on every room channel (what a reconnect left out);
    /// returns once Redis has confirmed.
    pub async fn resubscribe(&self) -> Result<(), StoreError> {
        let rooms: Vec<String> = self.subscribed.iter().map(|r| r.key().clone()).collect();
        if rooms.is_empty() {
            return Ok(());
        }
        bounded(
            self.shard_command("SSUBSCRIBE", rooms.iter())
                .exec_async(&mut self.conn.clone()),
        )
        .await
    }

    /// How many room channels this node listens on.
    pub fn len(&self) -> usize {
        self.subscribed.len()
    }
}
