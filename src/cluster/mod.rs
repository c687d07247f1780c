//! Several nodes behind a load balancer, sharing one Redis (`REDIS_URL`).
//!
//! - `driver.rs`: socketioxide-redis's adapter carries every room emit, join
//!   and leave between nodes, over our driver on one reconnecting connection;
//!   `rooms.rs`, `request.rs`: a broadcast to one room goes on that room's
//!   channel, heard only by the nodes holding a socket in it, and
//!   `delivery.rs` delivers what arrives there (waiting for full sockets).
//! - `store.rs`: the workspaces live in Redis; every change is one Lua script
//!   (`scripts.rs`, `lua/`), so it is atomic across nodes.
//! - `membership.rs`: this node's view of membership, so relays cost no
//!   Redis round trip; scripts that shrink a membership publish an invalidation.
//! - `presence.rs`: heartbeats, which node holds which attendee, graces and
//!   expiry decided once per cluster.
//! - `limits.rs`: the PIN-failure and create counters, shared.
//!
//! Redis going away never stops the node: `/health` reads the status the
//! heartbeat keeps (it never waits on Redis), events that need shared state
//! get an alert, and everything resumes when the connection comes back.

mod delivery;
mod driver;
pub mod limits;
mod membership;
mod presence;
mod request;
mod rooms;
mod scripts;
mod store;

pub use driver::ClusterDriver;
pub use presence::run as run_presence;
pub use store::RedisStore;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind};
use socketioxide::adapter::Adapter;
use socketioxide::SocketIo;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::hub::rooms_of;
use crate::model::{AttendeeId, WorkspaceId};
use crate::presence::SharedHealth;
use crate::settings::{Secret, Settings};
use crate::store::StoreError;
use crate::telemetry;
use driver::{Handlers, Loopback};
use membership::MembershipCache;
use rooms::RoomChannels;
use scripts::Scripts;

/// Bound on one Redis command: a paused or partitioned Redis turns into an
/// alert this fast, and `/health` says so within two seconds.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Bound on one operation, reconnecting included.
const OP_TIMEOUT: Duration = Duration::from_millis(2000);
/// A heartbeat answer older than this means Redis is not answering: beats
/// go at least every 500 ms, so a healthy Redis is never this late, and
/// `/health` turns 503 well within 2 s of Redis going quiet.
const STALE: Duration = Duration::from_millis(1200);
/// A join's script that Redis runs later than this after it was sent
/// changes nothing (`lua/attend.lua`): by then the node may have stopped
/// waiting and told the client it failed (RESPONSE_TIMEOUT), and a join the
/// client was told failed must not happen. Half of that timeout leaves room
/// for the error of the node's reckoning of Redis's clock (half a round trip).
const JOIN_DEADLINE: Duration = Duration::from_millis(500);
/// Bound on reaching Redis at startup.
const START_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("REDIS_URL: {0}")]
    Url(String),
    #[error("REDIS_URL: cannot reach Redis at {addr}: {problem}")]
    Unreachable { addr: String, problem: String },
    #[error("REDIS_URL: the Redis at {addr} has no sharded pub/sub (SSUBSCRIBE, SPUBLISH), which room channels need: Redis 7 or later is required ({problem})")]
    NoShardedPubSub { addr: String, problem: String },
}

struct Probe {
    last_ok: Option<Instant>,
    /// Redis's clock (ms) as the last beat read it, and when (the midpoint
    /// of its round trip): what a join's deadline is reckoned from.
    clock: Option<(Instant, u64)>,
    latency: Option<Duration>,
    error: Option<String>,
}

pub struct Cluster {
    pub node_id: String,
    prefix: String,
    id_len: usize,
    conn: ConnectionManager,
    scripts: Scripts,
    membership: Arc<MembershipCache>,
    handlers: Handlers,
    loopback: Arc<Loopback>,
    rooms: Arc<RoomChannels>,
    /// What arrives on the room channels, until `deliver_relays` takes it.
    relays: Mutex<Option<mpsc::Receiver<delivery::Received>>>,
    probe: Mutex<Probe>,
    /// How many of this node's sessions are bound to each attendee: the
    /// attendee is released (its grace starts) when the last one goes.
    held: DashMap<(WorkspaceId, AttendeeId), usize>,
    /// Changes of `held` on their way to Redis (`presence.rs`).
    holds: presence::HoldQueue,
    /// A reconcile that failed and is due at the next beat.
    reconcile_pending: AtomicBool,
    heartbeat: Duration,
    grace: Duration,
    expiry: Duration,
}

impl Cluster {
    /// Connects (bounded), subscribes to invalidations, starts the heartbeat.
    pub async fn connect(settings: &Settings, url: &Secret<String>) -> Result<Arc<Cluster>, ClusterError> {
        let info = url
            .expose()
            .as_str()
            .into_connection_info()
            .map_err(|e| ClusterError::Url(e.to_string()))?;
        let addr = info.addr().to_string();
        let resp3 = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client =
            redis::Client::open(info.set_redis_settings(resp3)).map_err(|e| ClusterError::Url(e.to_string()))?;

        let prefix = settings.redis_prefix.clone();
        let id_len = settings.workspace_id_len;
        let membership = Arc::new(MembershipCache::default());
        let handlers = Handlers::default();
        let loopback = Arc::new(Loopback::default());
        let inval = format!("{prefix}:inval");
        let (relay_tx, relays) = mpsc::channel(delivery::QUEUE);
        let unsubscribed = Arc::new(AtomicBool::new(false));
        let push = push_router(
            unsubscribed.clone(),
            (inval.clone(), id_len),
            rooms::request_channel(&adapter_prefix(&prefix)),
            membership.clone(),
            handlers.clone(),
            relay_tx,
            loopback.clone(),
        );
        let config = ConnectionManagerConfig::new()
            .set_push_sender(push)
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let unreachable = |problem: String| ClusterError::Unreachable {
            addr: addr.clone(),
            problem,
        };
        let mut conn = tokio::time::timeout(START_TIMEOUT, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| unreachable(format!("no answer within {START_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::time::timeout(START_TIMEOUT, conn.subscribe(&inval))
            .await
            .map_err(|_| unreachable(format!("no answer within {START_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        // Room channels are shard channels (`rooms.rs`): a Redis without them
        // (before 7) would refuse every join's subscribe, so it is refused
        // here, by name. `COMMAND INFO` answers nil for a command it lacks.
        let known: Vec<redis::Value> = tokio::time::timeout(
            START_TIMEOUT,
            redis::cmd("COMMAND")
                .arg(&["INFO", "SPUBLISH", "SSUBSCRIBE", "SUNSUBSCRIBE"])
                .query_async(&mut conn),
        )
        .await
        .map_err(|_| unreachable(format!("no answer within {START_TIMEOUT:?}")))?
        .map_err(|e| unreachable(e.to_string()))?;
        if known.iter().any(|c| matches!(c, redis::Value::Nil)) {
            return Err(ClusterError::NoShardedPubSub {
                addr,
                problem: "COMMAND INFO SPUBLISH SSUBSCRIBE SUNSUBSCRIBE names one it does not know".into(),
            });
        }

        let (holds, hold_changes) = presence::HoldQueue::new();
        let cluster = Arc::new(Cluster {
            node_id: settings.node_id.clone(),
            rooms: Arc::new(RoomChannels::new(&adapter_prefix(&prefix), conn.clone(), unsubscribed)),
            prefix,
            id_len,
            conn,
            scripts: Scripts::new(),
            membership,
            handlers,
            loopback,
            relays: Mutex::new(Some(relays)),
            probe: Mutex::new(Probe {
                last_ok: None,
                clock: None,
                latency: None,
                error: None,
            }),
            held: DashMap::new(),
            holds,
            reconcile_pending: AtomicBool::new(false),
            heartbeat: settings.cluster_heartbeat,
            grace: settings.presence_grace,
            expiry: settings.workspace_expiry,
        });
        tokio::spawn(Cluster::flush_holds(Arc::downgrade(&cluster), hold_changes));
        metrics::counter!(telemetry::REDIS_MESSAGES_RECEIVED_TOTAL).increment(0);
        // The first beat registers the node before it serves anyone.
        cluster.beat().await;
        tracing::info!(node = %cluster.node_id, redis = %addr, "cluster mode: workspaces shared through Redis");
        Ok(cluster)
    }

    /// The socketioxide-redis driver over this cluster's connection.
    pub fn driver(&self) -> ClusterDriver {
        ClusterDriver::new(
            self.conn.clone(),
            self.handlers.clone(),
            self.loopback.clone(),
            self.rooms.clone(),
            RESPONSE_TIMEOUT,
        )
    }

    /// Delivers the relays that arrive on room channels to `io`'s sockets
    /// (`delivery.rs`), a relay to a full socket waiting up to `patience`;
    /// runs as long as the node. Called once.
    pub fn deliver_relays<A: Adapter>(
        &self,
        io: SocketIo<A>,
        patience: Duration,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let rx = self.relays.lock().expect("not poisoned").take().expect("called once");
        delivery::run(
            io,
            rx,
            self.handlers.clone(),
            self.rooms.request().to_string(),
            patience,
        )
    }

    /// The adapter's channel prefix (its channels never collide with ours).
    pub fn adapter_prefix(&self) -> String {
        adapter_prefix(&self.prefix)
    }

    /// A socket of this node joined `rooms`: listens on their channels
    /// before the join is answered. On failure (Redis away) the next beat's
    /// sync subscribes them.
    pub async fn subscribe_rooms(&self, rooms: &[String]) {
        if let Err(e) = self.rooms.subscribe(rooms).await {
            tracing::warn!(error = %e, "could not listen on a room's channel in Redis (retried at the next beat)");
        }
    }

    /// Runs a join's script with the subscribe of the newcomer's rooms'
    /// channels sent beside it, in the same round trip: both are needed
    /// before the join is answered (and the session's bind then finds the
    /// channels subscribed). A join refused leaves channels the next beat's
    /// sync drops.
    async fn run_join<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
        ws: &WorkspaceId,
        at: &AttendeeId,
    ) -> Result<T, StoreError> {
        let rooms = rooms_of(ws, at);
        let (_, answer) = tokio::join!(self.subscribe_rooms(&rooms), self.run(invocation));
        answer
    }

    /// The time on Redis's clock (ms) after which a join sent now must not
    /// happen: reckoned from the last beat's reading of it.
    fn join_deadline(&self) -> u64 {
        let probe = self.probe.lock().expect("not poisoned");
        match probe.clock {
            Some((at, redis_ms)) => redis_ms + (at.elapsed() + JOIN_DEADLINE).as_millis() as u64,
            // Not read yet (the first beat runs before the node serves): no deadline.
            None => u64::MAX,
        }
    }

    /// Redis as the heartbeat last saw it; never waits on Redis.
    pub fn health(&self) -> SharedHealth {
        let probe = self.probe.lock().expect("not poisoned");
        // Since the connection was lost, nothing is listened on until the
        // beat subscribes again, whatever the last beat saw.
        let listening = !self.rooms.unsubscribed.load(Ordering::SeqCst);
        let fresh = probe.last_ok.is_some_and(|t| t.elapsed() < STALE) && probe.error.is_none() && listening;
        SharedHealth {
            reachable: fresh,
            latency_ms: probe.latency.filter(|_| fresh).map(|l| l.as_secs_f64() * 1000.0),
            error: match (&probe.error, fresh) {
                (Some(e), _) => Some(e.clone()),
                (None, false) if !listening => Some("the connection to Redis was lost; not listening yet".into()),
                (None, false) => Some("no heartbeat answered lately".into()),
                (None, true) => None,
            },
        }
    }

    /// A query of `/health` or `/metrics` got no answer: until the next beat
    /// answers, both say Redis is unreachable (they must agree).
    pub fn note_unanswered(&self, what: &str) {
        let mut probe = self.probe.lock().expect("not poisoned");
        probe.error.get_or_insert_with(|| what.to_string());
    }

    /// Every classic channel this node must listen on: invalidations and
    /// the adapter's (its rooms' are shard channels, `rooms.rs`).
    fn channels(&self) -> Vec<String> {
        let mut all = vec![format!("{}:inval", self.prefix)];
        all.extend(self.handlers.read().expect("not poisoned").keys().cloned());
        all
    }

    /// Whether the connection still listens on every channel it must (Redis
    /// counts them: `CLIENT INFO`'s `sub=` and `ssub=`). After a reconnect
    /// everything is subscribed again here, and until then this node cannot
    /// route what other nodes send, so `/health` must not say it can.
    ///
    /// Not redis-rs's automatic resubscription: it sends every channel in
    /// one `SUBSCRIBE` (and one `SSUBSCRIBE`) but awaits one reply for each,
    /// and hands the surplus confirmations to the next requests as their
    /// replies, and each of those requests' own reply to the one after it
    /// (seen here: a heartbeat answered with a room's `ssubscribe`, after a
    /// Redis restart with 3 000 room channels). Here a `SUBSCRIBE` awaits
    /// exactly its confirmations, and room channels go one per command.
    async fn listening(&self) -> Result<(), String> {
        let info: String = self
            .query(redis::cmd("CLIENT").arg("INFO"))
            .await
            .map_err(|e| e.to_string())?;
        let count = |field: &str| -> usize {
            info.split_whitespace()
                .find_map(|f| f.strip_prefix(field))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        let (classic, sharded) = (count("sub="), count("ssub="));
        let channels = self.channels();
        let rooms = self.rooms.len();
        // Taken before subscribing: a loss during it sets it again.
        let lost = self.rooms.unsubscribed.swap(false, Ordering::SeqCst);
        if !lost && classic >= channels.len() && sharded >= rooms {
            return Ok(());
        }
        let problem = format!(
            "listening on {classic} of {} channels and {sharded} of {rooms} room channels (after a reconnect); subscribing again",
            channels.len()
        );
        tracing::warn!("{problem}");
        let again = async {
            bounded(self.conn().subscribe(channels)).await?;
            self.rooms.resubscribe().await
        };
        match again.await {
            // Invalidations published while not listening were missed: the
            // view is dropped now that they are heard again.
            Ok(()) if lost => {
                self.membership.clear();
                tracing::info!("reconnected to Redis; subscriptions restored");
            }
            Ok(()) => {}
            Err(e) => {
                self.rooms.unsubscribed.store(true, Ordering::SeqCst);
                tracing::warn!(error = %e, "could not subscribe again (retried at the next beat)");
            }
        }
        Err(problem)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Runs one script invocation, bounded; connection trouble is `Unavailable`.
    async fn run<T: redis::FromRedisValue>(&self, invocation: &redis::ScriptInvocation<'_>) -> Result<T, StoreError> {
        bounded(invocation.invoke_async(&mut self.conn())).await
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        bounded(cmd.query_async(&mut self.conn())).await
    }

    async fn query_pipe<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, StoreError> {
        bounded(pipe.query_async(&mut self.conn())).await
    }

    /// A script invocation with the prefix as its first argument.
    fn invoke<'a>(&'a self, script: &'a redis::Script) -> redis::ScriptInvocation<'a> {
        let mut inv = script.prepare_invoke();
        inv.arg(&self.prefix);
        inv
    }
}

fn adapter_prefix(prefix: &str) -> String {
    format!("{prefix}-sio")
}

async fn bounded<T>(op: impl std::future::Future<Output = redis::RedisResult<T>>) -> Result<T, StoreError> {
    match tokio::time::timeout(OP_TIMEOUT, op).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(redis_error(e)),
        Err(_) => Err(StoreError::Unavailable),
    }
}

/// Connection trouble (the node goes on, the client gets an alert and may
/// retry) versus anything else (a bug or a Redis misconfiguration).
fn redis_error(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        StoreError::Unavailable
    } else {
        StoreError::Backend(format!("redis: {e}"))
    }
}

/// Routes what arrives on the connection: invalidations to the membership
/// view (handled here, before any later message on the same connection —
/// so a `kicked` broadcast is never handled before its invalidation), the
/// adapter's channels to their streams. A lost connection sets
/// `unsubscribed`: the beat subscribes everything again and then drops the
/// view, whose invalidations may have been missed (`Cluster::listening`).
fn push_router(
    unsubscribed: Arc<AtomicBool>,
    // The invalidations' channel, and how long a workspace id is.
    (inval, id_len): (String, usize),
    request: String,
    membership: Arc<MembershipCache>,
    handlers: Handlers,
    relays: mpsc::Sender<delivery::Received>,
    loopback: Arc<Loopback>,
) -> impl Fn(PushInfo) -> Result<(), Infallible> + Send + Sync + 'static {
    // Counted for every relay from another node: the handle is looked up once.
    let received = metrics::counter!(telemetry::REDIS_MESSAGES_RECEIVED_TOTAL);
    move |msg: PushInfo| {
        match msg.kind {
            PushKind::Disconnection => {
                unsubscribed.store(true, Ordering::SeqCst);
                tracing::warn!("lost the connection to Redis; reconnecting");
            }
            // Classic channels (invalidations, the adapter's) and rooms' shard channels.
            PushKind::Message | PushKind::SMessage => {
                let mut data = msg.data.into_iter();
                let (Some(chan), Some(payload)) = (data.next(), data.next()) else {
                    return Ok(());
                };
                let (Ok(chan), Ok(payload)) = (
                    redis::from_redis_value::<String>(chan),
                    redis::from_redis_value::<Vec<u8>>(payload),
                ) else {
                    return Ok(());
                };
                if chan == inval {
                    match std::str::from_utf8(&payload)
                        .ok()
                        .and_then(|s| WorkspaceId::parse(s, id_len))
                    {
                        Some(ws) => membership.invalidate(&ws),
                        None => membership.clear(),
                    }
                } else if loopback.is_own(&chan, &payload) {
                    // Our own broadcast, back from Redis: already delivered here.
                } else {
                    let handlers = handlers.read().expect("not poisoned");
                    // The adapter's requests, its rooms' channels (`rooms.rs`)
                    // included, all start with the request channel: they go
                    // through `delivery.rs`, in the order they came.
                    let tx = if chan.starts_with(&request) {
                        Some(&relays)
                    } else {
                        handlers.get(&chan)
                    };
                    if let Some(tx) = tx {
                        received.increment(1);
                        if tx.try_send((chan, payload)).is_err() {
                            metrics::counter!(telemetry::REDIS_MESSAGES_DROPPED_TOTAL).increment(1);
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
