//! Webhooks: every workspace event, POSTed to each of `webhook_urls`,
//! signed by the Standard Webhooks scheme (`sign.rs`), in order per
//! workspace and URL, retried on the `webhook_retry_delays_ms` schedule.
//!
//! `Webhooks` is a consumer of the core's events (`workspaces::Consumer`):
//! the one path by which anything becomes a webhook. Its `on` only queues;
//! each (URL, workspace) lane is drained by a task of its own while it has
//! anything, so a slow or failing receiver holds up that workspace's later
//! events for that URL and nothing else.
//!
//! In this step the queue is this process's memory: what is pending when
//! the process ends is lost, whatever the store (README, Webhooks).

mod delivery;
mod message;
mod sign;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::model::{now_millis, WorkspaceId};
use crate::settings::{Settings, WebhookSecrets};
use crate::telemetry;
use crate::workspaces::{Consumer, WorkspaceEvent};
use delivery::{Delivery, Endpoint};
pub use message::Message;

/// Failed deliveries kept for a replay; beyond it the oldest are forgotten (and logged).
const MAX_FAILED: usize = 10_000;
/// Deliveries queued or waiting for a retry at most (a receiver down for
/// hours must not grow the memory without bound): beyond it a new delivery
/// is listed as failed at once, for a replay.
const MAX_PENDING: usize = 100_000;

/// A delivery that had no try left, listed until it is replayed.
#[derive(Clone, Debug)]
pub struct Failed {
    pub message: Arc<Message>,
    pub url: String,
    pub attempts: u32,
    pub last_error: String,
    /// Milliseconds since the epoch.
    pub last_attempt_at: u64,
}

/// The webhook sender: one per server, when `webhook_urls` is set.
pub struct Webhooks {
    endpoints: Vec<Arc<Endpoint>>,
    /// The last sequence number given per workspace (gone with the workspace).
    seqs: DashMap<WorkspaceId, u64>,
    shared: Arc<Shared>,
}

/// What the lanes' tasks share with the handle.
pub(crate) struct Shared {
    secrets: WebhookSecrets,
    client: reqwest::Client,
    delays: Vec<Duration>,
    /// Keyed by (message id, URL index).
    failed: Mutex<BTreeMap<(String, usize), Failed>>,
    /// Every delivery not finished yet, by when it was queued (for the oldest's age).
    pending: Mutex<BTreeMap<(Instant, u64), ()>>,
    next_ticket: std::sync::atomic::AtomicU64,
}

impl Webhooks {
    /// `None` when no URL is configured (the settings made sure a secret is
    /// set whenever one is).
    pub fn from_settings(settings: &Settings) -> Option<Arc<Webhooks>> {
        let secrets = settings.webhook_secret.clone()?;
        if settings.webhook_urls.is_empty() {
            return None;
        }
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(crate::tls::client_config())
            .timeout(settings.webhook_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with a fixed configuration builds");
        let shared = Arc::new(Shared {
            secrets,
            client,
            delays: settings.webhook_retry_delays.clone(),
            failed: Mutex::new(BTreeMap::new()),
            pending: Mutex::new(BTreeMap::new()),
            next_ticket: Default::default(),
        });
        let endpoints = settings
            .webhook_urls
            .iter()
            .enumerate()
            .map(|(index, url)| Arc::new(Endpoint::new(index, url.clone())))
            .collect();
        Some(Arc::new(Webhooks {
            endpoints,
            seqs: DashMap::new(),
            shared,
        }))
    }

    /// Queues `message` for every URL.
    fn send(&self, message: Message) {
        let message = Arc::new(message);
        for endpoint in &self.endpoints {
            let full = self.shared.pending.lock().expect("pending lock").len() >= MAX_PENDING;
            if full {
                metrics::counter!(telemetry::WEBHOOK_DELIVERIES_TOTAL, "result" => "failed").increment(1);
                tracing::warn!(url = %endpoint.url(), id = %message.id, "webhook: {MAX_PENDING} deliveries pending; listed as failed without a try");
                self.shared.park(
                    endpoint.index(),
                    Failed {
                        message: message.clone(),
                        url: endpoint.url().to_string(),
                        attempts: 0,
                        last_error: format!("not tried: {MAX_PENDING} deliveries were pending"),
                        last_attempt_at: now_millis(),
                    },
                );
                continue;
            }
            endpoint.queue(&self.shared, Delivery::new(&self.shared, message.clone()));
        }
    }

    /// The deliveries that had no try left.
    pub fn failed(&self) -> Vec<Failed> {
        self.shared
            .failed
            .lock()
            .expect("failed lock")
            .values()
            .cloned()
            .collect()
    }

    /// Queues the failed deliveries of message `id` again (each to the URL
    /// it failed for); false when none has that id.
    pub fn retry(&self, id: &str) -> bool {
        let again: Vec<(usize, Failed)> = {
            let mut failed = self.shared.failed.lock().expect("failed lock");
            let keys: Vec<_> = failed
                .range((id.to_string(), 0)..=(id.to_string(), usize::MAX))
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| failed.remove(&k).map(|f| (k.1, f)))
                .collect()
        };
        for (index, f) in &again {
            if let Some(endpoint) = self.endpoints.get(*index) {
                endpoint.queue(&self.shared, Delivery::new(&self.shared, f.message.clone()));
            }
        }
        !again.is_empty()
    }

    /// The gauges, set at scrape time.
    pub fn record_gauges(&self) {
        let pending = self.shared.pending.lock().expect("pending lock");
        metrics::gauge!(telemetry::WEBHOOK_PENDING).set(pending.len() as f64);
        let oldest = pending.keys().next().map_or(0.0, |(at, _)| at.elapsed().as_secs_f64());
        metrics::gauge!(telemetry::WEBHOOK_OLDEST_PENDING_SECONDS).set(oldest);
    }
}

impl Consumer for Webhooks {
    fn on(&self, event: &WorkspaceEvent) {
        let ws = event.workspace();
        let timestamp = crate::model::iso8601(now_millis());
        for (kind, data) in message::describe(event) {
            let seq = {
                let mut n = self.seqs.entry(ws.clone()).or_insert(0);
                *n += 1;
                *n
            };
            self.send(message::message(ws, kind, data, seq, &timestamp));
        }
        if matches!(event, WorkspaceEvent::Destroyed { .. }) {
            self.seqs.remove(ws);
        }
    }
}

impl Shared {
    fn ticket(&self) -> (Instant, u64) {
        let n = self.next_ticket.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = (Instant::now(), n);
        self.pending.lock().expect("pending lock").insert(key, ());
        key
    }

    fn done(&self, ticket: (Instant, u64)) {
        self.pending.lock().expect("pending lock").remove(&ticket);
    }

    fn park(&self, index: usize, failed: Failed) {
        let mut list = self.failed.lock().expect("failed lock");
        if list.len() >= MAX_FAILED {
            let oldest = list
                .iter()
                .min_by_key(|(_, f)| f.last_attempt_at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                tracing::warn!(id = %k.0, "webhook: the failed list is full; forgetting its oldest delivery");
                list.remove(&k);
            }
        }
        list.insert((failed.message.id.clone(), index), failed);
    }
}
