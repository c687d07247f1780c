//! The HTTP side: `GET /` (the "is my server running?" page), `/demo` (the
//! demo and self-test page, `demo_page`), static files from `public/`, and
//! CORS for the Socket.IO transports.
//!
//! socket.io 2 polling sends credentials, so a `*` CORS answer is refused by
//! browsers: the request's own origin is echoed, with credentials allowed.
//! WebSocket upgrades are not covered by CORS in browsers at all, so when the
//! operator restricts origins, the `Origin` of Socket.IO requests is checked
//! here too.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::services::ServeDir;

use crate::app::App;
use crate::ops;
use crate::settings::{CorsOrigins, MetricsEndpoint};
use crate::VERSION;

mod demo;
mod owned_head;

pub use owned_head::owned_head;

/// `/metrics` alone, for `metrics_address` = a listener of its own.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new().route("/metrics", get(ops::metrics)).with_state(app)
}

/// The whole HTTP service; `socket_io` is the Socket.IO layer to serve beside it.
pub fn router<L>(app: Arc<App>, socket_io: L) -> Router
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<Request, Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
    <L::Service as tower::Service<Request>>::Response: IntoResponse + 'static,
    <L::Service as tower::Service<Request>>::Future: Send + 'static,
{
    let cors = cors_layer(&app.settings.cors_origins);
    let mut routes = Router::new().route("/", get(index)).route("/health", get(ops::health));
    if app.settings.metrics == MetricsEndpoint::SamePort {
        routes = routes.route("/metrics", get(ops::metrics));
    }
    if app.settings.demo_page.enabled(app.settings.development) {
        routes = routes.merge(demo::routes());
    }
    routes
        .fallback_service(ServeDir::new(&app.settings.public_dir))
        .layer(socket_io)
        .layer(middleware::from_fn_with_state(app.clone(), check_origin))
        .layer(cors)
        .with_state(app)
}

async fn index() -> impl IntoResponse {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>webRTCWorkspaces signaling server</title></head>\
         <body><h1>webRTCWorkspaces signaling server is up and running</h1><p>version {VERSION}</p></body></html>"
    ))
}

fn cors_layer(origins: &CorsOrigins) -> CorsLayer {
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
async fn check_origin(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
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
