//! Race safety of the S3 backend's compare-and-swap and lock, against `object_store`'s
//! in-memory store (whose conditional writes are atomic, as S3's are; moto's are not under
//! concurrency): many writers at once, exactly one wins each round, the others fail cleanly
//! naming the new serial and overwrite nothing. Also the remote journal's recovery rules.

use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::ObjectStore;
use tokio::task::JoinSet;

use super::*;
use crate::state::{ManagedGroup, StateOp};

const WRITERS: usize = 8;
const ROUNDS: usize = 25;

fn store(mem: &Arc<dyn ObjectStore>, journal: PathBuf) -> RemoteStore {
    let backend = S3Backend::with_store(
        Arc::clone(mem),
        "acme-zsc",
        "prod/state.json",
        "s3 backend `s3://acme-zsc/prod/state.json`".to_owned(),
    );
    RemoteStore::new(Remote::S3(backend), journal)
}

fn group(name: &str) -> StateOp {
    StateOp::PutGroup {
        group: ManagedGroup {
            id: format!("id-{name}"),
            name: name.to_owned(),
            members: Vec::new(),
            protect: false,
            wrote: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_one_wins_each_round_and_the_others_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let mut first = State::new();
    first.apply("t", &group("base"));
    let seed = store(&mem, dir.path().join("seed.journal"));
    seed.load().await.unwrap();
    assert!(seed.commit(&mut first).await.unwrap());
    assert_eq!(first.serial, 1);

    for round in 0..ROUNDS {
        // Every writer reads the same state, then all write at once.
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let s = Arc::new(store(&mem, dir.path().join(format!("w{w}.journal"))));
            let loaded = s.load().await.unwrap();
            writers.push((s, loaded.state));
        }
        let read = writers[0].1.serial;
        let mut set = JoinSet::new();
        for (w, (s, mut state)) in writers.into_iter().enumerate() {
            state.apply("t", &group(&format!("r{round}-w{w}")));
            set.spawn(async move {
                let result = s.commit(&mut state).await;
                (w, result, state)
            });
        }
        let mut winners = Vec::new();
        while let Some(joined) = set.join_next().await {
            let (w, result, state) = joined.unwrap();
            match result {
                Ok(true) => winners.push((w, state)),
                Ok(false) => panic!("writer {w} found nothing to write"),
                Err(BackendError::Changed { read: r, now, .. }) => {
                    assert_eq!(r, format!("serial {read}"));
                    assert_eq!(now, format!("serial {}", read + 1), "names the new serial");
                }
                Err(e) => panic!("writer {w}: unexpected {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one writer wins");
        let (w, won) = &winners[0];
        let check = store(&mem, dir.path().join("check.journal"));
        let stored = check.load().await.unwrap().state;
        assert_eq!(stored.serial, read + 1);
        assert_eq!(&stored, won, "the stored state is the winner's, whole");
        assert!(stored.tenants["t"]
            .groups
            .contains_key(&format!("r{round}-w{w}")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lockers_exactly_one_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    for round in 0..ROUNDS {
        let mut set = JoinSet::new();
        for w in 0..WRITERS {
            let s = Arc::new(store(&mem, dir.path().join(format!("l{w}.journal"))));
            set.spawn(async move { (s.lock("apply").await, s) });
        }
        let mut held = Vec::new();
        let mut refused = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined.unwrap() {
                (Ok(holder), s) => held.push((holder, s)),
                (Err(BackendError::Locked { holder, .. }), _) => refused.push(holder),
                (Err(e), _) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(held.len(), 1, "round {round}: exactly one lock");
        let (holder, s) = held.pop().unwrap();
        for other in refused {
            assert_eq!(
                other.map(|h| h.id),
                Some(holder.id.clone()),
                "names the holder"
            );
        }
        s.unlock(&holder).await.unwrap();
    }
}

#[tokio::test]
async fn a_write_after_someone_else_wrote_fails_and_overwrites_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let a = store(&mem, dir.path().join("a.journal"));
    let b = store(&mem, dir.path().join("b.journal"));
    let mut state_a = a.load().await.unwrap().state;
    let mut state_b = b.load().await.unwrap().state;
    state_b.lineage = state_a.lineage.clone();
    state_a.apply("t", &group("a"));
    state_b.apply("t", &group("b"));
    assert!(a.commit(&mut state_a).await.unwrap());
    // b read "no state" and creates: If-None-Match fails.
    let err = b.commit(&mut state_b).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "the state changed under this run: the s3 backend `s3://acme-zsc/prod/state.json` now \
         holds serial 1 (this run read no state); nothing was overwritten; run the command again"
    );
    let stored = a.load().await.unwrap().state;
    assert_eq!(stored, state_a);
}

#[tokio::test]
async fn the_local_journal_of_a_dead_apply_is_replayed_onto_the_pushed_state() {
    let dir = tempfile::tempdir().unwrap();
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let journal = dir.path().join("remote-state.journal");
    let s = store(&mem, journal.clone());
    let mut state = s.load().await.unwrap().state;
    state.apply("t", &group("a"));
    s.commit(&mut state).await.unwrap();

    // An apply journals two changes and pushes after the first, then dies before it could
    // restart its journal: the journal's header is one serial behind the backend.
    let mut j = s.open_journal(&state).unwrap();
    j.record("t", &[group("b")]).unwrap();
    let mut pushed = state.clone();
    pushed.apply("t", &group("b"));
    s.write(&mut pushed).await.unwrap();
    j.record("t", &[group("c")]).unwrap();
    drop(j);

    let again = store(&mem, journal.clone());
    let loaded = again.load().await.unwrap();
    assert_eq!(loaded.replayed, 2);
    let names: Vec<&str> = loaded.state.tenants["t"]
        .groups
        .values()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(loaded.state.serial, pushed.serial + 1);

    // A journal two serials behind may hold changes the backend lost: an error, kept.
    let mut moved = loaded.state.clone();
    again.write(&mut moved).await.unwrap();
    moved.apply("t", &group("d"));
    again.write(&mut moved).await.unwrap();
    let err = store(&mem, journal.clone()).load().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("it continues serial 1, but the backend is at serial 4"),
        "{err}"
    );
    assert!(journal.exists());
}
