//! `GET /health`, for load balancers and container checks: 200 while this
//! node serves, 503 while it drains or (cluster mode) Redis does not answer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::STORE_STATS_TIMEOUT;
use crate::app::App;
use crate::telemetry::VERSION;

pub async fn health(State(app): State<Arc<App>>) -> Response {
    let mut redis = app.presence.shared_health();
    let stats = match &redis {
        Some(r) if !r.reachable => None,
        _ => tokio::time::timeout(STORE_STATS_TIMEOUT, app.workspaces.store().stats())
            .await
            .ok()
            .and_then(Result::ok),
    };
    if let (Some(r), None) = (&redis, &stats) {
        if r.reachable {
            // Redis did not answer this request either: say so now, not at the next beat.
            app.presence.note_unanswered("no answer to /health's own query");
            redis = app.presence.shared_health();
        }
    }
    let draining = app.is_draining();
    let status = match &redis {
        _ if draining => "draining",
        Some(r) if !r.reachable => "redis_unreachable",
        _ => "ok",
    };
    let mut body = json!({
        "status": status,
        "version": VERSION,
        "uptime_secs": app.started.elapsed().as_secs(),
        "sockets": app.io.local_sockets().len(),
        "workspaces": stats.map(|s| s.workspaces),
        "node_id": app.settings.node_id,
        "cluster": redis.is_some(),
    });
    if let Some(r) = redis {
        body["redis"] = json!(r);
    }
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}
