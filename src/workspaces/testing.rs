//! A core on the in-memory store, for the rule tests (here and in the
//! socket layer's guard): the same `Workspaces` a server runs, minus sockets.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::{Caller, Consumer, EventSink, NewWorkspace, Profile, Role, Rules, WorkspaceEvent, Workspaces};
use crate::limits::Limits;
use crate::model::Workspace;
use crate::settings::LimitSettings;
use crate::store::MemoryStore;
use crate::tokens::Tokens;

pub const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Every event the sink was told, in order.
#[derive(Default)]
pub struct Recorded(Mutex<Vec<WorkspaceEvent>>);

impl Recorded {
    pub fn take(&self) -> Vec<WorkspaceEvent> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl Consumer for Recorded {
    fn on(&self, event: &WorkspaceEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

/// A core with room for `capacity` attendees per workspace, and what its sink heard.
pub fn core(capacity: usize) -> (Workspaces, Arc<Recorded>) {
    core_with_secret(capacity, b"a test jwt secret")
}

/// A core that signs its tokens with `jwt_secret`.
pub fn core_with_secret(capacity: usize, jwt_secret: &[u8]) -> (Workspaces, Arc<Recorded>) {
    let recorded = Arc::new(Recorded::default());
    let mut sink = EventSink::standard();
    sink.subscribe(recorded.clone());
    let core = Workspaces::new(
        Arc::new(MemoryStore::new()),
        Tokens::new(jwt_secret, b"a test salt", "::"),
        false,
        Arc::new(Limits::local(LimitSettings::default())),
        Rules { capacity, id_len: 10 },
        sink,
    );
    (core, recorded)
}

pub fn profile(name: &str) -> Profile {
    Profile {
        name: name.into(),
        avatar: String::new(),
    }
}

/// A workspace with PIN "1234" and its owner, as the owner's caller.
pub async fn created(core: &Workspaces) -> (Workspace, Caller, String) {
    let spec = NewWorkspace {
        name: "w".into(),
        avatar: String::new(),
        pin: "1234".into(),
        owner: profile("owner"),
    };
    let j = core.create(spec, IP).await.expect("created").value;
    let owner = Caller {
        workspace: j.workspace.id.clone(),
        attendee: j.attendee.id.clone(),
        role: Role::Owner,
    };
    (j.workspace, owner, j.access_token)
}

/// A guest let into `workspace`, as its caller, with its access token.
pub async fn guest(core: &Workspaces, workspace: &Workspace, name: &str) -> (Caller, String) {
    let j = core
        .attend(&workspace.token, "1234", profile(name), IP)
        .await
        .expect("attended")
        .value;
    let caller = Caller {
        workspace: workspace.id.clone(),
        attendee: j.attendee.id.clone(),
        role: Role::Attendee,
    };
    (caller, j.access_token)
}
