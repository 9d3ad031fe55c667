//! The journal: completed remote changes, appended and fsynced one by one while apply runs, so
//! that a crash, kill -9 or power loss between two state saves loses none of them.
//!
//! `state.json.journal` is JSON lines. The first line names the state the journal continues,
//! `{"lineage":"…","serial":N}`; every later line is one completed change,
//! `{"tenant":"…","ops":[StateOp…]}`. Replaying the entries in order onto the state at that
//! lineage and serial gives the state after them. A last line without its newline is a write
//! that a crash cut short; it was never acknowledged, so replay ignores it.
//!
//! This module reads and writes journal lines. Whether a journal applies to a given state, and
//! when it is folded in and removed, is the store's decision (`super::store`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::fs::{fsync_dir, write_private};
use super::error::StateError;
use super::model::{State, StateOp};
use crate::fsx::unique_sibling;

/// The first line of a journal: the state its entries continue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JournalHeader {
    pub lineage: String,
    pub serial: u64,
}

/// One journal line after the header, as written.
#[derive(Serialize)]
struct EntryRef<'a> {
    tenant: &'a str,
    ops: &'a [StateOp],
}

/// One journal line after the header, as read.
#[derive(Deserialize)]
struct Entry {
    tenant: String,
    ops: Vec<StateOp>,
}

/// An open journal, appending to `state.json.journal`.
///
/// Saving the state folds the journal in and removes it; after a save, open a new journal from
/// the saved state. Recording into a journal that a save removed is an error, not a silent loss.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    /// Bytes known to be complete lines on disk; a failed append is cut back to this.
    len: u64,
    /// Set when a failed append could not be cut back: later lines would follow a torn one.
    broken: bool,
}

impl Journal {
    /// Appends one completed change to `tenant` and waits until it is on disk (fsync), so that
    /// it survives a crash or power loss from the moment this returns. Recording nothing is a
    /// no-op.
    pub fn record(&mut self, tenant: &str, ops: &[StateOp]) -> Result<(), StateError> {
        self.record_all(&[(tenant, ops)])
    }

    /// Appends several completed changes with one write and one fsync (group commit): an
    /// apply finishing many changes at once pays for one flush, not one each. Each change is
    /// its own line, so a torn write loses at most whole changes that were never reported done.
    pub fn record_all(&mut self, entries: &[(&str, &[StateOp])]) -> Result<(), StateError> {
        if entries.iter().all(|(_, ops)| ops.is_empty()) {
            return Ok(());
        }
        if self.broken {
            return Err(StateError::JournalBroken {
                path: self.path.clone(),
            });
        }
        self.check_still_linked()?;
        let mut line = Vec::new();
        for (tenant, ops) in entries.iter().filter(|(_, ops)| !ops.is_empty()) {
            serde_json::to_writer(&mut line, &EntryRef { tenant, ops }).map_err(|e| {
                StateError::io("serialize an entry for", &self.path, io::Error::other(e))
            })?;
            line.push(b'\n');
        }
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += line.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Cut the partial line off so that later entries do not follow a torn one.
                if self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.sync_data())
                    .is_err()
                {
                    self.broken = true;
                }
                Err(StateError::io("append to", &self.path, e))
            }
        }
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fails if the journal file was removed (by a save) since it was opened: lines appended to
    /// an unlinked file would vanish with it.
    fn check_still_linked(&self) -> Result<(), StateError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = self
                .file
                .metadata()
                .map_err(|e| StateError::io("read metadata of", &self.path, e))?;
            if meta.nlink() == 0 {
                return Err(StateError::JournalRemoved {
                    path: self.path.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Creates the journal at `path` continuing `state`, with its header on disk before returning.
///
/// The header is written to a temporary file and hard-linked into place, so the journal appears
/// complete or not at all and an existing journal is never overwritten. Where hard links are not
/// supported the file is created in place instead.
pub(crate) fn create(path: &Path, state: &State) -> Result<Journal, StateError> {
    let mut header = serde_json::to_vec(&JournalHeader {
        lineage: state.lineage.clone(),
        serial: state.serial,
    })
    .map_err(|e| StateError::io("serialize the header of", path, io::Error::other(e)))?;
    header.push(b'\n');

    let exists = || StateError::JournalExists {
        path: path.to_owned(),
    };
    let tmp = unique_sibling(path, "tmp");
    write_private(&tmp, &header)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(exists()),
        Err(_) => match write_private(path, &header) {
            Err(StateError::Io { error, .. }) if error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(exists())
            }
            other => other?,
        },
    }
    fsync_dir(path)?;
    let file = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| StateError::io("open", path, e))?;
    Ok(Journal {
        file,
        path: path.to_owned(),
        len: header.len() as u64,
        broken: false,
    })
}

/// Replaces the journal at `path` (if any) with one continuing `state` that already holds
/// `entries`: for a remote backend after a periodic push, whose state holds what the old
/// journal recorded up to the push but not the entries recorded while it was on its way.
///
/// Written to a temporary file, fsynced and renamed over the old one: a crash leaves the old
/// journal or the new, each of which replays to the same state.
pub(crate) fn restart(
    path: &Path,
    state: &State,
    entries: &[(String, Vec<StateOp>)],
) -> Result<Journal, StateError> {
    let mut bytes = serde_json::to_vec(&JournalHeader {
        lineage: state.lineage.clone(),
        serial: state.serial,
    })
    .map_err(|e| StateError::io("serialize the header of", path, io::Error::other(e)))?;
    bytes.push(b'\n');
    for (tenant, ops) in entries {
        serde_json::to_writer(&mut bytes, &EntryRef { tenant, ops })
            .map_err(|e| StateError::io("serialize an entry for", path, io::Error::other(e)))?;
        bytes.push(b'\n');
    }
    let tmp = unique_sibling(path, "tmp");
    write_private(&tmp, &bytes)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(StateError::io("replace", path, e));
    }
    fsync_dir(path)?;
    let file = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| StateError::io("open", path, e))?;
    Ok(Journal {
        file,
        path: path.to_owned(),
        len: bytes.len() as u64,
        broken: false,
    })
}

/// A journal file as read from disk.
pub(crate) struct JournalContents {
    path: PathBuf,
    bytes: Vec<u8>,
    /// `None` when the file ends before its header line does: nothing was ever recorded in it.
    pub header: Option<JournalHeader>,
    /// Where the entries start, after the header line.
    body: usize,
}

/// Reads the journal at `path`; `None` if there is none.
pub(crate) fn read(path: &Path) -> Result<Option<JournalContents>, StateError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StateError::io("read", path, e)),
    };
    let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
        return Ok(Some(JournalContents {
            path: path.to_owned(),
            body: bytes.len(),
            bytes,
            header: None,
        }));
    };
    let header: JournalHeader = serde_json::from_slice(&bytes[..end])
        .map_err(|e| corrupt(path, 1, format!("invalid header: {}", without_position(&e))))?;
    if header.lineage.trim().is_empty() {
        return Err(corrupt(path, 1, "the header has no lineage".to_owned()));
    }
    Ok(Some(JournalContents {
        path: path.to_owned(),
        bytes,
        header: Some(header),
        body: end + 1,
    }))
}

impl JournalContents {
    /// Applies every complete entry, in order, to `state`; returns how many there were. A last
    /// line without its newline is ignored; any other line that is not a valid entry is an
    /// error naming its line number, and leaves `state` partly replayed.
    pub fn replay_onto(&self, state: &mut State) -> Result<usize, StateError> {
        let mut applied = 0;
        let mut rest = &self.bytes[self.body..];
        let mut line_no = 1;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            line_no += 1;
            let entry: Entry = serde_json::from_slice(&rest[..end])
                .map_err(|e| corrupt(&self.path, line_no, without_position(&e)))?;
            for op in &entry.ops {
                state.apply(&entry.tenant, op);
            }
            // The counts a targeted refresh compares with did not follow a cut-off apply's
            // creates and deletes: the next plan of the tenant reads it in full.
            if let Some(tenant) = state.tenants.get_mut(&entry.tenant) {
                tenant.full_refresh = None;
            }
            applied += 1;
            rest = &rest[end + 1..];
        }
        Ok(applied)
    }
}

fn corrupt(path: &Path, line: usize, message: String) -> StateError {
    StateError::JournalCorrupt {
        path: path.to_owned(),
        line,
        message,
    }
}

/// serde_json's message without its trailing " at line L column C", for errors that place it
/// themselves.
pub(crate) fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    message
        .strip_suffix(&suffix)
        .map(str::to_owned)
        .unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use crate::state::{State, StateOp, StateStore};

    #[test]
    fn journal_lines_are_a_header_then_one_entry_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("state.json"));
        let mut state = State::new();
        state.serial = 4;
        let mut journal = store.open_journal(&state).unwrap();
        let header = format!("{{\"lineage\":\"{}\",\"serial\":4}}\n", state.lineage);
        assert_eq!(std::fs::read_to_string(journal.path()).unwrap(), header);

        journal
            .record(
                "zia-prod",
                &[
                    StateOp::RemoveUser {
                        user_name: "a@example.com".into(),
                    },
                    StateOp::AddMembers {
                        group: "Staff".into(),
                        ids: vec!["u-1".into()],
                        at: None,
                    },
                ],
            )
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(journal.path()).unwrap(),
            format!(
                "{header}{{\"tenant\":\"zia-prod\",\"ops\":[\
                 {{\"op\":\"remove_user\",\"user_name\":\"a@example.com\"}},\
                 {{\"op\":\"add_members\",\"group\":\"Staff\",\"ids\":[\"u-1\"]}}]}}\n"
            )
        );
        // The temporary file the header was linked from is gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
