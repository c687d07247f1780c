//! The hot path: ICE candidates and SDP negotiation, forwarded to the target
//! attendee's sockets only. The candidate and the SDP go out as the raw JSON
//! text they arrived as (`payload/`), never parsed nor re-escaped.

use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::adapter::Adapter;

use super::alerts::Alert;
use super::guard::Member;
use super::payload;
use super::{Ctx, Rejection};
use crate::model::AttendeeId;

#[derive(Serialize)]
struct IdOnly<'a> {
    id: &'a AttendeeId,
}

#[derive(Serialize)]
struct Candidate<'a> {
    attendee: IdOnly<'a>,
    broadcaster: IdOnly<'a>,
    candidate: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct Negotiation<'a> {
    attendee: IdOnly<'a>,
    message: &'a RawValue,
}

pub async fn icecandidate<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    let target = m.target(&ctx.app.workspaces, "attendee").await?;
    let out = Candidate {
        attendee: IdOnly { id: &target },
        broadcaster: IdOnly { id: &m.attendee },
        candidate: m.payload.raw("candidate"),
    };
    ctx.to_attendee(&target, "icecandidate", &out).await;
    Ok(())
}

pub async fn negotiation<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    let target = m.target(&ctx.app.workspaces, "attendee").await?;
    let message = match m.payload.raw("message") {
        Some(raw) if payload::is_object(raw) => raw,
        _ => return Err(Rejection::Alert(Alert::MessageNotObject)),
    };
    let out = Negotiation {
        attendee: IdOnly { id: &m.attendee },
        message,
    };
    ctx.to_attendee(&target, "negotiation", &out).await;
    Ok(())
}
