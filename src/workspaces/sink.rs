//! Where the core's events go besides the room: consumers subscribed at
//! startup. A consumer is called in line with the operation that caused
//! the event, so it must not block: it logs, counts, or queues for its own
//! task (a webhook sender queues; it never awaits an HTTP call here, which
//! would stall the sender's ordered inbox).
//!
//! The room's messages are not a consumer of this sink: they are sent by the
//! socket layer from the events an operation returns, in the sender's own
//! order (a kicked attendee hears `kicked` before its sockets leave the
//! room; `docs/PROTOCOL.md`).

use std::sync::Arc;

use super::events::{DestroyReason, LeaveReason, WorkspaceEvent};
use crate::telemetry;

/// Something told about every workspace event, in order.
pub trait Consumer: Send + Sync + 'static {
    /// Must return at once (see the module's doc).
    fn on(&self, event: &WorkspaceEvent);
}

/// The subscribed consumers.
#[derive(Clone, Default)]
pub struct EventSink {
    consumers: Vec<Arc<dyn Consumer>>,
}

impl EventSink {
    /// The sink every server has: the logs and the metrics.
    pub fn standard() -> EventSink {
        let mut sink = EventSink::default();
        sink.subscribe(Arc::new(Logs));
        sink
    }

    pub fn subscribe(&mut self, consumer: Arc<dyn Consumer>) {
        self.consumers.push(consumer);
    }

    pub fn publish(&self, events: &[WorkspaceEvent]) {
        for event in events {
            for consumer in &self.consumers {
                consumer.on(event);
            }
        }
    }
}

/// The log line (and, for expiry, the counter) of each event.
struct Logs;

impl Consumer for Logs {
    fn on(&self, event: &WorkspaceEvent) {
        match event {
            WorkspaceEvent::Created { workspace, owner } => {
                tracing::info!(%workspace, owner = %owner.id, "workspace created")
            }
            WorkspaceEvent::Joined { workspace, attendee } => {
                tracing::info!(%workspace, attendee = %attendee.id, "attendee joined")
            }
            WorkspaceEvent::Rejoined {
                workspace,
                attendee,
                restored,
            } => tracing::debug!(%workspace, attendee = %attendee.id, restored, "attendee re-attended"),
            WorkspaceEvent::Left {
                workspace,
                attendee,
                reason,
            } => {
                let attendee = &attendee.id;
                match reason {
                    LeaveReason::Left => tracing::info!(%workspace, %attendee, "attendee left"),
                    LeaveReason::Kicked => tracing::info!(%workspace, %attendee, "attendee kicked"),
                    LeaveReason::Removed => tracing::info!(%workspace, %attendee, "attendee removed by the operator"),
                    LeaveReason::Lapsed => {
                        tracing::info!(%workspace, %attendee, "attendee lapsed after its grace period")
                    }
                }
            }
            WorkspaceEvent::Destroyed { workspace, reason, .. } => match reason {
                DestroyReason::Owner => tracing::info!(%workspace, "workspace destroyed"),
                DestroyReason::Operator => tracing::info!(%workspace, "workspace destroyed by the operator"),
                DestroyReason::Expired => {
                    tracing::info!(%workspace, "workspace expired: no member connected for the expiry period");
                    metrics::counter!(telemetry::WORKSPACES_EXPIRED_TOTAL).increment(1);
                }
            },
        }
    }
}
