//! A state kept in a remote backend, managed as the local store manages its file: it remembers
//! the version it read, raises the serial only when the content changed, checks the rules
//! before every write, and writes with a compare-and-swap, so that a state changed by someone
//! else since it was read is never overwritten.
//!
//! An apply also journals its completed changes in a local file (`.zsc/remote-state.journal`)
//! and pushes the state periodically; the journal's header is always the serial last pushed
//! (`restart_journal`). On load, a journal left by a run that died on this machine is replayed
//! onto the remote state when its header is the remote's serial, or the one before it (the run
//! died between a push and restarting its journal: replaying is idempotent, since every state
//! op is); any other journal is an error, never silently dropped. A run that died elsewhere
//! (a CI runner) loses what it did since its last push; the next plan adopts those objects.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::holder::LockHolder;
use super::http::HttpBackend;
use super::s3::S3Backend;
use super::{parse_state, to_bytes, BackendError, Pushed, PutError, Unlocked, Version};
use crate::state::error::fs::{create_private_dir, remove_if_exists};
use crate::state::journal::{self, Journal};
use crate::state::rules::{self, Stored, Verdict};
use crate::state::store::Loaded;
use crate::state::{State, StateOp, STATE_FORMAT_VERSION};

/// The protocol a remote backend speaks.
pub enum Remote {
    Http(HttpBackend),
    S3(S3Backend),
}

impl Remote {
    fn name(&self) -> &str {
        match self {
            Remote::Http(b) => b.name(),
            Remote::S3(b) => b.name(),
        }
    }

    fn path(&self) -> String {
        match self {
            Remote::Http(b) => b.path().to_owned(),
            Remote::S3(b) => b.path(),
        }
    }

    async fn get(&self) -> Result<Option<(bytes::Bytes, Version)>, BackendError> {
        match self {
            Remote::Http(b) => b.get().await,
            Remote::S3(b) => b.get().await,
        }
    }

    async fn put(
        &self,
        bytes: Vec<u8>,
        expected: &Version,
        lock_id: Option<&str>,
    ) -> Result<Version, PutError> {
        match self {
            Remote::Http(b) => b.put(bytes, expected, lock_id).await,
            Remote::S3(b) => b.put(bytes, expected, lock_id).await,
        }
    }

    async fn lock(&self, holder: &LockHolder) -> Result<(), BackendError> {
        match self {
            Remote::Http(b) => b.lock(holder).await,
            Remote::S3(b) => b.lock(holder).await,
        }
    }

    async fn unlock(&self, holder: &LockHolder) -> Result<(), BackendError> {
        match self {
            Remote::Http(b) => b.unlock(holder).await,
            Remote::S3(b) => b.unlock(holder).await,
        }
    }

    async fn holder(&self) -> Result<Option<LockHolder>, BackendError> {
        match self {
            Remote::Http(b) => b.holder().await,
            Remote::S3(b) => b.holder().await,
        }
    }
}

/// What the backend held when this store last read or wrote it.
#[derive(Clone, Debug)]
struct Persisted {
    stored: Option<Stored>,
    version: Version,
}

/// A remote backend with the local journal of this machine's applies.
pub struct RemoteStore {
    remote: Remote,
    journal: PathBuf,
    persisted: Mutex<Persisted>,
    /// The lock this run holds, for the `?ID=` of HTTP writes.
    held: Mutex<Option<LockHolder>>,
}

impl RemoteStore {
    pub fn new(remote: Remote, journal: PathBuf) -> RemoteStore {
        RemoteStore {
            remote,
            journal,
            persisted: Mutex::new(Persisted {
                stored: None,
                version: Version::Absent,
            }),
            held: Mutex::new(None),
        }
    }

    pub fn name(&self) -> &str {
        self.remote.name()
    }

    /// The local journal's path.
    pub fn journal_path(&self) -> &Path {
        &self.journal
    }

    fn persisted(&self) -> Persisted {
        self.persisted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn remember(&self, stored: Option<Stored>, version: Version) {
        *self.persisted.lock().unwrap_or_else(|e| e.into_inner()) = Persisted { stored, version };
    }

    fn corrupt(&self, detail: String) -> BackendError {
        BackendError::Corrupt {
            backend: self.name().to_owned(),
            detail,
        }
    }

    /// Read the state, and replay a journal this machine left (see the module docs).
    pub async fn load(&self) -> Result<Loaded, BackendError> {
        let on_remote = match self.remote.get().await? {
            Some((bytes, version)) => {
                let state = parse_state(&bytes).map_err(|d| self.corrupt(d))?;
                self.remember(Some(Stored::of(&state)), version);
                Some(state)
            }
            None => {
                self.remember(None, Version::Absent);
                None
            }
        };
        let existed = on_remote.is_some();
        let unchanged = |state: Option<State>| Loaded {
            state: state.unwrap_or_default(),
            existed,
            replayed: 0,
        };
        let Some(contents) = journal::read(&self.journal)? else {
            return Ok(unchanged(on_remote));
        };
        let Some(header) = contents.header.clone() else {
            remove_if_exists(&self.journal)?;
            return Ok(unchanged(on_remote));
        };
        let mut state = match on_remote {
            Some(state) => state,
            None if header.serial == 0 => State {
                format_version: STATE_FORMAT_VERSION,
                lineage: header.lineage.clone(),
                serial: 0,
                tenants: Default::default(),
            },
            None => {
                return Err(self.journal_mismatch(format!(
                    "it continues serial {} of lineage {}, but the backend holds no state",
                    header.serial, header.lineage
                )))
            }
        };
        if header.lineage != state.lineage {
            return Err(self.journal_mismatch(format!(
                "it belongs to state lineage {}, but the backend holds lineage {}",
                header.lineage, state.lineage
            )));
        }
        let base = state.serial;
        if header.serial != base && header.serial.checked_add(1) != Some(base) {
            return Err(self.journal_mismatch(format!(
                "it continues serial {}, but the backend is at serial {base}",
                header.serial
            )));
        }
        let before = rules::digest(&state);
        let replayed = contents.replay_onto(&mut state)?;
        if replayed > 0 && rules::digest(&state) != before {
            state.serial = base + 1;
        }
        Ok(Loaded {
            state,
            existed,
            replayed,
        })
    }

    fn journal_mismatch(&self, why: String) -> BackendError {
        BackendError::Failed {
            backend: self.name().to_owned(),
            action: "take the local journal",
            detail: format!(
                "`{}` is the journal of an apply on this machine that did not finish; {why}. It \
                 may hold changes the backend lacks: if the backend's state was replaced, put the \
                 right one back (`zsc state push`); delete the journal only to discard its \
                 changes (the next plan adopts what they created)",
                self.journal.display()
            ),
        }
    }

    pub fn has_journal(&self) -> bool {
        self.journal.exists()
    }

    /// Start the journal of an apply continuing `state` (as last stored).
    pub fn open_journal(&self, state: &State) -> Result<Journal, BackendError> {
        if let Some(dir) = self.journal.parent() {
            create_private_dir(dir)?;
        }
        Ok(journal::create(&self.journal, state)?)
    }

    /// Replace the journal with one continuing `state` (just pushed) that holds `entries`
    /// (recorded since the push's snapshot was taken).
    pub fn restart_journal(
        &self,
        state: &State,
        entries: &[(String, Vec<StateOp>)],
    ) -> Result<Journal, BackendError> {
        Ok(journal::restart(&self.journal, state, entries)?)
    }

    /// Write `state` if its content changed since it was read or last written (raising its
    /// serial), with a compare-and-swap. Leaves the journal alone. Returns whether it wrote.
    pub async fn write(&self, state: &mut State) -> Result<bool, BackendError> {
        let persisted = self.persisted();
        let Some(serial) = rules::next_serial(persisted.stored.as_ref(), state) else {
            if let Some(stored) = &persisted.stored {
                state.serial = stored.serial;
            }
            return Ok(false);
        };
        state.serial = serial;
        match rules::check(persisted.stored.as_ref(), state) {
            Ok(Verdict::Successor) => {}
            Ok(Verdict::Same) => return Ok(false),
            Err(rule) => {
                return Err(BackendError::Rule {
                    backend: self.name().to_owned(),
                    rule,
                })
            }
        }
        self.put(state, &persisted).await?;
        Ok(true)
    }

    /// [`Self::write`], then fold away the local journal, whose changes `state` holds.
    pub async fn commit(&self, state: &mut State) -> Result<bool, BackendError> {
        let wrote = self.write(state).await?;
        let folded = remove_if_exists(&self.journal)?;
        Ok(wrote || folded)
    }

    async fn put(&self, state: &State, expected: &Persisted) -> Result<(), BackendError> {
        let lock_id = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|h| h.id.clone());
        match self
            .remote
            .put(to_bytes(state), &expected.version, lock_id.as_deref())
            .await
        {
            Ok(version) => {
                self.remember(Some(Stored::of(state)), version);
                Ok(())
            }
            Err(PutError::Changed) => Err(self.changed(expected).await),
            Err(PutError::Failed(e)) => Err(e),
        }
    }

    /// The error for a compare-and-swap that failed: what the backend holds now, read again.
    async fn changed(&self, expected: &Persisted) -> BackendError {
        let read = match &expected.stored {
            Some(s) => format!("serial {}", s.serial),
            None => "no state".to_owned(),
        };
        let now = match self.remote.get().await {
            Ok(Some((bytes, _))) => match parse_state(&bytes) {
                Ok(s)
                    if expected
                        .stored
                        .as_ref()
                        .is_none_or(|e| e.lineage == s.lineage) =>
                {
                    format!("serial {}", s.serial)
                }
                Ok(s) => format!("serial {} of another lineage ({})", s.serial, s.lineage),
                Err(_) => "a state zsc cannot read".to_owned(),
            },
            Ok(None) => "no state".to_owned(),
            Err(_) => "a state it could not read again".to_owned(),
        };
        BackendError::Changed {
            backend: self.name().to_owned(),
            read,
            now,
        }
    }

    /// `zsc state pull`.
    pub async fn pull(&self) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.remote.get().await?.map(|(bytes, _)| bytes.to_vec()))
    }

    /// `zsc state push`: `state` as it is, under the rules unless `force`; a compare-and-swap
    /// against what was read either way.
    pub async fn push(&self, state: &State, force: bool) -> Result<Pushed, BackendError> {
        let (stored, version) = match self.remote.get().await? {
            Some((bytes, version)) => match parse_state(&bytes) {
                Ok(current) => (Some(Stored::of(&current)), version),
                Err(_) if force => (None, version),
                Err(detail) => return Err(self.corrupt(detail)),
            },
            None => (None, Version::Absent),
        };
        if !force {
            match rules::check(stored.as_ref(), state) {
                Ok(Verdict::Same) => return Ok(Pushed::Same),
                Ok(Verdict::Successor) => {}
                Err(rule) => {
                    return Err(BackendError::Rule {
                        backend: self.name().to_owned(),
                        rule,
                    })
                }
            }
        }
        let expected = Persisted { stored, version };
        self.remember(expected.stored.clone(), expected.version.clone());
        self.put(state, &expected).await?;
        Ok(Pushed::Written {
            serial: state.serial,
        })
    }

    /// Take the lock for `command` (no waiting: see [`super::Backend::lock`]).
    pub async fn lock(&self, command: &str) -> Result<LockHolder, BackendError> {
        let holder = LockHolder::new(command, &self.remote.path());
        self.remote.lock(&holder).await?;
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(holder.clone());
        Ok(holder)
    }

    /// Give back a lock this run took.
    pub async fn unlock(&self, holder: &LockHolder) -> Result<(), BackendError> {
        self.remote.unlock(holder).await?;
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.as_ref().is_some_and(|h| h.id == holder.id) {
            *held = None;
        }
        Ok(())
    }

    /// `zsc state unlock [ID] [--force]`: release the lock when its holder is a process of this
    /// machine that is gone, when `id` names it (unless its holder visibly runs here), or with
    /// `force`.
    pub async fn force_unlock(
        &self,
        id: Option<&str>,
        force: bool,
    ) -> Result<Unlocked, BackendError> {
        let Some(holder) = self.remote.holder().await? else {
            return match id {
                Some(id) => Err(BackendError::NotHolder {
                    backend: self.name().to_owned(),
                    id: id.to_owned(),
                    holder: None,
                }),
                None => Ok(Unlocked::Free(None)),
            };
        };
        if let Some(id) = id.filter(|id| *id != holder.id) {
            return Err(BackendError::NotHolder {
                backend: self.name().to_owned(),
                id: id.to_owned(),
                holder: Some(Box::new(holder)),
            });
        }
        let runs_here = holder.host() == Some(crate::state::lock::hostname().as_str())
            && holder.pid().is_some_and(|pid| {
                pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists()
            });
        let shown = holder.to_string();
        if force {
            self.remote.unlock(&holder).await?;
            return Ok(Unlocked::Forced(Some(shown)));
        }
        if holder.is_gone() || (id.is_some() && !runs_here) {
            self.remote.unlock(&holder).await?;
            return Ok(Unlocked::Released(shown));
        }
        let how = if runs_here {
            "it still runs on this machine: wait for it to finish (or stop it), or release the \
             lock anyway with `zsc state unlock --force`"
                .to_owned()
        } else {
            format!(
                "if that run is gone (a cancelled CI job), release its lock with \
                 `zsc state unlock {}`",
                holder.id
            )
        };
        Err(BackendError::Failed {
            backend: self.name().to_owned(),
            action: "release the lock",
            detail: format!("it is held by {shown}; {how}"),
        })
    }
}
