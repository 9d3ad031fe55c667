//! An apply's state with a remote backend: every completed change is journaled locally (and
//! fsynced) before it counts as done, as with the local backend, and the state with those
//! changes folded in is pushed to the backend every [`push_interval`] while the apply runs, then
//! once more at its end. A runner killed mid-apply loses at most what it did since its last
//! push (the next plan adopts what that created: see the README's "State backends"); one
//! killed on a machine that runs zsc again loses nothing (the journal is replayed).
//!
//! The executor records through [`PushingRecorder`]; [`push_periodically`] runs beside it on
//! the same task, taking a snapshot of the recorded state under a short lock and pushing it
//! without holding the lock, so recording never waits for the network.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::apply::Recorder;
use crate::state::backend::{BackendError, RemoteStore};
use crate::state::{Journal, State, StateOp};

/// How often a remote backend's state is pushed during an apply: every 10 s, or
/// `ZSC_STATE_PUSH_INTERVAL_MS` (hidden, for tests).
pub(super) fn push_interval() -> Duration {
    std::env::var("ZSC_STATE_PUSH_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// What the recorder and the pusher share.
pub(super) struct Recorded {
    /// The state as last pushed, with every change recorded since applied to it.
    state: State,
    journal: Journal,
    /// The entries recorded since the state was last pushed (the journal's lines).
    since_push: Vec<(String, Vec<StateOp>)>,
    /// Set when a push found the state changed under this run: recording stops the apply.
    failed: Option<String>,
}

/// Journals each completed change and keeps the state to push.
pub(super) struct PushingRecorder {
    shared: Arc<Mutex<Recorded>>,
}

impl PushingRecorder {
    /// `state` as last stored, and the journal continuing it.
    pub(super) fn new(state: &State, journal: Journal) -> PushingRecorder {
        PushingRecorder {
            shared: Arc::new(Mutex::new(Recorded {
                state: state.clone(),
                journal,
                since_push: Vec::new(),
                failed: None,
            })),
        }
    }

    pub(super) fn shared(&self) -> Arc<Mutex<Recorded>> {
        Arc::clone(&self.shared)
    }
}

impl Recorder for PushingRecorder {
    fn record(&mut self, entries: &[(&str, &[StateOp])]) -> Result<(), String> {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(failed) = &shared.failed {
            return Err(failed.clone());
        }
        shared
            .journal
            .record_all(entries)
            .map_err(|e| e.to_string())?;
        for (tenant, ops) in entries.iter().filter(|(_, ops)| !ops.is_empty()) {
            for op in *ops {
                shared.state.apply(tenant, op);
            }
            shared.since_push.push(((*tenant).to_owned(), ops.to_vec()));
        }
        Ok(())
    }
}

/// Push the recorded state every `interval` until `done` says the executor finished. Returns
/// how many pushes wrote the state.
pub(super) async fn push_periodically(
    store: &RemoteStore,
    shared: &Mutex<Recorded>,
    interval: Duration,
    mut done: watch::Receiver<bool>,
) -> usize {
    let mut pushed = 0;
    loop {
        if *done.borrow() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            changed = done.changed() => {
                if changed.is_err() || *done.borrow() {
                    break;
                }
                continue;
            }
        }
        if push_once(store, shared).await {
            pushed += 1;
        }
    }
    pushed
}

/// One push: a snapshot of what was recorded, written with a compare-and-swap, then the
/// journal restarted from it with the entries recorded while it travelled.
async fn push_once(store: &RemoteStore, shared: &Mutex<Recorded>) -> bool {
    let (mut snapshot, taken) = {
        let s = shared.lock().unwrap_or_else(|e| e.into_inner());
        if s.since_push.is_empty() || s.failed.is_some() {
            return false;
        }
        (s.state.clone(), s.since_push.len())
    };
    match store.write(&mut snapshot).await {
        Ok(wrote) => {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            let rest: Vec<(String, Vec<StateOp>)> = s.since_push.split_off(taken);
            match store.restart_journal(&snapshot, &rest) {
                Ok(journal) => {
                    s.journal = journal;
                    s.since_push = rest;
                    s.state.serial = snapshot.serial;
                }
                Err(e) => s.failed = Some(e.to_string()),
            }
            if wrote {
                tracing::info!(
                    serial = snapshot.serial,
                    "pushed the state to {}",
                    store.name()
                );
            }
            wrote
        }
        Err(e @ (BackendError::Changed { .. } | BackendError::Rule { .. })) => {
            shared.lock().unwrap_or_else(|e| e.into_inner()).failed = Some(e.to_string());
            false
        }
        Err(e) => {
            // Everything is in the local journal: try again at the next interval.
            tracing::warn!("could not push the state (will try again): {e}");
            false
        }
    }
}
