//! The socketioxide-redis `Driver` of ours: rooms and emits across nodes go
//! through Redis pub/sub (a room's own broadcasts on its shard channel,
//! `rooms.rs`) on the cluster's one `ConnectionManager`, which
//! reconnects by itself when Redis comes back, and whose channels the beat
//! subscribes again (`Cluster::listening`; the stock
//! `RedisDriver` sits on a connection that never reconnects).
//!
//! Publishing never fails and never waits: messages go, in order, through one
//! queue to a task that sends whatever has piled up as one pipeline. The
//! adapter delivers to this node's own sockets only after its publish
//! returns, so a publish that waited on (or failed with) an unreachable Redis
//! would stop messages between sockets of the same node too. Pub/sub is
//! fire-and-forget in Redis anyway: what is published while Redis is away
//! is lost for the other nodes either way (counted in
//! `wrw_redis_publish_dropped_total`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

use super::request::single_room;
use super::rooms::RoomChannels;
use crate::telemetry;

/// Where a received pub/sub message goes, by channel.
pub type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// Redis delivers this node's own broadcasts back to it, and the adapter
/// drops them only after decoding them whole (an SDP of kilobytes, for
/// nothing). A request starts with the sender's id (msgpack: an array, then
/// a 16-character string), so they are recognised by their first bytes and
/// dropped before reaching the adapter. Learnt from the adapter's own
/// response channel (`…-response#<ns>#<uid>#`) when it subscribes.
#[derive(Default)]
pub struct Loopback {
    /// (the namespace's request channel, msgpack of this node's id)
    own: RwLock<Vec<(String, Vec<u8>)>>,
}

impl Loopback {
    fn learn(&self, chan: &str) {
        let parts: Vec<&str> = chan.split('#').collect();
        if let [head, ns, uid, ""] = parts.as_slice() {
            if let Some(prefix) = head.strip_suffix("-response") {
                if uid.len() == 16 {
                    let mut id = vec![0xb0];
                    id.extend_from_slice(uid.as_bytes());
                    let request = format!("{prefix}-request#{ns}#");
                    self.own.write().expect("not poisoned").push((request, id));
                }
            }
        }
    }

    /// Whether `payload` on `chan` (the request channel, or a room's, which
    /// starts with it) is a request this node sent itself.
    pub fn is_own(&self, chan: &str, payload: &[u8]) -> bool {
        let own = self.own.read().expect("not poisoned");
        own.iter()
            .any(|(c, id)| chan.starts_with(c.as_str()) && payload.get(1..1 + id.len()) == Some(id.as_slice()))
    }
}

/// Messages waiting to be published; beyond this, new ones are dropped.
const PUBLISH_QUEUE: usize = 8192;
/// At most this many messages in one pipeline.
const PUBLISH_BATCH: usize = 256;

#[derive(Clone)]
pub struct ClusterDriver {
    conn: ConnectionManager,
    handlers: Handlers,
    loopback: Arc<Loopback>,
    rooms: Arc<RoomChannels>,
    queue: mpsc::Sender<Publish>,
}

/// A message to publish: on a room's shard channel (`SPUBLISH`, `rooms.rs`)
/// or on one of the adapter's classic channels (`PUBLISH`).
struct Publish {
    chan: String,
    msg: Vec<u8>,
    sharded: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct DriverError(#[from] redis::RedisError);

impl ClusterDriver {
    /// Starts the publishing task; `handlers` is the map the connection's push
    /// sender routes messages through.
    pub fn new(
        conn: ConnectionManager,
        handlers: Handlers,
        loopback: Arc<Loopback>,
        rooms: Arc<RoomChannels>,
        timeout: Duration,
    ) -> ClusterDriver {
        let (queue, rx) = mpsc::channel(PUBLISH_QUEUE);
        tokio::spawn(publish_loop(conn.clone(), rx, timeout));
        ClusterDriver {
            conn,
            handlers,
            loopback,
            rooms,
            queue,
        }
    }
}

async fn publish_loop(mut conn: ConnectionManager, mut rx: mpsc::Receiver<Publish>, timeout: Duration) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for Publish { chan, msg, sharded } in batch.drain(..) {
            pipe.cmd(if sharded { "SPUBLISH" } else { "PUBLISH" })
                .arg(chan)
                .arg(msg)
                .ignore();
        }
        let sent = tokio::time::timeout(timeout, pipe.query_async::<()>(&mut conn)).await;
        if !matches!(sent, Ok(Ok(()))) {
            let n = pipe.cmd_iter().count() as u64;
            metrics::counter!(telemetry::REDIS_PUBLISH_DROPPED_TOTAL).increment(n);
            tracing::debug!(messages = n, "could not publish to Redis");
        }
    }
}

impl Driver for ClusterDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), DriverError> {
        // A broadcast to one room: only the nodes holding a socket in it listen.
        // (Only requests on the shared channel are read: responses and
        // per-node requests keep their channel.)
        let room = if chan == self.rooms.request() {
            single_room(&val)
        } else {
            None
        };
        let (chan, sharded) = match room {
            Some(room) => (self.rooms.channel(room), true),
            None => (chan, false),
        };
        if self
            .queue
            .try_send(Publish {
                chan,
                msg: val,
                sharded,
            })
            .is_err()
        {
            metrics::counter!(telemetry::REDIS_PUBLISH_DROPPED_TOTAL).increment(1);
        }
        Ok(())
    }

    async fn subscribe(&self, chan: String, size: usize) -> Result<MessageStream<ChanItem>, DriverError> {
        let (tx, rx) = mpsc::channel(size);
        self.loopback.learn(&chan);
        self.handlers.write().expect("not poisoned").insert(chan.clone(), tx);
        self.conn.clone().subscribe(chan).await?;
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), DriverError> {
        self.handlers.write().expect("not poisoned").remove(&chan);
        self.conn.clone().unsubscribe(chan).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, DriverError> {
        let (_, count): (String, u16) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(chan)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_requests_are_recognised_by_their_sender_id() {
        let loopback = Loopback::default();
        loopback.learn("wrw-sio-response#/#AAAAAAAAAAAAAAAA#");
        let mut own = vec![0x96, 0xb0];
        own.extend_from_slice(b"AAAAAAAAAAAAAAAA");
        own.extend_from_slice(b"rest of the request");
        let mut other = own.clone();
        other[2] = b'B';
        assert!(loopback.is_own("wrw-sio-request#/#", &own));
        assert!(
            loopback.is_own("wrw-sio-request#/#at:_abcdefghij#", &own),
            "a room's channel"
        );
        assert!(!loopback.is_own("wrw-sio-request#/#", &other));
        assert!(
            !loopback.is_own("wrw-sio-response#/#AAAAAAAAAAAAAAAA#", &own),
            "only the request channels"
        );
        assert!(!loopback.is_own("wrw-sio-request#/#", &own[..5]));
    }
}
