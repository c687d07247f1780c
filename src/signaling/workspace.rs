//! The workspace life cycle: create, attend, re-attend, attendees, leave,
//! kick, destroy (docs/PROTOCOL.md § Client → server events).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use socketioxide::adapter::Adapter;

use super::alerts::{Alert, Rejection};
use super::guard::Member;
use super::payload::{self, Payload};
use super::Ctx;
use crate::app::App;
use crate::model::{now_millis, Attendee, AttendeeId, PinCheck, Workspace, WorkspaceId, WorkspaceView};
use crate::store::{Attended, Hold, JoinError, JoinRefusal};

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

/// A new attendee named by `payload.attendee`, defaults filled in.
fn new_attendee<A: Adapter>(ctx: &Ctx<'_, A>, payload: &Payload) -> Result<Attendee, Rejection> {
    let s = &ctx.app.settings;
    let profile = payload::optional_object(payload, "attendee")?;
    let profile = profile.as_ref();
    Ok(Attendee {
        id: AttendeeId::generate(s.workspace_id_len),
        name: payload::text_or(
            profile,
            ("attendee", "name"),
            &s.anonymous_attendee,
            s.limits.max_name_length,
        )?,
        avatar: payload::text_or(
            profile,
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
    let owner = new_attendee(ctx, &payload)?;
    let app = ctx.app;
    let gate = app.limits.create_gate(ctx.session.ip, &*app.store).await?;

    let id = WorkspaceId::generate(s.workspace_id_len);
    let tokens = &ctx.app.tokens;
    let workspace = Workspace {
        token: tokens.workspace_token(&id),
        pin_check: PinCheck::Keyed(tokens.pin_check(&id, &pin)),
        id,
        name,
        avatar,
        owner: owner.id.clone(),
        created: now_millis(),
        attendees: BTreeMap::from([(owner.id.clone(), owner.clone())]),
        call: Value::Null,
        lapsed: BTreeMap::new(),
    };
    let access_token = tokens.access_token(&workspace.id, &owner.id, true);
    let reply = json!(Created {
        workspace: workspace.view(),
        attendee: &owner,
        access_token: &access_token,
        nonce: payload::nonce(&payload),
    });
    let (ws_id, owner_id) = (workspace.id.clone(), owner.id.clone());
    let hold = app.store.create_joined(workspace, &gate).await?;
    ctx.session.bind(app, ctx.socket, &ws_id, &owner_id, hold).await;
    tracing::info!(workspace = %ws_id, owner = %owner_id, "workspace created");
    ctx.reply("created", &reply);
    Ok(())
}

pub async fn attend<A: Adapter>(ctx: &mut Ctx<'_, A>, data: Result<Payload, String>) -> Result<(), Rejection> {
    let payload = payload::object(data)?;
    let spec = payload::optional_object(&payload, "workspace")?;
    let spec = spec.as_ref();
    let token = match spec.and_then(|w| w.get("token")) {
        Some(Value::String(t)) if !t.is_empty() => t.as_str(),
        _ => return Err(Rejection::Alert(Alert::NoWorkspaceToken)),
    };
    let pin = payload::pin(spec)?;
    let attendee = new_attendee(ctx, &payload)?;
    let app = ctx.app;
    let id = app
        .tokens
        .verify_any_workspace_token(token, app.legacy_tokens)
        .map_err(|_| Rejection::Alert(Alert::WrongPin))?;
    let ip = ctx.session.ip;
    let capacity = app.settings.max_capacity_of_workspace;
    let gate = app.limits.pin_gate(ip, &id);
    let offered = app.tokens.pin_check(&id, &pin);
    let (workspace, hold) = match app.store.attend(&id, attendee.clone(), capacity, &offered, &gate).await {
        Ok(Attended::Joined(workspace, hold)) => (workspace, hold),
        Ok(Attended::Unchecked(stored)) => {
            if !original_pin_matches(app, &stored, &pin).await? {
                app.limits.pin_failed(ip, &id).await?;
                return Err(wrong_pin(&id, ip));
            }
            let workspace = app.store.add_attendee(&id, attendee.clone(), capacity).await?;
            (workspace, Hold::ToRecord)
        }
        Err(JoinError::Refused(JoinRefusal::WrongPin)) => {
            app.limits.wrong_pin(ip, &id, &gate).await?;
            return Err(wrong_pin(&id, ip));
        }
        Err(e) => return Err(e.into()),
    };
    ctx.session.bind(app, ctx.socket, &id, &attendee.id, hold).await;
    let access_token = app.tokens.access_token(&id, &attendee.id, false);
    tracing::info!(workspace = %id, attendee = %attendee.id, "attendee joined");
    ctx.reply(
        "attendance-granted",
        &Granted {
            workspace: workspace.view_with_call(),
            attendee: &attendee,
            attendees: &workspace.attendees,
            access_token: &access_token,
            nonce: payload::nonce(&payload),
            call: None,
        },
    );
    ctx.to_room(&id, "attend", &attendee).await;
    Ok(())
}

fn wrong_pin(id: &WorkspaceId, ip: std::net::IpAddr) -> Rejection {
    tracing::info!(workspace = %id, %ip, "wrong PIN");
    Rejection::Alert(Alert::WrongPin)
}

/// Checks `pin` of a workspace imported from the original, which has no
/// check value of ours yet, against the bcrypt hash in its stored token;
/// the first correct PIN stores our own check value and token (durably,
/// before the grant hands the token out).
async fn original_pin_matches(app: &App, stored: &Workspace, pin: &str) -> Result<bool, Rejection> {
    let Some(original) = app.tokens.original_workspace_token(&stored.token) else {
        tracing::error!(workspace = %stored.id, "the imported workspace's token does not verify: MAGICK_TOKEN differs from the original server's");
        return Ok(false);
    };
    if !app.original.pin_matches(&app.tokens, &original, pin).await {
        return Ok(false);
    }
    let check = PinCheck::Keyed(app.tokens.pin_check(&stored.id, pin));
    let token = app.tokens.workspace_token(&stored.id);
    app.store.set_pin_check(&stored.id, check, token).await?;
    tracing::info!(workspace = %stored.id, "imported workspace now checks its PIN with our own value");
    Ok(true)
}

pub async fn re_attend<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    let workspace = ctx.app.store.get(&m.workspace).await?.ok_or(Rejection::Destroyed)?;
    let attendee = workspace
        .attendees
        .get(&m.attendee)
        .ok_or(Rejection::Alert(Alert::NoAccess))?;
    ctx.reply(
        "re-attendance-granted",
        &Granted {
            workspace: workspace.view(),
            attendee,
            attendees: &workspace.attendees,
            // Ours again (the same string for a token of ours; a fresh one replaces the original's).
            access_token: &ctx.app.tokens.access_token(&m.workspace, &m.attendee, m.owner),
            nonce: payload::nonce(&m.payload),
            call: Some(&workspace.call),
        },
    );
    ctx.to_room(&m.workspace, "attend", attendee).await;
    Ok(())
}

pub async fn attendees<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    let workspace = ctx.app.store.get(&m.workspace).await?.ok_or(Rejection::Destroyed)?;
    ctx.reply("attendees", &json!({ "attendees": workspace.attendees }));
    Ok(())
}

pub async fn leave<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    if m.owner {
        return Err(Rejection::Alert(Alert::OwnerCannotLeave));
    }
    let gone = ctx
        .app
        .store
        .remove_attendee(&m.workspace, &m.attendee)
        .await?
        .ok_or(Rejection::Alert(Alert::NoAccess))?;
    ctx.unbind(&m.workspace, &m.attendee).await;
    tracing::info!(workspace = %m.workspace, attendee = %m.attendee, "attendee left");
    ctx.to_room(&m.workspace, "leave", &gone).await;
    Ok(())
}

pub async fn kick<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    let target = m.target(ctx.app, "kickedAttendee").await?;
    if target == m.attendee {
        return Err(Rejection::Alert(Alert::OwnerCannotBeKicked));
    }
    let Some(kicked) = ctx.app.store.remove_attendee(&m.workspace, &target).await? else {
        return Err(Rejection::Alert(Alert::TargetNotMember));
    };
    ctx.to_room_and_sender(&m.workspace, "kicked", &json!({ "id": kicked.id, "name": kicked.name }))
        .await;
    ctx.unbind(&m.workspace, &target).await;
    tracing::info!(workspace = %m.workspace, attendee = %target, "attendee kicked");
    Ok(())
}

pub async fn destroy<A: Adapter>(ctx: &mut Ctx<'_, A>, m: Member) -> Result<(), Rejection> {
    let Some(workspace) = ctx.app.store.destroy(&m.workspace).await? else {
        return Err(Rejection::Destroyed);
    };
    ctx.to_room_and_sender(&m.workspace, "destroyed", &json!({})).await;
    for attendee in workspace.attendees.keys() {
        ctx.unbind(&m.workspace, attendee).await;
    }
    tracing::info!(workspace = %m.workspace, "workspace destroyed");
    Ok(())
}
