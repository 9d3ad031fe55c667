//! The state store: loads and saves `state.json` atomically, keeps the previous version as a
//! backup, folds in the apply journal, and hands out the lock. The only code that touches the
//! state's files.
//!
//! Files, all beside the state and all mode 0600 (their directory is created 0700):
//!
//! - `state.json`: the [`State`], pretty JSON with a trailing newline.
//! - `state.json.backup`: the state as it was before the last save.
//! - `state.json.journal`: changes completed since the last save (see [`super::journal`]).
//! - `state.json.lock`: the lock and its holder (see [`super::lock`]).
//!
//! A save writes a temporary file, fsyncs it, keeps the current state as the backup, renames the
//! temporary file over `state.json`, fsyncs the directory and only then removes the journal. A
//! crash at any point leaves either the old state with its journal, or the new state with a
//! journal that it already contains (recognised as stale on load), never a half-written file.
//!
//! A state file that cannot be read is an error that names it; nothing here ever replaces or
//! resets a state it could not read. Nothing here holds a secret: state has none.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::error::fs::{create_private_dir, fsync_dir, remove_if_exists, write_private};
use super::error::StateError;
use super::journal::{self, Journal};
use super::lock::{self, LockInfo, StateLock};
use super::model::{State, STATE_FORMAT_VERSION};
use super::rules::{self, Stored};
use crate::fsx::{self, sibling, unique_sibling};

/// The state file at one path, with its backup, journal and lock beside it. The store owns the
/// serial: [`StateStore::commit`] raises it exactly when the content changed since the state
/// was loaded or last written by this store.
#[derive(Debug)]
pub struct StateStore {
    path: PathBuf,
    /// The lineage, serial and content digest of the state file as this store last read or
    /// wrote it.
    persisted: Mutex<Option<Stored>>,
}

/// A loaded state.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub state: State,
    /// Whether `state.json` existed. When it did not, `state` is new and empty, unless a journal
    /// of its first apply was found and replayed (then `replayed > 0`).
    pub existed: bool,
    /// How many journal entries were applied on top of the file: changes a crashed or killed
    /// apply completed after the last save.
    pub replayed: usize,
}

impl StateStore {
    /// The store for the state file at `path`, e.g. `<config dir>/.zsc/state.json`. Nothing is
    /// read or created until a method is called.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateStore {
            path: path.into(),
            persisted: Mutex::new(None),
        }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn backup_path(&self) -> PathBuf {
        sibling(&self.path, ".backup")
    }

    fn journal_path(&self) -> PathBuf {
        sibling(&self.path, ".journal")
    }

    fn lock_path(&self) -> PathBuf {
        sibling(&self.path, ".lock")
    }

    /// Reads the state and replays its journal, if any.
    ///
    /// No `state.json` gives a new, empty state with a fresh lineage (`existed: false`).
    /// Journal rules, from the journal's header (lineage L, serial N):
    ///
    /// - L and N equal the state's: every complete entry is applied in order and, if there was
    ///   any, the serial becomes N + 1, the serial the folded state is saved with.
    /// - L equal and the state at N + 1: a save already folded the journal in but crashed before
    ///   removing it; the journal is stale and deleted.
    /// - Another lineage or any other serial: an error, since the journal may hold changes
    ///   this state lacks.
    /// - No `state.json` and N = 0: the journal of the first apply of a new state (serial 0 is
    ///   always empty, as every save that adds content raises the serial): it is replayed onto
    ///   an empty state with lineage L. With N > 0 the state file is missing, not new: an error.
    /// - A journal whose header line was never completed recorded nothing; it is deleted.
    pub fn load(&self) -> Result<Loaded, StateError> {
        let on_disk = match fs::read(&self.path) {
            Ok(bytes) => Some(self.parse(&bytes)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(StateError::io("read", &self.path, e)),
        };
        self.remember(on_disk.as_ref());
        let existed = on_disk.is_some();
        let journal_path = self.journal_path();
        let unchanged = |on_disk: Option<State>| Loaded {
            state: on_disk.unwrap_or_default(),
            existed,
            replayed: 0,
        };

        let Some(journal) = journal::read(&journal_path)? else {
            return Ok(unchanged(on_disk));
        };
        let Some(header) = journal.header.clone() else {
            remove_if_exists(&journal_path)?;
            return Ok(unchanged(on_disk));
        };
        let mut state = match on_disk {
            Some(state) => state,
            None if header.serial == 0 => State {
                format_version: STATE_FORMAT_VERSION,
                lineage: header.lineage.clone(),
                serial: 0,
                tenants: BTreeMap::new(),
            },
            None => {
                return Err(StateError::JournalWithoutState {
                    path: journal_path,
                    serial: header.serial,
                    state: self.path.clone(),
                })
            }
        };
        if header.lineage != state.lineage {
            return Err(StateError::JournalLineage {
                path: journal_path,
                found: header.lineage,
                state: self.path.clone(),
                expected: state.lineage,
            });
        }
        if header.serial == state.serial {
            let replayed = journal.replay_onto(&mut state)?;
            if replayed > 0 {
                state.serial = header.serial + 1;
            }
            return Ok(Loaded {
                state,
                existed,
                replayed,
            });
        }
        if header.serial.checked_add(1) == Some(state.serial) {
            remove_if_exists(&journal_path)?;
            return Ok(unchanged(Some(state)));
        }
        Err(StateError::JournalSerial {
            path: journal_path,
            found: header.serial,
            state: self.path.clone(),
            expected: state.serial,
        })
    }

    /// The state file as it is, without replaying a journal (`None`: no file).
    pub fn read_stored(&self) -> Result<Option<State>, StateError> {
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(self.parse(&bytes)?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError::io("read", &self.path, e)),
        }
    }

    fn parse(&self, bytes: &[u8]) -> Result<State, StateError> {
        let backup = Some(self.backup_path()).filter(|b| b.exists());
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(StateError::Empty {
                path: self.path.clone(),
                backup,
            });
        }
        let state: State = match serde_json::from_slice(bytes) {
            Ok(state) => state,
            Err(e) => {
                // Before pointing at a field, check the things with a better message: a newer
                // format may not parse as this one at all, and a lineage may be missing.
                #[derive(Deserialize)]
                struct Probe {
                    format_version: Option<u64>,
                    lineage: Option<IgnoredAny>,
                }
                if let Ok(probe) = serde_json::from_slice::<Probe>(bytes) {
                    self.check_format(probe.format_version.unwrap_or(0))?;
                    if probe.lineage.is_none() {
                        return Err(StateError::MissingLineage {
                            path: self.path.clone(),
                        });
                    }
                }
                return Err(StateError::Corrupt {
                    path: self.path.clone(),
                    line: e.line(),
                    column: e.column(),
                    message: journal::without_position(&e),
                    backup,
                });
            }
        };
        self.check_format(u64::from(state.format_version))?;
        if state.lineage.trim().is_empty() {
            return Err(StateError::MissingLineage {
                path: self.path.clone(),
            });
        }
        Ok(state)
    }

    fn check_format(&self, found: u64) -> Result<(), StateError> {
        let path = self.path.clone();
        match found {
            0 => Err(StateError::UnknownFormat { path, found }),
            v if v > u64::from(STATE_FORMAT_VERSION) => {
                Err(StateError::NewerFormat { path, found })
            }
            _ => Ok(()),
        }
    }

    /// Writes exactly `state` to `state.json`, atomically, keeping the previous file as
    /// `state.json.backup`, then removes the journal, whose changes `state` now holds.
    ///
    /// The caller sets the serial: raise it by one whenever the content changed since the state
    /// was loaded (a state loaded with `replayed > 0` already carries its raised serial).
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        if state.lineage.trim().is_empty() {
            return Err(StateError::MissingLineage {
                path: self.path.clone(),
            });
        }
        let dir = fsx::parent_dir(&self.path);
        create_private_dir(dir)?;
        let mut text = serde_json::to_vec_pretty(state).map_err(|e| {
            StateError::io("serialize the state for", &self.path, io::Error::other(e))
        })?;
        text.push(b'\n');

        let tmp = unique_sibling(&self.path, "tmp");
        let written = write_private(&tmp, &text)
            .and_then(|()| self.keep_backup())
            .and_then(|()| {
                fs::rename(&tmp, &self.path).map_err(|e| StateError::io("replace", &self.path, e))
            });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fsync_dir(&self.path)?;
        self.remember(Some(state));

        let journal = self.journal_path();
        if remove_if_exists(&journal)? {
            fsync_dir(&journal)?;
        }
        Ok(())
    }

    /// Records `state` as written, if its content changed since this store last read or wrote
    /// the file (or a journal must be folded away): the serial becomes the persisted one plus
    /// one, as Terraform's state manager does. Returns whether anything was written. The one
    /// place a serial is raised; callers never set it.
    pub fn commit(&self, state: &mut State) -> Result<bool, StateError> {
        let persisted = self
            .persisted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match rules::next_serial(persisted.as_ref(), state) {
            Some(serial) => {
                state.serial = serial;
                // The same rules every backend's writes obey (they hold here by construction:
                // the lock keeps others out, and the serial was just computed).
                rules::check(persisted.as_ref(), state).map_err(|rule| StateError::Rule {
                    path: self.path.clone(),
                    rule,
                })?;
            }
            None => {
                if let Some(p) = &persisted {
                    state.serial = p.serial;
                }
                if !self.has_journal() {
                    return Ok(false);
                }
            }
        }
        self.save(state)?;
        Ok(true)
    }

    /// The serial and digest of `state` as the file now holds it (`None`: no file).
    fn remember(&self, state: Option<&State>) {
        *self.persisted.lock().unwrap_or_else(|e| e.into_inner()) = state.map(Stored::of);
    }

    /// Makes the current `state.json`, if any, the backup. A hard link costs nothing however
    /// large the state; where links are unsupported the file is copied. Either way the backup
    /// appears complete or not at all.
    fn keep_backup(&self) -> Result<(), StateError> {
        let backup = self.backup_path();
        let tmp = unique_sibling(&backup, "tmp");
        let made = match fs::hard_link(&self.path, &tmp) {
            Ok(()) => fsx::set_private(&tmp),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => fsx::copy_private(&self.path, &tmp),
        };
        let result = made
            .and_then(|()| fs::rename(&tmp, &backup))
            .map_err(|e| StateError::io("write the backup", &backup, e));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Takes the state lock for `command` (e.g. `"apply"`), without waiting. Held until the
    /// returned guard drops, or the process ends however it ends.
    pub fn lock(&self, command: &str) -> Result<StateLock, StateError> {
        lock::acquire(&self.lock_path(), &self.path, command)
    }

    /// Who holds the lock, or held it and died without releasing it; `None` when nobody does.
    pub fn lock_info(&self) -> Result<Option<LockInfo>, StateError> {
        lock::read_info(&self.lock_path())
    }

    /// Removes the lock whoever holds it and returns who that was (`zsc state unlock`).
    pub fn force_unlock(&self) -> Result<Option<LockInfo>, StateError> {
        lock::force_unlock(&self.lock_path())
    }

    /// Starts the journal continuing `state`, which must be the state as last saved (or as
    /// loaded with nothing replayed). Fails if a journal exists: load (replaying it) and save
    /// first.
    /// Whether a journal file is present. After `load` replayed nothing, one left behind holds
    /// only its header (an apply killed before its first change); the lock holder folds it
    /// away with a `save` before opening its own.
    pub fn has_journal(&self) -> bool {
        self.journal_path().exists()
    }

    pub fn open_journal(&self, state: &State) -> Result<Journal, StateError> {
        create_private_dir(fsx::parent_dir(&self.path))?;
        journal::create(&self.journal_path(), state)
    }
}

#[cfg(test)]
mod tests;
