//! The emulator's data file: loading it at start and saving it atomically (temporary file in the
//! same directory, fsync, rename, fsync of the directory) after every successful mutation,
//! before the response is sent.
//!
//! Saves are group-committed: each mutation asks for the store's version it produced to be on
//! disk, and a save that finds a newer version already written returns at once. Blocking I/O;
//! async callers run [`Persister::save`] on a blocking thread.

use std::fs;
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
        crate::fsx::write_atomic(&self.path, &bytes, crate::fsx::Mode::Private).map_err(
            |source| EmulatorError::WriteData {
                path: self.path.clone(),
                source,
            },
        )?;
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
