//! The limits N nodes must not multiply: PIN failures (per address and
//! workspace, per workspace) and creates per address, as fixed-window
//! counters in Redis (`lua/count.lua`), the same windows as on one node.

use std::net::IpAddr;
use std::time::Duration;

use super::Cluster;
use crate::model::WorkspaceId;
use crate::store::StoreError;

pub fn pin_by_ip(ip: IpAddr, ws: &WorkspaceId) -> String {
    format!("pin:{ip}:{ws}")
}

pub fn pin_by_workspace(ws: &WorkspaceId) -> String {
    format!("pinws:{ws}")
}

pub fn creates_by_ip(ip: IpAddr) -> String {
    format!("create:{ip}")
}

impl Cluster {
    /// Whether both PIN-failure counters are below their caps.
    pub async fn pin_attempt_allowed(
        &self,
        ip: IpAddr,
        ws: &WorkspaceId,
        max_ip: usize,
        max_ws: usize,
    ) -> Result<bool, StoreError> {
        let mut inv = self.invoke(&self.scripts.pin_allowed);
        inv.arg(pin_by_ip(ip, ws))
            .arg(pin_by_workspace(ws))
            .arg(max_ip)
            .arg(max_ws);
        Ok(self.run::<i64>(&inv).await? == 1)
    }

    /// Counts one event on every counter; with `max`, only when all are below it.
    pub async fn count(&self, window: Duration, max: Option<usize>, counters: &[String]) -> Result<bool, StoreError> {
        let mut inv = self.invoke(&self.scripts.count);
        inv.arg(window.as_millis() as u64).arg(max.map_or(-1, |m| m as i64));
        for c in counters {
            inv.arg(c);
        }
        Ok(self.run::<i64>(&inv).await? == 1)
    }
}
