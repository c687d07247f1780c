//! The workspace life cycle's events: create, attend, re-attend, attendees,
//! leave, kick, destroy (docs/PROTOCOL.md § Client → server events). Each
//! reads its payload, calls the core (`workspaces`), answers the sender and
//! tells the room what the core says happened.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use socketioxide::adapter::Adapter;

use super::alerts::{Alert, Rejection};
use super::guard::Member;
use super::payload::{self, Payload};
use super::Ctx;
use crate::model::{Attendee, AttendeeId, WorkspaceView};
use crate::workspaces::{Done, Joined, NewWorkspace, Profile};

#[derive(Serialize)]
struct Created<'a> {
    workspace: WorkspaceView<'a>,
    attendee: &'a Attendee,
    #[serde(rename = "accessToken")]
    access_token: &'a str,
    nonce: Box<RawValue>,
}

#[derive(Serialize)]
struct Granted<'a> {
    workspace: WorkspaceView<'a>,
    attendee: &'a Attendee,
    attendees: &'a BTreeMap<AttendeeId, Attendee>,
    #[serde(rename = "accessToken")]
    access_token: &'a str,
    nonce: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    call: Option<&'a Value>,
}

/// A newcomer's profile from `payload.attendee`, defaults filled in.
fn profile<A: Adapter>(ctx: &Ctx<'_, A>, payload: &Payload) -> Result<Profile, Rejection> {
    let s = &ctx.app.settings;
    let given = payload::optional_object(payload, "attendee")?;
    let given = given.as_ref();
    Ok(Profile {
        name: payload::text_or(
            given,
            ("attendee", "name"),
            &s.anonymous_attendee,
            s.limits.max_name_length,
        )?,
        avatar: payload::text_or(
            given,
            ("attendee", "avatar"),
            &s.default_attendee_avatar,
            s.limits.max_avatar_length,
        )?,
    })
}

/// `iceservers`: any payload or none.
pub async fn iceservers<A: Adapter>(ctx: &mut Ctx<'_, A>, _data: Result<Payload, String>) -> Result<(), Rejection> {
    let servers = ctx.app.ice.for_socket(&ctx.socket.id.to_string()).await;
    ctx.reply("iceservers", &servers);
    Ok(())
}

pub async fn create<A: Adapter>(ctx: &mut Ctx<'_, A>, data: Result<Payload, String>) -> Result<(), Rejection> {
    let payload = payload::object(data)?;
    let s = &ctx.app.settings;
    let spec = payload::optional_object(&payload, "workspace")?;
    let spec = spec.as_ref();
    let name = payload::text_or(
        spec,
        ("workspace", "name"),
        &s.untitled_workspace,
        s.limits.max_name_length,
    )?;
    let avatar = payload::text_or(
        spec,
        ("workspace", "avatar"),
        &s.default_workspace_avatar,
        s.limits.max_avatar_length,
    )?;
    let pin = payload::pin(spec)?;
    let owner = profile(ctx, &payload)?;
    let spec = NewWorkspace {
        name,
        avatar,
        pin,
        owner,
    };
    let done = ctx.app.workspaces.create(spec, ctx.session.ip).await?;
    welcome(ctx, &done, "created", |j| Created {
        workspace: j.workspace.view(),
        attendee: &j.attendee,
        access_token: &j.access_token,
        nonce: payload::nonce(&payload),
    })
    .await;
    Ok(())
}

/// A join's end: the newcomer's socket is bound, then answered, then the room is told.
async fn welcome<'j, A: Adapter, T: Serialize>(
    ctx: &mut Ctx<'_, A>,
    done: &'j Done<Joined>,
    event: &str,
    reply: impl FnOnce(&'j Joined) -> T,
) {
    let j = &done.value;
    ctx.bind(&j.workspace.id, &j.attendee.id, j.hold).await;
    ctx.reply(event, &reply(j));
    ctx.announce(&done.events).await;
}

pub async fn attend<A: Adapter>(ctx: &mut Ctx<'_, A>, data: Result<Payload, String>) -> Result<(), Rejection> {
    let payload = payload::object(data)?;
    let spec = payload::optional_object(&payload, "workspace")?;
    let spec = spec.as_ref();
    let invite = match spec.and_then(|w| w.get("token")) {
        Some(Value::String(t)) if !t.is_empty() => t.as_str(),
        _ => return Err(Rejection::Alert(Alert::NoWorkspaceToken)),
    };
    let pin = payload::pin(spec)?;
    let who = profile(ctx, &payload)?;
    let done = ctx.app.workspaces.attend(invite, &pin, who, ctx.session.ip).await?;
    welcome(ctx, &done, "attendance-granted", |j| Granted {
        workspace: j.workspace.view_with_call(),
        attendee: &j.attendee,
        attendees: &j.workspace.attendees,
        access_token: &j.access_token,
        nonce: payload::nonce(&payload),
        call: None,
    })
    .await;
    Ok(())
}

/// Binds after the core's step: a lapsed attendee joins the rooms only once restored.
pub async fn re_attend<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    let done = ctx.app.workspaces.re_attend(&m).await?;
    ctx.bind_member(&m).await;
    let (workspace, attendee, access_token) = &done.value;
    ctx.reply(
        "re-attendance-granted",
        &Granted {
            workspace: workspace.view(),
            attendee,
            attendees: &workspace.attendees,
            access_token,
            nonce: payload::nonce(&m.payload),
            call: Some(&workspace.call),
        },
    );
    ctx.announce(&done.events).await;
    Ok(())
}

pub async fn attendees<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    let workspace = ctx.app.workspaces.workspace(&m).await?;
    ctx.reply("attendees", &json!({ "attendees": workspace.attendees }));
    Ok(())
}

pub async fn leave<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    let done = ctx.app.workspaces.leave(&m).await?;
    ctx.announce(&done.events).await;
    Ok(())
}

pub async fn kick<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    let target = m.target(&ctx.app.workspaces, "kickedAttendee").await?;
    let done = ctx.app.workspaces.kick(&m, &target).await?;
    ctx.announce(&done.events).await;
    Ok(())
}

pub async fn destroy<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    let done = ctx.app.workspaces.destroy(&m).await?;
    ctx.announce(&done.events).await;
    Ok(())
}
