//! What every request and event handler shares: settings, tokens, the store,
//! the ICE server source and the Socket.IO handle. Built once at startup.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::cluster::Cluster;
use crate::hub::Hub;
use crate::ice::IceServers;
use crate::limits::Limits;
use crate::presence::Presence;
use crate::settings::Settings;
use crate::store::Store;
use crate::tokens::Tokens;
use crate::workspaces::{EventSink, Rules, Workspaces};

pub struct App {
    pub settings: Settings,
    /// The workspace core: every change of membership goes through it.
    pub workspaces: Workspaces,
    pub store: Arc<dyn Store>,
    pub ice: IceServers,
    pub limits: Arc<Limits>,
    /// For messages that no socket's own event triggers (presence, expiry).
    pub io: Arc<dyn Hub>,
    /// Cluster mode (`REDIS_URL`): presence, limits and the store shared through Redis.
    pub cluster: Option<Arc<Cluster>>,
    /// Who is connected, on this node or across nodes.
    pub presence: Arc<dyn Presence>,
    pub started: std::time::Instant,
    draining: AtomicBool,
}

impl App {
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        io: Arc<dyn Hub>,
        legacy_tokens: bool,
        cluster: Option<Arc<Cluster>>,
        presence: Arc<dyn Presence>,
    ) -> App {
        let tokens = Tokens::new(
            settings.secrets.jwt.expose(),
            settings.secrets.salt.expose(),
            &settings.token_delimiter,
        );
        let ice = IceServers::from_settings(&settings);
        let limits = Arc::new(Limits::new(settings.limits.clone(), cluster.clone()));
        let rules = Rules {
            capacity: settings.max_capacity_of_workspace,
            id_len: settings.workspace_id_len,
        };
        let workspaces = Workspaces::new(
            store.clone(),
            tokens,
            legacy_tokens,
            limits.clone(),
            rules,
            EventSink::standard(),
        );
        App {
            settings,
            workspaces,
            store,
            ice,
            limits,
            io,
            cluster,
            started: std::time::Instant::now(),
            presence,
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
