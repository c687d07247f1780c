//! `GET /metrics`, in Prometheus text format.
//!
//! Gauges that describe current state (sockets, workspaces) are read at
//! scrape time rather than kept up to date on every event, so the hot path
//! pays nothing for them; counters are incremented where things happen.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::STORE_STATS_TIMEOUT;
use crate::app::App;
use crate::telemetry::{self, recorder};

pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let mut by_kind: BTreeMap<(&'static str, &'static str), u64> = BTreeMap::new();
    for kind in [
        ("3", "polling"),
        ("3", "websocket"),
        ("4", "polling"),
        ("4", "websocket"),
    ] {
        by_kind.insert(kind, 0);
    }
    for kind in app.io.local_sockets() {
        *by_kind.entry(kind).or_default() += 1;
    }
    for ((eio, transport), n) in by_kind {
        metrics::gauge!(telemetry::SOCKETS_CONNECTED, "eio" => eio, "transport" => transport).set(n as f64);
    }
    match tokio::time::timeout(STORE_STATS_TIMEOUT, app.workspaces.store().stats()).await {
        Ok(Ok(stats)) => {
            metrics::gauge!(telemetry::WORKSPACES).set(stats.workspaces as f64);
            metrics::gauge!(telemetry::ATTENDEES).set(stats.attendees as f64);
        }
        // Nothing on one node; across nodes, /health says so too from now on.
        _ => app.presence.note_unanswered("no answer to /metrics' own query"),
    }
    let shared = app.presence.shared_health();
    metrics::gauge!(telemetry::CLUSTER_MODE).set(if shared.is_some() { 1.0 } else { 0.0 });
    if let Some(h) = shared {
        metrics::gauge!(telemetry::REDIS_UP).set(if h.reachable { 1.0 } else { 0.0 });
        if let Some(ms) = h.latency_ms {
            metrics::gauge!(telemetry::REDIS_LATENCY_SECONDS).set(ms / 1000.0);
        }
    }
    if let Some(w) = &app.webhooks {
        w.record_gauges();
    }
    metrics::gauge!(telemetry::UPTIME_SECONDS).set(app.started.elapsed().as_secs_f64());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        recorder().render(),
    )
        .into_response()
}
