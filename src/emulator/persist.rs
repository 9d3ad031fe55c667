//! The emulator's data file: a snapshot of the whole tenant (`<data>`, JSON) and an append-only
//! log of the changes made since (`<data>.log`, one JSON line per change; see `store/log.rs`).
//!
//! Every successful mutation is in the log, fsynced, before its answer is sent. Saves are
//! group-committed: each mutation asks for the store version it produced to be on disk, and a
//! save that finds a newer version already written returns at once; one append and one fsync
//! carry every change made meanwhile. So a change costs its own few hundred bytes, not the
//! whole tenant: an apply of 100,000 users no longer rewrites a file that grows to 100 MB after
//! every request.
//!
//! Now and then (when the log outgrows the snapshot), at start when a log is left over, and at
//! shutdown, the log is compacted: the snapshot is rewritten atomically (temporary file, fsync,
//! rename, directory fsync) with the store version it holds, then the log is emptied. A crash
//! between the two leaves log lines the snapshot already holds; each line carries its version,
//! and replay skips those the snapshot covers. A last line cut off by a crash was never
//! answered and is left out.
//!
//! Blocking I/O; async callers run these on a blocking thread.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::EmulatorError;
use super::store::{Rules, Seed, Store};

/// The log is compacted into the snapshot once it holds this many bytes, or more than the
/// snapshot itself: rewriting the snapshot then costs no more than the log already did.
const MIN_COMPACT_BYTES: u64 = 64 * 1024 * 1024;

/// Keeps one store in one data file and its log.
pub(crate) struct Persister {
    path: PathBuf,
    log_path: PathBuf,
    log: Mutex<Log>,
}

/// The open log; its lock also serialises writers.
struct Log {
    file: File,
    /// The store version on disk (in the log or the snapshot).
    written: u64,
    bytes: u64,
    snapshot_bytes: u64,
}

/// The log beside a data file: `tenant.json` → `tenant.json.log`.
pub(crate) fn log_path(path: &Path) -> PathBuf {
    crate::fsx::sibling(path, ".log")
}

impl Persister {
    /// Load the data file and replay its log into a store under `rules` (a data file that does
    /// not exist yet starts empty and is written at once, so that an unwritable path fails
    /// here), and keep it from now on.
    pub fn open(path: &Path, rules: Rules, seed: u64) -> Result<(Store, Persister), EmulatorError> {
        let (mut store, replayed) = load(path, rules, seed)?;
        let log_path = log_path(path);
        let write_error = |source| EmulatorError::WriteData {
            path: path.to_owned(),
            source,
        };
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        crate::fsx::private(&mut options);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fsx::create_private_dir(dir).map_err(write_error)?;
        }
        let file = options
            .open(&log_path)
            .map_err(|source| EmulatorError::WriteData {
                path: log_path.clone(),
                source,
            })?;
        store.keep_log();
        let persister = Persister {
            path: path.to_owned(),
            log_path,
            log: Mutex::new(Log {
                file,
                written: store.version(),
                bytes: 0,
                snapshot_bytes: 0,
            }),
        };
        let lock = RwLock::new(store);
        if replayed.is_none_or(|had_log| had_log) {
            // No snapshot yet, or a log left over (perhaps ending in a write a crash cut
            // off): fold it into a fresh snapshot and start the log afresh.
            persister.compact(&mut persister.lock(), &lock)?;
        } else {
            persister.lock().snapshot_bytes = fs::metadata(path).map_or(0, |m| m.len());
        }
        let store = lock.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok((store, persister))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Make sure the store's state at `version` (or later) is on disk.
    pub fn save(&self, store: &RwLock<Store>, version: u64) -> Result<(), EmulatorError> {
        let mut log = self.lock();
        if log.written >= version {
            return Ok(());
        }
        let (lines, current) = store.write().unwrap_or_else(|e| e.into_inner()).take_log();
        if !lines.is_empty() {
            let appended = log
                .file
                .write_all(&lines)
                .and_then(|()| log.file.sync_data());
            if let Err(source) = appended {
                return Err(EmulatorError::WriteData {
                    path: self.log_path.clone(),
                    source,
                });
            }
            log.bytes += lines.len() as u64;
        }
        log.written = log.written.max(current);
        if log.bytes > MIN_COMPACT_BYTES.max(log.snapshot_bytes) {
            self.compact(&mut log, store)?;
        }
        Ok(())
    }

    /// Write everything to the snapshot and empty the log: after the store's data was replaced
    /// wholesale (which the log does not record), and at shutdown (`remove_log`: and remove the
    /// log file, leaving the data file alone).
    pub fn checkpoint(&self, store: &RwLock<Store>, remove_log: bool) -> Result<(), EmulatorError> {
        let mut log = self.lock();
        self.compact(&mut log, store)?;
        if remove_log {
            fs::remove_file(&self.log_path).map_err(|source| EmulatorError::WriteData {
                path: self.log_path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Rewrite the snapshot from the store (with the version it holds), then empty the log.
    /// Lines still waiting in the store are covered by the snapshot; when they reach the log
    /// later, replay skips them by their version.
    fn compact(&self, log: &mut Log, store: &RwLock<Store>) -> Result<(), EmulatorError> {
        let write_error = |path: &Path, source| EmulatorError::WriteData {
            path: path.to_owned(),
            source,
        };
        let (bytes, version) = {
            let store = store.read().unwrap_or_else(|e| e.into_inner());
            let bytes = serde_json::to_vec(&store.to_file())
                .map_err(|e| write_error(&self.path, std::io::Error::other(e)))?;
            (bytes, store.version())
        };
        crate::fsx::write_atomic(&self.path, &bytes, crate::fsx::Mode::Private)
            .map_err(|e| write_error(&self.path, e))?;
        log.file
            .set_len(0)
            .and_then(|()| log.file.sync_all())
            .map_err(|e| write_error(&self.log_path, e))?;
        log.bytes = 0;
        log.snapshot_bytes = bytes.len() as u64;
        log.written = log.written.max(version);
        Ok(())
    }
}

/// The store a data file and its log hold, and whether there was a log to replay (`None`:
/// there is no data file yet).
fn load(path: &Path, rules: Rules, seed: u64) -> Result<(Store, Option<bool>), EmulatorError> {
    let Some((seed_data, version)) = read_snapshot(path)? else {
        return Ok((Store::new(rules, seed), None));
    };
    let invalid = |detail: String| EmulatorError::InvalidData {
        path: path.to_owned(),
        detail,
    };
    let mut store = Store::from_data(rules, seed, seed_data, true).map_err(invalid)?;
    let log_path = log_path(path);
    let text = match fs::read(&log_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(EmulatorError::ReadData {
                path: log_path,
                source,
            })
        }
    };
    let (replayed, last) =
        store
            .replay(&text, version)
            .map_err(|detail| EmulatorError::InvalidData {
                path: log_path.clone(),
                detail,
            })?;
    if replayed.applied > 0 {
        tracing::debug!(
            "emulator: replayed {} changes from `{}`",
            replayed.applied,
            log_path.display()
        );
    }
    store.continue_after(last);
    Ok((store, Some(!text.is_empty())))
}

/// Read a data file and its log without keeping them: what a restarted emulator would serve.
pub(crate) fn read(path: &Path, rules: Rules) -> Result<Option<Store>, EmulatorError> {
    match load(path, rules, 0)? {
        (_, None) => Ok(None),
        (store, Some(_)) => Ok(Some(store)),
    }
}

/// The snapshot ([`super::EmulatorData`] with each resource's extras merged in, and the store
/// version it holds); `None` when it does not exist yet.
fn read_snapshot(path: &Path) -> Result<Option<(Seed, u64)>, EmulatorError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(EmulatorError::ReadData {
                path: path.to_owned(),
                source,
            })
        }
    };
    let corrupt = |source| EmulatorError::CorruptData {
        path: path.to_owned(),
        source,
    };
    let file: FileIn = serde_json::from_slice(&bytes).map_err(corrupt)?;
    Seed::from_json(&file.users, &file.groups)
        .map(|seed| Some((seed, file.version)))
        .map_err(corrupt)
}

/// A data file as read, each resource still JSON text.
#[derive(Deserialize)]
struct FileIn<'a> {
    #[serde(default, borrow)]
    users: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    groups: Vec<&'a RawValue>,
    /// The store version the snapshot holds (absent in files of older versions: 0).
    #[serde(default)]
    version: u64,
}
