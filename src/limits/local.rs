//! The PIN-failure and create counters of one node, in this process.

use std::net::IpAddr;

use async_trait::async_trait;

use super::window::WindowCounter;
use super::{Counters, CREATE_WINDOW, MAX_TRACKED};
use crate::model::WorkspaceId;
use crate::settings::LimitSettings;
use crate::store::{CreateGate, JoinError, JoinRefusal, PinGate, Store, StoreError};

pub struct LocalCounters {
    pins_by_ip: WindowCounter<(IpAddr, WorkspaceId)>,
    pins_by_workspace: WindowCounter<WorkspaceId>,
    creates_by_ip: WindowCounter<IpAddr>,
}

impl LocalCounters {
    pub fn new(settings: &LimitSettings) -> LocalCounters {
        let pin_window = settings.failed_pin_window;
        LocalCounters {
            pins_by_ip: WindowCounter::new(pin_window, MAX_TRACKED),
            pins_by_workspace: WindowCounter::new(pin_window, MAX_TRACKED),
            creates_by_ip: WindowCounter::new(CREATE_WINDOW, MAX_TRACKED),
        }
    }

    /// Counts a workspace creation from `ip`; false when over the hourly cap.
    pub(super) fn create_allowed(&self, limits: &LimitSettings, ip: IpAddr) -> bool {
        if self.creates_by_ip.count(&ip) >= limits.max_workspaces_per_ip_per_hour {
            return false;
        }
        self.creates_by_ip.add(&ip);
        true
    }

    fn count_pin_failure(&self, ip: IpAddr, workspace: &WorkspaceId) {
        self.pins_by_ip.add(&(ip, workspace.clone()));
        self.pins_by_workspace.add(workspace);
    }
}

#[async_trait]
impl Counters for LocalCounters {
    fn pin_gate(&self, limits: &LimitSettings, ip: IpAddr, workspace: &WorkspaceId) -> PinGate {
        PinGate::Local {
            allowed: self.pins_by_ip.count(&(ip, workspace.clone())) < limits.max_failed_pins_per_ip
                && self.pins_by_workspace.count(workspace) < limits.max_failed_pins_per_workspace,
        }
    }

    async fn wrong_pin(&self, ip: IpAddr, workspace: &WorkspaceId, _gate: &PinGate) -> Result<(), StoreError> {
        self.count_pin_failure(ip, workspace);
        Ok(())
    }

    async fn create_gate(
        &self,
        limits: &LimitSettings,
        ip: IpAddr,
        store: &dyn Store,
    ) -> Result<CreateGate, JoinError> {
        if store.workspace_count().await? >= limits.max_live_workspaces {
            return Err(JoinError::Refused(JoinRefusal::LiveLimit));
        }
        if !self.create_allowed(limits, ip) {
            return Err(JoinError::Refused(JoinRefusal::CreateLimit));
        }
        Ok(CreateGate::Local)
    }

    async fn pin_failed(&self, _limits: &LimitSettings, ip: IpAddr, workspace: &WorkspaceId) -> Result<(), StoreError> {
        self.count_pin_failure(ip, workspace);
        Ok(())
    }
}
