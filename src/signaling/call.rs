//! Calls are peer to peer; the server only forwards (docs/PROTOCOL.md § `ring`).
//! The objects clients attach (`workspace`, `call`, `offer`, …) pass through
//! as sent, as raw JSON text; only the ids the guard checked are trusted.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::Value;
use socketioxide::adapter::Adapter;

use super::guard::Member;
use super::payload::{self, Raw};
use super::{Ctx, Rejection};

/// An outgoing message of forwarded fields, in key order (as the parsed
/// objects the server used to build were); an absent field goes out as `null`.
type Forwarded = BTreeMap<&'static str, Raw>;

/// `(outgoing name, payload field)` pairs taken out of the payload as sent.
fn forward(m: &mut Member, fields: &[(&'static str, &str)]) -> Forwarded {
    fields.iter().map(|&(to, from)| (to, m.payload.take(from))).collect()
}

/// What `ring` and `answer` forward: the sender under its role in the call
/// (`caller` / `callee`), the SDP under the event's own field, and the rest as sent.
fn session_description(m: &mut Member, sender_as: &'static str, sdp: &'static str) -> Forwarded {
    let nonce = payload::nonce(&m.payload);
    let mut out = forward(
        m,
        &[
            ("workspace", "workspace"),
            (sender_as, "attendee"),
            (sdp, sdp),
            ("call", "call"),
        ],
    );
    out.insert("nonce", Some(nonce));
    out
}

/// The `call` inside a forwarded `workspace` object, which the store keeps for re-attend.
fn call_of(workspace: Option<&RawValue>) -> Value {
    workspace
        .and_then(|w| serde_json::from_str::<Value>(w.get()).ok())
        .and_then(|w| w.get("call").cloned())
        .unwrap_or(Value::Null)
}

pub async fn ring<A: Adapter>(ctx: &mut Ctx<'_, A>, mut m: Member) -> Result<(), Rejection> {
    let callee = m.target(&ctx.app.workspaces, "callee").await?;
    let out = session_description(&mut m, "caller", "offer");
    let stored_call = call_of(out["workspace"].as_deref());
    ctx.app.workspaces.set_call(&m, stored_call).await?;
    ctx.to_attendee(&callee, "ring", &out).await;
    Ok(())
}

pub async fn answer<A: Adapter>(ctx: &mut Ctx<'_, A>, mut m: Member) -> Result<(), Rejection> {
    let caller = m.target(&ctx.app.workspaces, "caller").await?;
    let out = session_description(&mut m, "callee", "answer");
    ctx.to_attendee(&caller, "answer", &out).await;
    Ok(())
}

pub async fn busy<A: Adapter>(ctx: &mut Ctx<'_, A>, mut m: Member) -> Result<(), Rejection> {
    let out = forward(
        &mut m,
        &[("workspace", "workspace"), ("callee", "attendee"), ("call", "call")],
    );
    ctx.to_room(&m.workspace, "busy", &out).await;
    Ok(())
}

pub async fn hangup<A: Adapter>(ctx: &mut Ctx<'_, A>, mut m: Member) -> Result<(), Rejection> {
    ctx.app.workspaces.set_call(&m, Value::Null).await?;
    let out = forward(&mut m, &[("attendee", "attendee"), ("call", "call")]);
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
    let out = forward(&mut m, &[("attendee", "attendee"), ("state", "state")]);
    ctx.to_room(&m.workspace, event, &out).await;
    Ok(())
}
