//! What every request and event handler shares: settings, tokens, the store
//! and the ICE server source. Built once at startup.

use std::sync::Arc;

use crate::ice::IceServers;
use crate::settings::Settings;
use crate::store::Store;
use crate::tokens::Tokens;

pub struct App {
    pub settings: Settings,
    pub tokens: Tokens,
    pub store: Arc<dyn Store>,
    pub ice: IceServers,
    pub started: std::time::Instant,
}

impl App {
    pub fn new(settings: Settings, store: Arc<dyn Store>) -> App {
        let tokens = Tokens::new(
            &settings.secrets.jwt,
            &settings.secrets.salt,
            &settings.token_delimiter,
        );
        let ice = IceServers::from_settings(&settings);
        App {
            settings,
            tokens,
            store,
            ice,
            started: std::time::Instant::now(),
        }
    }
}
