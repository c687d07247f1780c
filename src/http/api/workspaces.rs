//! The workspace endpoints: each reads its input, calls the workspace core
//! (the same operations and rules as the socket events), tells the rooms
//! what the core says happened, and answers with what was stored.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::Api;
use crate::app::App;
use crate::hub::attendee_room;
use crate::model::{Attendee, AttendeeId, Workspace, WorkspaceId};
use crate::signaling::announce_from_server;
use crate::workspaces::{Alert, Changes, Invalid, Joined, NewWorkspace, Profile, Rejection, WorkspaceEvent};

/// Workspaces per page when the request does not say.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// An attendee as clients see it.
#[derive(Serialize, ToSchema)]
pub struct AttendeeBody {
    #[schema(example = "_aB3dE5gH7j")]
    id: String,
    name: String,
    avatar: String,
}

impl From<&Attendee> for AttendeeBody {
    fn from(a: &Attendee) -> AttendeeBody {
        AttendeeBody {
            id: a.id.to_string(),
            name: a.name.clone(),
            avatar: a.avatar.clone(),
        }
    }
}

/// A workspace in a list.
#[derive(Serialize, ToSchema)]
pub struct WorkspaceSummary {
    id: String,
    name: String,
    avatar: String,
    /// Milliseconds since the epoch.
    created: u64,
    /// The owner's attendee id.
    owner: String,
    /// Members, the owner included.
    attendees: usize,
    /// Members with a socket now.
    connected: usize,
}

#[derive(Serialize, ToSchema)]
pub struct WorkspaceList {
    workspaces: Vec<WorkspaceSummary>,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

/// A member and whether it has a socket now (if not, it is in its grace
/// period, or it never connected: a seat or an owner made by the API).
#[derive(Serialize, ToSchema)]
pub struct Member {
    id: String,
    name: String,
    avatar: String,
    owner: bool,
    connected: bool,
}

/// A workspace with its members.
#[derive(Serialize, ToSchema)]
pub struct WorkspaceDetail {
    id: String,
    name: String,
    avatar: String,
    created: u64,
    owner: String,
    /// The invite token (with the PIN, what `attend` takes).
    token: String,
    attendees: Vec<Member>,
}

/// The workspace as the socket events `created` and `re-attendance-granted` show it.
#[derive(Serialize, ToSchema)]
pub struct WorkspaceInfo {
    id: String,
    name: String,
    avatar: String,
    owner: String,
    created: u64,
    /// The invite token.
    token: String,
}

/// What a browser needs to be this attendee: the library's stored session
/// (`re-attend` with these), or what `created` hands the creator.
#[derive(Serialize, ToSchema)]
pub struct Session {
    workspace: WorkspaceInfo,
    attendee: AttendeeBody,
    #[serde(rename = "accessToken")]
    access_token: String,
}

impl From<&Joined> for Session {
    fn from(j: &Joined) -> Session {
        let w = &j.workspace;
        Session {
            workspace: WorkspaceInfo {
                id: w.id.to_string(),
                name: w.name.clone(),
                avatar: w.avatar.clone(),
                owner: w.owner.to_string(),
                created: w.created,
                token: w.token.clone(),
            },
            attendee: (&j.attendee).into(),
            access_token: j.access_token.clone(),
        }
    }
}

/// A name and an avatar; each defaults as for the socket events.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    name: Option<String>,
    avatar: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspaceBody {
    name: Option<String>,
    avatar: Option<String>,
    /// Empty or absent: no PIN (the invite token alone lets in).
    pin: Option<String>,
    owner: Option<ProfileBody>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangesBody {
    name: Option<String>,
    avatar: Option<String>,
    /// A new PIN: the answer carries a new invite token, and every earlier one stops working.
    pin: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 1 to 200; 50 when absent.
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

type Answer<T> = Result<T, ApiError>;

/// A JSON body, or the API's error (413 when too large, else 400).
fn body<T>(given: Result<Json<T>, JsonRejection>) -> Answer<T> {
    match given {
        Ok(Json(t)) => Ok(t),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {} bytes", super::MAX_BODY_BYTES),
        )),
        Err(e) => Err(ApiError::bad_request(e.body_text())),
    }
}

fn workspace_id(app: &App, raw: &str) -> Answer<WorkspaceId> {
    WorkspaceId::parse(raw, app.settings.workspace_id_len).ok_or_else(ApiError::no_workspace)
}

/// `given`, or `default` when absent or empty, within `max` characters.
fn text(given: Option<String>, default: &str, max: usize, object: &'static str, field: &'static str) -> Answer<String> {
    match given {
        None => Ok(default.to_string()),
        Some(s) if s.is_empty() => Ok(default.to_string()),
        Some(s) if s.chars().count() > max => {
            Err(crate::workspaces::Rejection::from(Invalid::TooLong { object, field, max }).into())
        }
        Some(s) => Ok(s),
    }
}

fn profile(app: &App, given: Option<ProfileBody>, object: &'static str) -> Answer<Profile> {
    let s = &app.settings;
    let given = given.unwrap_or_default();
    Ok(Profile {
        name: text(
            given.name,
            &s.anonymous_attendee,
            s.limits.max_name_length,
            object,
            "name",
        )?,
        avatar: text(
            given.avatar,
            &s.default_attendee_avatar,
            s.limits.max_avatar_length,
            object,
            "avatar",
        )?,
    })
}

/// Whether each attendee has a socket now, on any node.
async fn connected<'a>(app: &App, attendees: impl Iterator<Item = &'a AttendeeId>) -> Vec<bool> {
    join_all(attendees.map(|a| app.io.has_socket_besides(attendee_room(a), None))).await
}

/// Tells the rooms what the core says happened.
async fn announce(app: &App, events: &[WorkspaceEvent]) {
    announce_from_server(&*app.io, events).await;
}

async fn detail(app: &App, w: Workspace) -> WorkspaceDetail {
    let connected = connected(app, w.attendees.keys()).await;
    let attendees = w
        .attendees
        .values()
        .zip(connected)
        .map(|(a, connected)| Member {
            id: a.id.to_string(),
            name: a.name.clone(),
            avatar: a.avatar.clone(),
            owner: a.id == w.owner,
            connected,
        })
        .collect();
    WorkspaceDetail {
        id: w.id.to_string(),
        name: w.name,
        avatar: w.avatar,
        created: w.created,
        owner: w.owner.to_string(),
        token: w.token,
        attendees,
    }
}

/// The workspaces, ordered by id, a page at a time.
#[utoipa::path(get, path = "/api/v1/workspaces", params(ListQuery), tag = "workspaces",
    responses(
        (status = 200, body = WorkspaceList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ))]
pub async fn list(
    State(api): State<Arc<Api>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Answer<Json<WorkspaceList>> {
    let app = &api.app;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            WorkspaceId::parse(c, app.settings.workspace_id_len)
                .ok_or_else(|| ApiError::bad_request("cursor is not a workspace id"))?,
        ),
    };
    let page = app.workspaces.page(after.as_ref(), limit).await?;
    let counts = join_all(page.workspaces.iter().map(|w| connected(app, w.attendees.keys()))).await;
    let workspaces = page
        .workspaces
        .into_iter()
        .zip(counts)
        .map(|(w, connected)| WorkspaceSummary {
            id: w.id.to_string(),
            attendees: w.attendees.len(),
            connected: connected.into_iter().filter(|c| *c).count(),
            name: w.name,
            avatar: w.avatar,
            created: w.created,
            owner: w.owner.to_string(),
        })
        .collect();
    Ok(Json(WorkspaceList {
        workspaces,
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

/// One workspace and its members.
#[utoipa::path(get, path = "/api/v1/workspaces/{id}", tag = "workspaces",
    params(("id" = String, Path, description = "The workspace id")),
    responses((status = 200, body = WorkspaceDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn show(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Answer<Json<WorkspaceDetail>> {
    let app = &api.app;
    let id = workspace_id(app, &id)?;
    let w = app.workspaces.find(&id).await?;
    Ok(Json(detail(app, w).await))
}

/// A new workspace with its owner, as the socket event `create` makes it
/// (within the live cap; the per-address cap is for browsers).
#[utoipa::path(post, path = "/api/v1/workspaces", tag = "workspaces", request_body = NewWorkspaceBody,
    responses(
        (status = 201, body = Session, description = "What `created` carries: the invite token is `workspace.token`; the owner's browser uses `accessToken`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody),
    ))]
pub async fn create(
    State(api): State<Arc<Api>>,
    given: Result<Json<NewWorkspaceBody>, JsonRejection>,
) -> Answer<(StatusCode, Json<Session>)> {
    let app = &api.app;
    let b = body(given)?;
    let s = &app.settings;
    let spec = NewWorkspace {
        name: text(
            b.name,
            &s.untitled_workspace,
            s.limits.max_name_length,
            "workspace",
            "name",
        )?,
        avatar: text(
            b.avatar,
            &s.default_workspace_avatar,
            s.limits.max_avatar_length,
            "workspace",
            "avatar",
        )?,
        pin: b.pin.unwrap_or_default(),
        owner: profile(app, b.owner, "owner")?,
    };
    let done = app.workspaces.create_for_operator(spec).await?;
    Ok((StatusCode::CREATED, Json(Session::from(&done.value))))
}

/// Changes the name, the avatar or the PIN.
#[utoipa::path(patch, path = "/api/v1/workspaces/{id}", tag = "workspaces", request_body = ChangesBody,
    params(("id" = String, Path, description = "The workspace id")),
    responses((status = 200, body = WorkspaceDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn patch(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    given: Result<Json<ChangesBody>, JsonRejection>,
) -> Answer<Json<WorkspaceDetail>> {
    let app = &api.app;
    let id = workspace_id(app, &id)?;
    let b = body(given)?;
    let s = &app.settings;
    let nonempty = |v: Option<String>, field: &'static str, max: usize| match v {
        Some(v) if v.is_empty() => Err(ApiError::bad_request(format!("{field} may not be empty"))),
        Some(v) => text(Some(v), "", max, "workspace", field).map(Some),
        None => Ok(None),
    };
    let changes = Changes {
        name: nonempty(b.name, "name", s.limits.max_name_length)?,
        avatar: b
            .avatar
            .map(|a| text(Some(a), "", s.limits.max_avatar_length, "workspace", "avatar"))
            .transpose()?,
        pin: b.pin,
    };
    let w = app.workspaces.change(&id, changes).await?;
    Ok(Json(detail(app, w).await))
}

/// Deletes the workspace: its room hears `destroyed`, as if its owner had destroyed it.
#[utoipa::path(delete, path = "/api/v1/workspaces/{id}", tag = "workspaces",
    params(("id" = String, Path, description = "The workspace id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn destroy(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Answer<StatusCode> {
    let app = &api.app;
    let id = workspace_id(app, &id)?;
    let done = app.workspaces.destroy_by_operator(&id).await?;
    announce(app, &done.events).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A seat minted by the app's backend: a new attendee, no PIN asked. The
/// browser becomes it by sending `re-attend` with the answer (the library's
/// stored session); the room hears `attend`.
#[utoipa::path(post, path = "/api/v1/workspaces/{id}/attendees", tag = "attendees", request_body = ProfileBody,
    params(("id" = String, Path, description = "The workspace id")),
    responses((status = 201, body = Session), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`full`: no seat left")))]
pub async fn seat(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    given: Result<Json<ProfileBody>, JsonRejection>,
) -> Answer<(StatusCode, Json<Session>)> {
    let app = &api.app;
    let id = workspace_id(app, &id)?;
    let who = profile(app, Some(body(given)?), "attendee")?;
    let done = app.workspaces.seat(&id, who).await?;
    announce(app, &done.events).await;
    Ok((StatusCode::CREATED, Json(Session::from(&done.value))))
}

/// Removes an attendee for good: the room and the attendee hear `kicked`,
/// its sockets leave the rooms, its access token is refused from then on.
#[utoipa::path(delete, path = "/api/v1/workspaces/{id}/attendees/{attendee}", tag = "attendees",
    params(("id" = String, Path, description = "The workspace id"), ("attendee" = String, Path, description = "The attendee id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`owner_cannot_be_removed`")))]
pub async fn remove(State(api): State<Arc<Api>>, Path((id, attendee)): Path<(String, String)>) -> Answer<StatusCode> {
    let app = &api.app;
    let id = workspace_id(app, &id)?;
    let attendee =
        AttendeeId::parse(&attendee, app.settings.workspace_id_len).ok_or(Rejection::Alert(Alert::TargetNotMember))?;
    let done = app.workspaces.remove_by_operator(&id, &attendee).await?;
    announce(app, &done.events).await;
    Ok(StatusCode::NO_CONTENT)
}
