//! Limits against hostile clients (issue #5): PIN guessing, floods, creation
//! caps, connections per address. Every limit is a setting; the defaults are
//! far above what a real deployment behind one NAT (an office of 200 people)
//! does, and each answers the client with an alert saying what happened.

mod bucket;
mod client_ip;
mod window;

pub use bucket::TokenBucket;
pub use client_ip::client_ip;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use crate::model::WorkspaceId;
use crate::settings::LimitSettings;
use window::WindowCounter;

/// What a client sees when it hits a limit.
pub const TOO_MANY_CONNECTIONS: &str = "Too many connections from your address.";

/// Counters beyond this many keys are swept of expired entries at once, and
/// when still full the oldest windows go first: memory stays bounded however
/// many addresses an attacker uses.
const MAX_TRACKED: usize = 100_000;

pub struct Limits {
    pub settings: LimitSettings,
    pins_by_ip: WindowCounter<(IpAddr, WorkspaceId)>,
    pins_by_workspace: WindowCounter<WorkspaceId>,
    creates_by_ip: WindowCounter<IpAddr>,
    connections: Arc<DashMap<IpAddr, usize>>,
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Limits {
        let pin_window = settings.failed_pin_window;
        Limits {
            pins_by_ip: WindowCounter::new(pin_window, MAX_TRACKED),
            pins_by_workspace: WindowCounter::new(pin_window, MAX_TRACKED),
            creates_by_ip: WindowCounter::new(Duration::from_secs(3600), MAX_TRACKED),
            connections: Arc::new(DashMap::new()),
            settings,
        }
    }

    /// Whether a PIN may be tried now (checked before the PIN check runs).
    pub fn pin_attempt_allowed(&self, ip: IpAddr, workspace: &WorkspaceId) -> bool {
        self.pins_by_ip.count(&(ip, workspace.clone())) < self.settings.max_failed_pins_per_ip
            && self.pins_by_workspace.count(workspace) < self.settings.max_failed_pins_per_workspace
    }

    pub fn pin_failed(&self, ip: IpAddr, workspace: &WorkspaceId) {
        self.pins_by_ip.add(&(ip, workspace.clone()));
        self.pins_by_workspace.add(workspace);
    }

    /// Counts a workspace creation from `ip`; false when over the hourly cap.
    pub fn create_allowed(&self, ip: IpAddr) -> bool {
        if self.creates_by_ip.count(&ip) >= self.settings.max_workspaces_per_ip_per_hour {
            return false;
        }
        self.creates_by_ip.add(&ip);
        true
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
        Limits::new(LimitSettings {
            max_failed_pins_per_ip: 2,
            max_failed_pins_per_workspace: 3,
            max_workspaces_per_ip_per_hour: 2,
            max_connections_per_ip: 2,
            ..LimitSettings::default()
        })
    }

    #[test]
    fn pin_failures_lock_per_address_and_per_workspace() {
        let l = limits();
        let ws = WorkspaceId::generate(10);
        let (a, b, c) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), [10, 0, 0, 3].into());
        l.pin_failed(a, &ws);
        assert!(l.pin_attempt_allowed(a, &ws));
        l.pin_failed(a, &ws);
        assert!(!l.pin_attempt_allowed(a, &ws));
        assert!(l.pin_attempt_allowed(b, &ws), "another address may still try");
        assert!(
            l.pin_attempt_allowed(a, &WorkspaceId::generate(10)),
            "another workspace too"
        );
        l.pin_failed(b, &ws);
        assert!(
            !l.pin_attempt_allowed(c, &ws),
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

    #[test]
    fn creation_cap() {
        let l = limits();
        let ip: IpAddr = [10, 0, 0, 1].into();
        assert!(l.create_allowed(ip) && l.create_allowed(ip));
        assert!(!l.create_allowed(ip));
        assert!(l.create_allowed([10, 0, 0, 2].into()));
    }
}
