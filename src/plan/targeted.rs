//! Targeted refresh, the pure part: which objects a plan can touch (so must be read), the live
//! picture made of what was read and what state recorded, the check that every change of a
//! plan concerns objects that were read, and what state records afterwards.
//!
//! The rules (README, "Targeted refresh"):
//! - an object is read when its declaration or its record changed since they last agreed
//!   (the fingerprints in [`crate::state::Reconciled`]), when it is about to be removed, or
//!   when zsc does not manage it yet (by name);
//! - an object not read is taken from state exactly as recorded: never as gone, changed or
//!   unmanaged. Only a read concludes that an id is gone;
//! - a plan is only offered when every change in it concerns objects that were read (see
//!   [`unread`]); otherwise the caller reads those too and plans again.
//!
//! Nothing here does I/O: `ops::targeted` reads and decides, this module computes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::{
    folded, DesiredGroup, DesiredTenant, DesiredUser, LiveGroup, LiveTenant, LiveUser, USER_FIELDS,
};
use crate::state::{ManagedGroup, ManagedUser, TenantState};

use super::change::{Action, Change, ObjectKind};

/// What a targeted refresh read, for the plan's tenant summary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetedRead {
    /// Users and groups read one by one (each look-up by id or by name, found or not).
    pub users_read: usize,
    pub groups_read: usize,
    /// When the tenant was last read in full (RFC 3339): drift on objects this plan does not
    /// touch has not been checked since.
    pub last_full_refresh: String,
    /// HTTP requests the read sent (counts and discovery included).
    pub requests: u64,
}

/// What to read: objects by id (managed ones) and by name (declared ones zsc does not manage
/// yet), each name keyed by its folded form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Want {
    pub user_ids: BTreeSet<String>,
    pub group_ids: BTreeSet<String>,
    pub user_names: BTreeMap<String, String>,
    pub group_names: BTreeMap<String, String>,
}

impl Want {
    pub fn is_empty(&self) -> bool {
        self.user_ids.is_empty()
            && self.group_ids.is_empty()
            && self.user_names.is_empty()
            && self.group_names.is_empty()
    }

    /// Requests reading it takes: one per object, and where the server's group answers to
    /// a filter leave members out, one more per group looked up by name.
    pub fn requests(&self, group_lookups_cost_two: bool) -> usize {
        let names = self.group_names.len() * if group_lookups_cost_two { 2 } else { 1 };
        self.user_ids.len() + self.group_ids.len() + self.user_names.len() + names
    }

    fn user_name(&mut self, name: &str) {
        self.user_names
            .entry(folded(name).into_owned())
            .or_insert_with(|| name.to_owned());
    }

    fn group_name(&mut self, name: &str) {
        self.group_names
            .entry(folded(name).into_owned())
            .or_insert_with(|| name.to_owned());
    }

    /// This, less what `found` already read.
    pub fn unless_read(mut self, found: &Found) -> Want {
        self.user_ids.retain(|id| !found.read_user(id));
        self.group_ids.retain(|id| !found.read_group(id));
        self.user_names
            .retain(|key, _| !found.user_names.contains(key));
        self.group_names
            .retain(|key, _| !found.group_names.contains(key));
        self
    }
}

/// Everything read so far, in one or more rounds.
#[derive(Clone, Debug, Default)]
pub struct Found {
    pub users: Vec<LiveUser>,
    pub groups: Vec<LiveGroup>,
    /// Ids read and answered 404: gone live.
    pub gone_user_ids: HashSet<String>,
    pub gone_group_ids: HashSet<String>,
    /// Folded names looked up (found or not).
    pub user_names: HashSet<String>,
    pub group_names: HashSet<String>,
    user_ids: HashSet<String>,
    group_ids: HashSet<String>,
    /// Look-ups made (by id or by name), for the summary.
    users_asked: usize,
    groups_asked: usize,
}

impl Found {
    /// Record one round: what was asked and what came back.
    pub fn add(
        &mut self,
        asked: &Want,
        users: Vec<LiveUser>,
        groups: Vec<LiveGroup>,
        missing_users: Vec<String>,
        missing_groups: Vec<String>,
    ) {
        self.user_names.extend(asked.user_names.keys().cloned());
        self.group_names.extend(asked.group_names.keys().cloned());
        self.users_asked += asked.user_ids.len() + asked.user_names.len();
        self.groups_asked += asked.group_ids.len() + asked.group_names.len();
        for user in users {
            if self.user_ids.insert(user.id.clone()) {
                self.gone_user_ids.remove(&user.id);
                self.users.push(user);
            }
        }
        for group in groups {
            if self.group_ids.insert(group.id.clone()) {
                self.gone_group_ids.remove(&group.id);
                self.groups.push(group);
            }
        }
        for id in missing_users {
            if !self.user_ids.contains(&id) {
                self.gone_user_ids.insert(id);
            }
        }
        for id in missing_groups {
            if !self.group_ids.contains(&id) {
                self.gone_group_ids.insert(id);
            }
        }
    }

    /// Whether the user with this id was read (found, or found gone).
    pub fn read_user(&self, id: &str) -> bool {
        self.user_ids.contains(id) || self.gone_user_ids.contains(id)
    }

    pub fn read_group(&self, id: &str) -> bool {
        self.group_ids.contains(id) || self.gone_group_ids.contains(id)
    }

    /// Users and groups read one by one (by id or by name, found or not), for the summary.
    pub fn counts(&self) -> (usize, usize) {
        (self.users_asked, self.groups_asked)
    }
}

/// A 64-bit FNV-1a over length-prefixed fields: stable across builds and platforms, so a
/// fingerprint in state means the same to the next zsc (a different hash would only cost
/// reads, never a wrong conclusion).
struct Fingerprint(u64);

impl Fingerprint {
    fn new(kind: u8) -> Self {
        let mut f = Fingerprint(0xcbf2_9ce4_8422_2325);
        f.bytes(&[kind]);
        f
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn str(&mut self, s: &str) {
        self.bytes(&(s.len() as u64).to_le_bytes());
        self.bytes(s.as_bytes());
    }

    fn opt(&mut self, s: Option<&str>) {
        match s {
            None => self.bytes(&[0]),
            Some(s) => {
                self.bytes(&[1]);
                self.str(s);
            }
        }
    }

    fn flag(&mut self, b: bool) {
        self.bytes(&[u8::from(b)]);
    }

    fn finish(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The fingerprint of a user's declaration and its record together.
pub fn user_fingerprint(desired: &DesiredUser, record: &ManagedUser) -> String {
    let mut f = Fingerprint::new(b'u');
    f.str(&desired.user_name);
    f.opt(desired.renamed_from.as_deref());
    f.flag(desired.active);
    f.flag(desired.protect);
    for field in USER_FIELDS {
        f.opt((field.get)(&desired.attrs).as_deref());
    }
    f.str(&record.id);
    f.str(&record.user_name);
    f.flag(record.active);
    f.flag(record.protect);
    for field in USER_FIELDS {
        f.opt((field.get)(&record.attrs).as_deref());
    }
    f.finish()
}

/// The fingerprint of a group's declaration and its record together; members compare as sets.
pub fn group_fingerprint(desired: &DesiredGroup, record: &ManagedGroup) -> String {
    let mut f = Fingerprint::new(b'g');
    f.str(&desired.name);
    f.opt(desired.renamed_from.as_deref());
    f.flag(desired.protect);
    let mut members: Vec<std::borrow::Cow<'_, str>> =
        desired.members.iter().map(|m| folded(m)).collect();
    members.sort_unstable();
    members.dedup();
    f.bytes(&(members.len() as u64).to_le_bytes());
    for m in &members {
        f.str(m);
    }
    f.str(&record.id);
    f.str(&record.name);
    f.flag(record.protect);
    let mut ids: Vec<&str> = record.members.iter().map(String::as_str).collect();
    ids.sort_unstable();
    ids.dedup();
    f.bytes(&(ids.len() as u64).to_le_bytes());
    for id in ids {
        f.str(id);
    }
    f.finish()
}

/// What a targeted refresh of a tenant reads first: every declared object whose fingerprint
/// does not match (by id when zsc manages it, with the record a `renamed_from` names; by name
/// otherwise), and every managed object no longer declared (by id: about to be removed).
pub fn select(desired: &DesiredTenant, managed: &TenantState) -> Want {
    let mut want = Want::default();
    let mut declared_users: HashSet<String> = HashSet::with_capacity(desired.users.len());
    for user in &desired.users {
        let key = folded(&user.user_name).into_owned();
        match managed.users.get(&key) {
            Some(record) => {
                let matches = managed
                    .reconciled
                    .users
                    .get(&key)
                    .is_some_and(|fp| *fp == user_fingerprint(user, record));
                if !matches {
                    want.user_ids.insert(record.id.clone());
                }
            }
            None => {
                want.user_name(&user.user_name);
                if let Some(from) = &user.renamed_from {
                    // The record by id, and the old name too: if the id is gone, the planner
                    // looks for an unmanaged holder of the old name.
                    if let Some(record) = managed.users.get(folded(from).as_ref()) {
                        want.user_ids.insert(record.id.clone());
                    }
                    want.user_name(from);
                    declared_users.insert(folded(from).into_owned());
                }
            }
        }
        declared_users.insert(key);
    }
    for (key, record) in &managed.users {
        if !declared_users.contains(key) {
            want.user_ids.insert(record.id.clone());
        }
    }
    let mut declared_groups: HashSet<String> = HashSet::with_capacity(desired.groups.len());
    for group in &desired.groups {
        let key = folded(&group.name).into_owned();
        match managed.groups.get(&key) {
            Some(record) => {
                let matches = managed
                    .reconciled
                    .groups
                    .get(&key)
                    .is_some_and(|fp| *fp == group_fingerprint(group, record));
                if !matches {
                    want.group_ids.insert(record.id.clone());
                }
            }
            None => {
                want.group_name(&group.name);
                if let Some(from) = &group.renamed_from {
                    if let Some(record) = managed.groups.get(folded(from).as_ref()) {
                        want.group_ids.insert(record.id.clone());
                    }
                    want.group_name(from);
                    declared_groups.insert(folded(from).into_owned());
                }
            }
        }
        declared_groups.insert(key);
    }
    for (key, record) in &managed.groups {
        if !declared_groups.contains(key) {
            want.group_ids.insert(record.id.clone());
        }
    }
    want
}

/// The live picture for the planner: what state recorded, exactly, for every object not read;
/// what was read in its place (or as well, for objects found by name); and without the ids a
/// read found gone.
pub fn assemble(managed: &TenantState, found: &Found) -> LiveTenant {
    let read_users: HashMap<&str, &LiveUser> =
        found.users.iter().map(|u| (u.id.as_str(), u)).collect();
    let read_groups: HashMap<&str, &LiveGroup> =
        found.groups.iter().map(|g| (g.id.as_str(), g)).collect();
    let mut live = LiveTenant::default();
    let mut seen: HashSet<&str> = HashSet::new();
    for record in managed.users.values() {
        let id = record.id.as_str();
        if found.gone_user_ids.contains(id) || !seen.insert(id) {
            continue;
        }
        live.users.push(match read_users.get(id) {
            Some(user) => (*user).clone(),
            None => LiveUser {
                id: record.id.clone(),
                user_name: record.user_name.clone(),
                active: record.active,
                attrs: record.attrs.clone(),
            },
        });
    }
    for user in &found.users {
        if seen.insert(user.id.as_str()) {
            live.users.push(user.clone());
        }
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for record in managed.groups.values() {
        let id = record.id.as_str();
        if found.gone_group_ids.contains(id) || !seen.insert(id) {
            continue;
        }
        live.groups.push(match read_groups.get(id) {
            Some(group) => (*group).clone(),
            None => LiveGroup {
                id: record.id.clone(),
                name: record.name.clone(),
                members: record.members.clone(),
            },
        });
    }
    for group in &found.groups {
        if seen.insert(group.id.as_str()) {
            live.groups.push(group.clone());
        }
    }
    live
}

/// The objects `changes` (one tenant's) concern that were not read: a plan may only be offered
/// when this is empty. A change to a managed object needs its id read; a create or a rename
/// needs the name it takes looked up (an unmanaged holder of it is a conflict); a membership
/// change needs its group read, and an addition (or the removal of a member known only by id)
/// that user read too.
pub fn unread<'a>(changes: impl IntoIterator<Item = &'a Change>, found: &Found) -> Want {
    let mut want = Want::default();
    for change in changes {
        match change.object {
            ObjectKind::User => match (&change.action, &change.id) {
                (Action::Create | Action::Rename, _)
                    if !found.user_names.contains(folded(&change.name).as_ref()) =>
                {
                    want.user_name(&change.name);
                }
                (_, Some(id)) if !found.read_user(id) => {
                    want.user_ids.insert(id.clone());
                }
                _ => {}
            },
            ObjectKind::Group => match (&change.action, &change.id) {
                (Action::Create | Action::Rename, _)
                    if !found.group_names.contains(folded(&change.name).as_ref()) =>
                {
                    want.group_name(&change.name);
                }
                (_, Some(id)) if !found.read_group(id) => {
                    want.group_ids.insert(id.clone());
                }
                _ => {}
            },
            ObjectKind::Membership => {
                if let Some(id) = &change.id {
                    if !found.read_group(id) {
                        want.group_ids.insert(id.clone());
                    }
                }
                // An addition needs its user read (to be sure it is there); a removal of a
                // member the picture has no user for (an unmanaged user not read) too, so that
                // the plan names it as a full read would, by userName.
                let unnamed = change.member.is_some() && change.member == change.member_id;
                if change.action == Action::Add || unnamed {
                    if let Some(member) = &change.member_id {
                        if !found.read_user(member) {
                            want.user_ids.insert(member.clone());
                        }
                    }
                }
            }
        }
    }
    want
}

/// State after a targeted read, in place: records of objects read take what the server holds
/// now (as a full refresh would), records of ids found gone are dropped, and every other record
/// stays exactly as it was.
pub fn fold(out: &mut TenantState, found: &Found) {
    let users: HashMap<&str, &LiveUser> = found.users.iter().map(|u| (u.id.as_str(), u)).collect();
    let groups: HashMap<&str, &LiveGroup> =
        found.groups.iter().map(|g| (g.id.as_str(), g)).collect();
    // In place, and only over the records when something was read: a tenant of a million
    // users read for twenty costs no copy.
    if !found.gone_user_ids.is_empty() {
        out.users
            .retain(|_, r| !found.gone_user_ids.contains(&r.id));
    }
    if !users.is_empty() {
        for record in out.users.values_mut() {
            if let Some(live) = users.get(record.id.as_str()) {
                record.active = live.active;
                record.attrs = live.attrs.clone();
                record.wrote = None;
            }
        }
    }
    if !found.gone_group_ids.is_empty() {
        out.groups
            .retain(|_, r| !found.gone_group_ids.contains(&r.id));
    }
    if !groups.is_empty() {
        for record in out.groups.values_mut() {
            if let Some(live) = groups.get(record.id.as_str()) {
                record.members = live.members.clone();
                record.wrote = None;
            }
        }
    }
}

/// Record, for every declared object that state manages and that `undone` does not name
/// (kind and folded name of objects with a change not made), that its record is what its
/// declaration asks for. Fingerprints of objects no longer declared or managed are dropped;
/// those of objects `undone` names are dropped too.
pub fn stamp(
    managed: &mut TenantState,
    desired: &DesiredTenant,
    undone: &HashSet<(ObjectKind, String)>,
) {
    let mut users = BTreeMap::new();
    for user in &desired.users {
        let key = folded(&user.user_name).into_owned();
        if undone.contains(&(ObjectKind::User, key.clone())) {
            continue;
        }
        if let Some(record) = managed.users.get(&key) {
            users.insert(key, user_fingerprint(user, record));
        }
    }
    let mut groups = BTreeMap::new();
    for group in &desired.groups {
        let key = folded(&group.name).into_owned();
        if undone.contains(&(ObjectKind::Group, key.clone())) {
            continue;
        }
        if let Some(record) = managed.groups.get(&key) {
            groups.insert(key, group_fingerprint(group, record));
        }
    }
    managed.reconciled.users = users;
    managed.reconciled.groups = groups;
}

/// [`stamp`] for `only` these objects (kind and folded name): each that state manages takes
/// the fingerprint of its declaration and record; every other fingerprint stays as it is.
pub fn stamp_only(
    managed: &mut TenantState,
    desired: &DesiredTenant,
    only: &HashSet<(ObjectKind, String)>,
) {
    if only.is_empty() {
        return;
    }
    for user in &desired.users {
        let key = folded(&user.user_name).into_owned();
        if !only.contains(&(ObjectKind::User, key.clone())) {
            continue;
        }
        match managed.users.get(&key) {
            Some(record) => {
                let fp = user_fingerprint(user, record);
                managed.reconciled.users.insert(key, fp);
            }
            None => {
                managed.reconciled.users.remove(&key);
            }
        }
    }
    for group in &desired.groups {
        let key = folded(&group.name).into_owned();
        if !only.contains(&(ObjectKind::Group, key.clone())) {
            continue;
        }
        match managed.groups.get(&key) {
            Some(record) => {
                let fp = group_fingerprint(group, record);
                managed.reconciled.groups.insert(key, fp);
            }
            None => {
                managed.reconciled.groups.remove(&key);
            }
        }
    }
}

/// The objects `changes` concern, as [`stamp`] names them: users by their name, groups (and
/// their memberships) by the group's.
pub fn concerned<'a>(
    changes: impl IntoIterator<Item = &'a Change>,
) -> HashSet<(ObjectKind, String)> {
    changes
        .into_iter()
        .map(|c| {
            let kind = match c.object {
                ObjectKind::User => ObjectKind::User,
                ObjectKind::Group | ObjectKind::Membership => ObjectKind::Group,
            };
            (kind, folded(&c.name).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserAttrs;

    fn desired_user(name: &str, display: &str) -> DesiredUser {
        DesiredUser {
            attrs: UserAttrs {
                display_name: Some(display.into()),
                ..UserAttrs::default()
            },
            ..DesiredUser::new(name)
        }
    }

    fn record(name: &str, id: &str, display: &str) -> ManagedUser {
        ManagedUser {
            id: id.into(),
            user_name: name.into(),
            active: true,
            attrs: UserAttrs {
                display_name: Some(display.into()),
                ..UserAttrs::default()
            },
            protect: false,
            wrote: None,
        }
    }

    fn tenant() -> (DesiredTenant, TenantState) {
        let mut desired = DesiredTenant::default();
        let mut managed = TenantState::default();
        for (name, id) in [("a@x", "1"), ("b@x", "2"), ("c@x", "3")] {
            desired.users.push(desired_user(name, "A"));
            managed.users.insert(name.into(), record(name, id, "A"));
        }
        stamp(&mut managed, &desired, &HashSet::new());
        (desired, managed)
    }

    #[test]
    fn only_what_changed_since_the_last_agreement_is_read() {
        let (mut desired, mut managed) = tenant();
        assert!(select(&desired, &managed).is_empty());
        // A declaration changed, a user is new, one is no longer declared.
        desired.users[0].attrs.display_name = Some("New".into());
        desired.users.remove(1);
        desired.users.push(desired_user("d@x", "D"));
        let want = select(&desired, &managed);
        assert_eq!(want.user_ids, BTreeSet::from(["1".into(), "2".into()]));
        assert_eq!(want.user_names.values().collect::<Vec<_>>(), ["d@x"]);
        // A record changed (a refresh folded drift in): read again.
        let (desired, _) = tenant();
        managed.users.get_mut("c@x").unwrap().attrs.display_name = Some("drift".into());
        assert_eq!(
            select(&desired, &managed).user_ids,
            BTreeSet::from(["3".into()])
        );
    }

    #[test]
    fn what_was_not_read_is_taken_from_state_and_only_reads_find_objects_gone() {
        let (_, managed) = tenant();
        let mut found = Found::default();
        let asked = Want {
            user_ids: BTreeSet::from(["1".into(), "2".into()]),
            ..Want::default()
        };
        let mut changed = managed.users["a@x"].clone();
        changed.attrs.display_name = Some("Live".into());
        found.add(
            &asked,
            vec![LiveUser {
                id: "1".into(),
                user_name: "a@x".into(),
                active: true,
                attrs: changed.attrs.clone(),
            }],
            vec![],
            vec!["2".into()],
            vec![],
        );
        let live = assemble(&managed, &found);
        let ids: Vec<&str> = live.users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["1", "3"], "2 was read gone; 3 was not read and stays");
        assert_eq!(live.users[0].attrs.display_name.as_deref(), Some("Live"));
        assert_eq!(live.users[1].attrs.display_name.as_deref(), Some("A"));
        let mut folded = managed.clone();
        fold(&mut folded, &found);
        assert_eq!(folded.users.len(), 2);
        assert_eq!(folded.users["c@x"], managed.users["c@x"]);
    }
}
