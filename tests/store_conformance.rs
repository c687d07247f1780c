//! One set of checks for every `Store`: the memory map, the file store and
//! the Redis store (a real `redis-server` on a free port with its own data
//! dir). The Redis store is also checked across two nodes: the last-seat race
//! between two connections, and a membership view invalidated by the other
//! node's kick. Every wait is bounded.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::eventually;
use common::redis::{redis, Redis};
use wrw::cluster::{Cluster, RedisStore};
use wrw::model::{Attendee, AttendeeId, PinCheck, Workspace, WorkspaceId};
use wrw::store::{
    Attended, CreateGate, FileStore, Hold, JoinError, JoinRefusal, Membership, MemoryStore, PinGate, Store, StoreError,
};

fn attendee(name: &str) -> Attendee {
    Attendee {
        id: AttendeeId::generate(10),
        name: name.into(),
        avatar: "a.png".into(),
    }
}

fn workspace(owner: &Attendee) -> Workspace {
    Workspace {
        id: WorkspaceId::generate(10),
        name: "w ünïcødé \"quoted\"".into(),
        avatar: "".into(),
        owner: owner.id.clone(),
        created: 1_764_633_600_123,
        token: "t.o.k".into(),
        pin_check: PinCheck::Keyed("ab".into()),
        attendees: BTreeMap::from([(owner.id.clone(), owner.clone())]),
        call: serde_json::json!({"id": "c", "n": 1.5, "deep": [null, {"x": true}]}),
        lapsed: BTreeMap::new(),
    }
}

/// The behaviour every store shares.
async fn conformance(store: &dyn Store) {
    let owner = attendee("owner");
    let w = workspace(&owner);
    let id = w.id.clone();
    store.create(w.clone()).await.unwrap();
    assert_eq!(store.get(&id).await.unwrap(), Some(w.clone()), "read back as written");
    assert_eq!(
        store.membership(&id, &owner.id).await.unwrap(),
        Membership::Member { owner: true }
    );

    let (a, b, c) = (attendee("a"), attendee("b"), attendee("c"));
    let after = store.add_attendee(&id, a.clone(), 3).await.unwrap();
    assert_eq!(after.attendees.len(), 2);
    store.add_attendee(&id, b.clone(), 3).await.unwrap();
    assert_eq!(store.add_attendee(&id, c.clone(), 3).await, Err(StoreError::Full));
    assert_eq!(store.membership(&id, &c.id).await.unwrap(), Membership::NotMember);
    assert_eq!(
        store.membership(&id, &a.id).await.unwrap(),
        Membership::Member { owner: false }
    );

    // Lapse and restore; the owner never lapses.
    assert_eq!(store.lapse_attendee(&id, &owner.id).await.unwrap(), None);
    assert_eq!(store.lapse_attendee(&id, &a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.membership(&id, &a.id).await.unwrap(), Membership::NotMember);
    store.add_attendee(&id, c.clone(), 3).await.unwrap();
    assert_eq!(store.restore_attendee(&id, &a.id, 3).await, Err(StoreError::Full));
    assert_eq!(store.remove_attendee(&id, &c.id).await.unwrap(), Some(c.clone()));
    let back = store.restore_attendee(&id, &a.id, 3).await.unwrap().expect("restored");
    assert!(back.attendees.contains_key(&a.id) && back.lapsed.is_empty());
    assert_eq!(store.restore_attendee(&id, &a.id, 3).await.unwrap(), None, "only once");
    // Kicked (removed) attendees are not restorable.
    assert_eq!(store.remove_attendee(&id, &b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(store.restore_attendee(&id, &b.id, 3).await.unwrap(), None);
    assert_eq!(store.remove_attendee(&id, &b.id).await.unwrap(), None);

    store
        .set_pin_check(&id, PinCheck::InOriginalToken, "new-token".into())
        .await
        .unwrap();
    store.set_call(&id, serde_json::Value::Null).await.unwrap();
    let now = store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        (now.pin_check, now.token.as_str(), now.call),
        (PinCheck::InOriginalToken, "new-token", serde_json::Value::Null)
    );
    assert!(store.ids().await.unwrap().contains(&id));
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.workspaces, stats.attendees), (1, 2));
    assert_eq!(store.workspace_count().await.unwrap(), 1);

    assert_eq!(store.destroy(&id).await.unwrap().map(|w| w.id), Some(id.clone()));
    assert_eq!(store.destroy(&id).await.unwrap(), None);
    assert_eq!(store.get(&id).await.unwrap(), None);
    assert_eq!(store.membership(&id, &owner.id).await.unwrap(), Membership::NoWorkspace);
    assert_eq!(store.add_attendee(&id, c, 3).await, Err(StoreError::NotFound));
    assert_eq!(store.stats().await.unwrap().attendees, 0);
}

/// The rules of a join (`Store::create_joined`, `Store::attend`), the same
/// whether its steps run one by one with the limits in this process
/// (`shared` false: the caller checked them, `PinGate::Local`) or as one
/// script with the limits in Redis beside the state.
async fn join_rules(store: &dyn Store, shared: bool) {
    let refused = |why| Err(JoinError::Refused(why));
    let minute = Duration::from_secs(60);
    let owner = attendee("owner");
    let mut w = workspace(&owner);
    w.pin_check = PinCheck::Keyed("right".into());
    let id = w.id.clone();
    let create_gate = |max_live, max_by_ip| match shared {
        true => CreateGate::Shared {
            max_live,
            by_ip: format!("create:{id}"),
            max_by_ip,
            window: minute,
        },
        false => CreateGate::Local,
    };
    let held = if shared { Hold::Recorded } else { Hold::ToRecord };
    assert_eq!(store.create_joined(w.clone(), &create_gate(1000, 1)).await, Ok(held));
    assert_eq!(
        store.get(&id).await.unwrap().map(|w| w.attendees),
        Some(w.attendees.clone())
    );
    let pin_gate = |ws: &WorkspaceId, allowed| match shared {
        true => PinGate::Shared {
            by_ip: format!("pin:x:{ws}"),
            by_workspace: format!("pinws:{ws}"),
            max_by_ip: 2,
            max_by_workspace: 10,
            window: minute,
        },
        false => PinGate::Local { allowed },
    };
    let open = pin_gate(&id, true);

    let (a, b) = (attendee("a"), attendee("b"));
    let wrong = store.attend(&id, a.clone(), 2, "wrong", &open).await;
    assert_eq!(wrong.map(drop), refused(JoinRefusal::WrongPin));
    assert_eq!(store.membership(&id, &a.id).await.unwrap(), Membership::NotMember);
    match store.attend(&id, a.clone(), 2, "right", &open).await {
        Ok(Attended::Joined(after, hold)) => {
            assert_eq!(hold, held);
            assert_eq!(after.attendees.keys().collect::<Vec<_>>().len(), 2);
            assert_eq!(after.attendees.get(&a.id), Some(&a));
            assert_eq!((after.name.as_str(), &after.call), (w.name.as_str(), &w.call));
        }
        other => panic!("the right PIN joins: {other:?}"),
    }
    assert_eq!(
        store.membership(&id, &a.id).await.unwrap(),
        Membership::Member { owner: false }
    );
    let full = store.attend(&id, b.clone(), 2, "right", &open).await;
    assert_eq!(full.map(drop), Err(JoinError::Store(StoreError::Full)));

    // Locked: one node is told by its gate; in Redis the second wrong PIN
    // of the address locks it, and then even the right PIN is refused.
    if shared {
        let second = store.attend(&id, b.clone(), 3, "wrong", &open).await;
        assert_eq!(second.map(drop), refused(JoinRefusal::WrongPin));
    }
    let locked = pin_gate(&id, false);
    let third = store.attend(&id, b.clone(), 3, "right", &locked).await;
    assert_eq!(third.map(drop), refused(JoinRefusal::PinLocked));
    // No workspace comes before the lock.
    let gone = store
        .attend(&WorkspaceId::generate(10), b.clone(), 3, "right", &locked)
        .await;
    assert_eq!(gone.map(drop), Err(JoinError::Store(StoreError::NotFound)));

    // An imported workspace's PIN is the caller's to check; nothing changes.
    let mut imported = workspace(&owner);
    imported.pin_check = PinCheck::InOriginalToken;
    let imported_id = imported.id.clone();
    store.create(imported).await.unwrap();
    match store
        .attend(&imported_id, b.clone(), 3, "right", &pin_gate(&imported_id, true))
        .await
    {
        Ok(Attended::Unchecked(stored)) => assert_eq!(stored.attendees.len(), 1),
        other => panic!("an imported workspace is left to the caller: {other:?}"),
    }
    assert_eq!(
        store.membership(&imported_id, &b.id).await.unwrap(),
        Membership::NotMember
    );

    // The create limits of the shared gate, in one node's order.
    if shared {
        let again = workspace(&owner);
        let live = store.create_joined(again.clone(), &create_gate(2, 1)).await;
        assert_eq!(live.map(drop), refused(JoinRefusal::LiveLimit));
        let limit = store.create_joined(again.clone(), &create_gate(1000, 1)).await;
        assert_eq!(limit.map(drop), refused(JoinRefusal::CreateLimit));
        assert_eq!(
            store.get(&again.id).await.unwrap(),
            None,
            "a refused create stores nothing"
        );
        assert_eq!(store.create_joined(again, &create_gate(1000, 2)).await, Ok(held));
    }
}

#[tokio::test]
async fn memory_store() {
    conformance(&MemoryStore::new()).await;
    join_rules(&MemoryStore::new(), false).await;
}

#[tokio::test]
async fn file_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(&dir.path().join("ws.json"), Duration::ZERO, 10).unwrap();
    conformance(&store).await;
    join_rules(&store, false).await;
}

// ------------------------------------------------------------ Redis

async fn node(redis: &Redis, prefix: &str, name: &str) -> Arc<Cluster> {
    let settings = common::app()
        .env("REDIS_URL", &redis.url())
        .config(&format!("redis_prefix = \"{prefix}\"\nnode_id = \"{name}\"\n"))
        .settings();
    let url = settings.redis_url.clone().unwrap();
    Cluster::connect(&settings, &url).await.unwrap()
}

#[tokio::test]
async fn redis_store() {
    let Some(redis) = redis() else { return };
    conformance(&RedisStore(node(&redis, "conf", "n1").await)).await;
    join_rules(&RedisStore(node(&redis, "join", "n1").await), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_last_seat_race_between_nodes_has_one_winner() {
    let Some(redis) = redis() else { return };
    let a = Arc::new(RedisStore(node(&redis, "race", "a").await));
    let b = Arc::new(RedisStore(node(&redis, "race", "b").await));
    for _ in 0..20 {
        let owner = attendee("owner");
        let w = workspace(&owner);
        let id = w.id.clone();
        a.create(w).await.unwrap();
        let joins: Vec<_> = (0..8)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let id = id.clone();
                tokio::spawn(async move { store.add_attendee(&id, attendee("j"), 2).await })
            })
            .collect();
        let mut won = 0;
        for j in joins {
            match j.await.unwrap() {
                Ok(_) => won += 1,
                Err(StoreError::Full) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(won, 1, "exactly one joiner gets the last seat");
        assert_eq!(b.get(&id).await.unwrap().unwrap().attendees.len(), 2);
    }
}

#[tokio::test]
async fn redis_membership_view_is_invalidated_by_another_node() {
    let Some(redis) = redis() else { return };
    let a = RedisStore(node(&redis, "inval", "a").await);
    let b = RedisStore(node(&redis, "inval", "b").await);
    let owner = attendee("owner");
    let guest = attendee("guest");
    let w = workspace(&owner);
    let id = w.id.clone();
    a.create(w).await.unwrap();
    a.add_attendee(&id, guest.clone(), 4).await.unwrap();
    // B learns the guest is a member (kept in its view)…
    assert_eq!(
        b.membership(&id, &guest.id).await.unwrap(),
        Membership::Member { owner: false }
    );
    // …A kicks it; B's view must drop it without B changing anything.
    a.remove_attendee(&id, &guest.id).await.unwrap();
    eventually(
        "B no longer sees the kicked attendee",
        Duration::from_secs(5),
        || async {
            match b.membership(&id, &guest.id).await.unwrap() {
                Membership::NotMember => Ok(()),
                seen => Err(format!("{seen:?}")),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn redis_paused_is_unavailable_quickly_then_recovers() {
    let Some(redis) = redis() else { return };
    let store = RedisStore(node(&redis, "pause", "a").await);
    let owner = attendee("owner");
    let w = workspace(&owner);
    let id = w.id.clone();
    store.create(w).await.unwrap();
    // A join sent into the pause is run by Redis when it resumes, after the
    // node stopped waiting: it must change nothing.
    let late = attendee("late");
    let gate = PinGate::Shared {
        by_ip: "pin:late".into(),
        by_workspace: format!("pinws:{id}"),
        max_by_ip: 5,
        max_by_workspace: 5,
        window: Duration::from_secs(60),
    };
    // Once before, so that Redis has the script and runs it on resuming.
    let early = store.attend(&id, attendee("early"), 9, "ab", &gate).await;
    assert!(matches!(early, Ok(Attended::Joined(..))), "{early:?}");
    redis.signal("-STOP");
    let started = Instant::now();
    let joined = store.attend(&id, late.clone(), 9, "ab", &gate).await;
    let took = started.elapsed();
    let outcome = store.get(&id).await;
    redis.signal("-CONT");
    assert_eq!(outcome, Err(StoreError::Unavailable));
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    assert_eq!(joined.map(drop), Err(JoinError::Store(StoreError::Unavailable)));
    let found = eventually("the store is back", Duration::from_secs(10), || async {
        match store.get(&id).await {
            Ok(Some(found)) => Ok(found),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(found.id, id);
    assert!(
        !found.attendees.contains_key(&late.id),
        "the join the node gave up on did not happen"
    );
}
