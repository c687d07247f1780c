//! A raw Socket.IO (Engine.IO 4) client over a WebSocket: frames as text.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long `next_text` waits for a frame.
pub const FRAME_BOUND: Duration = Duration::from_secs(3);

/// A socket connected to the default namespace.
pub async fn connect(addr: SocketAddr) -> Ws {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
    next_text(&mut ws).await.expect("engine.io open");
    ws.send(Message::text("40")).await.expect("connect");
    let connected = next_text(&mut ws).await.expect("socket.io connect");
    assert!(connected.starts_with("40"), "{connected}");
    ws
}

/// The next text frame, answering pings; None after `FRAME_BOUND` or when closed.
pub async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        let msg = tokio::time::timeout(FRAME_BOUND, ws.next()).await.ok()??.ok()?;
        if let Message::Text(t) = msg {
            if t.as_str() == "2" {
                ws.send(Message::text("3")).await.ok()?;
                continue;
            }
            return Some(t.to_string());
        }
    }
}
