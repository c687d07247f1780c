//! The operator API (`/api/v1`): JSON over HTTP for an application's
//! backend, on only when `OPERATOR_API_KEYS` is set. Every route but the
//! OpenAPI document needs a key (`auth.rs`). The endpoints call the same
//! workspace core as the socket events (`workspaces.rs`); the document is
//! generated from the handlers and types themselves (`openapi.rs`).
//!
//! No CORS: it is for servers, and a browser holding an operator key would
//! be a leak in itself.

mod auth;
mod error;
mod openapi;
mod workspaces;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use axum::Router;

use crate::app::App;
use crate::settings::OperatorKeys;
use error::ApiError;

/// Where the API is mounted.
pub const PREFIX: &str = "/api/v1";
/// Largest request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers share.
pub struct Api {
    app: Arc<App>,
    keys: OperatorKeys,
    failures: auth::Failures,
}

/// The API's routes under `/api/v1`; `None` when no key is configured.
pub fn router(app: Arc<App>) -> Option<Router> {
    let keys = app.settings.operator_api_keys.clone()?;
    let api = Arc::new(Api {
        app,
        keys,
        failures: auth::Failures::default(),
    });
    let guarded = Router::new()
        .route("/workspaces", get(workspaces::list).post(workspaces::create))
        .route(
            "/workspaces/{id}",
            get(workspaces::show)
                .patch(workspaces::patch)
                .delete(workspaces::destroy),
        )
        .route("/workspaces/{id}/attendees", axum::routing::post(workspaces::seat))
        .route(
            "/workspaces/{id}/attendees/{attendee}",
            axum::routing::delete(workspaces::remove),
        )
        .route_layer(middleware::from_fn_with_state(api.clone(), auth::authorize));
    let routes = Router::new()
        .route("/openapi.json", get(openapi::document))
        .merge(guarded)
        .fallback(|| async { ApiError::not_found() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api);
    Some(Router::new().nest(PREFIX, routes))
}
