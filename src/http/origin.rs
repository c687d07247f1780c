//! Which origins may call: CORS for the Socket.IO transports, and the
//! `Origin` check of Socket.IO requests.
//!
//! socket.io 2 polling sends credentials, so a `*` CORS answer is refused by
//! browsers: the request's own origin is echoed, with credentials allowed.
//! WebSocket upgrades are not covered by CORS in browsers at all, so when the
//! operator restricts origins, the `Origin` of Socket.IO requests is checked
//! here too.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::app::App;
use crate::settings::CorsOrigins;

pub(super) fn cors_layer(origins: &CorsOrigins) -> CorsLayer {
    match origins {
        CorsOrigins::Any => CorsLayer::very_permissive(),
        CorsOrigins::List(list) => CorsLayer::new()
            .allow_origin(AllowOrigin::list(
                list.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
            ))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(AllowHeaders::mirror_request()),
    }
}

/// Refuses Socket.IO requests (polling and WebSocket) from origins not on the list.
pub(super) async fn check_origin(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    if let CorsOrigins::List(list) = &app.settings.cors_origins {
        let origin = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok());
        if let Some(origin) = origin {
            if request.uri().path().starts_with("/socket.io") && !list.iter().any(|o| o == origin) {
                return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
            }
        }
    }
    next.run(request).await
}
