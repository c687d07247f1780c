//! What every request and event handler shares, built once at startup:
//! handles, each with one purpose. Which mode runs (one node, or many on
//! Redis) is decided where `Backends` is built (`startup.rs`), not here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::hub::Hub;
use crate::ice::IceServers;
use crate::limits::{Counters, Limits};
use crate::presence::Presence;
use crate::settings::Settings;
use crate::store::Store;
use crate::tokens::Tokens;
use crate::webhooks::Webhooks;
use crate::workspaces::{EventSink, Rules, Workspaces};

/// What differs between one node and many.
pub struct Backends {
    pub store: Arc<dyn Store>,
    pub presence: Arc<dyn Presence>,
    /// The PIN-failure and create counters.
    pub counters: Arc<dyn Counters>,
}

pub struct App {
    pub settings: Settings,
    /// The workspace core: every change of membership goes through it.
    pub workspaces: Workspaces,
    pub ice: IceServers,
    /// Connections per address, event rates.
    pub limits: Arc<Limits>,
    /// For messages that no socket's own event triggers (presence, expiry).
    pub io: Arc<dyn Hub>,
    /// Who is connected, on this node or across nodes.
    pub presence: Arc<dyn Presence>,
    /// The webhook sender, when `webhook_urls` is set (a consumer of the core's events).
    pub webhooks: Option<Arc<Webhooks>>,
    pub started: std::time::Instant,
    draining: AtomicBool,
}

impl App {
    /// `legacy_tokens`: accept tokens the original server signed (resolved at start).
    pub fn new(settings: Settings, backends: Backends, io: Arc<dyn Hub>, legacy_tokens: bool) -> App {
        let tokens = Tokens::new(
            settings.secrets.jwt.expose(),
            settings.secrets.salt.expose(),
            &settings.token_delimiter,
        );
        let limits = Arc::new(Limits::new(settings.limits.clone(), backends.counters));
        let rules = Rules {
            capacity: settings.max_capacity_of_workspace,
            id_len: settings.workspace_id_len,
        };
        let mut sink = EventSink::standard();
        let webhooks = Webhooks::from_settings(&settings);
        if let Some(w) = &webhooks {
            sink.subscribe(w.clone());
        }
        let workspaces = Workspaces::new(backends.store, tokens, legacy_tokens, limits.clone(), rules, sink);
        App {
            ice: IceServers::from_settings(&settings),
            settings,
            workspaces,
            limits,
            io,
            presence: backends.presence,
            webhooks,
            started: std::time::Instant::now(),
            draining: AtomicBool::new(false),
        }
    }

    /// Set once shutdown begins; `/health` then answers 503.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}
