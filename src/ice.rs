//! Where the `iceservers` answer comes from. For now the configured static
//! list (Google's public STUN servers by default); every entry carries both
//! `urls` and the legacy `url`, since some browsers and the adapter shim read
//! only one of them.

use serde::Serialize;

use crate::settings::Settings;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct IceServer {
    pub urls: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

pub struct IceServers {
    fixed: Vec<IceServer>,
}

impl IceServers {
    pub fn from_settings(settings: &Settings) -> IceServers {
        IceServers {
            fixed: settings
                .ice_servers
                .iter()
                .map(|u| IceServer {
                    urls: u.clone(),
                    url: u.clone(),
                    username: None,
                    credential: None,
                })
                .collect(),
        }
    }

    /// The list to send to one socket.
    pub fn list(&self) -> &[IceServer] {
        &self.fixed
    }
}
