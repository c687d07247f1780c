//! One URL's lanes: a queue per workspace, drained in order by a task that
//! lives while the lane has anything; each try signed afresh (the
//! timestamp is the try's), retried on the schedule with jitter, a longer
//! `Retry-After` honoured; a 410 disables the URL.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;

use super::{sign, Failed, Message, Shared};
use crate::model::{now_millis, WorkspaceId};
use crate::telemetry;

/// One message on its way to one URL.
pub struct Delivery {
    message: Arc<Message>,
    ticket: (Instant, u64),
}

impl Delivery {
    pub fn new(shared: &Shared, message: Arc<Message>) -> Delivery {
        Delivery {
            message,
            ticket: shared.ticket(),
        }
    }
}

pub struct Endpoint {
    index: usize,
    url: String,
    /// A 410 said the receiver is gone for good.
    disabled: AtomicBool,
    lanes: Mutex<HashMap<WorkspaceId, VecDeque<Delivery>>>,
}

/// How one try went.
enum Outcome {
    Delivered,
    /// Try again, no sooner than the `Retry-After` if any.
    Failed(String, Option<Duration>),
    Gone,
}

impl Endpoint {
    pub fn new(index: usize, url: String) -> Endpoint {
        Endpoint {
            index,
            url,
            disabled: AtomicBool::new(false),
            lanes: Mutex::new(HashMap::new()),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn index(&self) -> usize {
        self.index
    }

    /// Appends to the workspace's lane, starting its task if it had none.
    pub fn queue(self: &Arc<Self>, shared: &Arc<Shared>, delivery: Delivery) {
        let ws = delivery.message.workspace.clone();
        let mut lanes = self.lanes.lock().expect("lanes lock");
        match lanes.get_mut(&ws) {
            Some(lane) => lane.push_back(delivery),
            None => {
                lanes.insert(ws.clone(), VecDeque::from([delivery]));
                tokio::spawn(self.clone().drain(shared.clone(), ws));
            }
        }
    }

    /// Delivers the lane's head until the lane is empty, then removes it.
    async fn drain(self: Arc<Self>, shared: Arc<Shared>, ws: WorkspaceId) {
        loop {
            let message = {
                let lanes = self.lanes.lock().expect("lanes lock");
                match lanes.get(&ws).and_then(|l| l.front()) {
                    Some(d) => d.message.clone(),
                    None => return,
                }
            };
            self.deliver(&shared, &message).await;
            let mut lanes = self.lanes.lock().expect("lanes lock");
            let lane = lanes.get_mut(&ws).expect("a drained lane stays until its task ends");
            if let Some(done) = lane.pop_front() {
                shared.done(done.ticket);
            }
            if lane.is_empty() {
                lanes.remove(&ws);
                return;
            }
        }
    }

    /// Tries until delivered or out of tries (then parked as failed).
    async fn deliver(&self, shared: &Shared, message: &Arc<Message>) {
        let mut attempts = 0u32;
        loop {
            let outcome = if self.disabled.load(Ordering::Relaxed) {
                Outcome::Gone
            } else {
                attempts += 1;
                self.try_once(shared, message).await
            };
            let (error, retry_after) = match outcome {
                Outcome::Delivered => {
                    metrics::counter!(telemetry::WEBHOOK_DELIVERIES_TOTAL, "result" => "delivered").increment(1);
                    return;
                }
                Outcome::Gone => {
                    if !self.disabled.swap(true, Ordering::Relaxed) {
                        tracing::error!(url = %self.url, "webhook: the receiver answered 410 Gone; this URL gets nothing more until the server restarts");
                    }
                    ("the URL is disabled: its receiver answered 410 Gone".to_string(), None)
                }
                Outcome::Failed(error, retry_after) => (error, retry_after),
            };
            let next = shared
                .delays
                .get(attempts as usize - 1)
                .copied()
                .filter(|_| !self.disabled.load(Ordering::Relaxed));
            let Some(delay) = next else {
                metrics::counter!(telemetry::WEBHOOK_DELIVERIES_TOTAL, "result" => "failed").increment(1);
                tracing::warn!(url = %self.url, id = %message.id, kind = message.kind, attempts, error = %error, "webhook: no try left; listed as failed");
                shared.park(
                    self.index,
                    Failed {
                        message: message.clone(),
                        url: self.url.clone(),
                        attempts,
                        last_error: error,
                        last_attempt_at: now_millis(),
                    },
                );
                return;
            };
            metrics::counter!(telemetry::WEBHOOK_DELIVERIES_TOTAL, "result" => "retried").increment(1);
            tracing::info!(url = %self.url, id = %message.id, attempts, error = %error, "webhook: try failed; will retry");
            let jittered = delay.mul_f64(rand::thread_rng().gen_range(0.8..1.2));
            tokio::time::sleep(retry_after.map_or(jittered, |r| r.max(jittered))).await;
        }
    }

    async fn try_once(&self, shared: &Shared, message: &Message) -> Outcome {
        let timestamp = now_millis() / 1000;
        let signature = sign::signature(&shared.secrets, &message.id, timestamp, &message.body);
        let sent = shared
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(message.body.to_string())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Outcome::Delivered,
            Ok(r) if r.status() == reqwest::StatusCode::GONE => Outcome::Gone,
            Ok(r) => {
                let retry_after = r
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(86_400)));
                Outcome::Failed(format!("HTTP {}", r.status()), retry_after)
            }
            Err(e) => Outcome::Failed(e.to_string(), None),
        }
    }
}
