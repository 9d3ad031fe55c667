//! The store's change log: each successful mutation, as one JSON line, for `persist.rs` to
//! append to the data file's log; and replaying such lines onto a store loaded from the last
//! snapshot.
//!
//! A line records a fact, never a request: a user or group as it is after the change (with the
//! attributes kept beside it), a member list's additions and removals, or a deletion. Replaying
//! one needs no check, and replaying a line whose change the snapshot already holds changes
//! nothing (each line carries the store version it produced, and lines the snapshot covers are
//! skipped anyway). Lines are rendered under the store's lock, in the order the changes
//! happened; nothing here touches a file.

use std::collections::HashMap;
use std::io::Write;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::name_key;
use crate::scim::wire::{WireGroup, WireUser};

use super::users::normalize_user;
use super::{Extras, GroupRec, Key, Store, WithExtras};
use crate::emulator::schema::ResourceKind;

/// One line of the log, as read.
#[derive(Deserialize)]
struct Line<'a> {
    seq: u64,
    #[serde(borrow, default)]
    user: Option<&'a RawValue>,
    #[serde(default)]
    delete_user: Option<String>,
    #[serde(borrow, default)]
    group: Option<&'a RawValue>,
    #[serde(default)]
    members: Option<Members>,
    #[serde(default)]
    delete_group: Option<String>,
}

/// A group's member list changed by additions and removals (ids), and when.
#[derive(Deserialize)]
struct Members {
    group: String,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    at: Option<String>,
}

/// What replaying a log did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Replayed {
    /// Lines applied (after the snapshot's version).
    pub applied: usize,
    /// Bytes of complete lines read; what follows them is a write cut off by a crash.
    pub complete_bytes: usize,
}

impl Store {
    /// Start collecting log lines (a store saved to a data file does).
    pub fn keep_log(&mut self) {
        self.log.get_or_insert_with(Vec::new);
    }

    /// The lines collected since the last call, and the version they bring the store to.
    pub fn take_log(&mut self) -> (Vec<u8>, u64) {
        let lines = self.log.as_mut().map(std::mem::take).unwrap_or_default();
        (lines, self.version)
    }

    /// Continue versions after `version` (the last one a log or snapshot recorded), so lines
    /// written from now on sort after those already on disk.
    pub fn continue_after(&mut self, version: u64) {
        self.version = self.version.max(version);
    }

    fn line(&mut self, write: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>) {
        let seq = self.version;
        let Some(log) = self.log.as_mut() else {
            return;
        };
        let start = log.len();
        let _ = write!(log, "{{\"seq\":{seq},");
        if write(log).is_err() {
            // Rendering borrowed strings cannot fail; never leave half a line behind.
            log.truncate(start);
            return;
        }
        log.extend_from_slice(b"}\n");
    }

    pub(super) fn log_user(&mut self, key: Key) {
        if self.log.is_none() {
            return;
        }
        let Some(rec) = self.user(key) else {
            return;
        };
        let rendered =
            serde_json::to_vec(&WithExtras::new(rec.user(), rec.extras.as_deref(), |_| {
                true
            }));
        if let Ok(rendered) = rendered {
            self.line(|log| {
                log.extend_from_slice(b"\"user\":");
                log.extend_from_slice(&rendered);
                Ok(())
            });
        }
    }

    pub(super) fn log_user_deleted(&mut self, id: &str) {
        self.line(|log| {
            log.extend_from_slice(b"\"delete_user\":");
            serde_json::to_writer(log, id)
        });
    }

    /// The whole group, members included.
    pub(super) fn log_group(&mut self, key: Key) {
        if self.log.is_none() {
            return;
        }
        let Some(rec) = self.group(key) else {
            return;
        };
        let rendered = serde_json::to_vec(&WithExtras::new(
            self.wire_group(rec),
            rec.extras.as_deref(),
            |_| true,
        ));
        if let Ok(rendered) = rendered {
            self.line(|log| {
                log.extend_from_slice(b"\"group\":");
                log.extend_from_slice(&rendered);
                Ok(())
            });
        }
    }

    /// Members added to (by key) and removed from (by id) the group at `key`.
    pub(super) fn log_members(&mut self, key: Key, add: &[Key], remove: &[String]) {
        if self.log.is_none() {
            return;
        }
        let Some(group) = self.group(key) else {
            return;
        };
        let id = group.id.clone();
        let at = group.meta.last_modified.clone();
        let add: Vec<&str> = add
            .iter()
            .filter_map(|k| self.user(*k))
            .map(|u| u.id())
            .collect();
        let rendered = serde_json::to_vec(&serde_json::json!({
            "group": id, "add": add, "remove": remove, "at": at
        }));
        if let Ok(rendered) = rendered {
            self.line(|log| {
                log.extend_from_slice(b"\"members\":");
                log.extend_from_slice(&rendered);
                Ok(())
            });
        }
    }

    pub(super) fn log_group_deleted(&mut self, id: &str) {
        self.line(|log| {
            log.extend_from_slice(b"\"delete_group\":");
            serde_json::to_writer(log, id)
        });
    }

    /// Apply the complete lines of `text` whose version is after `after`, in order. A last line
    /// without its newline is a write a crash cut off (never answered): it is left out. Returns
    /// what was applied and the last version seen.
    pub fn replay(&mut self, text: &[u8], after: u64) -> Result<(Replayed, u64), String> {
        let mut replayed = Replayed::default();
        let mut last = after;
        let mut offset = 0;
        for (n, raw) in text.split_inclusive(|b| *b == b'\n').enumerate() {
            if raw.last() != Some(&b'\n') {
                break;
            }
            offset += raw.len();
            let line: Line<'_> = serde_json::from_slice(raw).map_err(|e| {
                format!("log line {} is not a change the emulator wrote: {e}", n + 1)
            })?;
            replayed.complete_bytes = offset;
            last = last.max(line.seq);
            if line.seq <= after {
                continue;
            }
            self.apply_line(line)
                .map_err(|e| format!("log line {}: {e}", n + 1))?;
            replayed.applied += 1;
        }
        Ok((replayed, last))
    }

    fn apply_line(&mut self, line: Line<'_>) -> Result<(), String> {
        if let Some(raw) = line.user {
            self.upsert_user(raw)?;
        }
        if let Some(id) = line.delete_user {
            if let Some(&key) = self.user_by_id.get(&id) {
                self.remove_user(key).map_err(|e| e.detail)?;
            }
        }
        if let Some(raw) = line.group {
            self.upsert_group(raw)?;
        }
        if let Some(members) = line.members {
            self.replay_members(members);
        }
        if let Some(id) = line.delete_group {
            if self.group_by_id.contains_key(&id) {
                self.delete_group(&id).map_err(|e| e.detail)?;
            }
        }
        Ok(())
    }

    fn upsert_user(&mut self, raw: &RawValue) -> Result<(), String> {
        let text = raw.get().as_bytes();
        let user: WireUser = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        let extras = Extras::scan(ResourceKind::User, text)
            .map_err(|e| e.to_string())?
            .and_then(Extras::stored);
        let user = normalize_user(user);
        let id = user.id.clone().ok_or("a logged user has no id")?;
        match self.user_by_id.get(&id).copied() {
            Some(key) => {
                let rec = self
                    .users
                    .get_mut(key as usize)
                    .and_then(Option::as_mut)
                    .ok_or("a logged user's slot is empty")?;
                let old = name_key(&rec.user().user_name);
                let new = name_key(&user.user_name);
                rec.set_user(user);
                rec.extras = extras;
                if old != new {
                    self.user_by_name.remove(&old, key);
                    self.user_by_name.insert(new, key);
                }
            }
            None => {
                self.insert_user(user, extras).map_err(|e| e.detail)?;
            }
        }
        Ok(())
    }

    fn upsert_group(&mut self, raw: &RawValue) -> Result<(), String> {
        let text = raw.get().as_bytes();
        let group: WireGroup = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        let extras = Extras::scan(ResourceKind::Group, text)
            .map_err(|e| e.to_string())?
            .and_then(Extras::stored);
        let id = group.id.clone().ok_or("a logged group has no id")?;
        let (members, dangling) = self.member_keys_of(group.members.unwrap_or_default());
        let key = match self.group_by_id.get(&id).copied() {
            Some(key) => {
                self.rename_group(key, group.display_name);
                self.set_members(key, Vec::new());
                key
            }
            None => self.insert_group(GroupRec {
                id,
                display_name: group.display_name,
                external_id: None,
                meta: group.meta.clone().unwrap_or_default(),
                members: HashMap::new(),
                next_seq: 0,
                dangling: Vec::new(),
                extras: None,
            })?,
        };
        for member in members {
            self.add_member(key, member);
        }
        if let Some(rec) = self.groups.get_mut(key as usize).and_then(Option::as_mut) {
            rec.external_id = group.external_id;
            if let Some(meta) = group.meta {
                rec.meta = meta;
            }
            rec.extras = extras;
            rec.dangling = dangling;
        }
        Ok(())
    }

    /// Member references split into the keys of known users and the ids of no user.
    fn member_keys_of(
        &self,
        members: Vec<crate::scim::wire::WireMember>,
    ) -> (Vec<Key>, Vec<String>) {
        let mut keys = Vec::with_capacity(members.len());
        let mut dangling = Vec::new();
        for member in members {
            match self.user_by_id.get(&member.value) {
                Some(key) => keys.push(*key),
                None if !dangling.contains(&member.value) => dangling.push(member.value),
                None => {}
            }
        }
        (keys, dangling)
    }

    fn replay_members(&mut self, members: Members) {
        let Some(&key) = self.group_by_id.get(&members.group) else {
            return;
        };
        for id in &members.add {
            if let Some(&user) = self.user_by_id.get(id) {
                self.add_member(key, user);
            }
        }
        for id in &members.remove {
            if let Some(&user) = self.user_by_id.get(id) {
                self.remove_member(key, user);
            }
        }
        if let Some(rec) = self.groups.get_mut(key as usize).and_then(Option::as_mut) {
            rec.dangling.retain(|id| !members.remove.contains(id));
            if members.at.is_some() {
                rec.meta.last_modified = members.at;
            }
        }
    }
}
