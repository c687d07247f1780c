//! Property test of the path from a raw JSON payload through the guard to a
//! handler's decision, against the real server (the library's `serve`, on an
//! ephemeral port) over a raw Socket.IO WebSocket: random event names and
//! random JSON — with real ids and tokens mixed in — never crash or hang the
//! server, and a token-checked event without a genuine token is answered
//! with exactly one `alert` and nothing else. A bounded number of cases.

mod common;

use common::sio::{connect, next_text, Ws};
use futures_util::SinkExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use wrw::signaling::EventName;

/// The token-checked events, from the server's own table.
fn guarded() -> Vec<&'static str> {
    EventName::ALL
        .iter()
        .filter(|e| e.rule().is_some())
        .map(|e| e.wire())
        .collect()
}
const KEYS: [&str; 20] = [
    "workspace",
    "attendee",
    "broadcaster",
    "accessToken",
    "id",
    "token",
    "pin",
    "name",
    "avatar",
    "nonce",
    "message",
    "candidate",
    "callee",
    "caller",
    "kickedAttendee",
    "call",
    "state",
    "offer",
    "answer",
    "data",
];
/// What the fuzzing socket may ever receive (the last four only with a
/// genuine token: a message addressed to itself, or a join it caused).
const ALLOWED: [&str; 15] = [
    "attend",
    "leave",
    "negotiation",
    "icecandidate",
    "alert",
    "destroyed",
    "full",
    "created",
    "attendance-granted",
    "re-attendance-granted",
    "attendees",
    "iceservers",
    "kicked",
    "ring",
    "answer",
];

/// Sends one event and collects what comes back before an `iceservers` barrier.
async fn exchange(ws: &mut Ws, event: &str, payload: Option<&Value>) -> Result<Vec<(String, Value)>, String> {
    let frame = match payload {
        Some(p) => format!("42{}", json!([event, p])),
        None => format!("42{}", json!([event])),
    };
    ws.send(Message::text(frame)).await.map_err(|e| e.to_string())?;
    ws.send(Message::text(r#"42["iceservers",{}]"#))
        .await
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    // An `iceservers` event gets its own reply before the barrier's.
    let mut replies_to_barrier = if event == "iceservers" { 2 } else { 1 };
    loop {
        let text = next_text(ws)
            .await
            .ok_or("no answer in time: the server hung or dropped the socket")?;
        let Some(body) = text.strip_prefix("42") else { continue };
        let v: Value = serde_json::from_str(body).map_err(|e| format!("bad frame {text}: {e}"))?;
        let name = v[0].as_str().unwrap_or_default().to_string();
        if name == "iceservers" {
            replies_to_barrier -= 1;
            if replies_to_barrier == 0 {
                return Ok(got);
            }
            continue;
        }
        got.push((name, v[1].clone()));
    }
}

/// A JSON value built from random scalars, real ids and tokens, and the keys payloads use.
fn json_value(pool: Vec<Value>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        "[\\x00-\\x7f]{0,8}".prop_map(Value::from),
        proptest::sample::select(pool),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    proptest::sample::select(KEYS.to_vec()).prop_map(String::from),
                    "[a-z]{1,6}"
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn contains_any(v: &Value, needles: &[String]) -> bool {
    match v {
        Value::String(s) => needles.iter().any(|n| n == s),
        Value::Array(a) => a.iter().any(|x| contains_any(x, needles)),
        Value::Object(o) => o.values().any(|x| contains_any(x, needles)),
        _ => false,
    }
}

#[test]
fn random_payloads_never_crash_and_forged_tokens_only_get_alerts() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(common::spawn_app());
    let addr = app.addr;
    let mut ws = rt.block_on(connect(addr));

    // Real ids and tokens to mix into payloads: a workspace with two members.
    let created = rt
        .block_on(exchange(&mut ws, "create", Some(&json!({"workspace": {"pin": "1"}}))))
        .unwrap();
    let c = &created[0].1;
    let mut guest = rt.block_on(connect(addr));
    let granted = rt
        .block_on(exchange(
            &mut guest,
            "attend",
            Some(&json!({"workspace": {"token": c["workspace"]["token"], "pin": "1"}})),
        ))
        .unwrap();
    let g = &granted[0].1;
    // The owner's socket was told about the guest: take that out of the way.
    let told = rt.block_on(exchange(&mut ws, "iceservers", None)).unwrap();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, "attend");
    let genuine: Vec<String> = [&c["accessToken"], &g["accessToken"]]
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let pool = vec![
        c["workspace"]["id"].clone(),
        c["attendee"]["id"].clone(),
        g["attendee"]["id"].clone(),
        c["workspace"]["token"].clone(),
        c["accessToken"].clone(),
        g["accessToken"].clone(),
        json!({"id": c["workspace"]["id"]}),
        json!({"id": c["attendee"]["id"]}),
        json!({"id": g["attendee"]["id"]}),
        json!("eyJhbGciOiJub25lIn0.eyJ0eXAiOiJhY2MifQ."),
        json!("_AAAAAAAAAA"),
    ];

    let guarded = guarded();
    assert!(
        !guarded.is_empty() && guarded.len() < EventName::ALL.len(),
        "the table has token-checked and unchecked events: {guarded:?}"
    );
    // Every event of the table, and one it does not know.
    let names: Vec<&str> = EventName::ALL.iter().map(|e| e.wire()).chain(["bogus"]).collect();
    let strategy = (
        proptest::sample::select(names),
        proptest::option::weighted(0.95, json_value(pool)),
    );
    let cases: u32 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(2000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let counted = std::cell::Cell::new(0u32);
    let socket = std::cell::RefCell::new(ws);
    let result = runner.run(&strategy, |(event, payload)| {
        counted.set(counted.get() + 1);
        let got = rt
            .block_on(exchange(&mut socket.borrow_mut(), event, payload.as_ref()))
            .map_err(TestCaseError::fail)?;
        for (name, _) in &got {
            prop_assert!(
                ALLOWED.contains(&name.as_str()),
                "{event} got an unexpected {name}: {got:?}"
            );
        }
        let forged = payload.as_ref().is_none_or(|p| !contains_any(p, &genuine));
        if guarded.contains(&event) && forged {
            prop_assert_eq!(got.len(), 1, "{} without a genuine token: {:?}", event, got);
            prop_assert_eq!(
                got[0].0.as_str(),
                "alert",
                "{} without a genuine token: {:?}",
                event,
                got
            );
        }
        if event == "bogus" {
            prop_assert_eq!(got.len(), 1);
            prop_assert_eq!(got[0].0.as_str(), "alert");
        }
        Ok(())
    });
    println!("fuzzed {} events", counted.get());
    result.unwrap();
    // The server still serves a fresh client.
    let mut fresh = rt.block_on(connect(addr));
    let reply = rt.block_on(exchange(&mut fresh, "create", Some(&json!({})))).unwrap();
    assert_eq!(reply[0].0, "created");
    rt.block_on(app.stop());
}
