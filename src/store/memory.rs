//! The default store: a sharded concurrent map. Each operation locks one shard
//! for a few instructions and never across an await, so a relay in one
//! workspace never waits for a join in another.

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use super::{Membership, Store, StoreError, StoreStats, WorkspaceUpdate};
use crate::model::{Attendee, AttendeeId, PinCheck, Workspace, WorkspaceId};

#[derive(Default)]
pub struct MemoryStore {
    workspaces: DashMap<WorkspaceId, Workspace>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store holding `workspaces` (loaded from a file).
    pub fn with(workspaces: Vec<Workspace>) -> MemoryStore {
        let store = MemoryStore::new();
        for w in workspaces {
            store.workspaces.insert(w.id.clone(), w);
        }
        store
    }

    /// A copy of one workspace (what the journal records for it).
    pub fn get_now(&self, id: &WorkspaceId) -> Option<Workspace> {
        self.workspaces.get(id).map(|w| w.clone())
    }

    /// A copy of every workspace, each taken under its own shard lock.
    pub fn snapshot(&self) -> Vec<Workspace> {
        self.workspaces.iter().map(|w| w.value().clone()).collect()
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create(&self, workspace: Workspace) -> Result<(), StoreError> {
        match self.workspaces.entry(workspace.id.clone()) {
            Entry::Occupied(_) => Err(StoreError::Backend("workspace id collision".into())),
            Entry::Vacant(v) => {
                v.insert(workspace);
                Ok(())
            }
        }
    }

    async fn get(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        Ok(self.workspaces.get(id).map(|w| w.clone()))
    }

    async fn membership(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Membership, StoreError> {
        Ok(match self.workspaces.get(id) {
            None => Membership::NoWorkspace,
            Some(w) if w.attendees.contains_key(attendee) => Membership::Member {
                owner: &w.owner == attendee,
            },
            Some(_) => Membership::NotMember,
        })
    }

    async fn add_attendee(
        &self,
        id: &WorkspaceId,
        attendee: Attendee,
        capacity: usize,
    ) -> Result<Workspace, StoreError> {
        let mut w = self.workspaces.get_mut(id).ok_or(StoreError::NotFound)?;
        if !w.attendees.contains_key(&attendee.id) && w.attendees.len() >= capacity {
            return Err(StoreError::Full);
        }
        w.attendees.insert(attendee.id.clone(), attendee);
        Ok(w.clone())
    }

    async fn remove_attendee(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Option<Attendee>, StoreError> {
        let mut w = self.workspaces.get_mut(id).ok_or(StoreError::NotFound)?;
        w.lapsed.remove(attendee);
        Ok(w.attendees.remove(attendee))
    }

    async fn lapse_attendee(&self, id: &WorkspaceId, attendee: &AttendeeId) -> Result<Option<Attendee>, StoreError> {
        let mut w = self.workspaces.get_mut(id).ok_or(StoreError::NotFound)?;
        if &w.owner == attendee {
            return Ok(None);
        }
        let Some(gone) = w.attendees.remove(attendee) else {
            return Ok(None);
        };
        w.lapsed.insert(gone.id.clone(), gone.clone());
        Ok(Some(gone))
    }

    async fn restore_attendee(
        &self,
        id: &WorkspaceId,
        attendee: &AttendeeId,
        capacity: usize,
    ) -> Result<Option<Workspace>, StoreError> {
        let mut w = self.workspaces.get_mut(id).ok_or(StoreError::NotFound)?;
        if !w.lapsed.contains_key(attendee) {
            return Ok(None);
        }
        if w.attendees.len() >= capacity {
            return Err(StoreError::Full);
        }
        let back = w.lapsed.remove(attendee).expect("checked above");
        w.attendees.insert(back.id.clone(), back);
        Ok(Some(w.clone()))
    }

    async fn ids(&self) -> Result<Vec<WorkspaceId>, StoreError> {
        Ok(self.workspaces.iter().map(|w| w.key().clone()).collect())
    }

    async fn set_pin_check(&self, id: &WorkspaceId, check: PinCheck, token: String) -> Result<(), StoreError> {
        let mut w = self.workspaces.get_mut(id).ok_or(StoreError::NotFound)?;
        w.pin_check = check;
        w.token = token;
        Ok(())
    }

    async fn update(&self, id: &WorkspaceId, update: WorkspaceUpdate) -> Result<(), StoreError> {
        let mut w = self.workspaces.get_mut(id).ok_or(StoreError::NotFound)?;
        if let Some(name) = update.name {
            w.name = name;
        }
        if let Some(avatar) = update.avatar {
            w.avatar = avatar;
        }
        if let Some((check, token)) = update.pin {
            w.pin_check = check;
            w.token = token;
        }
        Ok(())
    }

    async fn set_call(&self, id: &WorkspaceId, call: serde_json::Value) -> Result<(), StoreError> {
        let mut w = self.workspaces.get_mut(id).ok_or(StoreError::NotFound)?;
        w.call = call;
        Ok(())
    }

    async fn destroy(&self, id: &WorkspaceId) -> Result<Option<Workspace>, StoreError> {
        Ok(self.workspaces.remove(id).map(|(_, w)| w))
    }

    async fn workspace_count(&self) -> Result<usize, StoreError> {
        Ok(self.workspaces.len())
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let mut stats = StoreStats::default();
        for w in self.workspaces.iter() {
            stats.workspaces += 1;
            stats.attendees += w.attendees.len();
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn attendee() -> Attendee {
        Attendee {
            id: AttendeeId::generate(10),
            name: "n".into(),
            avatar: "a".into(),
        }
    }

    fn workspace(owner: &Attendee) -> Workspace {
        Workspace {
            id: WorkspaceId::generate(10),
            name: "w".into(),
            avatar: "a".into(),
            owner: owner.id.clone(),
            created: 0,
            token: "t".into(),
            pin_check: PinCheck::Keyed("p".into()),
            attendees: BTreeMap::from([(owner.id.clone(), owner.clone())]),
            call: serde_json::Value::Null,
            lapsed: BTreeMap::new(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn capacity_is_atomic_under_concurrency() {
        let store = Arc::new(MemoryStore::new());
        let owner = attendee();
        let ws = workspace(&owner);
        let id = ws.id.clone();
        store.create(ws).await.unwrap();
        let joins = (0..64).map(|_| {
            let store = store.clone();
            let id = id.clone();
            tokio::spawn(async move { store.add_attendee(&id, attendee(), 4).await })
        });
        let mut won = 0;
        let mut full = 0;
        for j in joins {
            match j.await.unwrap() {
                Ok(_) => won += 1,
                Err(StoreError::Full) => full += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((won, full), (3, 61));
        assert_eq!(store.get(&id).await.unwrap().unwrap().attendees.len(), 4);
    }

    #[tokio::test]
    async fn membership_follows_removal_and_destroy() {
        let store = MemoryStore::new();
        let owner = attendee();
        let guest = attendee();
        let ws = workspace(&owner);
        let id = ws.id.clone();
        store.create(ws).await.unwrap();
        store.add_attendee(&id, guest.clone(), 4).await.unwrap();
        assert_eq!(
            store.membership(&id, &owner.id).await,
            Ok(Membership::Member { owner: true })
        );
        assert_eq!(
            store.membership(&id, &guest.id).await,
            Ok(Membership::Member { owner: false })
        );
        assert_eq!(store.remove_attendee(&id, &guest.id).await, Ok(Some(guest.clone())));
        assert_eq!(store.membership(&id, &guest.id).await, Ok(Membership::NotMember));
        assert_eq!(store.remove_attendee(&id, &guest.id).await, Ok(None));
        store.set_call(&id, serde_json::json!({"id": "c"})).await.unwrap();
        assert_eq!(
            store.get(&id).await.unwrap().unwrap().call,
            serde_json::json!({"id": "c"})
        );
        assert!(store.destroy(&id).await.unwrap().is_some());
        assert_eq!(store.membership(&id, &owner.id).await, Ok(Membership::NoWorkspace));
        assert_eq!(store.add_attendee(&id, guest, 4).await, Err(StoreError::NotFound));
    }
}
