use super::*;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

fn workspace() -> Workspace {
    let owner = Attendee {
        id: AttendeeId::generate(10),
        name: "o".into(),
        avatar: "a".into(),
    };
    Workspace {
        id: WorkspaceId::generate(10),
        name: "w".into(),
        avatar: "a".into(),
        owner: owner.id.clone(),
        created: 1,
        token: "t".into(),
        pin_check: PinCheck::Keyed("p".into()),
        attendees: BTreeMap::from([(owner.id.clone(), owner)]),
        call: serde_json::Value::Null,
        lapsed: BTreeMap::new(),
    }
}

/// Every wait on the writer is bounded: a writer that hangs fails the test.
async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("the store answered within 10 s")
}

fn open(path: &Path) -> FileStore {
    FileStore::open(path, Duration::ZERO, 10).unwrap()
}

/// The store as a crash would leave it: no flush, no goodbye.
fn crash(store: FileStore) {
    std::mem::forget(store);
}

#[tokio::test]
async fn an_acknowledged_change_survives_a_crash_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let w = workspace();
    let guest = Attendee {
        id: AttendeeId::generate(10),
        name: "g".into(),
        avatar: "".into(),
    };
    let gone = workspace();
    {
        let store = open(&path);
        within(store.create(w.clone())).await.unwrap();
        within(store.create(gone.clone())).await.unwrap();
        within(store.add_attendee(&w.id, guest.clone(), 4)).await.unwrap();
        within(store.destroy(&gone.id)).await.unwrap();
        crash(store);
    }
    let store = open(&path);
    let back = store
        .get(&w.id)
        .await
        .unwrap()
        .expect("the acknowledged create is there");
    assert!(back.attendees.contains_key(&guest.id));
    assert_eq!(
        store.get(&gone.id).await.unwrap(),
        None,
        "the acknowledged destroy holds"
    );
    // The reopen folded the journal into the snapshot and started an empty journal.
    assert_eq!(
        std::fs::metadata(snapshot::sibling(&path, ".journal")).unwrap().len(),
        0
    );
    let snap: Snapshot = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(snap.workspaces.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let store = Arc::new(open(&path));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create(workspace()).await })
        })
        .collect();
    for t in tasks {
        within(t).await.unwrap().unwrap();
    }
    let appends = store.shared.appends.load(Ordering::Relaxed);
    assert!(appends < 200, "200 concurrent creates took {appends} appends");
    assert!(appends >= 1);
    crash(Arc::into_inner(store).unwrap());
    assert_eq!(open(&path).stats().await.unwrap().workspaces, 200);
}

#[tokio::test]
async fn a_flush_window_defers_the_write_and_flush_forces_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let store = FileStore::open(&path, Duration::from_secs(3600), 10).unwrap();
    let w = workspace();
    within(store.create(w.clone())).await.unwrap();
    assert_eq!(
        store.shared.appends.load(Ordering::Relaxed),
        0,
        "replied before the write"
    );
    tokio::time::timeout(Duration::from_secs(10), store.flush())
        .await
        .expect("flush within 10 s")
        .unwrap();
    // After a flush the snapshot holds everything by itself.
    let snap: Snapshot = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(snap.workspaces, vec![w.clone()]);
    assert_eq!(
        std::fs::metadata(snapshot::sibling(&path, ".journal")).unwrap().len(),
        0
    );
    crash(store);
    assert_eq!(open(&path).get(&w.id).await.unwrap(), Some(w));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_keeps_every_change_while_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let store = FileStore::open_with(&path, Duration::ZERO, 10, 4096).unwrap();
    let mut kept = Vec::new();
    for i in 0..300 {
        let w = workspace();
        within(store.create(w.clone())).await.unwrap();
        if i % 3 == 0 {
            within(store.destroy(&w.id)).await.unwrap();
        } else {
            kept.push(w.id);
        }
    }
    let compactions = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let snap: Snapshot = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            if snap.seq > 0 {
                return snap.seq;
            }
            within(store.set_call(&kept[0], serde_json::json!({"n": 1})))
                .await
                .unwrap();
        }
    })
    .await
    .expect("a compaction within 10 s");
    assert!(compactions > 0);
    let journal = std::fs::metadata(snapshot::sibling(&path, ".journal")).unwrap().len();
    assert!(journal < 300 * 200, "the journal was cut back ({journal} bytes)");
    crash(store);
    let reopened = open(&path);
    assert_eq!(reopened.stats().await.unwrap().workspaces, kept.len());
    for id in &kept {
        assert!(reopened.get(id).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn a_journal_left_by_a_crash_mid_compaction_replays_by_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let (a, b) = (workspace(), workspace());
    {
        let store = open(&path);
        within(store.create(a.clone())).await.unwrap();
        within(store.create(b.clone())).await.unwrap();
        within(store.destroy(&a.id)).await.unwrap();
        crash(store);
    }
    // As if a compaction had renamed the journal aside and died before its snapshot.
    std::fs::rename(
        snapshot::sibling(&path, ".journal"),
        snapshot::sibling(&path, ".journal.old"),
    )
    .unwrap();
    let store = open(&path);
    assert_eq!(store.get(&a.id).await.unwrap(), None);
    assert!(store.get(&b.id).await.unwrap().is_some());
    assert!(!snapshot::sibling(&path, ".journal.old").exists());
}

#[test]
fn a_corrupt_file_is_refused_and_kept() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    for bytes in [
        &b"{\"format\":\"webrtc-workspaces-server/1\",\"workspaces\":["[..],
        b"{\"workspaces\": 3}",
        b"[1,2]",
        b"{\"_abcdefghij\": 3}",
    ] {
        std::fs::write(&path, bytes).unwrap();
        let err = FileStore::open(&path, Duration::ZERO, 10)
            .err()
            .expect("corrupt file refused");
        assert!(err.to_string().contains("store.json"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        assert!(!snapshot::sibling(&path, ".original").exists());
    }
}

#[tokio::test]
async fn the_originals_file_is_imported_and_backed_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let original = br#"{"_abcdefghij":{"id":"_abcdefghij","name":"n","avatar":"","owner":"_owner00001",
        "created":1600000000000,"token":"t","attendees":{"_owner00001":{"id":"_owner00001","name":"o","avatar":""}},
        "socketMap":{"_owner00001":"sid"}}}"#;
    std::fs::write(&path, original).unwrap();
    let store = open(&path);
    assert!(store.imported_from_original());
    assert_eq!(store.stats().await.unwrap().workspaces, 1);
    assert_eq!(std::fs::read(snapshot::sibling(&path, ".original")).unwrap(), original);
    crash(store);
    let again = open(&path);
    assert!(again.imported_from_original(), "remembered across restarts");
    assert_eq!(again.stats().await.unwrap().workspaces, 1);
}
