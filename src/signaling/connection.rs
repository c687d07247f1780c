//! A socket's life on the server: admitted (or refused) at connect, its
//! events queued in arrival order and handled one at a time, and its
//! departure handed to presence.
//!
//! socketioxide runs every async handler in a task of its own, so two events
//! of one socket could be handled out of order — and WebRTC signaling is
//! order-sensitive (an ICE candidate must not overtake its offer). So the only
//! message handler is a synchronous one, which socketioxide calls in arrival
//! order; it hands `(event, payload)` to the socket's [`Inbox`], which handles
//! the socket's events one at a time.
//!
//! A signaling server is mostly idle sockets, so an idle socket holds no task
//! and no timer: the drain task is spawned when an event arrives and ends when
//! the queue has stayed empty for [`LINGER`], handing the session back to the
//! inbox (bench/idle-memory.md measures what that saves).
//!
//! Most events need no task at all: an event that finds the socket's queue
//! empty and its session free is handled at once, in the synchronous handler,
//! and with the in-memory store and the local adapter it completes there
//! without ever waiting. Only if it has to wait (Redis, a full store lock) is
//! it moved into a drain task, which the socket's later events queue behind —
//! so the order is the same either way, and a relay costs no task wake-up and
//! no timer (BENCHMARKS.md: the per-event cost against the floor).

use std::collections::VecDeque;
use std::fmt::Display;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::ConnectInfo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::handler::{ConnectHandler, DisconnectHandler, MessageHandler, Value as CoreValue};
use socketioxide::socket::{DisconnectReason, Socket};
use tokio::sync::Notify;

use super::alerts::{self, Alert};
use super::session::{Admission, Session};
use super::{event_counts, payload};
use super::{Ctx, EventName, Rejection};
use crate::app::App;
use crate::limits;
use crate::telemetry;

/// How many events one socket may have waiting before it is told to slow
/// down: this many, or its allowed burst (`event_burst`) if larger, so that
/// a burst the rate allows is never refused because its handling waits (a
/// relay to a full socket waits for room, `slow_clients/sends.rs`).
const MIN_QUEUE_DEPTH: usize = 256;
/// And at most this many bytes of them (names and payloads as sent), which
/// bounds what a socket that floods while its events wait can make the node
/// hold: 2 300 SDP-sized negotiations.
const QUEUE_BYTES: usize = 8 << 20;

/// How long a drain task waits for the socket's next event before it ends.
/// A call's negotiation arrives in bursts; a task spawned per event cost
/// relays a fifth of their throughput (bench/idle-memory.md), and a socket
/// quiet for this long is idle.
const LINGER: Duration = Duration::from_secs(2);

enum Incoming {
    Event(String, Result<payload::Payload, String>),
    Disconnected,
}

impl Incoming {
    /// What it holds in bytes, as far as the queue's bound is concerned.
    fn size(&self) -> usize {
        match self {
            Incoming::Event(name, Ok(payload)) => name.len() + payload.size(),
            Incoming::Event(name, Err(error)) => name.len() + error.len(),
            Incoming::Disconnected => 0,
        }
    }
}

/// The root namespace's connect handler, for any adapter: the code that
/// builds the `SocketIo` (and so picks the adapter) registers it with
/// `io.ns("/", namespace(app))` before the server starts serving.
pub fn namespace(app: Arc<App>) -> Connect {
    Connect { app }
}

/// The namespace's connect handler. Its work runs in the middleware step,
/// which socketioxide awaits before it answers the client's connect: a plain
/// connect handler runs in a task of its own, after the client may already
/// have sent its first event (the library sends `iceservers` at once), and
/// an event that arrives before the handlers are registered is lost.
///
/// The socket only counts as connected (emits succeed) once socketioxide has
/// sent the connect reply, after the middleware; `call` runs then (at once,
/// in the same step) and opens the socket's inbox, which holds events that
/// came before it. The inbox travels from the middleware to `call` in the
/// socket's extensions, so a socket whose connect reply never went out takes
/// it along when it is dropped — no table to clean up, no timer.
#[derive(Clone)]
pub struct Connect {
    app: Arc<App>,
}

type MiddlewareFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Box<dyn Display + Send>>> + Send + 'a>>;

impl<A: Adapter> ConnectHandler<A, Connect> for Connect {
    fn call(&self, socket: Arc<Socket<A>>, _: Option<CoreValue>) {
        if let Some(inbox) = socket.extensions.remove::<Arc<Inbox>>() {
            inbox.open(SocketRef::from(socket));
        }
    }

    fn call_middleware<'a>(&'a self, socket: Arc<Socket<A>>, _: &'a Option<CoreValue>) -> MiddlewareFuture<'a> {
        let accepted = on_connect(SocketRef::from(socket), self.app.clone());
        Box::pin(std::future::ready(accepted))
    }
}

/// Sets the socket up, or refuses it (the client gets a connect error).
fn on_connect<A: Adapter>(socket: SocketRef<A>, app: Arc<App>) -> Result<(), Box<dyn Display + Send>> {
    let ip = peer_ip(&socket, &app);
    tracing::debug!(sid = %socket.id, %ip, protocol = ?socket.protocol(), transport = ?socket.transport_type(), "connected");
    let Some(slot) = app.limits.connect(ip) else {
        tracing::info!(%ip, "connection refused: too many connections from this address");
        metrics::counter!(telemetry::CONNECTIONS_REFUSED_TOTAL).increment(1);
        return Err(Box::new(limits::TOO_MANY_CONNECTIONS));
    };
    let session = Session::new(ip, slot, &app.settings.limits);
    let inbox = Arc::new(Inbox::new(app, session));
    socket.on_fallback(Enqueue(inbox.clone()));
    socket.on_disconnect(Depart(inbox.clone()));
    socket.extensions.insert(inbox);
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
/// arrival order, for every event; it decodes and hands over to the inbox.
struct Enqueue(Arc<Inbox>);

impl<A: Adapter> MessageHandler<A, Enqueue> for Enqueue {
    fn call(&self, s: Arc<Socket<A>>, mut v: CoreValue, ack_id: Option<i64>) {
        let Some((name, data)) = payload::decode_event(&s, &mut v, &ack_id) else {
            tracing::debug!(sid = %s.id, "event without a name ignored");
            return;
        };
        if !self.0.push_event(SocketRef::from(s.clone()), name, data) {
            if let Err(e) = s.emit("alert", Alert::Busy.text()) {
                tracing::debug!(sid = %s.id, error = %e, "could not tell a flooding socket to slow down");
            }
        }
    }
}

/// The socket's disconnect handler: synchronous, so a departure costs no
/// task of its own (socketioxide spawns one for an async handler).
struct Depart(Arc<Inbox>);

impl<A: Adapter> DisconnectHandler<A, Depart> for Depart {
    fn call_with_defer(&self, s: Arc<Socket<A>>, _: DisconnectReason, defer: fn(Arc<Socket<A>>)) {
        self.0.push(SocketRef::from(s.clone()), Incoming::Disconnected);
        defer(s);
    }
}

/// A socket's events waiting to be handled, and the session that handles
/// them while no drain task holds it.
struct Inbox {
    app: Arc<App>,
    /// How many events may wait ([`MIN_QUEUE_DEPTH`]).
    depth: usize,
    state: Mutex<InboxState>,
    /// Wakes a lingering drain task.
    more: Notify,
}

struct InboxState {
    /// Empty (and unallocated) while the socket is idle.
    queue: VecDeque<Incoming>,
    /// The sum of the queue's sizes.
    bytes: usize,
    /// `Some` while no drain task runs; taken by the task that starts.
    session: Option<Session>,
    /// Set once the connect reply went out: events before it wait.
    open: bool,
}

impl Inbox {
    fn new(app: Arc<App>, session: Session) -> Inbox {
        let depth = MIN_QUEUE_DEPTH.max(app.settings.limits.event_burst.ceil() as usize);
        Inbox {
            app,
            depth,
            state: Mutex::new(InboxState {
                queue: VecDeque::new(),
                bytes: 0,
                session: Some(session),
                open: false,
            }),
            more: Notify::new(),
        }
    }

    /// The connect reply went out: handle what came before it.
    fn open<A: Adapter>(self: &Arc<Self>, socket: SocketRef<A>) {
        let start = {
            let mut st = self.state.lock().unwrap();
            st.open = true;
            if st.queue.is_empty() {
                None
            } else {
                st.session.take()
            }
        };
        if let Some(session) = start {
            tokio::spawn(drain(self.clone(), socket, session));
        }
    }

    /// Handles an event at once if nothing is ahead of it, else queues it
    /// (false when the queue is full: the event is dropped).
    fn push_event<A: Adapter>(
        self: &Arc<Self>,
        socket: SocketRef<A>,
        name: String,
        data: Result<payload::Payload, String>,
    ) -> bool {
        let free = {
            let mut st = self.state.lock().unwrap();
            if st.open && st.queue.is_empty() {
                st.session.take()
            } else {
                None
            }
        };
        match free {
            Some(session) => {
                self.handle_now(socket, session, name, data);
                true
            }
            None => self.push(socket, Incoming::Event(name, data)),
        }
    }

    /// Runs one event's handler until it completes or first has to wait; one
    /// that has to wait finishes in a drain task, which then handles whatever
    /// queued behind it. A departure is never handled here: it can arrive
    /// inside another socket's handler (a kick), which may hold the store.
    fn handle_now<A: Adapter>(
        self: &Arc<Self>,
        socket: SocketRef<A>,
        mut session: Session,
        name: String,
        data: Result<payload::Payload, String>,
    ) {
        let app = self.app.clone();
        let mut run = Box::pin(async move {
            handle(&app, &socket, &mut session, name, data).await;
            (socket, session)
        });
        // Polling with a waker that does nothing is sound: a future that is
        // pending gets polled again at once by its drain task, with that
        // task's waker, before anything can depend on the first one.
        match run.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready((socket, session)) => {
                if let Some(session) = self.park(session) {
                    // Something queued meanwhile (a departure): drain it.
                    tokio::spawn(drain(self.clone(), socket, session));
                }
            }
            Poll::Pending => {
                let inbox = self.clone();
                tokio::spawn(async move {
                    let (socket, session) = run.await;
                    drain(inbox, socket, session).await;
                });
            }
        }
    }

    /// Queues an event (false when the queue is full: the event is dropped)
    /// and starts a drain task unless one runs or the socket is not open yet.
    /// A departure is always queued.
    fn push<A: Adapter>(self: &Arc<Self>, socket: SocketRef<A>, incoming: Incoming) -> bool {
        let start = {
            let mut st = self.state.lock().unwrap();
            let size = incoming.size();
            if matches!(incoming, Incoming::Event(..))
                && (st.queue.len() >= self.depth || st.bytes + size > QUEUE_BYTES)
            {
                return false;
            }
            st.bytes += size;
            st.queue.push_back(incoming);
            if st.open {
                st.session.take().ok_or(())
            } else {
                Err(())
            }
        };
        match start {
            Ok(session) => drop(tokio::spawn(drain(self.clone(), socket, session))),
            // A drain task runs (or the socket is not open yet): wake it if it lingers.
            Err(()) => self.more.notify_one(),
        }
        true
    }

    fn pop(&self) -> Option<Incoming> {
        let mut st = self.state.lock().unwrap();
        let incoming = st.queue.pop_front()?;
        st.bytes -= incoming.size();
        Some(incoming)
    }

    /// Hands the session back and frees the queue's memory, unless an event
    /// came in meanwhile: then the session is returned, to keep draining.
    fn park(&self, session: Session) -> Option<Session> {
        let mut st = self.state.lock().unwrap();
        if !st.queue.is_empty() {
            return Some(session);
        }
        st.queue = VecDeque::new();
        st.session = Some(session);
        None
    }
}

/// Handles the socket's queued events in order, until the queue has stayed
/// empty for [`LINGER`] or the socket has gone.
async fn drain<A: Adapter>(inbox: Arc<Inbox>, socket: SocketRef<A>, mut session: Session) {
    let app = inbox.app.clone();
    loop {
        let Some(incoming) = inbox.pop() else {
            if tokio::time::timeout(LINGER, inbox.more.notified()).await.is_ok() {
                continue;
            }
            match inbox.park(session) {
                None => return,
                Some(kept) => {
                    session = kept;
                    continue;
                }
            }
        };
        match incoming {
            Incoming::Event(name, data) => handle(&app, &socket, &mut session, name, data).await,
            Incoming::Disconnected => {
                tracing::debug!(sid = %socket.id, "socket gone");
                session.disconnected(&app, socket.id);
                return;
            }
        }
    }
}

/// One event, admitted against the socket's rate and dispatched.
async fn handle<A: Adapter>(
    app: &Arc<App>,
    socket: &SocketRef<A>,
    session: &mut Session,
    name: String,
    data: Result<payload::Payload, String>,
) {
    match session.admit(&app.settings.limits) {
        Admission::Run => {}
        Admission::Refused => {
            alerts::answer(&Rejection::Alert(Alert::RateLimited), socket);
            return;
        }
        Admission::Disconnect => {
            tracing::info!(sid = %socket.id, ip = %session.ip, "disconnected: kept flooding past the event rate");
            let _ = socket.clone().disconnect();
            return;
        }
    }
    tracing::trace!(sid = %socket.id, event = %name, payload = ?data, "event");
    let mut ctx = Ctx { app, socket, session };
    let refused = match ctx.handle(&name, data).await {
        Ok(()) => None,
        Err(rejection) => {
            tracing::debug!(sid = %socket.id, event = %name, ?rejection, "event refused");
            alerts::answer(&rejection, socket);
            Some(rejection.event())
        }
    };
    event_counts::count(EventName::from_wire(&name), refused);
}
