//! The limits N nodes must not multiply: PIN failures (per address and
//! workspace, per workspace) and creates per address, as fixed-window
//! counters in Redis (`lua/count.lua`), the same windows as on one node.
//! A join reads (and counts) its own inside its script (`lua/attend.lua`,
//! `lua/create_joined.lua`): the gates only name the counters.

use std::net::IpAddr;

use async_trait::async_trait;

use super::Cluster;
use crate::limits::{Counters, CREATE_WINDOW};
use crate::model::WorkspaceId;
use crate::settings::LimitSettings;
use crate::store::{CreateGate, JoinError, PinGate, Store, StoreError};

fn pin_by_ip(ip: IpAddr, ws: &WorkspaceId) -> String {
    format!("pin:{ip}:{ws}")
}

fn pin_by_workspace(ws: &WorkspaceId) -> String {
    format!("pinws:{ws}")
}

#[async_trait]
impl Counters for Cluster {
    fn pin_gate(&self, limits: &LimitSettings, ip: IpAddr, workspace: &WorkspaceId) -> PinGate {
        PinGate::Shared {
            by_ip: pin_by_ip(ip, workspace),
            by_workspace: pin_by_workspace(workspace),
            max_by_ip: limits.max_failed_pins_per_ip,
            max_by_workspace: limits.max_failed_pins_per_workspace,
            window: limits.failed_pin_window,
        }
    }

    /// The attend's step counted it.
    async fn wrong_pin(&self, _: IpAddr, _: &WorkspaceId, _: &PinGate) -> Result<(), StoreError> {
        Ok(())
    }

    async fn create_gate(&self, limits: &LimitSettings, ip: IpAddr, _: &dyn Store) -> Result<CreateGate, JoinError> {
        Ok(CreateGate::Shared {
            max_live: limits.max_live_workspaces,
            by_ip: format!("create:{ip}"),
            max_by_ip: limits.max_workspaces_per_ip_per_hour,
            window: CREATE_WINDOW,
        })
    }

    /// Counts one failure on both counters (`lua/count.lua`, no cap: counting only).
    async fn pin_failed(&self, limits: &LimitSettings, ip: IpAddr, workspace: &WorkspaceId) -> Result<(), StoreError> {
        let mut inv = self.invoke(&self.scripts.count);
        inv.arg(limits.failed_pin_window.as_millis() as u64).arg(-1);
        inv.arg(pin_by_ip(ip, workspace)).arg(pin_by_workspace(workspace));
        self.run::<i64>(&inv).await.map(drop)
    }
}
