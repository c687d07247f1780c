//! The limits N nodes must not multiply: PIN failures (per address and
//! workspace, per workspace) and creates per address, as fixed-window
//! counters in Redis (`lua/count.lua`), the same windows as on one node.
//! A join reads (and counts) its own inside its script (`lua/attend.lua`,
//! `lua/create_joined.lua`).

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
