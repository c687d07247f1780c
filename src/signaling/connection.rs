//! A socket's life on the server: admitted (or refused) at connect, its
//! events queued in arrival order and handled one at a time by its own loop,
//! and its departure handed to presence.
//!
//! socketioxide runs every async handler in a task of its own, so two events
//! of one socket could be handled out of order — and WebRTC signaling is
//! order-sensitive (an ICE candidate must not overtake its offer). So the only
//! message handler is a synchronous one that queues `(event, payload)` on the
//! socket's loop.

use std::fmt::Display;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use dashmap::DashMap;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::handler::{ConnectHandler, MessageHandler, Value as CoreValue};
use socketioxide::socket::{Sid, Socket};
use tokio::sync::{mpsc, oneshot};

use super::alerts::Alert;
use super::grace;
use super::payload;
use super::session::{Admission, Session};
use super::{Ctx, EventName, Rejection};
use crate::app::App;
use crate::limits;

/// How many events one socket may have waiting before it is told to slow down.
const QUEUE_DEPTH: usize = 256;

enum Incoming {
    Event(String, Result<payload::Payload, String>),
    Disconnected,
}

/// The root namespace's connect handler, for any adapter: the code that
/// builds the `SocketIo` (and so picks the adapter) registers it with
/// `io.ns("/", namespace(app))` before the server starts serving.
pub fn namespace(app: Arc<App>) -> Connect {
    Connect {
        app,
        connecting: Arc::new(DashMap::new()),
    }
}

/// The namespace's connect handler. Its work runs in the middleware step,
/// which socketioxide awaits before it answers the client's connect: a plain
/// connect handler runs in a task of its own, after the client may already
/// have sent its first event (the library sends `iceservers` at once), and
/// an event that arrives before the handlers are registered is lost.
///
/// The socket only counts as connected (emits succeed) once socketioxide has
/// sent the connect reply, after the middleware; `call` runs then and
/// releases the socket's event loop, which holds queued events until it does.
#[derive(Clone)]
pub struct Connect {
    app: Arc<App>,
    connecting: Arc<DashMap<Sid, oneshot::Sender<()>>>,
}

/// How long a socket's event loop waits for the connect to complete.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

type MiddlewareFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Box<dyn Display + Send>>> + Send + 'a>>;

impl<A: Adapter> ConnectHandler<A, Connect> for Connect {
    fn call(&self, socket: Arc<Socket<A>>, _: Option<CoreValue>) {
        if let Some((_, connected)) = self.connecting.remove(&socket.id) {
            let _ = connected.send(());
        }
    }

    fn call_middleware<'a>(&'a self, socket: Arc<Socket<A>>, _: &'a Option<CoreValue>) -> MiddlewareFuture<'a> {
        let (connected, ready) = oneshot::channel();
        let accepted = on_connect(SocketRef::from(socket.clone()), self.app.clone(), ready);
        if accepted.is_ok() {
            self.connecting.insert(socket.id, connected);
            let connecting = self.connecting.clone();
            let sid = socket.id;
            // If the connect reply never goes out, `call` never runs: forget the socket.
            tokio::spawn(async move {
                tokio::time::sleep(CONNECT_TIMEOUT).await;
                connecting.remove(&sid);
            });
        }
        Box::pin(std::future::ready(accepted))
    }
}

/// Sets the socket up, or refuses it (the client gets a connect error).
fn on_connect<A: Adapter>(
    socket: SocketRef<A>,
    app: Arc<App>,
    ready: oneshot::Receiver<()>,
) -> Result<(), Box<dyn Display + Send>> {
    let ip = peer_ip(&socket, &app);
    tracing::debug!(sid = %socket.id, %ip, protocol = ?socket.protocol(), transport = ?socket.transport_type(), "connected");
    let Some(slot) = app.limits.connect(ip) else {
        tracing::info!(%ip, "connection refused: too many connections from this address");
        metrics::counter!("wrw_connections_refused_total").increment(1);
        return Err(Box::new(limits::TOO_MANY_CONNECTIONS));
    };
    let session = Session::new(ip, slot, &app.settings.limits);
    let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
    socket.on_fallback(Enqueue(tx.clone()));
    socket.on_disconnect(move || {
        let tx = tx.clone();
        async move {
            let _ = tx.send(Incoming::Disconnected).await;
        }
    });
    tokio::spawn(async move {
        if ready.await.is_ok() {
            event_loop(socket, app, session, rx).await;
        }
    });
    Ok(())
}

/// The client's address: the TCP peer, or X-Forwarded-For behind a trusted proxy.
fn peer_ip<A: Adapter>(socket: &SocketRef<A>, app: &App) -> IpAddr {
    let parts = socket.req_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let forwarded = parts.headers.get("x-forwarded-for").and_then(|h| h.to_str().ok());
    limits::client_ip(peer, forwarded, &app.settings.limits.trusted_proxies)
}

/// The socket's only message handler. socketioxide calls it synchronously, in
/// arrival order, for every event; it only decodes and queues.
struct Enqueue(mpsc::Sender<Incoming>);

impl<A: Adapter> MessageHandler<A, Enqueue> for Enqueue {
    fn call(&self, s: Arc<Socket<A>>, mut v: CoreValue, ack_id: Option<i64>) {
        let Some((name, data)) = payload::decode_event(&s, &mut v, &ack_id) else {
            tracing::debug!(sid = %s.id, "event without a name ignored");
            return;
        };
        if self.0.try_send(Incoming::Event(name, data)).is_err() {
            if let Err(e) = s.emit("alert", Alert::Busy.text()) {
                tracing::debug!(sid = %s.id, error = %e, "could not tell a flooding socket to slow down");
            }
        }
    }
}

async fn event_loop<A: Adapter>(
    socket: SocketRef<A>,
    app: Arc<App>,
    mut session: Session,
    mut rx: mpsc::Receiver<Incoming>,
) {
    while let Some(incoming) = rx.recv().await {
        let Incoming::Event(name, data) = incoming else {
            break;
        };
        match session.admit(&app.settings.limits) {
            Admission::Run => {}
            Admission::Refused => {
                Rejection::Alert(Alert::RateLimited).send_to(&socket);
                continue;
            }
            Admission::Disconnect => {
                tracing::info!(sid = %socket.id, ip = %session.ip, "disconnected: kept flooding past the event rate");
                let _ = socket.clone().disconnect();
                continue;
            }
        }
        tracing::trace!(sid = %socket.id, event = %name, payload = ?data, "event");
        let mut ctx = Ctx {
            app: &app,
            socket: &socket,
            session: &mut session,
        };
        let outcome = match ctx.handle(&name, data).await {
            Ok(()) => "ok",
            Err(rejection) => {
                tracing::debug!(sid = %socket.id, event = %name, ?rejection, "event refused");
                rejection.send_to(&socket);
                rejection.event()
            }
        };
        // Known names only, so a client cannot grow the label set.
        let label = EventName::from_wire(&name).map(EventName::wire).unwrap_or("unknown");
        metrics::counter!("wrw_events_total", "event" => label, "outcome" => outcome).increment(1);
    }
    tracing::debug!(sid = %socket.id, "event loop ended");
    grace::disconnected(&app, socket.id, session);
}
