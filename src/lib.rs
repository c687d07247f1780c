//! The webRTCWorkspaces signaling server as a library: `serve` is the one
//! entry point, used by the binary and by the tests alike.

pub mod app;
pub mod http;
pub mod ice;
pub mod model;
pub mod settings;
pub mod signaling;
pub mod store;
pub mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use socketioxide::SocketIo;
use thiserror::Error;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use app::App;
use settings::Settings;
use store::MemoryStore;

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("ENABLE_HTTPS is set, but this build serves plain HTTP only; terminate TLS in front of it or unset ENABLE_HTTPS")]
    HttpsUnsupported,
}

/// A running server: its bound address and a way to stop it.
pub struct Server {
    addr: SocketAddr,
    io: SocketIo,
    app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Binds the listener, registers the Socket.IO namespace and starts serving.
pub async fn serve(settings: Settings) -> Result<Server, ServeError> {
    if settings.enable_https {
        return Err(ServeError::HttpsUnsupported);
    }
    let addr = SocketAddr::new(settings.host, settings.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;

    let max_payload = settings.max_payload_bytes;
    let (layer, io) = SocketIo::builder()
        .ping_interval(settings.ping_interval)
        .ping_timeout(settings.ping_timeout)
        .max_payload(max_payload)
        .ws_max_message_size(max_payload as usize)
        .ws_max_frame_size(max_payload as usize)
        .build_layer();
    let app = Arc::new(App::new(settings, Arc::new(MemoryStore::new())));
    signaling::register(&io, app.clone());
    let router = http::router(app.clone(), layer);

    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Server {
        addr,
        io,
        app,
        stop: Some(stop),
        task,
    })
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Stops accepting, closes every socket (clients see a disconnect) and
    /// waits for the listener to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.io.close().await;
        self.task
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}
