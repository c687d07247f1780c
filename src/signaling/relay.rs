//! The hot path: ICE candidates and SDP negotiation, forwarded to the target
//! attendee's sockets only. The payload is moved, never copied.

use serde::Serialize;
use serde_json::Value;
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
    candidate: &'a Value,
}

#[derive(Serialize)]
struct Negotiation<'a> {
    attendee: IdOnly<'a>,
    message: &'a Value,
}

pub async fn icecandidate<A: Adapter>(ctx: &mut Ctx<'_, A>, mut m: Member) -> Result<(), Rejection> {
    let target = m.target(ctx.app, "attendee").await?;
    let candidate = payload::take(&mut m.payload, "candidate");
    let out = Candidate {
        attendee: IdOnly { id: &target },
        broadcaster: IdOnly { id: &m.attendee },
        candidate: &candidate,
    };
    ctx.to_attendee(&target, "icecandidate", &out).await;
    Ok(())
}

pub async fn negotiation<A: Adapter>(ctx: &mut Ctx<'_, A>, mut m: Member) -> Result<(), Rejection> {
    let target = m.target(ctx.app, "attendee").await?;
    let message = payload::take(&mut m.payload, "message");
    if !message.is_object() {
        return Err(Rejection::Alert(Alert::MessageNotObject));
    }
    let out = Negotiation {
        attendee: IdOnly { id: &m.attendee },
        message: &message,
    };
    ctx.to_attendee(&target, "negotiation", &out).await;
    Ok(())
}
