//! What the server tells operators about itself: its version, the process's
//! Prometheus recorder and the name of every metric it exports. A leaf: it
//! imports nothing from the crate, so anything may count without pulling in
//! the HTTP side that renders the counts.
//!
//! The names are declared here once so that the README's list, the code that
//! counts and the code that reads can be checked against one place.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The server's version, as `--version`, `/health` and `GET /` report it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

// Gauges set at scrape time (`/metrics`), so the hot path pays nothing for them.
pub const SOCKETS_CONNECTED: &str = "wrw_sockets_connected";
pub const WORKSPACES: &str = "wrw_workspaces";
pub const ATTENDEES: &str = "wrw_attendees";
pub const CLUSTER_MODE: &str = "wrw_cluster_mode";
pub const UPTIME_SECONDS: &str = "wrw_uptime_seconds";
pub const REDIS_UP: &str = "wrw_redis_up";
pub const REDIS_LATENCY_SECONDS: &str = "wrw_redis_latency_seconds";
/// Webhook deliveries queued or waiting for a retry.
pub const WEBHOOK_PENDING: &str = "wrw_webhook_pending";
pub const WEBHOOK_OLDEST_PENDING_SECONDS: &str = "wrw_webhook_oldest_pending_seconds";

// Counters and histograms, counted where things happen.
pub const EVENTS_TOTAL: &str = "wrw_events_total";
pub const ALERTS_TOTAL: &str = "wrw_alerts_total";
pub const CONNECTIONS_REFUSED_TOTAL: &str = "wrw_connections_refused_total";
pub const MESSAGES_DROPPED_TOTAL: &str = "wrw_messages_dropped_total";
pub const STALLED_CONNECTIONS_CUT_TOTAL: &str = "wrw_stalled_connections_cut_total";
pub const WORKSPACES_EXPIRED_TOTAL: &str = "wrw_workspaces_expired_total";
/// Webhook tries by result: delivered, retried (a try failed, another comes), failed (no try left).
pub const WEBHOOK_DELIVERIES_TOTAL: &str = "wrw_webhook_deliveries_total";
pub const STORE_WRITES_TOTAL: &str = "wrw_store_writes_total";
pub const STORE_WRITE_SECONDS: &str = "wrw_store_write_seconds";
pub const STORE_COMPACTIONS_TOTAL: &str = "wrw_store_compactions_total";
pub const ORIGINAL_TOKEN_CHECK_SECONDS: &str = "wrw_original_token_check_seconds";
pub const ICE_PROVIDER_CALLS_TOTAL: &str = "wrw_ice_provider_calls_total";
pub const ICE_PROVIDER_FAILURES_TOTAL: &str = "wrw_ice_provider_failures_total";
pub const REDIS_PUBLISH_DROPPED_TOTAL: &str = "wrw_redis_publish_dropped_total";
/// The adapter's messages this node received from Redis (its own excluded):
/// what room channels spare a node with no part in a room's traffic.
pub const REDIS_MESSAGES_RECEIVED_TOTAL: &str = "wrw_redis_messages_received_total";
pub const REDIS_MESSAGES_DROPPED_TOTAL: &str = "wrw_redis_messages_dropped_total";
/// Changes of this node's holds (joins, departures) Redis could not be told:
/// applied by the reconcile once it answers.
pub const REDIS_HOLDS_UNRECORDED_TOTAL: &str = "wrw_redis_holds_unrecorded_total";

/// Counters `/metrics` lists from the first scrape on (README says which),
/// at 0 until they count: an operator alerting on them should not have to
/// tell "none yet" from "not exported".
const AT_START: [&str; 2] = [MESSAGES_DROPPED_TOTAL, STALLED_CONNECTIONS_CUT_TOTAL];

/// The process-wide recorder (metrics has one global recorder per process).
/// Whoever takes a counter handle must call this first: a handle taken
/// before the recorder is installed counts nowhere, for good.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will miss counters");
        }
        for name in AT_START {
            metrics::counter!(name).increment(0);
        }
        handle
    })
}
