//! The floor: what the socketioxide + axum stack costs with no auth and no
//! state, for `bench/run.sh` to compare the real server against.
//!
//! It answers `create` / `attend` with the real server's reply shapes (ids
//! and opaque tokens that look the part), joins each socket to a room named
//! after its workspace id and one named after its attendee id, forwards
//! `negotiation`, `icecandidate`, `ring` and `answer` to the target's room
//! and broadcasts `mic-toggle` / `cam-toggle` to the workspace room. Nothing
//! is checked, nothing is remembered. Handlers are synchronous, so events of
//! one socket are handled in order, like the real server does.
//!
//! Takes PORT from the environment and host / ping_interval_secs /
//! ping_timeout_secs / max_payload_bytes from ./config.js.toml (other keys
//! ignored); prints `listening on http://IP:PORT`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use futures_util::FutureExt;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Event, SocketRef, TryData};
use socketioxide::handler::{FromMessageParts, MessageHandler, Value as CoreValue};
use socketioxide::socket::Socket;
use socketioxide::SocketIo;

fn random_id() -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(10)
        .map(char::from)
        .collect();
    format!("_{tail}")
}

fn random_text(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn take(v: &mut Value, key: &str) -> Value {
    v.get_mut(key).map(Value::take).unwrap_or(Value::Null)
}

fn nonce(v: &Value) -> Value {
    v.get("nonce").cloned().unwrap_or_else(|| json!(""))
}

fn emit_to<A: Adapter>(s: &Socket<A>, room: String, event: &'static str, data: Value, include_self: bool) {
    let op = if include_self { s.within(room) } else { s.to(room) };
    // The local adapter broadcasts synchronously; its future is ready at once.
    match op.emit(event, &data).now_or_never() {
        Some(Ok(())) => {}
        Some(Err(e)) => eprintln!("floor: {event} not sent: {e}"),
        None => eprintln!("floor: {event} broadcast did not complete synchronously"),
    }
}

fn profile(v: &Value, key: &str) -> (String, String) {
    (
        text(v, &[key, "name"]).unwrap_or("floor").to_string(),
        text(v, &[key, "avatar"]).unwrap_or("floor.png").to_string(),
    )
}

/// The only handler: synchronous, so one socket's events stay in order and
/// no task is spawned per event (the real server registers its handler the
/// same way).
struct Floor;

impl<A: Adapter> MessageHandler<A, Floor> for Floor {
    fn call(&self, s: Arc<Socket<A>>, mut v: CoreValue, ack_id: Option<i64>) {
        let Ok(Event(name)) = Event::from_message_parts(&s, &mut v, &ack_id) else {
            return;
        };
        let TryData(data) = match TryData::<Value>::from_message_parts(&s, &mut v, &ack_id) {
            Ok(d) => d,
            Err(never) => match never {},
        };
        let v = data.unwrap_or(Value::Null);
        handle(&s, &name, v);
    }
}

fn on_connect(s: SocketRef) {
    s.on_fallback(Floor);
}

fn handle<A: Adapter>(s: &Socket<A>, name: &str, mut v: Value) {
    match name {
        "iceservers" => {
            let _ = s.emit(
                "iceservers",
                &json!([{"urls": "stun:stun.l.google.com:19302", "url": "stun:stun.l.google.com:19302"}]),
            );
        }
        "create" => {
            let (ws, att) = (random_id(), random_id());
            let (name, avatar) = profile(&v, "workspace");
            let (aname, aavatar) = profile(&v, "attendee");
            s.join([ws.clone(), att.clone()]);
            let _ = s.emit(
                "created",
                &json!({
                    "workspace": {"id": ws, "name": name, "avatar": avatar, "owner": att,
                                  "created": now_millis(), "token": format!("floor.{ws}.{}", random_text(24))},
                    "attendee": {"id": att, "name": aname, "avatar": aavatar},
                    "accessToken": format!("floor.{ws}.{att}.{}", random_text(24)),
                    "nonce": nonce(&v),
                }),
            );
        }
        "attend" => {
            let Some(ws) = text(&v, &["workspace", "token"])
                .and_then(|t| t.split('.').nth(1))
                .map(str::to_string)
            else {
                let _ = s.emit("alert", "Please provide a valid workspace access token.");
                return;
            };
            let att = random_id();
            let (aname, aavatar) = profile(&v, "attendee");
            let attendee = json!({"id": att, "name": aname, "avatar": aavatar});
            s.join([ws.clone(), att.clone()]);
            let _ = s.emit(
                "attendance-granted",
                &json!({
                    "workspace": {"id": ws, "name": "floor", "avatar": "floor.png", "owner": "",
                                  "created": now_millis(), "token": text(&v, &["workspace", "token"]),
                                  "call": null},
                    "attendee": attendee,
                    "attendees": {att.clone(): attendee},
                    "accessToken": format!("floor.{ws}.{att}.{}", random_text(24)),
                    "nonce": nonce(&v),
                }),
            );
            emit_to(s, ws, "attend", attendee, false);
        }
        "negotiation" => {
            let (Some(target), Some(from)) = (
                text(&v, &["attendee", "id"]).map(str::to_string),
                text(&v, &["broadcaster", "id"]).map(str::to_string),
            ) else {
                return;
            };
            let out = json!({"attendee": {"id": from}, "message": take(&mut v, "message")});
            emit_to(s, target, "negotiation", out, true);
        }
        "icecandidate" => {
            let (Some(target), Some(from)) = (
                text(&v, &["attendee", "id"]).map(str::to_string),
                text(&v, &["broadcaster", "id"]).map(str::to_string),
            ) else {
                return;
            };
            let out = json!({"attendee": {"id": target}, "broadcaster": {"id": from},
                             "candidate": take(&mut v, "candidate")});
            emit_to(s, target, "icecandidate", out, true);
        }
        "ring" => {
            let Some(target) = text(&v, &["callee", "id"]).map(str::to_string) else {
                return;
            };
            let out = json!({
                "workspace": take(&mut v, "workspace"),
                "caller": take(&mut v, "attendee"),
                "offer": take(&mut v, "offer"),
                "call": take(&mut v, "call"),
                "nonce": nonce(&v),
            });
            emit_to(s, target, "ring", out, true);
        }
        "answer" => {
            let Some(target) = text(&v, &["caller", "id"]).map(str::to_string) else {
                return;
            };
            let out = json!({
                "workspace": take(&mut v, "workspace"),
                "callee": take(&mut v, "attendee"),
                "answer": take(&mut v, "answer"),
                "call": take(&mut v, "call"),
                "nonce": nonce(&v),
            });
            emit_to(s, target, "answer", out, true);
        }
        "mic-toggle" | "cam-toggle" => {
            let Some(ws) = text(&v, &["workspace", "id"]).map(str::to_string) else {
                return;
            };
            let event = if name == "mic-toggle" {
                "mic-toggle"
            } else {
                "cam-toggle"
            };
            let out = json!({"attendee": take(&mut v, "attendee"), "state": take(&mut v, "state")});
            emit_to(s, ws, event, out, false);
        }
        _ => {}
    }
}

/// The few config.js.toml keys the floor shares with the real server.
struct Conf {
    host: IpAddr,
    ping_interval: Duration,
    ping_timeout: Duration,
    max_payload: u64,
}

fn conf() -> anyhow::Result<Conf> {
    let table: toml::Table = match std::fs::read_to_string("config.js.toml") {
        Ok(t) => toml::from_str(&t)?,
        Err(_) => toml::Table::new(),
    };
    let int = |k: &str, d: i64| table.get(k).and_then(|v| v.as_integer()).unwrap_or(d);
    Ok(Conf {
        host: table
            .get("host")
            .and_then(|v| v.as_str())
            .unwrap_or("127.0.0.1")
            .parse()?,
        ping_interval: Duration::from_secs(int("ping_interval_secs", 25).max(1) as u64),
        ping_timeout: Duration::from_secs(int("ping_timeout_secs", 12).max(1) as u64),
        max_payload: int("max_payload_bytes", 1_000_000).max(1024) as u64,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let c = conf()?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.trim().parse())
        .transpose()?
        .unwrap_or(9091);
    let (layer, io) = SocketIo::builder()
        .ping_interval(c.ping_interval)
        .ping_timeout(c.ping_timeout)
        .max_payload(c.max_payload)
        .ws_max_message_size(c.max_payload as usize)
        .ws_max_frame_size(c.max_payload as usize)
        .build_layer();
    io.ns("/", async |s: SocketRef| on_connect(s));
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "floor is up" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(c.host, port)).await?;
    let local = listener.local_addr()?;
    // TCP_NODELAY on accepted sockets (FLOOR_NODELAY=0 to leave Nagle on).
    let nodelay = std::env::var("FLOOR_NODELAY").map_or(true, |v| v != "0");
    let listener = axum::serve::ListenerExt::tap_io(listener, move |tcp| {
        if nodelay {
            let _ = tcp.set_nodelay(true);
        }
    });
    println!("floor (socketioxide, no auth, no state) listening on http://{}", local);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
    Ok(())
}
