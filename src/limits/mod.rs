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
mod local;
mod window;

pub use bucket::TokenBucket;
pub use client_ip::client_ip;
pub use local::LocalCounters;
pub use window::WindowCounter;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashMap;

use crate::model::WorkspaceId;
use crate::settings::LimitSettings;
use crate::store::{CreateGate, JoinError, PinGate, Store, StoreError};

/// What a client sees when it hits a limit.
pub const TOO_MANY_CONNECTIONS: &str = "Too many connections from your address.";

/// Counters beyond this many keys are swept of expired entries at once, and
/// when still full the oldest windows go first: memory stays bounded however
/// many addresses an attacker uses.
const MAX_TRACKED: usize = 100_000;

/// The window of `max_workspaces_per_ip_per_hour`.
pub(crate) const CREATE_WINDOW: Duration = Duration::from_secs(3600);

/// Where the limits that N nodes must not multiply are counted: PIN
/// failures and creates. On one node, in this process
/// ([`LocalCounters`]); across nodes, in Redis (`cluster::limits`).
#[async_trait]
pub trait Counters: Send + Sync + 'static {
    /// Where an attend's PIN limits are checked: read here now (one node),
    /// or inside the attend's own step in Redis (cluster), at no round trip.
    fn pin_gate(&self, limits: &LimitSettings, ip: IpAddr, workspace: &WorkspaceId) -> PinGate;

    /// A wrong PIN the attend's step refused: counted here unless the step
    /// counted it itself (a shared gate).
    async fn wrong_pin(&self, ip: IpAddr, workspace: &WorkspaceId, gate: &PinGate) -> Result<(), StoreError>;

    /// Where a create's limits are checked: here now, in order (the live
    /// workspaces, then the address's creates, counted), or inside the
    /// create's own step in Redis (cluster).
    async fn create_gate(&self, limits: &LimitSettings, ip: IpAddr, store: &dyn Store)
        -> Result<CreateGate, JoinError>;

    /// A PIN failure of an imported workspace's bcrypt check (outside any step).
    async fn pin_failed(&self, limits: &LimitSettings, ip: IpAddr, workspace: &WorkspaceId) -> Result<(), StoreError>;
}

pub struct Limits {
    pub settings: LimitSettings,
    counters: Arc<dyn Counters>,
    connections: Arc<DashMap<IpAddr, usize>>,
}

impl Limits {
    pub fn new(settings: LimitSettings, counters: Arc<dyn Counters>) -> Limits {
        Limits {
            counters,
            connections: Arc::new(DashMap::new()),
            settings,
        }
    }

    /// One node's limits: everything counted in this process.
    pub fn local(settings: LimitSettings) -> Limits {
        let counters = Arc::new(LocalCounters::new(&settings));
        Limits::new(settings, counters)
    }

    pub fn pin_gate(&self, ip: IpAddr, workspace: &WorkspaceId) -> PinGate {
        self.counters.pin_gate(&self.settings, ip, workspace)
    }

    pub async fn wrong_pin(&self, ip: IpAddr, workspace: &WorkspaceId, gate: &PinGate) -> Result<(), StoreError> {
        self.counters.wrong_pin(ip, workspace, gate).await
    }

    pub async fn create_gate(&self, ip: IpAddr, store: &dyn Store) -> Result<CreateGate, JoinError> {
        self.counters.create_gate(&self.settings, ip, store).await
    }

    pub async fn pin_failed(&self, ip: IpAddr, workspace: &WorkspaceId) -> Result<(), StoreError> {
        self.counters.pin_failed(&self.settings, ip, workspace).await
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
        Limits::local(LimitSettings {
            max_failed_pins_per_ip: 2,
            max_failed_pins_per_workspace: 3,
            max_workspaces_per_ip_per_hour: 2,
            max_connections_per_ip: 2,
            ..LimitSettings::default()
        })
    }

    #[tokio::test]
    async fn pin_failures_lock_per_address_and_per_workspace() {
        let l = limits();
        let ws = WorkspaceId::generate(10);
        let (a, b, c) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), [10, 0, 0, 3].into());
        let allowed = |ip, ws: &WorkspaceId| l.pin_gate(ip, ws) == PinGate::Local { allowed: true };
        let gate = l.pin_gate(a, &ws);
        l.wrong_pin(a, &ws, &gate).await.unwrap();
        assert!(allowed(a, &ws));
        l.wrong_pin(a, &ws, &gate).await.unwrap();
        assert!(!allowed(a, &ws));
        assert!(allowed(b, &ws), "another address may still try");
        assert!(allowed(a, &WorkspaceId::generate(10)), "another workspace too");
        l.pin_failed(b, &ws).await.unwrap();
        assert!(!allowed(c, &ws), "the workspace-wide cap holds for everyone");
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
        let store = crate::store::MemoryStore::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let gate = |ip| l.create_gate(ip, &store);
        assert_eq!(gate(ip).await, Ok(CreateGate::Local));
        assert_eq!(gate(ip).await, Ok(CreateGate::Local));
        assert_eq!(
            gate(ip).await,
            Err(JoinError::Refused(crate::store::JoinRefusal::CreateLimit))
        );
        assert_eq!(gate([10, 0, 0, 2].into()).await, Ok(CreateGate::Local));
    }

    #[tokio::test]
    async fn the_live_cap_is_checked_before_an_address_is_counted() {
        let settings = LimitSettings {
            max_live_workspaces: 0,
            max_workspaces_per_ip_per_hour: 1,
            ..LimitSettings::default()
        };
        let counters = LocalCounters::new(&settings);
        let store = crate::store::MemoryStore::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let refused = Err(JoinError::Refused(crate::store::JoinRefusal::LiveLimit));
        assert_eq!(counters.create_gate(&settings, ip, &store).await, refused);
        assert_eq!(
            counters.create_gate(&settings, ip, &store).await,
            refused,
            "not counted as a create"
        );
        assert!(
            counters.create_allowed(&settings, ip),
            "the address still has its create"
        );
    }
}
