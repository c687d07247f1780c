//! The server's TCP connections, each of which can be cut when its client
//! has stopped reading: a write that has been waiting for the client's TCP
//! window for `stalled_socket_timeout_ms` ends the connection.
//!
//! It has to happen here, below Engine.IO: socketioxide closes a socket by
//! queueing a disconnect packet, which fails exactly when the queue is full,
//! and Engine.IO's own close (its heartbeat's) never completes while its
//! WebSocket writer is blocked on such a connection, so the socket would
//! stay in its rooms for as long as the client keeps its window shut. A cut
//! makes the connection's reads and writes fail, which ends the session the
//! way a network error does; the client sees its connection drop and
//! reconnects. Being about connections, not messages, the rule holds for
//! every socket of this node whichever node sent to it (cluster mode).
//!
//! What a connection costs: one registry entry while it is open; each read
//! or write checks one atomic flag, a write compares one bool, and only a
//! write that starts or stops waiting stores a timestamp.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::telemetry::STALLED_CONNECTIONS_CUT_TOTAL;

/// The open connections of one server.
#[derive(Clone, Default)]
pub struct Connections(Arc<Registry>);

#[derive(Default)]
struct Registry {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Switch>>>,
}

struct Switch {
    peer: SocketAddr,
    cut: AtomicBool,
    /// When the write now waiting started to wait ([`now_ms`]); 0: none waits.
    write_waiting_since: AtomicU64,
    /// Reads and writes of an upgraded connection are polled by different tasks.
    reader: AtomicWaker,
    writer: AtomicWaker,
}

/// Milliseconds since the first call, from 1 (0 means "not waiting").
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

impl Connections {
    fn open(&self, inner: TcpStream, peer: SocketAddr) -> Severable<TcpStream> {
        // Signaling messages are small and latency-bound: no Nagle delay.
        let _ = inner.set_nodelay(true);
        let switch = Arc::new(Switch {
            peer,
            cut: AtomicBool::new(false),
            write_waiting_since: AtomicU64::new(0),
            reader: AtomicWaker::new(),
            writer: AtomicWaker::new(),
        });
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        self.0.open.lock().unwrap().insert(id, switch.clone());
        Severable {
            inner,
            id,
            registry: self.0.clone(),
            switch,
            write_waiting: false,
        }
    }

    /// Cuts, every so often, the connections whose write has waited `after`
    /// or longer; ends with the server (when its listeners are gone).
    pub async fn cut_stalled(self, after: Duration) {
        let registry = Arc::downgrade(&self.0);
        drop(self);
        let period = (after / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(registry) = Weak::upgrade(&registry) else {
                return;
            };
            registry.cut_stalled(now_ms(), after.as_millis() as u64);
        }
    }
}

impl Registry {
    fn cut_stalled(&self, now: u64, after_ms: u64) {
        for switch in self.open.lock().unwrap().values() {
            let since = switch.write_waiting_since.load(Ordering::Relaxed);
            if since != 0 && now.saturating_sub(since) >= after_ms && !switch.cut.swap(true, Ordering::AcqRel) {
                switch.reader.wake();
                switch.writer.wake();
                metrics::counter!(STALLED_CONNECTIONS_CUT_TOTAL).increment(1);
                tracing::warn!(
                    peer = %switch.peer,
                    stalled_ms = now - since,
                    "disconnected a client that stopped reading (nothing it was sent got through)"
                );
            }
        }
    }
}

/// A connection that [`Connections::cut_stalled`] can end.
pub struct Severable<S> {
    inner: S,
    id: u64,
    registry: Arc<Registry>,
    switch: Arc<Switch>,
    /// Mirrors `write_waiting_since != 0`, so that a write that does not wait stores nothing.
    write_waiting: bool,
}

impl<S> Drop for Severable<S> {
    fn drop(&mut self) {
        self.registry.open.lock().unwrap().remove(&self.id);
    }
}

fn severed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut by the server: the client stopped reading",
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Read,
    Write,
}

impl<S: Unpin> Severable<S> {
    /// Polls `op` unless the connection is cut; a waiting `op` also waits for the cut.
    fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        side: Side,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if self.switch.cut.load(Ordering::Acquire) {
            return Poll::Ready(Err(severed()));
        }
        let polled = op(Pin::new(&mut self.inner), cx);
        if side == Side::Write && polled.is_pending() != self.write_waiting {
            self.write_waiting = polled.is_pending();
            let since = if self.write_waiting { now_ms() } else { 0 };
            self.switch.write_waiting_since.store(since, Ordering::Relaxed);
        }
        if polled.is_ready() {
            return polled;
        }
        let waker = match side {
            Side::Read => &self.switch.reader,
            Side::Write => &self.switch.writer,
        };
        waker.register(cx.waker());
        // A cut between the first check and the registration must not be missed.
        if self.switch.cut.load(Ordering::Acquire) {
            return Poll::Ready(Err(severed()));
        }
        Poll::Pending
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Severable<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll(cx, Side::Read, |s, cx| s.poll_read(cx, buf))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Severable<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll(cx, Side::Write, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll(cx, Side::Write, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll(cx, Side::Write, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A cut connection may still be shut down: that is how it ends.
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The plain HTTP listener, handing out [`Severable`] connections.
pub struct Listener {
    pub tcp: TcpListener,
    pub connections: Connections,
}

impl axum::serve::Listener for Listener {
    type Io = Severable<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (tcp, peer) = axum::serve::Listener::accept(&mut self.tcp).await;
        (self.connections.open(tcp, peer), peer)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The first step of the HTTPS acceptor (TLS runs on top of it).
#[derive(Clone)]
pub struct Acceptor(pub Connections);

impl<S: Send + 'static> axum_server::accept::Accept<TcpStream, S> for Acceptor {
    type Stream = Severable<TcpStream>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(stream.peer_addr().map(|peer| (self.0.open(stream, peer), service)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn pair(connections: &Connections) -> (Severable<TcpStream>, TcpStream) {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let client = tokio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
        let mut listener = Listener {
            tcp,
            connections: connections.clone(),
        };
        let (conn, _) = axum::serve::Listener::accept(&mut listener).await;
        (conn, client.await.unwrap())
    }

    #[tokio::test]
    async fn a_write_the_client_does_not_read_is_cut_and_a_read_one_is_not() {
        let connections = Connections::default();
        let (mut stalled, _not_reading) = pair(&connections).await;
        let (mut healthy, mut reading) = pair(&connections).await;
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 1 << 16];
            while reading.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        });
        let sweeper = tokio::spawn(connections.clone().cut_stalled(Duration::from_millis(200)));

        let chunk = vec![7u8; 1 << 16];
        let stalled_writes = tokio::spawn(async move {
            loop {
                if let Err(e) = stalled.write_all(&chunk).await {
                    return e.kind();
                }
            }
        });
        let kind = tokio::time::timeout(Duration::from_secs(10), stalled_writes)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kind, io::ErrorKind::ConnectionAborted);
        // The same time and more again, writing to a client that reads: never cut.
        for _ in 0..8 {
            healthy.write_all(&[1u8; 1 << 16]).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            connections.0.open.lock().unwrap().len(),
            1,
            "the cut connection left the registry"
        );
        drop(healthy);
        reader.await.unwrap();
        drop(connections);
        tokio::time::timeout(Duration::from_secs(5), sweeper)
            .await
            .unwrap()
            .unwrap();
    }
}
