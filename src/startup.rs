//! The composition root: opens the store, binds the listeners, builds the
//! App and wires Socket.IO, HTTP and the background tasks together; and the
//! drain that takes them apart again on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use socketioxide::SocketIo;
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{App, Backends};
use crate::cluster::{self, Cluster, ClusterDriver, RedisStore};
use crate::hub::Hub;
use crate::limits::LocalCounters;
use crate::presence::LocalPresence;
use crate::settings::{MetricsEndpoint, OperatorEndpoint, Settings};
use crate::slow_clients::connections::{self, Connections};
use crate::store::{self, FileStore, MemoryStore, Store};
use crate::tls::{self, CertFiles, Tls};
use crate::{http, signaling, telemetry};

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] store::file::LoadError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
    #[error("REDIS_URL: the Socket.IO adapter could not subscribe in Redis: {0}")]
    Adapter(String),
}

/// How long open HTTP requests may take to finish once every socket is closed.
const HTTP_DRAIN: Duration = Duration::from_secs(2);

/// A running server: its bound address and a way to stop it.
pub struct Server {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    operator_addr: Option<SocketAddr>,
    app: Arc<App>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
    background: Vec<JoinHandle<()>>,
    tls: Option<Arc<Tls>>,
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    Ok((listener, bound))
}

fn spawn_http(
    listener: TcpListener,
    router: axum::Router,
    stop: &watch::Sender<bool>,
    connections: &Connections,
) -> JoinHandle<std::io::Result<()>> {
    let mut stopped = stop.subscribe();
    let listener = connections::Listener {
        tcp: listener,
        connections: connections.clone(),
    };
    tokio::spawn(async move {
        // Through `tap_io` (which does nothing) axum gives the handlers the peer's address.
        let listener = axum::serve::ListenerExt::tap_io(listener, |_| {});
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
    })
}

fn spawn_https(
    listener: TcpListener,
    router: axum::Router,
    stop: &watch::Sender<bool>,
    tls: &Tls,
    connections: &Connections,
) -> JoinHandle<std::io::Result<()>> {
    let handle = axum_server::Handle::new();
    let mut stopped = stop.subscribe();
    let on_stop = handle.clone();
    tokio::spawn(async move {
        let _ = stopped.wait_for(|s| *s).await;
        on_stop.graceful_shutdown(None);
    });
    let config = tls.config();
    let first = connections::Acceptor(connections.clone());
    tokio::spawn(async move {
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config).acceptor(first);
        axum_server::from_tcp(listener.into_std()?)
            .acceptor(acceptor)
            .handle(handle)
            .serve(router.into_make_service_with_connect_info::<SocketAddr>())
            .await
    })
}

/// Opens the store (in cluster mode: connects to Redis), binds the
/// listeners, registers the Socket.IO namespace and starts serving.
pub async fn serve(settings: Settings) -> Result<Server, ServeError> {
    telemetry::recorder();
    let tls = match CertFiles::from_settings(&settings.https).filter(|_| settings.enable_https) {
        Some(files) => Some(Arc::new(Tls::new(files)?)),
        None => None,
    };
    let cluster = match &settings.redis_url {
        Some(url) => Some(Cluster::connect(&settings, url).await?),
        None => None,
    };
    let (store, imported_from_original): (Arc<dyn Store>, bool) = match (&cluster, &settings.json_storage_file) {
        (Some(c), file) => {
            if file.is_some() {
                tracing::warn!("json_storage_file is not used in cluster mode: the workspaces live in Redis");
            }
            (Arc::new(RedisStore(c.clone())), false)
        }
        (None, Some(path)) => {
            let file = FileStore::open(path, settings.flush_window, settings.workspace_id_len)?;
            let imported = file.imported_from_original();
            (Arc::new(file), imported)
        }
        (None, None) => (Arc::new(MemoryStore::new()), false),
    };
    let legacy_tokens = settings.legacy_tokens.enabled(imported_from_original);
    if legacy_tokens {
        tracing::info!("tokens signed by the original server are accepted (legacy_tokens); grants hand out ours");
    }
    let (listener, addr) = bind(SocketAddr::new(settings.host, settings.port)).await?;
    let metrics_listener = match settings.metrics {
        MetricsEndpoint::Separate(a) => Some(bind(a).await?),
        _ => None,
    };
    let operator_listener = match (&settings.operator, &settings.operator_api_keys) {
        (OperatorEndpoint::Separate(a), Some(_)) => Some(bind(*a).await?),
        _ => None,
    };

    let max_payload = settings.max_payload_bytes;
    let builder = SocketIo::builder()
        .ping_interval(settings.ping_interval)
        .ping_timeout(settings.ping_timeout)
        .max_payload(max_payload)
        .ws_max_message_size(max_payload as usize)
        .ws_max_frame_size(max_payload as usize)
        // tungstenite reads at most this many bytes per read call, into a
        // buffer of this first size (`in_buffer`) that every socket holds from
        // its first byte on. 1024 saved 2.5 KB per idle socket but took four
        // read calls per 3.6 KB SDP, a fifth of a negotiation relay's CPU; the
        // default 4096 reads a whole SDP at once (BENCHMARKS.md).
        .ws_read_buffer_size(settings.ws_read_buffer_bytes);
    // `max_buffer_size` (the per-socket outgoing packet queue) stays at its
    // default of 128 on purpose: tokio allocates the queue's first block of 32
    // slots (4.3 KB) whatever the bound, so a smaller bound saves nothing at
    // idle and only drops more messages to a briefly slow client.
    let listening = Listening {
        listener,
        addr,
        metrics_listener,
        operator_listener,
        tls,
    };
    match cluster {
        None => {
            let (layer, io) = builder.build_layer();
            let hub: Arc<dyn Hub> = Arc::new(io.clone());
            let (presence, due) = LocalPresence::new(hub.clone(), settings.presence_grace);
            let sweep = tokio::spawn(presence.clone().sweep_expired(store.clone(), settings.workspace_expiry));
            let backends = Backends {
                counters: Arc::new(LocalCounters::new(&settings.limits)),
                store,
                presence,
            };
            let app = Arc::new(App::new(settings, backends, hub, legacy_tokens));
            io.ns("/", signaling::namespace(app.clone()));
            let applied = tokio::spawn(signaling::apply_due(app.clone(), due));
            Ok(start(app, layer, listening, vec![sweep, applied]))
        }
        Some(cluster) => {
            let config = RedisAdapterConfig::new()
                .with_prefix(cluster.adapter_prefix())
                .with_request_timeout(Duration::from_secs(2));
            let adapter = RedisAdapterCtr::new_with_driver(cluster.driver(), config);
            let (layer, io) = builder
                .with_adapter::<CustomRedisAdapter<_, ClusterDriver>>(adapter)
                .build_layer();
            let hub: Arc<dyn Hub> = Arc::new(io.clone());
            let backends = Backends {
                store,
                presence: cluster.clone(),
                counters: cluster.clone(),
            };
            let app = Arc::new(App::new(settings, backends, hub.clone(), legacy_tokens));
            io.ns("/", signaling::namespace(app.clone()))
                .await
                .map_err(|e| ServeError::Adapter(e.to_string()))?;
            tokio::spawn(cluster.deliver_relays(io.clone(), app.settings.stalled_socket_timeout));
            let (found, due) = tokio::sync::mpsc::unbounded_channel();
            let beats = tokio::spawn(cluster::run_presence(cluster, hub, found));
            let applied = tokio::spawn(signaling::apply_due(app.clone(), due));
            Ok(start(app, layer, listening, vec![beats, applied]))
        }
    }
}

/// What `serve` bound before it knew the adapter.
struct Listening {
    listener: TcpListener,
    addr: SocketAddr,
    metrics_listener: Option<(TcpListener, SocketAddr)>,
    operator_listener: Option<(TcpListener, SocketAddr)>,
    tls: Option<Arc<Tls>>,
}

/// Starts the HTTP service(s) around the Socket.IO layer, whatever its adapter.
fn start<L>(app: Arc<App>, layer: L, listening: Listening, mut background: Vec<JoinHandle<()>>) -> Server
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service:
        tower::Service<axum::extract::Request, Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Response: axum::response::IntoResponse + 'static,
    <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
{
    let Listening {
        listener,
        addr,
        metrics_listener,
        operator_listener,
        tls,
    } = listening;
    let (stop, _) = watch::channel(false);
    // Outside the Socket.IO layer, so the head it keeps per socket is an owned copy.
    let layer = tower::ServiceBuilder::new()
        .map_request(http::owned_head as fn(axum::extract::Request) -> axum::extract::Request)
        .layer(layer);
    let router = http::router(app.clone(), layer);
    let connections = Connections::default();
    let stalled = app.settings.stalled_socket_timeout;
    if !stalled.is_zero() {
        // Not in `background`: the drain's `io.close()` waits for every socket,
        // a stalled one too, so this must keep cutting until the listeners are gone.
        tokio::spawn(connections.clone().cut_stalled(stalled));
    }
    let mut tasks = vec![match &tls {
        Some(tls) => {
            background.push(tokio::spawn(tls.clone().watch(app.settings.tls_reload_check)));
            spawn_https(listener, router, &stop, tls, &connections)
        }
        None => spawn_http(listener, router, &stop, &connections),
    }];
    let metrics_addr = metrics_listener.map(|(listener, addr)| {
        tasks.push(spawn_http(
            listener,
            http::metrics_router(app.clone()),
            &stop,
            &connections,
        ));
        addr
    });
    let operator_addr = operator_listener.and_then(|(listener, addr)| {
        let api = http::api::router(app.clone())?;
        tasks.push(spawn_http(listener, api, &stop, &connections));
        Some(addr)
    });
    Server {
        addr,
        metrics_addr,
        operator_addr,
        app,
        stop,
        tasks,
        background,
        tls,
    }
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` listens when it has a listener of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Where the operator API listens when it has a listener of its own.
    pub fn operator_addr(&self) -> Option<SocketAddr> {
        self.operator_addr
    }

    /// `https` or `http`, for the banner.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The live TLS configuration, to reload on SIGHUP; None without HTTPS.
    pub fn tls(&self) -> Option<Arc<Tls>> {
        self.tls.clone()
    }

    /// Drains: `/health` turns 503, no new connections are accepted, every
    /// socket is closed (clients see a disconnect), the store is flushed.
    /// Bounded by `shutdown_timeout`.
    pub async fn shutdown(self) -> Result<(), ShutdownError> {
        let timeout = self.app.settings.shutdown_timeout;
        tokio::time::timeout(timeout, self.drain())
            .await
            .map_err(|_| ShutdownError::Timeout(timeout))?
    }

    async fn drain(self) -> Result<(), ShutdownError> {
        self.app.start_draining();
        for task in &self.background {
            task.abort();
        }
        let _ = self.stop.send(true);
        self.app.io.close().await;
        self.app
            .workspaces
            .store()
            .flush()
            .await
            .map_err(ShutdownError::Flush)?;
        // What this node held starts its grace now, not when its heartbeat expires.
        self.app.presence.sign_off().await;
        // Every socket is closed; what can still hold a listener open is an
        // Engine.IO long-poll whose Socket.IO socket already left. Give such
        // requests a moment, then cut them.
        for mut task in self.tasks {
            match tokio::time::timeout(HTTP_DRAIN, &mut task).await {
                Ok(finished) => finished.unwrap_or_else(|e| Err(std::io::Error::other(e)))?,
                Err(_) => {
                    tracing::info!("closing HTTP connections still open after the drain period");
                    task.abort();
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Error)]
pub enum ShutdownError {
    #[error("shutdown took longer than {0:?}")]
    Timeout(Duration),
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("could not flush the store: {0}")]
    Flush(store::StoreError),
}
