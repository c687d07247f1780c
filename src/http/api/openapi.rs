//! The OpenAPI document, derived from the handlers' annotations and the
//! types they read and answer (utoipa): it cannot drift from the code.

use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorDetail};
use super::workspaces::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "webRTCWorkspaces operator API",
        description = "Workspaces seen and changed from an application's backend. Every endpoint but this document needs `Authorization: Bearer <key>` (OPERATOR_API_KEYS)."
    ),
    paths(list, show, create, patch, destroy, seat, remove),
    components(schemas(
        ErrorBody, ErrorDetail, AttendeeBody, WorkspaceSummary, WorkspaceList, Member, WorkspaceDetail,
        WorkspaceInfo, Session, ProfileBody, NewWorkspaceBody, ChangesBody
    )),
    modifiers(&BearerKey),
    security(("operator_key" = []))
)]
struct Document;

/// The key scheme every guarded endpoint needs.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("operator_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// `GET /api/v1/openapi.json`: needs no key (it holds nothing secret).
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    let mut doc = Document::openapi();
    doc.info.version = crate::telemetry::VERSION.to_string();
    Json(doc)
}
