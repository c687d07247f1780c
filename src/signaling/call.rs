//! Calls are peer to peer; the server only forwards (PROTOCOL.md §3 "Calls").
//! The objects clients attach (`workspace`, `call`, `offer`, …) pass through
//! as sent; only the ids the guard checked are trusted.

use serde_json::{json, Map, Value};
use socketioxide::adapter::Adapter;

use super::guard::Member;
use super::payload;
use super::{Ctx, Rejection};

/// What `ring` and `answer` forward: the sender under its role in the call
/// (`caller` / `callee`), the SDP under the event's own field, and the rest as sent.
fn session_description(m: &mut Member, sender_as: &str, sdp: &str) -> Value {
    let mut out = Map::new();
    for (to, from) in [
        ("workspace", "workspace"),
        (sender_as, "attendee"),
        (sdp, sdp),
        ("call", "call"),
    ] {
        out.insert(to.to_string(), payload::take(&mut m.payload, from));
    }
    out.insert("nonce".into(), payload::nonce(&m.payload));
    Value::Object(out)
}

pub async fn ring<A: Adapter>(ctx: &mut Ctx<'_, A>, mut m: Member) -> Result<(), Rejection> {
    let callee = m.target(ctx.app, "callee").await?;
    let out = session_description(&mut m, "caller", "offer");
    let stored_call = out["workspace"].get("call").cloned().unwrap_or(Value::Null);
    ctx.app.store.set_call(&m.workspace, stored_call).await?;
    ctx.to_attendee(&callee, "ring", &out).await;
    Ok(())
}

pub async fn answer<A: Adapter>(ctx: &mut Ctx<'_, A>, mut m: Member) -> Result<(), Rejection> {
    let caller = m.target(ctx.app, "caller").await?;
    let out = session_description(&mut m, "callee", "answer");
    ctx.to_attendee(&caller, "answer", &out).await;
    Ok(())
}

pub async fn busy<A: Adapter>(ctx: &mut Ctx<'_, A>, mut m: Member) -> Result<(), Rejection> {
    let out = json!({
        "workspace": payload::take(&mut m.payload, "workspace"),
        "callee": payload::take(&mut m.payload, "attendee"),
        "call": payload::take(&mut m.payload, "call"),
    });
    ctx.to_room(&m.workspace, "busy", &out).await;
    Ok(())
}

pub async fn hangup<A: Adapter>(ctx: &mut Ctx<'_, A>, mut m: Member) -> Result<(), Rejection> {
    ctx.app.store.set_call(&m.workspace, Value::Null).await?;
    let out = json!({
        "attendee": payload::take(&mut m.payload, "attendee"),
        "call": payload::take(&mut m.payload, "call"),
    });
    ctx.to_room(&m.workspace, "hangup", &out).await;
    Ok(())
}

pub async fn mic_toggle<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    toggle(ctx, m, "mic-toggle").await
}

pub async fn cam_toggle<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    toggle(ctx, m, "cam-toggle").await
}

/// `mic-toggle` and `cam-toggle`: the same message under two names.
async fn toggle<A: Adapter>(ctx: &mut Ctx<'_, A>, mut m: Member, event: &str) -> Result<(), Rejection> {
    let out = json!({
        "attendee": payload::take(&mut m.payload, "attendee"),
        "state": payload::take(&mut m.payload, "state"),
    });
    ctx.to_room(&m.workspace, event, &out).await;
    Ok(())
}
