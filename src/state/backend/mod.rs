//! Where the state is kept: the local file (today's store, with its lock, journal and backup)
//! or a remote backend (Terraform's HTTP protocol, S3), behind one interface the workflow layer
//! uses: load, commit, lock (waiting, with the holder shown), unlock, pull and push.
//!
//! - [`Backend`] is that interface: `Local` is [`StateStore`]; `Remote` is [`RemoteStore`],
//!   which keeps the serial and the rules exactly as the local store does ([`super::rules`]),
//!   writes every state with a compare-and-swap, and journals an apply's changes locally so
//!   that a crash on this machine loses nothing.
//! - `http.rs` and `s3.rs` speak the two protocols: read with a version, write if still that
//!   version, lock and unlock with the holder's information.
//!
//! What this module must not do: print, or put a credential in any message.

mod error;
mod holder;
mod http;
mod remote;
mod s3;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use error::BackendError;
pub use holder::LockHolder;
pub use http::HttpBackend;
pub use remote::{Remote, RemoteStore};
pub use s3::S3Backend;

use super::lock::StateLock;
use super::rules::{self, Stored, Verdict};
use super::store::{Loaded, StateStore};
use super::{Journal, State, StateError, STATE_FORMAT_VERSION};
use crate::config::BackendConfig;

/// A stored state's version, as a backend compares it on write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Version {
    /// Nothing is stored: a write must create.
    Absent,
    /// S3's ETag (and version id, in a versioned bucket).
    Tag {
        e_tag: Option<String>,
        version: Option<String>,
    },
    /// An HTTP backend's bytes, by SHA-256.
    Content([u8; 32]),
}

/// Why a conditional write did not happen.
#[derive(Debug)]
pub enum PutError {
    /// The stored state is no longer the version the write expected.
    Changed,
    Failed(BackendError),
}

impl From<BackendError> for PutError {
    fn from(e: BackendError) -> PutError {
        PutError::Failed(e)
    }
}

/// The per-request timeout for remote backends: 60 s, or `ZSC_HTTP_TIMEOUT_MS` (hidden, for
/// tests), as for tenants.
pub(crate) fn request_timeout() -> Duration {
    std::env::var("ZSC_HTTP_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_millis)
}

/// The state's home, local or remote.
pub enum Backend {
    Local(StateStore),
    Remote(Box<RemoteStore>),
}

/// A held lock; give it back with [`Backend::release`]. A local lock is also released when the
/// guard drops or the process ends; a remote one stays until released or unlocked.
#[derive(Debug)]
pub enum LockGuard {
    Local(StateLock),
    Remote(LockHolder),
}

/// How long to wait for a held lock, and whom to tell while waiting.
pub struct LockWait<'a> {
    pub timeout: Duration,
    /// Called with the holder's description when waiting starts and whenever the holder
    /// changes.
    pub waiting: &'a (dyn Fn(&str) + Send + Sync),
}

/// What `zsc state unlock` did.
#[derive(Debug)]
pub enum Unlocked {
    /// Nobody held the lock (`Some`: a holder that was gone was cleared).
    Free(Option<String>),
    /// Released a lock whose holder is gone (or named by its id).
    Released(String),
    /// Released with `--force`, its holder possibly still running.
    Forced(Option<String>),
}

/// What `zsc state push` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The backend holds that state already.
    Same,
    Written {
        serial: u64,
    },
}

impl Backend {
    /// The backend `config` declares; `local` keeps the state at `local_path`, a remote
    /// backend keeps its journal in `work_dir` (`.zsc` beside the configuration).
    pub fn open(
        config: &BackendConfig,
        local_path: PathBuf,
        work_dir: &Path,
    ) -> Result<Backend, BackendError> {
        let name = config.to_string();
        let journal = work_dir.join("remote-state.journal");
        Ok(match config {
            BackendConfig::Local => Backend::Local(StateStore::new(local_path)),
            BackendConfig::Http(http) => Backend::Remote(Box::new(RemoteStore::new(
                Remote::Http(HttpBackend::new(http, name)?),
                journal,
            ))),
            BackendConfig::S3(s3) => Backend::Remote(Box::new(RemoteStore::new(
                Remote::S3(S3Backend::new(s3, name)?),
                journal,
            ))),
        })
    }

    /// How messages name it: `local state `.zsc/state.json``, `s3 backend `s3://b/k``.
    pub fn describe(&self) -> String {
        match self {
            Backend::Local(store) => format!("local state `{}`", store.path().display()),
            Backend::Remote(remote) => remote.name().to_owned(),
        }
    }

    pub fn is_remote(&self) -> bool {
        matches!(self, Backend::Remote(_))
    }

    /// Read the state, with what an interrupted apply journaled replayed onto it.
    pub async fn load(&self) -> Result<Loaded, BackendError> {
        match self {
            Backend::Local(store) => Ok(store.load()?),
            Backend::Remote(remote) => remote.load().await,
        }
    }

    /// Store `state` if its content changed since it was loaded or last stored (raising the
    /// serial), and fold away the journal. Returns whether anything was written.
    pub async fn commit(&self, state: &mut State) -> Result<bool, BackendError> {
        match self {
            Backend::Local(store) => Ok(store.commit(state)?),
            Backend::Remote(remote) => remote.commit(state).await,
        }
    }

    pub fn has_journal(&self) -> bool {
        match self {
            Backend::Local(store) => store.has_journal(),
            Backend::Remote(remote) => remote.has_journal(),
        }
    }

    /// Start the journal of an apply continuing `state` (as last stored).
    pub fn open_journal(&self, state: &State) -> Result<Journal, BackendError> {
        match self {
            Backend::Local(store) => Ok(store.open_journal(state)?),
            Backend::Remote(remote) => remote.open_journal(state),
        }
    }

    /// Take the lock for `command`, waiting up to `wait.timeout` (with backoff) while another
    /// run holds it.
    pub async fn lock(
        &self,
        command: &str,
        wait: &LockWait<'_>,
    ) -> Result<LockGuard, BackendError> {
        let deadline = Instant::now() + wait.timeout;
        let mut delay = Duration::from_millis(200);
        let mut told: Option<String> = None;
        loop {
            let attempt = match self {
                Backend::Local(store) => store
                    .lock(command)
                    .map(LockGuard::Local)
                    .map_err(BackendError::from),
                Backend::Remote(remote) => remote.lock(command).await.map(LockGuard::Remote),
            };
            let now = Instant::now();
            match attempt {
                Err(e) if e.is_locked() && now < deadline => {
                    let holder = e.holder_text();
                    if told.as_deref() != Some(holder.as_str()) {
                        (wait.waiting)(&holder);
                        told = Some(holder);
                    }
                    tokio::time::sleep(delay.min(deadline - now)).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    /// Give a lock back.
    pub async fn release(&self, guard: LockGuard) -> Result<(), BackendError> {
        match (self, guard) {
            (_, LockGuard::Local(lock)) => {
                drop(lock);
                Ok(())
            }
            (Backend::Remote(remote), LockGuard::Remote(holder)) => remote.unlock(&holder).await,
            (Backend::Local(_), LockGuard::Remote(_)) => Ok(()),
        }
    }

    /// `zsc state unlock [ID] [--force]`: show who holds the lock; release it if its holder is
    /// gone, if `id` names it, or with `force`.
    pub async fn unlock(&self, id: Option<&str>, force: bool) -> Result<Unlocked, BackendError> {
        match self {
            Backend::Local(store) => unlock_local(store, id, force),
            Backend::Remote(remote) => remote.force_unlock(id, force).await,
        }
    }

    /// The stored state's bytes as the backend holds them (`zsc state pull`).
    pub async fn pull(&self) -> Result<Option<Vec<u8>>, BackendError> {
        match self {
            Backend::Local(store) => match std::fs::read(store.path()) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(StateError::io("read", store.path(), e).into()),
            },
            Backend::Remote(remote) => remote.pull().await,
        }
    }

    /// Replace the stored state with `state`, as it is (its own lineage and serial), under the
    /// rules unless `force`. The caller holds the lock.
    pub async fn push(&self, state: &State, force: bool) -> Result<Pushed, BackendError> {
        match self {
            Backend::Local(store) => push_local(store, state, force),
            Backend::Remote(remote) => remote.push(state, force).await,
        }
    }
}

fn unlock_local(
    store: &StateStore,
    id: Option<&str>,
    force: bool,
) -> Result<Unlocked, BackendError> {
    // Unreadable holder information must not stop the unlock that clears it.
    let recorded = match store.lock_info() {
        Ok(info) => info,
        Err(StateError::LockInfoCorrupt { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    match store.lock("state unlock") {
        Ok(lock) => {
            // Nobody holds it: dropping our lock removes the file and whatever a dead holder
            // left in it.
            drop(lock);
            Ok(Unlocked::Free(recorded.map(|h| h.to_string())))
        }
        Err(StateError::Locked { holder, .. }) => {
            let backend = format!("local state `{}`", store.path().display());
            let who = holder.as_ref().map_or_else(
                || "a process that left no information".to_owned(),
                |h| h.to_string(),
            );
            if let Some(id) = id.filter(|id| holder.as_ref().map(|h| h.id.as_str()) != Some(*id)) {
                return Err(BackendError::Refused(format!(
                    "the {backend} is locked by {who}, not by lock id {id}; nothing was released"
                )));
            }
            if !force {
                return Err(BackendError::Refused(format!(
                    "the state is locked by {who}, which still holds the lock; wait for it to \
                     finish (or stop it). If it is gone for good (a host that died, a file \
                     system that keeps the locks of dead processes), run `zsc state unlock \
                     --force`"
                )));
            }
            let info = store.force_unlock()?.or(holder.map(|h| *h));
            Ok(Unlocked::Forced(info.map(|h| h.to_string())))
        }
        Err(e) => Err(e.into()),
    }
}

fn push_local(store: &StateStore, state: &State, force: bool) -> Result<Pushed, BackendError> {
    let backend = format!("local state `{}`", store.path().display());
    if store.has_journal() && !force {
        return Err(BackendError::Failed {
            backend,
            action: "take the pushed state",
            detail: "an interrupted apply's journal is waiting to be folded into the current \
                     state; run `zsc refresh` first, or pass --force to discard it"
                .to_owned(),
        });
    }
    let current = store.read_stored()?;
    if !force {
        match rules::check(current.as_ref().map(Stored::of).as_ref(), state) {
            Ok(Verdict::Same) => return Ok(Pushed::Same),
            Ok(Verdict::Successor) => {}
            Err(rule) => return Err(BackendError::Rule { backend, rule }),
        }
    }
    store.save(state)?;
    Ok(Pushed::Written {
        serial: state.serial,
    })
}

/// Parse a state read from a backend: the same checks the local store makes (format, lineage),
/// as one line for a message.
pub(crate) fn parse_state(bytes: &[u8]) -> Result<State, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("it is empty".to_owned());
    }
    let state: State = serde_json::from_slice(bytes).map_err(|e| {
        #[derive(serde::Deserialize)]
        struct Probe {
            format_version: Option<u64>,
        }
        match serde_json::from_slice::<Probe>(bytes) {
            Ok(Probe {
                format_version: Some(v),
            }) if v > u64::from(STATE_FORMAT_VERSION) => format!(
                "it was written by a newer zsc (format {v}); this zsc reads format \
                 {STATE_FORMAT_VERSION}"
            ),
            _ => format!(
                "invalid JSON state at line {} column {}",
                e.line(),
                e.column()
            ),
        }
    })?;
    match u64::from(state.format_version) {
        0 => return Err("it has format_version 0, which no zsc writes".to_owned()),
        v if v > u64::from(STATE_FORMAT_VERSION) => {
            return Err(format!(
                "it was written by a newer zsc (format {v}); this zsc reads format \
                 {STATE_FORMAT_VERSION}"
            ))
        }
        _ => {}
    }
    if state.lineage.trim().is_empty() {
        return Err("it has no lineage".to_owned());
    }
    Ok(state)
}

/// A state as pretty JSON with a trailing newline, as every backend stores it.
pub(crate) fn to_bytes(state: &State) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(state).unwrap_or_default();
    text.push(b'\n');
    text
}

#[cfg(test)]
mod tests;
