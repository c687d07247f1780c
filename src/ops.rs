//! What operators look at: `/health` for load balancers and container
//! checks, `/metrics` in Prometheus text format.
//!
//! Gauges that describe current state (sockets, workspaces) are read at
//! scrape time rather than kept up to date on every event, so the hot path
//! pays nothing for them; counters are incremented where things happen.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

use crate::app::App;

/// The process-wide recorder (metrics has one global recorder per process).
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will miss counters");
        }
        handle
    })
}

pub async fn health(State(app): State<Arc<App>>) -> Response {
    let stats = app.store.stats().await.unwrap_or_default();
    let draining = app.is_draining();
    let body = json!({
        "status": if draining { "draining" } else { "ok" },
        "version": crate::VERSION,
        "uptime_secs": app.started.elapsed().as_secs(),
        "sockets": app.io.local_sockets().len(),
        "workspaces": stats.workspaces,
    });
    let code = if draining {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body)).into_response()
}

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
        metrics::gauge!("wrw_sockets_connected", "eio" => eio, "transport" => transport).set(n as f64);
    }
    let stats = app.store.stats().await.unwrap_or_default();
    metrics::gauge!("wrw_workspaces").set(stats.workspaces as f64);
    metrics::gauge!("wrw_attendees").set(stats.attendees as f64);
    metrics::gauge!("wrw_uptime_seconds").set(app.started.elapsed().as_secs_f64());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        recorder().render(),
    )
        .into_response()
}
