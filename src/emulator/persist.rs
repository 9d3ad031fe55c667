//! The emulator's data file: loading it at start and saving it atomically (temporary file in the
//! same directory, fsync, rename, fsync of the directory) after every successful mutation,
//! before the response is sent.
//!
//! Saves are group-committed: each mutation asks for the store's version it produced to be on
//! disk, and a save that finds a newer version already written returns at once. Blocking I/O;
//! async callers run [`Persister::save`] on a blocking thread.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::EmulatorError;
use super::store::{Seed, Store};

/// Saves one store to one file.
pub(crate) struct Persister {
    path: PathBuf,
    /// The store version last written; the lock also serialises writers.
    written: Mutex<u64>,
}

impl Persister {
    pub fn new(path: PathBuf, written: u64) -> Self {
        Persister {
            path,
            written: Mutex::new(written),
        }
    }

    /// Read the data file ([`super::EmulatorData`] with each resource's extras merged in);
    /// `None` when it does not exist yet.
    pub fn load(path: &Path) -> Result<Option<Seed>, EmulatorError> {
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
            .map(Some)
            .map_err(corrupt)
    }

    /// Make sure the store's state at `version` (or later) is on disk.
    pub fn save(&self, store: &RwLock<Store>, version: u64) -> Result<(), EmulatorError> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if *written >= version {
            return Ok(());
        }
        let (bytes, current) = {
            let store = store.read().unwrap_or_else(|e| e.into_inner());
            let bytes =
                serde_json::to_vec(&store.to_file()).map_err(|e| EmulatorError::WriteData {
                    path: self.path.clone(),
                    source: std::io::Error::other(e),
                })?;
            (bytes, store.version())
        };
        write_atomic(&self.path, &bytes).map_err(|source| EmulatorError::WriteData {
            path: self.path.clone(),
            source,
        })?;
        *written = current;
        Ok(())
    }
}

/// A data file as read, each resource still JSON text.
#[derive(Deserialize)]
struct FileIn<'a> {
    #[serde(default, borrow)]
    users: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    groups: Vec<&'a RawValue>,
}

/// Write `bytes` to `path` so that a reader sees the old or the new content, never a mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the data file path names no file"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable. Directories cannot be opened for sync everywhere;
        // where they cannot, the rename is as durable as the platform makes it.
        if let Ok(dir) = File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
