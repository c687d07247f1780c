//! Limits against hostile clients (issue #5): PIN guessing, floods, creation
//! caps, connections per address. Every limit is a setting; the defaults are
//! far above what a real deployment behind one NAT (an office of 200 people)
//! does, and each answers the client with an alert saying what happened.
//!
//! In cluster mode the PIN-failure and create counters live in Redis
//! (`cluster::limits`), so N nodes do not give an attacker N times the
//! guesses; the per-socket event rate and the connections per address stay
//! per node (they are about one node's load).

mod bucket;
mod client_ip;
mod window;

pub use bucket::TokenBucket;
pub use client_ip::client_ip;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use crate::cluster::Cluster;
use crate::model::WorkspaceId;
use crate::settings::LimitSettings;
use crate::store::StoreError;
use window::WindowCounter;

/// What a client sees when it hits a limit.
pub const TOO_MANY_CONNECTIONS: &str = "Too many connections from your address.";

/// Counters beyond this many keys are swept of expired entries at once, and
/// when still full the oldest windows go first: memory stays bounded however
/// many addresses an attacker uses.
const MAX_TRACKED: usize = 100_000;

/// The window of `max_workspaces_per_ip_per_hour`.
const CREATE_WINDOW: Duration = Duration::from_secs(3600);

pub struct Limits {
    pub settings: LimitSettings,
    /// Cluster mode: the counters below are in Redis instead.
    shared: Option<Arc<Cluster>>,
    pins_by_ip: WindowCounter<(IpAddr, WorkspaceId)>,
    pins_by_workspace: WindowCounter<WorkspaceId>,
    creates_by_ip: WindowCounter<IpAddr>,
    connections: Arc<DashMap<IpAddr, usize>>,
}

impl Limits {
    pub fn new(settings: LimitSettings, shared: Option<Arc<Cluster>>) -> Limits {
        let pin_window = settings.failed_pin_window;
        Limits {
            shared,
            pins_by_ip: WindowCounter::new(pin_window, MAX_TRACKED),
            pins_by_workspace: WindowCounter::new(pin_window, MAX_TRACKED),
            creates_by_ip: WindowCounter::new(CREATE_WINDOW, MAX_TRACKED),
            connections: Arc::new(DashMap::new()),
            settings,
        }
    }

    /// Whether a PIN may be tried now (checked before the PIN check runs).
    pub async fn pin_attempt_allowed(&self, ip: IpAddr, workspace: &WorkspaceId) -> Result<bool, StoreError> {
        let (max_ip, max_ws) = (
            self.settings.max_failed_pins_per_ip,
            self.settings.max_failed_pins_per_workspace,
        );
        match &self.shared {
            Some(c) => c.pin_attempt_allowed(ip, workspace, max_ip, max_ws).await,
            None => Ok(self.pins_by_ip.count(&(ip, workspace.clone())) < max_ip
                && self.pins_by_workspace.count(workspace) < max_ws),
        }
    }

    pub async fn pin_failed(&self, ip: IpAddr, workspace: &WorkspaceId) -> Result<(), StoreError> {
        match &self.shared {
            Some(c) => {
                let counters = [
                    crate::cluster::limits::pin_by_ip(ip, workspace),
                    crate::cluster::limits::pin_by_workspace(workspace),
                ];
                c.count(self.settings.failed_pin_window, None, &counters).await?;
            }
            None => {
                self.pins_by_ip.add(&(ip, workspace.clone()));
                self.pins_by_workspace.add(workspace);
            }
        }
        Ok(())
    }

    /// Counts a workspace creation from `ip`; false when over the hourly cap.
    pub async fn create_allowed(&self, ip: IpAddr) -> Result<bool, StoreError> {
        let max = self.settings.max_workspaces_per_ip_per_hour;
        if let Some(c) = &self.shared {
            let counter = [crate::cluster::limits::creates_by_ip(ip)];
            return c.count(CREATE_WINDOW, Some(max), &counter).await;
        }
        if self.creates_by_ip.count(&ip) >= max {
            return Ok(false);
        }
        self.creates_by_ip.add(&ip);
        Ok(true)
    }

    /// Takes a connection slot for `ip`; the slot is freed when the returned
    /// guard drops. None when the address has no slot left.
    pub fn connect(&self, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut n = self.connections.entry(ip).or_insert(0);
        if *n >= self.settings.max_connections_per_ip {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            ip,
            connections: self.connections.clone(),
        })
    }
}

/// One open connection of an address.
pub struct ConnectionSlot {
    ip: IpAddr,
    connections: Arc<DashMap<IpAddr, usize>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.connections.remove_if_mut(&self.ip, |_, n| {
            *n -= 1;
            *n == 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::new(
            LimitSettings {
                max_failed_pins_per_ip: 2,
                max_failed_pins_per_workspace: 3,
                max_workspaces_per_ip_per_hour: 2,
                max_connections_per_ip: 2,
                ..LimitSettings::default()
            },
            None,
        )
    }

    #[tokio::test]
    async fn pin_failures_lock_per_address_and_per_workspace() {
        let l = limits();
        let ws = WorkspaceId::generate(10);
        let (a, b, c) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), [10, 0, 0, 3].into());
        l.pin_failed(a, &ws).await.unwrap();
        assert!(l.pin_attempt_allowed(a, &ws).await.unwrap());
        l.pin_failed(a, &ws).await.unwrap();
        assert!(!l.pin_attempt_allowed(a, &ws).await.unwrap());
        assert!(
            l.pin_attempt_allowed(b, &ws).await.unwrap(),
            "another address may still try"
        );
        assert!(
            l.pin_attempt_allowed(a, &WorkspaceId::generate(10)).await.unwrap(),
            "another workspace too"
        );
        l.pin_failed(b, &ws).await.unwrap();
        assert!(
            !l.pin_attempt_allowed(c, &ws).await.unwrap(),
            "the workspace-wide cap holds for everyone"
        );
    }

    #[test]
    fn connection_slots_are_returned() {
        let l = limits();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let one = l.connect(ip).unwrap();
        let _two = l.connect(ip).unwrap();
        assert!(l.connect(ip).is_none());
        drop(one);
        assert!(l.connect(ip).is_some());
    }

    #[tokio::test]
    async fn creation_cap() {
        let l = limits();
        let ip: IpAddr = [10, 0, 0, 1].into();
        assert!(l.create_allowed(ip).await.unwrap() && l.create_allowed(ip).await.unwrap());
        assert!(!l.create_allowed(ip).await.unwrap());
        assert!(l.create_allowed([10, 0, 0, 2].into()).await.unwrap());
    }
}
