//! The emulator's data: users and groups in insertion order, with the indexes a tenant of
//! 100,000 users, 10,000 groups and 1,000,000 memberships needs (by id, by lowercased name, each
//! user's groups), and the rules that decide which writes are refused.
//!
//! It knows nothing of HTTP or files: handlers call it under a mutex, `view.rs` renders what it
//! holds, `persist.rs` saves [`Store::to_file`]. Internally a resource is a `Key`, its slot in
//! insertion order; slots of deleted resources stay empty, so keys never move.
//!
//! This file holds the types, loading and dumping, lookups and paging; `users.rs` and
//! `groups.rs` the writes and their checks; `user_rec.rs` the stored user; `extras.rs` the
//! attributes kept without being modelled; `names.rs` the name indexes; `ids.rs` new ids and
//! timestamps.

mod extras;
mod groups;
mod ids;
mod log;
mod names;
mod user_rec;
mod users;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::dialect::{Dialect, DialectSpec};
use crate::model::name_key;
use crate::scim::wire::{WireGroup, WireMember, WireMeta, WireUser, GROUP_SCHEMA};

use super::error::ApiError;
use super::filter::EqFilter;
use super::patch::PathlessReplace;
use super::quirks::{quirks, IdStyle};
use super::schema::ResourceKind;
use super::{EmulatorData, Faults};
pub(crate) use extras::{Extras, WithExtras};
use ids::{new_meta, IdGen};
use names::NameIndex;
pub(crate) use user_rec::UserRec;
use users::normalize_user;

/// A resource's slot in insertion order.
pub(crate) type Key = u32;

/// The write rules that come from the options and the dialect table.
pub(crate) struct Rules {
    pub dialect: Dialect,
    pub spec: &'static DialectSpec,
    /// Lowercased registered userName domains; empty accepts any.
    pub domains: Vec<String>,
    /// `name_key`s of userNames linked to admin accounts (ZIA): DELETE answers 409.
    pub admin_users: HashSet<String>,
    /// The fault switches the store obeys; they change while the server runs.
    pub switches: StoreSwitches,
}

impl Rules {
    pub fn new(
        dialect: Dialect,
        domains: &[String],
        admin_users: &[String],
        switches: StoreSwitches,
    ) -> Self {
        Rules {
            dialect,
            spec: dialect.spec(),
            domains: domains
                .iter()
                .map(|d| d.trim_start_matches('@').to_lowercase())
                .collect(),
            admin_users: admin_users.iter().map(|u| name_key(u)).collect(),
            switches,
        }
    }
}

/// The fault switches that change what the store accepts, finds and keeps; each is documented
/// on the [`Faults`] field of the same name. All off is the default behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StoreSwitches {
    pub duplicate_user_names: bool,
    pub duplicate_group_names: bool,
    pub case_sensitive_filters: bool,
    pub put_clears_omitted: bool,
    pub append_on_multi_replace: bool,
}

impl StoreSwitches {
    pub fn from_faults(faults: &Faults) -> Self {
        StoreSwitches {
            duplicate_user_names: faults.duplicate_user_names,
            duplicate_group_names: faults.duplicate_group_names,
            case_sensitive_filters: faults.case_sensitive_filters,
            put_clears_omitted: faults.put_clears_omitted,
            append_on_multi_replace: faults.append_on_multi_replace,
        }
    }

    /// What a PATCH `replace` without a path does to multi-valued attributes.
    pub fn pathless_replace(&self) -> PathlessReplace {
        if self.append_on_multi_replace {
            PathlessReplace::Appends
        } else {
            PathlessReplace::Replaces
        }
    }
}

/// `value` as JSON text, to embed in a larger document unchanged.
pub(crate) fn to_raw(value: &impl Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| {
        // Serialising borrowed strings and numbers cannot fail; `null` keeps the type total.
        RawValue::from_string("null".to_owned()).expect("null is JSON")
    })
}

/// A stored group. Members are user keys with the sequence number of their addition, which
/// gives their order; `dangling` holds member ids of no known user, which only seeded data
/// (`replace_data`, a data file) can contain.
#[derive(Debug, Clone)]
pub(crate) struct GroupRec {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub meta: WireMeta,
    members: HashMap<Key, u64>,
    next_seq: u64,
    pub dangling: Vec<String>,
    /// The attributes the store does not model, when the group has any.
    pub extras: Option<Box<Extras>>,
}

/// Resources to load into a new store, each with the attributes kept beside it: from
/// [`EmulatorData`] (which has none) or from a data file's JSON (see [`Seed::from_json`]).
#[derive(Debug, Default)]
pub(crate) struct Seed {
    users: Vec<(WireUser, Option<Extras>)>,
    groups: Vec<(WireGroup, Option<Extras>)>,
}

impl From<EmulatorData> for Seed {
    fn from(data: EmulatorData) -> Self {
        Seed {
            users: data.users.into_iter().map(|user| (user, None)).collect(),
            groups: data.groups.into_iter().map(|group| (group, None)).collect(),
        }
    }
}

impl Seed {
    /// From the resources of a data file, each a SCIM JSON object.
    pub fn from_json(users: &[&RawValue], groups: &[&RawValue]) -> Result<Seed, serde_json::Error> {
        Ok(Seed {
            users: with_extras(ResourceKind::User, users)?,
            groups: with_extras(ResourceKind::Group, groups)?,
        })
    }
}

/// Each resource typed, with its extras.
fn with_extras<T: serde::de::DeserializeOwned>(
    kind: ResourceKind,
    resources: &[&RawValue],
) -> Result<Vec<(T, Option<Extras>)>, serde_json::Error> {
    resources
        .iter()
        .map(|raw| {
            let text = raw.get().as_bytes();
            Ok((serde_json::from_slice(text)?, Extras::scan(kind, text)?))
        })
        .collect()
}

/// The data file's content, borrowed from the store: [`EmulatorData`] with each resource's
/// extras merged in.
#[derive(Serialize)]
pub(crate) struct DataFile<'a> {
    users: Vec<WithExtras<&'a WireUser>>,
    groups: Vec<WithExtras<WireGroup>>,
    /// The store version this snapshot holds: log lines up to it are in it already.
    #[serde(skip_serializing_if = "is_zero")]
    version: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl GroupRec {
    /// Member keys in the order they were added.
    pub fn member_keys(&self) -> Vec<Key> {
        let mut members: Vec<(u64, Key)> = self.members.iter().map(|(k, s)| (*s, *k)).collect();
        members.sort_unstable();
        members.into_iter().map(|(_, k)| k).collect()
    }
}

/// The outcome of a user write.
pub(crate) enum UserWrite {
    Stored(Key),
    /// The dialect deletes deactivated users (ZPA): the user as it was written, now gone.
    Deleted(Box<UserRec>),
}

/// Users and groups with their indexes.
pub(crate) struct Store {
    rules: Rules,
    users: Vec<Option<UserRec>>,
    user_by_id: HashMap<String, Key>,
    user_by_name: NameIndex,
    /// Live user keys in order; empty after a delete until the next list rebuilds it (lists
    /// run under a shared lock, so the rebuild goes through a `OnceLock`).
    user_order: OnceLock<Vec<Key>>,
    groups: Vec<Option<GroupRec>>,
    group_by_id: HashMap<String, Key>,
    group_by_name: NameIndex,
    group_order: OnceLock<Vec<Key>>,
    ids: IdGen,
    /// Bumped by every successful mutation; persistence writes each version at most once.
    version: u64,
    /// The changes not yet handed to the data file's log, one JSON line each (see `log.rs`);
    /// `None` when nothing is saved.
    log: Option<Vec<u8>>,
}

/// Which way a list is selected.
enum Selection {
    All,
    Keys(Vec<Key>),
}

impl Store {
    pub fn new(rules: Rules, seed: u64) -> Self {
        Store {
            rules,
            users: Vec::new(),
            user_by_id: HashMap::new(),
            user_by_name: NameIndex::default(),
            user_order: OnceLock::from(Vec::new()),
            groups: Vec::new(),
            group_by_id: HashMap::new(),
            group_by_name: NameIndex::default(),
            group_order: OnceLock::from(Vec::new()),
            ids: IdGen::new(seed),
            version: 0,
            log: None,
        }
    }

    /// Build a store from saved or seeded data. With `strict`, a duplicate id, a resource without
    /// a name or a duplicate name (unless the switches allow it) is an error; otherwise it is
    /// skipped with a warning.
    pub fn from_data(rules: Rules, seed: u64, data: Seed, strict: bool) -> Result<Self, String> {
        let mut store = Store::new(rules, seed);
        let problem = |detail: String| -> Result<(), String> {
            if strict {
                Err(detail)
            } else {
                tracing::warn!("emulator data: skipping {detail}");
                Ok(())
            }
        };
        let user_count = data.users.len();
        store.users.reserve(user_count);
        store.user_by_id.reserve(user_count);
        store.user_by_name.reserve(user_count);
        for (index, (user, extras)) in data.users.into_iter().enumerate() {
            let id = user.id.clone().filter(|id| !id.is_empty());
            let meta = user.meta.clone();
            let mut user = normalize_user(user);
            if user.user_name.is_empty() {
                problem(format!("user #{} has no userName", index + 1))?;
                continue;
            }
            if let Some(id) = &id {
                if store.id_taken(id) {
                    problem(format!(
                        "user `{}` has id `{id}`, which is already used",
                        user.user_name
                    ))?;
                    continue;
                }
            }
            if store.user_name_taken(&user.user_name, None) {
                problem(format!(
                    "user `{}` appears twice (userName is case-insensitive)",
                    user.user_name
                ))?;
                continue;
            }
            user.id = Some(id.unwrap_or_else(|| store.new_id()));
            user.meta = Some(meta.unwrap_or_else(|| new_meta("User")));
            store
                .insert_user(user, extras.and_then(Extras::stored))
                .map_err(|e| e.detail)?;
        }
        for (index, (group, extras)) in data.groups.into_iter().enumerate() {
            if group.display_name.is_empty() {
                problem(format!("group #{} has no displayName", index + 1))?;
                continue;
            }
            let id = group.id.clone().filter(|id| !id.is_empty());
            if let Some(id) = &id {
                if store.id_taken(id) {
                    problem(format!(
                        "group `{}` has id `{id}`, which is already used",
                        group.display_name
                    ))?;
                    continue;
                }
            }
            if store.group_name_taken(&group.display_name, None) {
                problem(format!(
                    "group `{}` appears twice (names are case-insensitive)",
                    group.display_name
                ))?;
                continue;
            }
            let id = id.unwrap_or_else(|| store.new_id());
            let mut members = Vec::new();
            let mut dangling = Vec::new();
            for member in group.members.unwrap_or_default() {
                match store.user_by_id.get(&member.value) {
                    Some(key) => members.push(*key),
                    None if !dangling.contains(&member.value) => dangling.push(member.value),
                    None => {}
                }
            }
            let key = store.insert_group(GroupRec {
                id,
                display_name: group.display_name,
                external_id: group.external_id,
                meta: group.meta.unwrap_or_else(|| new_meta("Group")),
                members: HashMap::new(),
                next_seq: 0,
                dangling,
                extras: extras.and_then(Extras::stored),
            })?;
            for member in members {
                store.add_member(key, member);
            }
        }
        store.version = 0;
        Ok(store)
    }

    /// Everything, in insertion order, without the attributes the store does not model.
    pub fn to_data(&self) -> EmulatorData {
        let users = self
            .users
            .iter()
            .flatten()
            .map(|rec| rec.user().clone())
            .collect();
        let groups = self
            .groups
            .iter()
            .flatten()
            .map(|rec| self.wire_group(rec))
            .collect();
        EmulatorData { users, groups }
    }

    /// Everything, in insertion order, as the data file holds it.
    pub fn to_file(&self) -> DataFile<'_> {
        let all = |_: &str| true;
        let users = self
            .users
            .iter()
            .flatten()
            .map(|rec| WithExtras::new(rec.user(), rec.extras.as_deref(), all))
            .collect();
        let groups = self
            .groups
            .iter()
            .flatten()
            .map(|rec| WithExtras::new(self.wire_group(rec), rec.extras.as_deref(), all))
            .collect();
        DataFile {
            users,
            groups,
            version: self.version,
        }
    }

    fn wire_group(&self, rec: &GroupRec) -> WireGroup {
        WireGroup {
            schemas: vec![GROUP_SCHEMA.to_owned()],
            id: Some(rec.id.clone()),
            display_name: rec.display_name.clone(),
            members: Some(self.members_of(rec)),
            external_id: rec.external_id.clone(),
            meta: Some(rec.meta.clone()),
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Make this store's version follow `previous`, so that replacing the data counts as a
    /// mutation for persistence.
    pub fn follow_version(&mut self, previous: u64) {
        self.version = previous + 1;
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn rules_mut(&mut self) -> &mut Rules {
        &mut self.rules
    }

    pub fn user(&self, key: Key) -> Option<&UserRec> {
        self.users.get(key as usize).and_then(Option::as_ref)
    }

    pub fn group(&self, key: Key) -> Option<&GroupRec> {
        self.groups.get(key as usize).and_then(Option::as_ref)
    }

    pub fn user_key(&self, id: &str) -> Result<Key, ApiError> {
        self.user_by_id
            .get(id)
            .copied()
            .ok_or_else(|| ApiError::not_found(format!("no user has id `{id}`")))
    }

    pub fn group_key(&self, id: &str) -> Result<Key, ApiError> {
        self.group_by_id
            .get(id)
            .copied()
            .ok_or_else(|| ApiError::not_found(format!("no group has id `{id}`")))
    }

    /// A group's members as references, in order, with the user's userName as `display`.
    pub fn members_of(&self, group: &GroupRec) -> Vec<WireMember> {
        let known = group
            .member_keys()
            .into_iter()
            .filter_map(|key| self.user(key))
            .map(UserRec::member_ref);
        let dangling = group.dangling.iter().map(|id| WireMember {
            value: id.clone(),
            display: None,
            reference: None,
        });
        known.chain(dangling).collect()
    }

    /// One page of users: the total matching and the keys from `start` (0-based), at most
    /// `count`.
    pub fn page_users(
        &self,
        filter: Option<&EqFilter>,
        start: usize,
        count: usize,
    ) -> Result<(usize, Vec<Key>), ApiError> {
        let selection = match filter {
            None => Selection::All,
            Some(f) if f.greater => {
                if !quirks(self.rules.dialect).last_modified_gt.0 {
                    return Err(ApiError::invalid_filter(
                        "filtering users on `meta.lastModified gt` is not supported",
                    ));
                }
                Selection::Keys(keys_where(&self.users, |rec| {
                    modified_after(rec.user().meta.as_ref(), &f.value)
                }))
            }
            Some(f) => Selection::Keys(match f.attr.as_str() {
                "username" => self.named(&self.user_by_name, &f.value, |key| {
                    self.user(key).map(|rec| rec.user().user_name.as_str())
                }),
                "id" => self.user_by_id.get(&f.value).copied().into_iter().collect(),
                // RFC 7643: externalId is caseExact.
                "externalid" => keys_where(&self.users, |rec| {
                    rec.user().external_id.as_deref() == Some(f.value.as_str())
                }),
                _ => {
                    return Err(ApiError::invalid_filter(format!(
                        "filtering users on `{}` is not supported; supported: `userName eq`, `externalId eq`, `id eq`",
                        f.attr
                    )))
                }
            }),
        };
        Ok(match selection {
            Selection::All => page(self.live_user_keys(), start, count),
            Selection::Keys(keys) => page(&keys, start, count),
        })
    }

    /// One page of groups, as [`Store::page_users`].
    pub fn page_groups(
        &self,
        filter: Option<&EqFilter>,
        start: usize,
        count: usize,
    ) -> Result<(usize, Vec<Key>), ApiError> {
        let selection = match filter {
            None => Selection::All,
            Some(f) if f.greater => {
                if !quirks(self.rules.dialect).last_modified_gt.1 {
                    return Err(ApiError::invalid_filter(
                        "filtering groups on `meta.lastModified gt` is not supported",
                    ));
                }
                Selection::Keys(keys_where(&self.groups, |rec| {
                    modified_after(Some(&rec.meta), &f.value)
                }))
            }
            Some(f) => Selection::Keys(match f.attr.as_str() {
                "displayname" => self.named(&self.group_by_name, &f.value, |key| {
                    self.group(key).map(|rec| rec.display_name.as_str())
                }),
                "id" => self.group_by_id.get(&f.value).copied().into_iter().collect(),
                "externalid" => keys_where(&self.groups, |rec| {
                    rec.external_id.as_deref() == Some(f.value.as_str())
                }),
                _ => {
                    return Err(ApiError::invalid_filter(format!(
                        "filtering groups on `{}` is not supported; supported: `displayName eq`, `externalId eq`, `id eq`",
                        f.attr
                    )))
                }
            }),
        };
        Ok(match selection {
            Selection::All => page(self.live_group_keys(), start, count),
            Selection::Keys(keys) => page(&keys, start, count),
        })
    }

    /// The keys an `eq` filter on a name finds: every resource with that name folded, or with
    /// exactly that name under `case_sensitive_filters`.
    fn named<'a>(
        &'a self,
        index: &NameIndex,
        value: &str,
        name_of: impl Fn(Key) -> Option<&'a str>,
    ) -> Vec<Key> {
        let folded = index.get(&name_key(value)).iter().copied();
        if self.rules.switches.case_sensitive_filters {
            folded.filter(|key| name_of(*key) == Some(value)).collect()
        } else {
            folded.collect()
        }
    }

    /// Whether writing `name` on user `this` (or a new user) would clash with another user.
    fn user_name_taken(&self, name: &str, this: Option<Key>) -> bool {
        !self.rules.switches.duplicate_user_names
            && self
                .user_by_name
                .other_than(&name_key(name), this)
                .is_some()
    }

    /// Whether naming group `this` (or a new group) `name` would clash with another group.
    fn group_name_taken(&self, name: &str, this: Option<Key>) -> bool {
        !self.rules.switches.duplicate_group_names
            && self
                .group_by_name
                .other_than(&name_key(name), this)
                .is_some()
    }

    fn live_user_keys(&self) -> &[Key] {
        self.user_order.get_or_init(|| live_keys(&self.users))
    }

    fn live_group_keys(&self) -> &[Key] {
        self.group_order.get_or_init(|| live_keys(&self.groups))
    }

    fn id_taken(&self, id: &str) -> bool {
        self.user_by_id.contains_key(id) || self.group_by_id.contains_key(id)
    }

    fn new_id(&mut self) -> String {
        let style = quirks(self.rules.dialect).ids;
        // Bounded: a collision needs seeded data that used the same numbers.
        for _ in 0..10_000 {
            let id = self.ids.next(style);
            if !self.id_taken(&id) {
                return id;
            }
        }
        self.ids.next(IdStyle::Uuid)
    }

    /// The extras a PUT leaves: those it sent, laid over the old ones unless
    /// `put_clears_omitted` drops every attribute the PUT omits.
    fn extras_after_put(&self, old: Option<&Extras>, sent: Option<Extras>) -> Option<Box<Extras>> {
        let kept = match (old, sent) {
            (Some(old), sent) if !self.rules.switches.put_clears_omitted => Some(match sent {
                Some(sent) => old.clone().overlay(sent),
                None => old.clone(),
            }),
            (_, sent) => sent,
        };
        kept.and_then(Extras::stored)
    }

    fn lost(&self, id: &str) -> ApiError {
        ApiError::internal(format!("resource `{id}` vanished during a write"))
    }
}

/// Whether `meta` was last modified after `time` (RFC 3339; a value that is not a time
/// matches nothing).
fn modified_after(meta: Option<&WireMeta>, time: &str) -> bool {
    let Ok(after) = time.parse::<jiff::Timestamp>() else {
        return false;
    };
    meta.and_then(|m| m.last_modified.as_deref())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .is_some_and(|t| t > after)
}

fn page(keys: &[Key], start: usize, count: usize) -> (usize, Vec<Key>) {
    let from = start.min(keys.len());
    let to = from.saturating_add(count).min(keys.len());
    (keys.len(), keys[from..to].to_vec())
}

fn live_keys<T>(slots: &[Option<T>]) -> Vec<Key> {
    keys_where(slots, |_| true)
}

/// Keys of the live slots whose resource satisfies `pred`, in order.
fn keys_where<T>(slots: &[Option<T>], pred: impl Fn(&T) -> bool) -> Vec<Key> {
    slots
        .iter()
        .enumerate()
        .filter(|(_, slot)| slot.as_ref().is_some_and(&pred))
        .filter_map(|(i, _)| Key::try_from(i).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_load_refuses_duplicates_and_lenient_skips_them() {
        let user = |name: &str, id: &str| WireUser {
            id: Some(id.into()),
            user_name: name.into(),
            ..WireUser::default()
        };
        let data = EmulatorData {
            users: vec![user("a@x", "1"), user("A@X", "2")],
            groups: vec![],
        };
        let rules = || Rules::new(Dialect::Scim, &[], &[], StoreSwitches::default());
        assert!(Store::from_data(rules(), 0, data.clone().into(), true).is_err());
        let store = Store::from_data(rules(), 0, data.into(), false).unwrap();
        assert_eq!(store.to_data().users.len(), 1);
    }
}
