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
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::journal::{self, Journal};
use super::lock::{self, LockInfo, StateLock};
use super::model::{State, STATE_FORMAT_VERSION};

/// The state file at one path, with its backup, journal and lock beside it.
#[derive(Clone, Debug)]
pub struct StateStore {
    path: PathBuf,
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

/// Everything that can go wrong with the state's files. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("could not {action} `{}`: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: io::Error,
    },

    #[error("`{}` is empty, not a state file{}", path.display(), backup_hint(backup))]
    Empty {
        path: PathBuf,
        backup: Option<PathBuf>,
    },

    #[error("`{}`:{line}:{column}: invalid state file: {message}{}", path.display(), backup_hint(backup))]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        backup: Option<PathBuf>,
    },

    #[error(
        "`{}` was written by a newer zsc (format {found}); this zsc reads format {}",
        path.display(),
        STATE_FORMAT_VERSION
    )]
    NewerFormat { path: PathBuf, found: u64 },

    #[error("`{}` has format_version {found}, which no zsc writes", path.display())]
    UnknownFormat { path: PathBuf, found: u64 },

    #[error(
        "`{}` has no lineage; without one, plans and journals cannot be matched to it",
        path.display()
    )]
    MissingLineage { path: PathBuf },

    #[error("`{}`:{line}: invalid journal line: {message}", path.display())]
    JournalCorrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error(
        "journal `{}` belongs to state lineage {found}, but `{}` has lineage {expected}; it \
         holds changes made to another state: put that state back, or delete the journal to \
         discard them",
        path.display(),
        state.display()
    )]
    JournalLineage {
        path: PathBuf,
        found: String,
        state: PathBuf,
        expected: String,
    },

    #[error(
        "journal `{}` continues state serial {found}, but `{}` is at serial {expected}; it may \
         hold changes this state lacks: if `{}` was replaced by another copy, put the one at \
         serial {found} back; delete the journal only to discard its changes",
        path.display(),
        state.display(),
        state.display()
    )]
    JournalSerial {
        path: PathBuf,
        found: u64,
        state: PathBuf,
        expected: u64,
    },

    #[error(
        "journal `{}` continues state serial {serial}, but `{}` does not exist; put the state \
         back (the one before its last save may be in `{}.backup`), or delete the journal to \
         discard its changes",
        path.display(),
        state.display(),
        state.display()
    )]
    JournalWithoutState {
        path: PathBuf,
        serial: u64,
        state: PathBuf,
    },

    #[error(
        "journal `{}` already exists; load the state (which replays it) and save it before \
         starting a new one",
        path.display()
    )]
    JournalExists { path: PathBuf },

    #[error(
        "journal `{}` was removed by a save since it was opened; open a new journal after \
         saving",
        path.display()
    )]
    JournalRemoved { path: PathBuf },

    #[error("journal `{}` is unusable after an earlier write to it failed", path.display())]
    JournalBroken { path: PathBuf },

    #[error(
        "state `{}` is locked by {}; wait for it to finish, or if that process is gone run \
         `zsc state unlock`",
        state.display(),
        holder_description(holder.as_deref(), lock)
    )]
    Locked {
        state: PathBuf,
        lock: PathBuf,
        holder: Option<Box<LockInfo>>,
    },

    #[error(
        "`{}` does not hold valid lock information ({message}); `zsc state unlock` removes it",
        path.display()
    )]
    LockInfoCorrupt { path: PathBuf, message: String },
}

impl StateError {
    pub(crate) fn io(action: &'static str, path: &Path, error: io::Error) -> StateError {
        StateError::Io {
            action,
            path: path.to_owned(),
            error,
        }
    }
}

fn backup_hint(backup: &Option<PathBuf>) -> String {
    match backup {
        Some(b) => format!("; the state before its last save is in `{}`", b.display()),
        None => String::new(),
    }
}

fn holder_description(holder: Option<&LockInfo>, lock: &Path) -> String {
    match holder {
        Some(info) => info.to_string(),
        None => format!(
            "another process (no holder recorded in `{}` yet)",
            lock.display()
        ),
    }
}

impl StateStore {
    /// The store for the state file at `path`, e.g. `<config dir>/.zsc/state.json`. Nothing is
    /// read or created until a method is called.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateStore { path: path.into() }
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
        let dir = parent_dir(&self.path);
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

        let journal = self.journal_path();
        if remove_if_exists(&journal)? {
            fsync_dir(&journal)?;
        }
        Ok(())
    }

    /// Makes the current `state.json`, if any, the backup. A hard link costs nothing however
    /// large the state; where links are unsupported the file is copied. Either way the backup
    /// appears complete or not at all.
    fn keep_backup(&self) -> Result<(), StateError> {
        let backup = self.backup_path();
        let tmp = unique_sibling(&backup, "tmp");
        let made = match fs::hard_link(&self.path, &tmp) {
            Ok(()) => set_private(&tmp),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => copy_private(&self.path, &tmp),
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
        create_private_dir(parent_dir(&self.path))?;
        journal::create(&self.journal_path(), state)
    }
}

/// `path` with `suffix` appended to its file name: `state.json` → `state.json.lock`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A fresh name beside `path` for a temporary file: `state.json.<uuid>.<ext>`.
pub(crate) fn unique_sibling(path: &Path, ext: &str) -> PathBuf {
    sibling(path, &format!(".{}.{ext}", uuid::Uuid::new_v4().simple()))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Sets `opts` to create files with mode 0600.
pub(crate) fn private(opts: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

fn set_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Creates `dir` and its missing parents with mode 0700; an existing directory is left as is.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), StateError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| StateError::io("create the directory", dir, e))
}

/// Creates `path` (it must not exist) with mode 0600 holding `bytes`, fsynced. On failure
/// nothing is left behind.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let mut file = private(OpenOptions::new().write(true).create_new(true))
        .open(path)
        .map_err(|e| StateError::io("create", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            let _ = fs::remove_file(path);
            StateError::io("write", path, e)
        })
}

fn copy_private(from: &Path, to: &Path) -> io::Result<()> {
    let mut source = File::open(from)?;
    let mut target = private(OpenOptions::new().write(true).create_new(true)).open(to)?;
    io::copy(&mut source, &mut target)?;
    target.sync_all()
}

/// Makes renames and removals in the directory holding `path` durable.
pub(crate) fn fsync_dir(path: &Path) -> Result<(), StateError> {
    let dir = parent_dir(path);
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StateError::io("sync the directory", dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Removes `path`; `Ok(false)` if it was not there.
fn remove_if_exists(path: &Path) -> Result<bool, StateError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StateError::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserAttrs;
    use crate::state::{ManagedGroup, ManagedUser, StateOp};

    const V1: &str = include_str!("../../testdata/state/v1.json");
    const V1_JOURNAL: &str = include_str!("../../testdata/state/v1.journal");
    const V1_LINEAGE: &str = "6f1c1f0e-8d5e-4a34-9d0e-2b7f3c1a9e42";

    fn store() -> (tempfile::TempDir, StateStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join(".zsc/state.json"));
        (dir, store)
    }

    /// A store whose `state.json` (and journal, if given) hold these bytes.
    fn store_with(state: Option<&str>, journal: Option<&str>) -> (tempfile::TempDir, StateStore) {
        let (dir, store) = store();
        fs::create_dir_all(store.path().parent().unwrap()).unwrap();
        if let Some(text) = state {
            fs::write(store.path(), text).unwrap();
        }
        if let Some(text) = journal {
            fs::write(store.journal_path(), text).unwrap();
        }
        (dir, store)
    }

    fn user(id: &str, user_name: &str) -> ManagedUser {
        ManagedUser {
            id: id.into(),
            user_name: user_name.into(),
            active: true,
            attrs: UserAttrs {
                display_name: Some(format!("User {id}")),
                ..UserAttrs::default()
            },
            protect: false,
            wrote: None,
        }
    }

    fn sample_state() -> State {
        let mut state = State::new();
        state.apply(
            "demo",
            &StateOp::PutUser {
                user: user("u-1", "a@example.com"),
            },
        );
        state.apply(
            "demo",
            &StateOp::PutGroup {
                group: ManagedGroup {
                    id: "g-1".into(),
                    name: "Staff".into(),
                    members: vec!["u-1".into()],
                    protect: false,
                    wrote: None,
                },
            },
        );
        state.serial = 1;
        state
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn save_then_load_round_trips() {
        let (_dir, store) = store();
        let state = sample_state();
        store.save(&state).unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded.state, state);
        assert!(loaded.existed);
        assert_eq!(loaded.replayed, 0);
        assert!(fs::read_to_string(store.path()).unwrap().ends_with("}\n"));
    }

    #[test]
    fn the_v1_format_is_stable_byte_for_byte() {
        let (_dir, store) = store_with(Some(V1), None);
        let loaded = store.load().unwrap();
        assert_eq!(loaded.state.lineage, V1_LINEAGE);
        assert_eq!(loaded.state.serial, 7);
        let tenant = loaded.state.tenant("zia-prod").unwrap();
        assert_eq!(
            tenant.users["jsmith@example.com"].user_name,
            "JSmith@example.com"
        );
        assert!(tenant.groups["accounting"].protect);
        store.save(&loaded.state).unwrap();
        assert_eq!(fs::read_to_string(store.path()).unwrap(), V1);
    }

    #[cfg(unix)]
    #[test]
    fn every_file_is_private() {
        let (_dir, store) = store();
        store.save(&sample_state()).unwrap();
        store.save(&sample_state()).unwrap();
        let journal = store.open_journal(&sample_state()).unwrap();
        let lock = store.lock("apply").unwrap();
        assert_eq!(mode(store.path().parent().unwrap()), 0o700);
        for path in [
            store.path(),
            &store.backup_path(),
            journal.path(),
            lock.path(),
        ] {
            assert_eq!(mode(path), 0o600, "{}", path.display());
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_world_readable_state_from_a_checkout_becomes_private_with_its_backup() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, store) = store_with(Some(V1), None);
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        store.save(&store.load().unwrap().state).unwrap();
        assert_eq!(mode(store.path()), 0o600);
        assert_eq!(mode(&store.backup_path()), 0o600);
    }

    #[test]
    fn backup_holds_the_previous_version() {
        let (_dir, store) = store();
        let first = sample_state();
        store.save(&first).unwrap();
        assert!(
            !store.backup_path().exists(),
            "nothing to back up on the first save"
        );
        let first_text = fs::read_to_string(store.path()).unwrap();

        let mut second = first.clone();
        second.apply(
            "demo",
            &StateOp::RemoveGroup {
                name: "staff".into(),
            },
        );
        second.serial += 1;
        store.save(&second).unwrap();
        assert_eq!(fs::read_to_string(store.backup_path()).unwrap(), first_text);

        let mut third = second.clone();
        third.serial += 1;
        store.save(&third).unwrap();
        let backup: State =
            serde_json::from_slice(&fs::read(store.backup_path()).unwrap()).unwrap();
        assert_eq!(backup, second, "exactly one previous version is kept");
        assert_eq!(store.load().unwrap().state, third);
        let names: Vec<_> = fs::read_dir(store.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
    }

    #[test]
    fn corrupt_state_is_an_error_naming_file_line_and_column() {
        let (_dir, store) = store_with(
            Some(include_str!("../../testdata/state/corrupt.json")),
            None,
        );
        let err = store.load().unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "`{}`:11:11: invalid state file: expected `,` or `}}`",
                store.path().display()
            )
        );
        // It is left exactly as it was.
        assert_eq!(
            fs::read_to_string(store.path()).unwrap(),
            include_str!("../../testdata/state/corrupt.json")
        );
    }

    #[test]
    fn corrupt_state_error_points_at_the_backup_when_there_is_one() {
        let (_dir, store) = store_with(Some("{\"format_version\": 1,"), None);
        fs::write(store.backup_path(), V1).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.ends_with(&format!(
                "; the state before its last save is in `{}`",
                store.backup_path().display()
            )),
            "{err}"
        );
    }

    #[test]
    fn empty_state_file_is_an_error() {
        let (_dir, store) = store_with(Some("\n"), None);
        let err = store.load().unwrap_err().to_string();
        assert_eq!(
            err,
            format!("`{}` is empty, not a state file", store.path().display())
        );
    }

    #[test]
    fn newer_format_is_refused() {
        let text = include_str!("../../testdata/state/newer-format.json");
        let (_dir, store) = store_with(Some(text), None);
        let err = store.load().unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "`{}` was written by a newer zsc (format 2); this zsc reads format 1",
                store.path().display()
            )
        );
        // Also when the newer file happens to parse as this format.
        let (_dir, store) = store_with(
            Some(&V1.replace("\"format_version\": 1", "\"format_version\": 9")),
            None,
        );
        assert!(matches!(
            store.load(),
            Err(StateError::NewerFormat { found: 9, .. })
        ));
    }

    #[test]
    fn missing_or_empty_lineage_is_refused() {
        let without: String = V1.lines().filter(|l| !l.contains("lineage")).collect();
        let (_dir, store) = store_with(Some(&without), None);
        assert!(matches!(
            store.load(),
            Err(StateError::MissingLineage { .. })
        ));
        let empty = V1.replace(V1_LINEAGE, " ");
        let (_dir, store) = store_with(Some(&empty), None);
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("has no lineage"), "{err}");
        let mut state = State::new();
        state.lineage.clear();
        assert!(matches!(
            store.save(&state),
            Err(StateError::MissingLineage { .. })
        ));
    }

    #[test]
    fn missing_state_is_a_new_empty_state_and_creates_nothing() {
        let (dir, store) = store();
        let loaded = store.load().unwrap();
        assert!(!loaded.existed);
        assert_eq!(loaded.replayed, 0);
        assert_eq!(loaded.state.serial, 0);
        assert!(loaded.state.tenants.is_empty());
        assert!(!loaded.state.lineage.is_empty());
        assert_ne!(store.load().unwrap().state.lineage, loaded.state.lineage);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn journal_replay_applies_complete_entries_and_raises_the_serial() {
        let (_dir, store) = store_with(Some(V1), Some(V1_JOURNAL));
        let loaded = store.load().unwrap();
        assert_eq!(loaded.replayed, 2);
        assert_eq!(loaded.state.serial, 8);
        let tenant = loaded.state.tenant("zia-prod").unwrap();
        assert_eq!(tenant.users["new@example.com"].id, "u-3");
        assert_eq!(tenant.groups["accounting"].members, ["u-1", "u-3"]);
        // The torn last line (remove jdoe) was never acknowledged, so it is not applied.
        assert!(tenant.users.contains_key("jdoe@example.com"));
        // Loading again replays again: the journal stays until a save folds it in.
        assert_eq!(store.load().unwrap().state, loaded.state);
    }

    #[test]
    fn the_torn_fixture_line_really_is_torn() {
        assert!(
            !V1_JOURNAL.ends_with('\n'),
            "an editor added a newline to v1.journal"
        );
    }

    #[test]
    fn save_folds_the_journal_in_and_removes_it() {
        let (_dir, store) = store_with(Some(V1), Some(V1_JOURNAL));
        let loaded = store.load().unwrap();
        store.save(&loaded.state).unwrap();
        assert!(!store.journal_path().exists());
        let again = store.load().unwrap();
        assert_eq!(again.replayed, 0);
        assert_eq!(again.state, loaded.state);
    }

    #[test]
    fn recorded_changes_survive_a_crash_before_the_save() {
        let (_dir, store) = store();
        let state = sample_state();
        store.save(&state).unwrap();
        let mut journal = store.open_journal(&state).unwrap();
        journal
            .record(
                "demo",
                &[StateOp::PutUser {
                    user: user("u-2", "b@example.com"),
                }],
            )
            .unwrap();
        journal.record("demo", &[]).unwrap();
        journal
            .record(
                "demo",
                &[StateOp::AddMembers {
                    group: "Staff".into(),
                    ids: vec!["u-2".into()],
                    at: None,
                }],
            )
            .unwrap();
        drop(journal); // the process dies here

        let loaded = store.load().unwrap();
        assert_eq!(loaded.replayed, 2);
        assert_eq!(loaded.state.serial, state.serial + 1);
        let tenant = loaded.state.tenant("demo").unwrap();
        assert!(tenant.users.contains_key("b@example.com"));
        assert_eq!(tenant.groups["staff"].members, ["u-1", "u-2"]);
    }

    #[test]
    fn a_journal_with_nothing_recorded_changes_nothing() {
        let (_dir, store) = store();
        let state = sample_state();
        store.save(&state).unwrap();
        drop(store.open_journal(&state).unwrap());
        let loaded = store.load().unwrap();
        assert_eq!((loaded.replayed, loaded.state.serial), (0, state.serial));
    }

    #[test]
    fn opening_a_second_journal_is_refused() {
        let (_dir, store) = store();
        let state = sample_state();
        let _first = store.open_journal(&state).unwrap();
        let err = store.open_journal(&state).unwrap_err();
        assert!(matches!(err, StateError::JournalExists { .. }), "{err:?}");
    }

    #[test]
    fn recording_after_a_save_removed_the_journal_is_an_error() {
        let (_dir, store) = store();
        let state = sample_state();
        let mut journal = store.open_journal(&state).unwrap();
        store.save(&state).unwrap();
        let err = journal
            .record(
                "demo",
                &[StateOp::RemoveUser {
                    user_name: "a@example.com".into(),
                }],
            )
            .unwrap_err();
        assert!(matches!(err, StateError::JournalRemoved { .. }), "{err:?}");
    }

    #[test]
    fn journal_of_another_lineage_is_refused_and_kept() {
        let other = V1_JOURNAL.replace(V1_LINEAGE, "11111111-2222-3333-4444-555555555555");
        let (_dir, store) = store_with(Some(V1), Some(&other));
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "journal `{}` belongs to state lineage 11111111-2222-3333-4444-555555555555, but \
                 `{}` has lineage {V1_LINEAGE}",
                store.journal_path().display(),
                store.path().display()
            )),
            "{err}"
        );
        assert!(store.journal_path().exists());
    }

    #[test]
    fn journal_of_an_unexpected_serial_is_refused() {
        for serial in [6, 7, 10] {
            // (8 against 9 is the stale case.)
            let journal = V1_JOURNAL.replace("\"serial\":7", &format!("\"serial\":{serial}"));
            let state = V1.replace("\"serial\": 7", "\"serial\": 9");
            let (_dir, store) = store_with(Some(&state), Some(&journal));
            match store.load() {
                Err(StateError::JournalSerial {
                    found, expected: 9, ..
                }) => {
                    assert_eq!(found, serial)
                }
                other => panic!("serial {serial}: expected JournalSerial, got {other:?}"),
            }
        }
    }

    #[test]
    fn stale_journal_already_folded_in_is_deleted() {
        // The save of serial 8 renamed state.json into place but died before removing the
        // journal that continued serial 7.
        let state = V1.replace("\"serial\": 7", "\"serial\": 8");
        let (_dir, store) = store_with(Some(&state), Some(V1_JOURNAL));
        let loaded = store.load().unwrap();
        assert_eq!((loaded.replayed, loaded.state.serial), (0, 8));
        assert!(!loaded
            .state
            .tenant("zia-prod")
            .unwrap()
            .users
            .contains_key("new@example.com"));
        assert!(!store.journal_path().exists());
    }

    #[test]
    fn malformed_journal_line_is_an_error_naming_the_line() {
        let journal = V1_JOURNAL.replacen("\"ops\"", "\"oops\"", 2);
        let (_dir, store) = store_with(Some(V1), Some(&journal));
        let err = store.load().unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "`{}`:2: invalid journal line: missing field `ops`",
                store.journal_path().display()
            )
        );
        let (_dir, store) = store_with(Some(V1), Some("{\"lineage\":7}\n"));
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains(":1: invalid journal line: invalid header"),
            "{err}"
        );
    }

    #[test]
    fn journal_without_a_header_recorded_nothing_and_is_deleted() {
        let (_dir, store) = store_with(Some(V1), Some("{\"lineage\":\"6f1c"));
        let loaded = store.load().unwrap();
        assert_eq!((loaded.replayed, loaded.state.serial), (0, 7));
        assert!(!store.journal_path().exists());
    }

    #[test]
    fn first_apply_journal_without_a_state_file_is_replayed() {
        let journal = V1_JOURNAL.replace("\"serial\":7", "\"serial\":0");
        let (_dir, store) = store_with(None, Some(&journal));
        let loaded = store.load().unwrap();
        assert!(!loaded.existed);
        assert_eq!(loaded.replayed, 2);
        assert_eq!(loaded.state.lineage, V1_LINEAGE);
        assert_eq!(loaded.state.serial, 1);
        let tenant = loaded.state.tenant("zia-prod").unwrap();
        assert_eq!(tenant.users.len(), 1);
        // add_members on a group the state never had is a no-op.
        assert!(tenant.groups.is_empty());
    }

    #[test]
    fn journal_continuing_a_missing_state_is_refused() {
        let (_dir, store) = store_with(None, Some(V1_JOURNAL));
        let err = store.load().unwrap_err().to_string();
        assert!(
            err.contains(&format!("but `{}` does not exist", store.path().display())),
            "{err}"
        );
        assert!(store.journal_path().exists());
    }

    #[test]
    fn replay_of_fifty_thousand_members() {
        let (_dir, store) = store();
        let state = sample_state();
        store.save(&state).unwrap();
        let ids: Vec<String> = (0..50_000).map(|i| format!("m-{i}")).collect();
        let mut journal = store.open_journal(&state).unwrap();
        journal
            .record(
                "demo",
                &[StateOp::AddMembers {
                    group: "staff".into(),
                    ids: ids.clone(),
                    at: None,
                }],
            )
            .unwrap();
        journal
            .record(
                "demo",
                &[StateOp::RemoveMembers {
                    group: "staff".into(),
                    ids: ids[..25_000].to_vec(),
                    at: None,
                }],
            )
            .unwrap();
        let loaded = store.load().unwrap();
        let members = &loaded.state.tenant("demo").unwrap().groups["staff"].members;
        assert_eq!(members.len(), 25_001);
        assert_eq!(members[0], "u-1");
        assert_eq!(&members[1..], &ids[25_000..]);
    }

    #[test]
    fn relative_state_path_in_the_current_directory_works() {
        // parent_dir("state.json") must be ".", not "", for the directory fsync.
        assert_eq!(parent_dir(Path::new("state.json")), Path::new("."));
        assert_eq!(
            sibling(Path::new("a/state.json"), ".lock"),
            Path::new("a/state.json.lock")
        );
    }
}

#[cfg(test)]
mod empty_journal_tests {
    use super::*;
    use crate::state::StateOp;

    /// Regression: an apply killed after opening its journal but before its first change
    /// left a header-only journal, and the next apply refused to start ("journal exists").
    #[test]
    fn a_header_only_journal_does_not_block_the_next_apply() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("state.json"));
        let state = store.load().unwrap().state;
        store.save(&state).unwrap();
        drop(store.open_journal(&state).unwrap());
        let loaded = store.load().unwrap();
        assert_eq!(loaded.replayed, 0);
        assert!(store.has_journal());
        // What apply does: fold it away, then open its own.
        store.save(&loaded.state).unwrap();
        assert!(!store.has_journal());
        let mut journal = store.open_journal(&loaded.state).unwrap();
        journal
            .record(
                "t",
                &[StateOp::RemoveUser {
                    user_name: "x".into(),
                }],
            )
            .unwrap();
        drop(journal);
        // With an entry in it, the journal is not thrown away.
        assert!(store.open_journal(&loaded.state).is_err());
    }
}
