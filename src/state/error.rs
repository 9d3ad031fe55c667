//! What can go wrong with the state's files, each message naming the file and the way out.

use std::io;
use std::path::{Path, PathBuf};

use super::lock::LockInfo;
use super::model::STATE_FORMAT_VERSION;

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

    #[error("refusing to write the state to `{}`: {rule}; nothing was changed", path.display())]
    Rule {
        path: PathBuf,
        rule: super::rules::RuleError,
    },
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

/// File-system helpers whose errors become [`StateError::Io`] naming the file.
pub(crate) mod fs {
    use std::path::Path;

    use super::StateError;
    use crate::fsx;

    pub fn fsync_dir(path: &Path) -> Result<(), StateError> {
        fsx::fsync_dir(path)
            .map_err(|e| StateError::io("sync the directory", fsx::parent_dir(path), e))
    }

    pub fn remove_if_exists(path: &Path) -> Result<bool, StateError> {
        fsx::remove_if_exists(path).map_err(|e| StateError::io("remove", path, e))
    }

    pub fn create_private_dir(dir: &Path) -> Result<(), StateError> {
        fsx::create_private_dir(dir).map_err(|e| StateError::io("create the directory", dir, e))
    }

    /// Creates `path` (it must not exist) with mode 0600 holding `bytes`, fsynced.
    pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
        fsx::create_new(path, bytes, fsx::Mode::Private)
            .map_err(|e| StateError::io("write", path, e))
    }
}
