//! Group writes and membership: create (with inline members), replace, patch, delete, and the
//! checks they share (name present and unique, members are users, ZIA's groups-per-user limit).
//! Every change to a group's members also updates each user's list of groups.

use std::collections::{HashMap, HashSet};

use crate::model::name_key;
use crate::scim::wire::{PatchOperation, WireGroup};

use super::ids::{new_meta, now_rfc3339};
use super::{Extras, GroupRec, Key, Store};
use crate::emulator::error::ApiError;
use crate::emulator::patch::{parse_group_patch, GroupChange};

impl Store {
    /// POST: `extras` are the attributes sent that the store does not model.
    pub fn create_group(
        &mut self,
        input: WireGroup,
        extras: Option<Extras>,
    ) -> Result<Key, ApiError> {
        self.check_group_name(&input.display_name, None)?;
        let inline = input.members.as_ref().is_some_and(|m| !m.is_empty());
        if inline && !self.rules.spec.create_group_with_members {
            return Err(ApiError::invalid_value(
                "this service does not take members in a group create; add them with PATCH",
            ));
        }
        let members = self.resolve_members(
            input
                .members
                .unwrap_or_default()
                .iter()
                .map(|m| m.value.as_str()),
        )?;
        self.check_group_limit(None, &members)?;
        let id = self.new_id();
        let key = self
            .insert_group(GroupRec {
                id,
                display_name: input.display_name,
                external_id: input.external_id,
                meta: new_meta("Group"),
                members: HashMap::new(),
                next_seq: 0,
                dangling: Vec::new(),
                extras: extras.and_then(Extras::stored),
            })
            .map_err(ApiError::internal)?;
        for member in members {
            self.add_member(key, member);
        }
        self.version += 1;
        self.log_group(key);
        Ok(key)
    }

    /// PUT: displayName, externalId and members are replaced; members left out means none
    /// (RFC 7644 §3.5.1). Unmodelled attributes the PUT omits stay, unless
    /// `put_clears_omitted`.
    pub fn replace_group(
        &mut self,
        id: &str,
        input: WireGroup,
        extras: Option<Extras>,
    ) -> Result<Key, ApiError> {
        let key = self.group_key(id)?;
        self.check_group_name(&input.display_name, Some(key))?;
        let members = self.resolve_members(
            input
                .members
                .unwrap_or_default()
                .iter()
                .map(|m| m.value.as_str()),
        )?;
        self.check_group_limit(Some(key), &members)?;
        let old = self.group(key).and_then(|rec| rec.extras.as_deref());
        let extras = self.extras_after_put(old, extras);
        self.rename_group(key, input.display_name);
        self.set_members(key, members);
        if let Some(group) = self.group_mut(key) {
            group.extras = extras;
            group.external_id = input.external_id;
            group.dangling.clear();
            group.meta.last_modified = Some(now_rfc3339());
        }
        self.version += 1;
        self.log_group(key);
        Ok(key)
    }

    /// PATCH: every operation is checked before any is applied, so a refused request changes
    /// nothing.
    pub fn patch_group(&mut self, id: &str, ops: &[PatchOperation]) -> Result<Key, ApiError> {
        let key = self.group_key(id)?;
        let changes = parse_group_patch(ops, self.rules.switches.pathless_replace())?;
        let mut resolved = Vec::with_capacity(changes.len());
        let mut added = Vec::new();
        for change in changes {
            resolved.push(match change {
                GroupChange::AddMembers(ids) => {
                    let keys = self.resolve_members(ids.iter().map(String::as_str))?;
                    added.extend_from_slice(&keys);
                    Resolved::Add(keys)
                }
                GroupChange::ReplaceMembers(ids) => {
                    let keys = self.resolve_members(ids.iter().map(String::as_str))?;
                    added.extend_from_slice(&keys);
                    Resolved::Replace(keys)
                }
                GroupChange::RemoveMembers(ids) => {
                    // Removing a member that is not there is a no-op.
                    let (known, unknown): (Vec<_>, Vec<_>) = ids
                        .into_iter()
                        .partition(|id| self.user_by_id.contains_key(id));
                    let keys = known
                        .iter()
                        .filter_map(|id| self.user_by_id.get(id).copied())
                        .collect();
                    Resolved::Remove(keys, unknown)
                }
                GroupChange::RemoveAllMembers => Resolved::RemoveAll,
                GroupChange::Rename(name) => {
                    self.check_group_name(&name, Some(key))?;
                    Resolved::Rename(name)
                }
                GroupChange::SetExternalId(id) => Resolved::ExternalId(id),
            });
        }
        self.check_group_limit(Some(key), &added)?;
        // What the log records: the member changes alone (additions applied before removals
        // on replay), unless anything else changed or one user is both added and removed.
        let deltas = member_deltas(&resolved, |key| self.user(key).map(|u| u.id().to_owned()));
        for change in resolved {
            match change {
                Resolved::Add(keys) => keys.into_iter().for_each(|k| self.add_member(key, k)),
                Resolved::Remove(keys, unknown) => {
                    keys.into_iter().for_each(|k| self.remove_member(key, k));
                    if let Some(group) = self.group_mut(key) {
                        group.dangling.retain(|id| !unknown.contains(id));
                    }
                }
                Resolved::RemoveAll => self.set_members(key, Vec::new()),
                Resolved::Replace(keys) => self.set_members(key, keys),
                Resolved::Rename(name) => self.rename_group(key, name),
                Resolved::ExternalId(id) => {
                    if let Some(group) = self.group_mut(key) {
                        group.external_id = id;
                    }
                }
            }
        }
        if let Some(group) = self.group_mut(key) {
            group.meta.last_modified = Some(now_rfc3339());
        }
        self.version += 1;
        match deltas {
            Some((add, remove)) => self.log_members(key, &add, &remove),
            None => self.log_group(key),
        }
        Ok(key)
    }

    pub fn delete_group(&mut self, id: &str) -> Result<(), ApiError> {
        let key = self.group_key(id)?;
        let group = self
            .groups
            .get_mut(key as usize)
            .and_then(Option::take)
            .ok_or_else(|| self.lost(id))?;
        for member in group.members.keys() {
            if let Some(user) = self
                .users
                .get_mut(*member as usize)
                .and_then(Option::as_mut)
            {
                user.groups.retain(|g| *g != key);
            }
        }
        self.group_by_id.remove(&group.id);
        self.group_by_name
            .remove(&name_key(&group.display_name), key);
        self.group_order.take();
        self.version += 1;
        self.log_group_deleted(&group.id);
        Ok(())
    }

    fn group_mut(&mut self, key: Key) -> Option<&mut GroupRec> {
        self.groups.get_mut(key as usize).and_then(Option::as_mut)
    }

    fn check_group_name(&self, name: &str, this: Option<Key>) -> Result<(), ApiError> {
        if name.trim().is_empty() {
            return Err(ApiError::invalid_value("displayName is required"));
        }
        if self.group_name_taken(name, this) {
            return Err(ApiError::uniqueness(format!(
                "a group named `{name}` already exists"
            )));
        }
        Ok(())
    }

    /// Member ids to user keys, without duplicates; an id of no user is refused.
    fn resolve_members<'a>(
        &self,
        ids: impl Iterator<Item = &'a str>,
    ) -> Result<Vec<Key>, ApiError> {
        let mut seen = HashSet::new();
        let mut keys = Vec::new();
        for id in ids {
            let key = self.user_by_id.get(id).copied().ok_or_else(|| {
                ApiError::invalid_value(format!("member `{id}` is not the id of a user"))
            })?;
            if seen.insert(key) {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    /// Refuse adding users that would then be in more groups than the dialect allows (ZIA).
    fn check_group_limit(&self, group: Option<Key>, adding: &[Key]) -> Result<(), ApiError> {
        let Some(max) = self.rules.spec.max_groups_per_user else {
            return Ok(());
        };
        let current = group.and_then(|g| self.group(g));
        for key in adding {
            if current.is_some_and(|g| g.members.contains_key(key)) {
                continue;
            }
            if let Some(user) = self.user(*key) {
                if user.groups.len() >= max {
                    return Err(ApiError::invalid_value(format!(
                        "user `{}` is already in {} groups, the most a user may be in",
                        user.user().user_name,
                        max
                    )));
                }
            }
        }
        Ok(())
    }

    pub(super) fn insert_group(&mut self, group: GroupRec) -> Result<Key, String> {
        let key =
            Key::try_from(self.groups.len()).map_err(|_| "the emulator is full".to_owned())?;
        self.group_by_id.insert(group.id.clone(), key);
        self.group_by_name
            .insert(name_key(&group.display_name), key);
        if let Some(order) = self.group_order.get_mut() {
            order.push(key);
        }
        self.groups.push(Some(group));
        Ok(key)
    }

    pub(super) fn add_member(&mut self, group: Key, user: Key) {
        let Some(g) = self.groups.get_mut(group as usize).and_then(Option::as_mut) else {
            return;
        };
        if g.members.contains_key(&user) {
            return;
        }
        g.members.insert(user, g.next_seq);
        g.next_seq += 1;
        if let Some(u) = self.users.get_mut(user as usize).and_then(Option::as_mut) {
            u.groups.push(group);
        }
    }

    pub(super) fn remove_member(&mut self, group: Key, user: Key) {
        let removed = self
            .groups
            .get_mut(group as usize)
            .and_then(Option::as_mut)
            .is_some_and(|g| g.members.remove(&user).is_some());
        if removed {
            if let Some(u) = self.users.get_mut(user as usize).and_then(Option::as_mut) {
                u.groups.retain(|g| *g != group);
            }
        }
    }

    /// Make `members` the group's members, in that order.
    pub(super) fn set_members(&mut self, group: Key, members: Vec<Key>) {
        let current = self
            .group(group)
            .map(GroupRec::member_keys)
            .unwrap_or_default();
        for user in current {
            self.remove_member(group, user);
        }
        if let Some(g) = self.group_mut(group) {
            g.next_seq = 0;
        }
        for user in members {
            self.add_member(group, user);
        }
    }

    pub(super) fn rename_group(&mut self, key: Key, name: String) {
        let Some(group) = self.groups.get_mut(key as usize).and_then(Option::as_mut) else {
            return;
        };
        let old = name_key(&group.display_name);
        let new = name_key(&name);
        group.display_name = name;
        if old != new {
            self.group_by_name.remove(&old, key);
            self.group_by_name.insert(new, key);
        }
    }
}

/// A group PATCH operation with its member ids resolved to keys.
enum Resolved {
    Add(Vec<Key>),
    Remove(Vec<Key>, Vec<String>),
    RemoveAll,
    Replace(Vec<Key>),
    Rename(String),
    ExternalId(Option<String>),
}

/// A PATCH's member additions (keys) and removals (ids, `id_of` a key), when that is all it
/// changes and no user is both added and removed (replay adds, then removes); `None` otherwise.
fn member_deltas(
    resolved: &[Resolved],
    id_of: impl Fn(Key) -> Option<String>,
) -> Option<(Vec<Key>, Vec<String>)> {
    let mut add = Vec::new();
    let mut added = HashSet::new();
    let mut removed = HashSet::new();
    let mut remove = Vec::new();
    for change in resolved {
        match change {
            Resolved::Add(keys) => {
                for key in keys {
                    if removed.contains(key) {
                        return None;
                    }
                    added.insert(*key);
                    add.push(*key);
                }
            }
            Resolved::Remove(keys, unknown) => {
                for key in keys {
                    if added.contains(key) {
                        return None;
                    }
                    removed.insert(*key);
                    remove.extend(id_of(*key));
                }
                remove.extend(unknown.iter().cloned());
            }
            _ => return None,
        }
    }
    Some((add, remove))
}
