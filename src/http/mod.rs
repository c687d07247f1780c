//! The HTTP side: the router around the Socket.IO layer. `GET /` (the "is my
//! server running?" page) is here; each other route, and the origin policy,
//! is a module of its own: `/health`, `/metrics`, `/demo` (the demo and
//! self-test page, `demo_page`), static files from `public/`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use tower_http::services::ServeDir;

use crate::app::App;
use crate::settings::{MetricsEndpoint, OperatorEndpoint};
use crate::telemetry::VERSION;

pub mod api;
mod demo;
mod health;
mod metrics;
mod origin;
mod owned_head;

pub use owned_head::owned_head;

/// Bound on the store's answer to `/health` and `/metrics` (Redis may be
/// away): the workspace count is then left out rather than the answer delayed.
const STORE_STATS_TIMEOUT: Duration = Duration::from_millis(500);

/// `/metrics` alone, for `metrics_address` = a listener of its own.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new().route("/metrics", get(metrics::metrics)).with_state(app)
}

/// The whole HTTP service; `socket_io` is the Socket.IO layer to serve beside it.
pub fn router<L>(app: Arc<App>, socket_io: L) -> Router
where
    L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
    L::Service: tower::Service<Request, Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
    <L::Service as tower::Service<Request>>::Response: IntoResponse + 'static,
    <L::Service as tower::Service<Request>>::Future: Send + 'static,
{
    let cors = origin::cors_layer(&app.settings.cors_origins);
    let mut routes = Router::new()
        .route("/", get(index))
        .route("/health", get(health::health));
    if app.settings.metrics == MetricsEndpoint::SamePort {
        routes = routes.route("/metrics", get(metrics::metrics));
    }
    if app.settings.demo_page.enabled(app.settings.development) {
        routes = routes.merge(demo::routes());
    }
    let api = match app.settings.operator {
        OperatorEndpoint::SamePort => api::router(app.clone()),
        OperatorEndpoint::Separate(_) => None,
    };
    let main = routes
        .fallback_service(ServeDir::new(&app.settings.public_dir))
        .layer(socket_io)
        .layer(middleware::from_fn_with_state(app.clone(), origin::check_origin))
        .layer(cors)
        .with_state(app);
    // Merged outside the CORS and Socket.IO layers: the API answers servers only.
    match api {
        Some(api) => api.merge(main),
        None => main,
    }
}

async fn index() -> impl IntoResponse {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>webRTCWorkspaces signaling server</title></head>\
         <body><h1>webRTCWorkspaces signaling server is up and running</h1><p>version {VERSION}</p></body></html>"
    ))
}
