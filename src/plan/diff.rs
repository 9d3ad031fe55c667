//! Desired against live, per tenant: the changes that make live equal desired.
//!
//! Pure and linear in the size of the input: every lookup goes through a hash map built once.
//!
//! Rules (README, "How it works" and "Safety"):
//! - a managed object is found by the id state recorded, always, users as groups; its name is
//!   what zsc manages it as, and a live name that differs is a rename made outside zsc, planned
//!   back (or refused when another object holds the name), never a reason to bind another id;
//! - a name only adopts an object zsc does not manage yet, and only when exactly one live object
//!   that no state record holds has it (case-insensitively, in NFC): two candidates are an
//!   ambiguity the plan reports by id, adopting neither;
//! - a managed object no longer desired is deprovisioned by its id (users per
//!   `remove_user_action`, groups deleted); a live object zsc never managed is left alone and
//!   counted, and no change ever names it;
//! - the members of a managed group are authoritative;
//! - where a live value differs from what state last recorded, the change says so (changed
//!   outside zsc, or not kept by the server when zsc wrote it itself).

use std::borrow::Cow;
use std::cell::RefCell;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use crate::dialect::Dialect;
use crate::model::{
    folded, needs_rename, DesiredGroup, DesiredTenant, DesiredUser, LiveGroup, LiveTenant,
    LiveUser, RemoveUserAction, USER_FIELDS,
};
use crate::state::{ManagedGroup, ManagedUser, TenantState, Wrote};

use super::change::{
    group_address, membership_address, user_address, Action, Change, Drift, ObjectKind, Values,
};
use super::{Conflict, TenantSummary};

/// Everything the planner needs to know about one tenant.
pub struct TenantInput<'a> {
    pub name: &'a str,
    pub dialect: Dialect,
    pub desired: &'a DesiredTenant,
    /// What state says zsc manages, as recorded at the last apply or refresh (not yet folded
    /// with `live`: the differences are what changed outside zsc).
    pub managed: &'a TenantState,
    /// What the server holds.
    pub live: &'a LiveTenant,
    pub remove_user_action: RemoveUserAction,
    /// What identifies the server the configuration points at (see
    /// [`crate::config::TenantConfig::server`]), to compare with the one state records.
    pub server: Option<&'a str>,
}

/// The plan of one tenant.
pub struct TenantPlan {
    /// Sorted by [`super::Plan::build`].
    pub changes: Vec<Change>,
    pub summary: TenantSummary,
    /// What the plan refuses to decide: the objects named are left alone.
    pub conflicts: Vec<Conflict>,
    /// What a reviewer must read but that blocks nothing.
    pub warnings: Vec<String>,
}

/// Compute the changes for one tenant.
pub fn diff_tenant(input: &TenantInput<'_>) -> TenantPlan {
    let ix = LiveIndex::new(input.live, input.managed);
    let mut out = TenantDiff {
        tenant: input.name,
        changes: Vec::new(),
        user_changes: HashMap::new(),
        member_losses: Vec::new(),
        conflicts: Vec::new(),
        warnings: Vec::new(),
        claimed_users: vec![false; input.live.users.len()],
        claimed_groups: vec![false; input.live.groups.len()],
    };

    let resolved = out.users(input, &ix);
    out.groups(input, &ix, &resolved);
    out.link_removals_before_user_removals();
    out.note_likely_renames();

    let summary = TenantSummary {
        name: input.name.to_owned(),
        dialect: input.dialect,
        live_users: input.live.users.len(),
        live_groups: input.live.groups.len(),
        managed_users: input.managed.users.len(),
        managed_groups: input.managed.groups.len(),
        unmanaged_users: out.claimed_users.iter().filter(|c| !**c).count(),
        unmanaged_groups: out.claimed_groups.iter().filter(|c| !**c).count(),
        member_losses: out.member_losses,
        gone: super::Gone::of(input.managed, input.live),
        server_change: match (input.managed.server.as_deref(), input.server) {
            (Some(from), Some(to)) if from != to => Some(super::ServerChange {
                from: from.to_owned(),
                to: to.to_owned(),
            }),
            _ => None,
        },
    };
    TenantPlan {
        changes: out.changes,
        summary,
        conflicts: out.conflicts,
        warnings: out.warnings,
    }
}

/// Live objects by folded name. Most names are held by one object; the few held by several
/// (group names have no uniqueness in SCIM) keep every position in `more`.
struct Names<'a> {
    first: HashMap<Cow<'a, str>, u32>,
    more: HashMap<Cow<'a, str>, Vec<u32>>,
}

impl<'a> Names<'a> {
    fn new(names: impl ExactSizeIterator<Item = &'a str>) -> Self {
        let mut first = HashMap::with_capacity(names.len());
        let mut more: HashMap<Cow<'a, str>, Vec<u32>> = HashMap::new();
        for (i, name) in names.enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            let key = folded(name);
            match first.get(&key) {
                None => {
                    first.insert(key, i);
                }
                Some(&j) => more.entry(key).or_insert_with(|| vec![j]).push(i),
            }
        }
        Names { first, more }
    }

    /// Every position holding `name`, case-insensitively.
    fn get(&self, name: &str) -> &[u32] {
        let key = folded(name);
        if let Some(all) = self.more.get(key.as_ref()) {
            return all;
        }
        self.first
            .get(key.as_ref())
            .map_or(&[], std::slice::from_ref)
    }
}

/// Hash indexes over a live tenant. Users also get a dense index, so that comparing a group's
/// members costs array reads instead of hash sets per group.
struct LiveIndex<'a> {
    live: &'a LiveTenant,
    user_names: Names<'a>,
    /// Id → position in `live.users`.
    users_by_id: HashMap<&'a str, u32>,
    group_names: Names<'a>,
    /// Id → position in `live.groups`.
    groups_by_id: HashMap<&'a str, u32>,
    /// Ids that some state record holds: a name never adopts them.
    held_user_ids: HashMap<&'a str, &'a str>,
    held_group_ids: HashMap<&'a str, &'a str>,
    /// Per live group (in `live.groups` order): each member's position in `live.users`, or
    /// NO_USER. Resolved up front on every core: a million memberships are a million lookups.
    member_positions: Vec<Vec<u32>>,
    /// Per user position: the group generation in which it was seen as a live member, and in
    /// which a desired member matched it. Reused across groups, never cleared.
    marks: RefCell<Marks>,
}

struct Marks {
    generation: u32,
    present: Vec<u32>,
    kept: Vec<u32>,
}

/// A member position that is no live user.
const NO_USER: u32 = u32::MAX;

impl<'a> LiveIndex<'a> {
    fn new(live: &'a LiveTenant, managed: &'a TenantState) -> Self {
        let n = live.users.len();
        let users_by_id: HashMap<&str, u32> = live
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.as_str(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        let member_positions = crate::par::map(&live.groups, 64, |g| {
            g.members
                .iter()
                .map(|id| users_by_id.get(id.as_str()).copied().unwrap_or(NO_USER))
                .collect()
        });
        LiveIndex {
            live,
            user_names: Names::new(live.users.iter().map(|u| u.user_name.as_str())),
            users_by_id,
            group_names: Names::new(live.groups.iter().map(|g| g.name.as_str())),
            groups_by_id: live
                .groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.id.as_str(), u32::try_from(i).unwrap_or(u32::MAX)))
                .collect(),
            held_user_ids: managed
                .users
                .values()
                .map(|u| (u.id.as_str(), u.user_name.as_str()))
                .collect(),
            held_group_ids: managed
                .groups
                .values()
                .map(|g| (g.id.as_str(), g.name.as_str()))
                .collect(),
            member_positions,
            marks: RefCell::new(Marks {
                generation: 0,
                present: vec![0; n],
                kept: vec![0; n],
            }),
        }
    }

    fn user(&self, i: u32) -> &'a LiveUser {
        &self.live.users[i as usize]
    }

    fn group(&self, i: u32) -> &'a LiveGroup {
        &self.live.groups[i as usize]
    }
}

/// Where a desired user stands after matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resolved {
    /// It is (or becomes, by adoption) this live user.
    Live(u32),
    /// This plan creates it.
    Created,
    /// It will not exist (ZPA's `active: false` deletes), so it is no member of anything.
    Absent,
    /// The plan refuses to decide which live user it is.
    Unresolved,
}

/// How a desired object was matched to a live one.
enum Match<'a, R> {
    /// The object state records, found live by its id.
    Managed {
        record: &'a R,
        key: &'a str,
        at: u32,
    },
    /// Adopted by name (or by `renamed_from` naming an unmanaged object).
    Adopted { at: u32, note: Option<String> },
    /// Nothing live: create it.
    Create { note: Option<String> },
    /// Refused: a conflict was reported.
    Conflict,
}

/// A state record a desired object takes: by its own name, else by its `renamed_from`, unless
/// another desired object takes that record already (by its own name, which wins, or by an
/// earlier `renamed_from`; validation refuses both, and the planner holds to it anyway).
fn record_for<'m, R>(
    records: &'m std::collections::BTreeMap<String, R>,
    name: &str,
    renamed_from: Option<&str>,
    declared: &HashSet<Cow<'_, str>>,
    taken: &HashSet<&str>,
) -> Option<(&'m str, &'m R)> {
    let own = records.get_key_value(folded(name).as_ref());
    own.or_else(|| {
        let from = folded(renamed_from?);
        if declared.contains(&from) {
            return None;
        }
        records.get_key_value(from.as_ref())
    })
    .filter(|(k, _)| !taken.contains(k.as_str()))
    .map(|(k, r)| (k.as_str(), r))
}

/// What a live object is to the planner, for users and groups alike.
trait Object {
    const KIND: &'static str;
    fn id(&self) -> &str;
    fn name(&self) -> &str;
}

impl Object for LiveUser {
    const KIND: &'static str = "user";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.user_name
    }
}

impl Object for LiveGroup {
    const KIND: &'static str = "group";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// The matching rules, shared by users and groups. `by_id` finds a live object by id; `names`
/// finds live objects by name; `held` says which ids state records hold (and under what name).
struct Matcher<'x, 'a, T> {
    tenant: &'x str,
    objects: &'a [T],
    names: &'x Names<'a>,
    by_id: &'x HashMap<&'a str, u32>,
    held: &'x HashMap<&'a str, &'a str>,
    address: fn(&str, &str) -> String,
}

impl<'a, T: Object> Matcher<'_, 'a, T> {
    fn ids(&self, positions: &[u32]) -> String {
        positions
            .iter()
            .map(|&i| format!("`{}`", self.objects[i as usize].id()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Match the desired object `name` (with its `renamed_from`), given the state record it
    /// takes, if any.
    /// `claimed`: live objects (by position) that earlier desired objects already took; a
    /// name never adopts one of those a second time.
    fn find<'m, R: Record>(
        &self,
        name: &str,
        renamed_from: Option<&str>,
        record: Option<(&'m str, &'m R)>,
        claimed: &[bool],
        conflicts: &mut Vec<Conflict>,
    ) -> Match<'m, R> {
        let kind = T::KIND;
        let address = (self.address)(self.tenant, name);
        let mut note = None;
        if let Some((key, record)) = record {
            if let Some(&at) = self.by_id.get(record.id()) {
                if claimed.get(at as usize).copied().unwrap_or(false) {
                    conflicts.push(Conflict::new(
                        self.tenant,
                        &address,
                        format!(
                            "state records {kind} id `{}` under two names (`{}` among them); \
                             zsc will not act on it twice: keep one with `zsc state rm`",
                            record.id(),
                            record.name()
                        ),
                    ));
                    return Match::Conflict;
                }
                return Match::Managed { record, key, at };
            }
            note = Some(format!(
                "the {kind} zsc managed as `{}` (id `{}`) is gone live",
                record.name(),
                record.id()
            ));
        }
        let free = |positions: &[u32]| -> Vec<u32> {
            positions
                .iter()
                .copied()
                .filter(|&i| !claimed.get(i as usize).copied().unwrap_or(false))
                .collect()
        };
        let candidates = free(self.names.get(name));
        if let Some(&held) = candidates
            .iter()
            .find(|&&i| self.held.contains_key(self.objects[i as usize].id()))
        {
            let other = &self.objects[held as usize];
            conflicts.push(Conflict::new(
                self.tenant,
                &address,
                format!(
                    "`{}` exists live as {kind} `{}`, which zsc manages as `{}` (renamed outside \
                     zsc); zsc will not adopt it a second time: rename it back on the server, or \
                     stop managing `{}` with `zsc state rm`",
                    other.name(),
                    other.id(),
                    self.held[other.id()],
                    self.held[other.id()]
                ),
            ));
            return Match::Conflict;
        }
        match candidates.as_slice() {
            [] => {}
            [one] => return Match::Adopted { at: *one, note },
            many => {
                conflicts.push(Conflict::new(
                    self.tenant,
                    &address,
                    format!(
                        "ambiguous: {} live {kind}s share the name `{name}` (ids {}); zsc adopts neither and \
                         changes nothing about them: rename or delete all but one on the server",
                        many.len(),
                        self.ids(many)
                    ),
                ));
                return Match::Conflict;
            }
        }
        let Some(from) = renamed_from else {
            return Match::Create { note };
        };
        let unheld: Vec<u32> = free(self.names.get(from))
            .into_iter()
            .filter(|&i| !self.held.contains_key(self.objects[i as usize].id()))
            .collect();
        match unheld.as_slice() {
            [] => Match::Create {
                note: Some(note.map_or_else(
                    || {
                        format!(
                            "`renamed_from: {from}` names no {kind} zsc manages or that exists \
                             live; it is created"
                        )
                    },
                    |n| format!("{n}; it is created"),
                )),
            },
            [one] => Match::Adopted {
                at: *one,
                note: Some(format!(
                    "`renamed_from: {from}` names a {kind} zsc does not manage (id `{}`): it is \
                     adopted and renamed",
                    self.objects[*one as usize].id()
                )),
            },
            many => {
                conflicts.push(Conflict::new(
                    self.tenant,
                    &address,
                    format!(
                        "`renamed_from: {from}`: {} live {kind}s have that name (ids {}); zsc \
                         adopts neither",
                        many.len(),
                        self.ids(many)
                    ),
                ));
                Match::Conflict
            }
        }
    }

    /// Whether giving the object at `at` the name `name` would collide with another live
    /// object: the conflict, if so.
    fn rename_blocked(&self, at: u32, name: &str, record_id: Option<&str>) -> Option<String> {
        let others: Vec<u32> = self
            .names
            .get(name)
            .iter()
            .copied()
            .filter(|&i| i != at)
            .collect();
        if others.is_empty() {
            return None;
        }
        let current = &self.objects[at as usize];
        let ours = record_id.map_or(String::new(), |id| format!(" (id `{id}`)"));
        Some(format!(
            "cannot rename {kind} `{}`{ours} to `{name}`: live {kind} {} already holds that name, \
             and zsc does not manage it; rename or delete it on the server, or choose another name",
            current.name(),
            self.ids(&others),
            kind = T::KIND,
        ))
    }
}

/// A state record, users and groups alike.
trait Record {
    fn id(&self) -> &str;
    fn name(&self) -> &str;
}

impl Record for ManagedUser {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.user_name
    }
}

impl Record for ManagedGroup {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

struct TenantDiff<'t> {
    tenant: &'t str,
    changes: Vec<Change>,
    /// For each user (by name key) that a change creates or removes: the change's index.
    user_changes: HashMap<String, usize>,
    member_losses: Vec<super::MemberLoss>,
    conflicts: Vec<Conflict>,
    warnings: Vec<String>,
    /// Live objects a desired object or a state record accounts for; the rest are unmanaged.
    claimed_users: Vec<bool>,
    claimed_groups: Vec<bool>,
}

impl TenantDiff<'_> {
    fn push(&mut self, change: Change) -> usize {
        self.changes.push(change);
        self.changes.len() - 1
    }

    fn user_change(&self, action: Action, name: &str) -> Change {
        Change::new(
            user_address(self.tenant, name),
            self.tenant,
            ObjectKind::User,
            action,
            name,
        )
    }

    /// User changes. Returns, for every desired user by name key, where it stands.
    fn users(&mut self, input: &TenantInput<'_>, ix: &LiveIndex<'_>) -> HashMap<String, Resolved> {
        let matcher = Matcher {
            tenant: self.tenant,
            objects: &input.live.users,
            names: &ix.user_names,
            by_id: &ix.users_by_id,
            held: &ix.held_user_ids,
            address: user_address,
        };
        let deactivate_deletes = input.dialect.spec().deactivate_deletes;
        let first_change = self.changes.len();
        let mut resolved = HashMap::with_capacity(input.desired.users.len());
        let mut taken: HashSet<&str> = HashSet::new();
        let declared: HashSet<Cow<'_, str>> = input
            .desired
            .users
            .iter()
            .map(|u| folded(&u.user_name))
            .collect();
        for want in &input.desired.users {
            let record = record_for(
                &input.managed.users,
                &want.user_name,
                want.renamed_from.as_deref(),
                &declared,
                &taken,
            );
            if let Some((key, _)) = record {
                taken.insert(key);
            }
            let found = matcher.find(
                &want.user_name,
                want.renamed_from.as_deref(),
                record,
                &self.claimed_users,
                &mut self.conflicts,
            );
            let state = match found {
                Match::Conflict => Resolved::Unresolved,
                Match::Create { note } => {
                    if want.active || !deactivate_deletes {
                        self.create_user(want, note);
                        Resolved::Created
                    } else {
                        Resolved::Absent
                    }
                }
                Match::Managed { record, key, at } => {
                    self.claimed_users[at as usize] = true;
                    self.keep_user(input, &matcher, want, Some((key, record)), at, None)
                }
                Match::Adopted { at, note } => {
                    self.claimed_users[at as usize] = true;
                    self.keep_user(input, &matcher, want, None, at, note)
                }
            };
            resolved.insert(folded(&want.user_name).into_owned(), state);
        }

        for (key, record) in &input.managed.users {
            if taken.contains(key.as_str()) {
                continue;
            }
            let Some(&at) = ix.users_by_id.get(record.id.as_str()) else {
                continue; // gone live: the fold drops it from state
            };
            if std::mem::replace(&mut self.claimed_users[at as usize], true) {
                continue; // another record or a desired user holds it already
            }
            self.remove_user(input, record, ix.user(at));
        }
        self.link_creates_after_released_user_names(first_change);
        resolved
    }

    /// A create that takes a userName another user gives up (renamed back after a rename
    /// outside zsc, or deleted) waits for it: sent first, it would meet that user (409) and
    /// adopt it a second time, or fail.
    fn link_creates_after_released_user_names(&mut self, first_change: usize) {
        let mut released: HashMap<String, String> = HashMap::new();
        for change in &self.changes[first_change..] {
            let Some(before) = change.before.as_ref().and_then(|b| b.user_name.as_deref()) else {
                continue;
            };
            let after = change.after.as_ref().and_then(|a| a.user_name.as_deref());
            let gives_up = match change.action {
                Action::Delete => true,
                Action::Rename => after.is_some_and(|a| folded(a) != folded(before)),
                _ => false,
            };
            if gives_up {
                released.insert(folded(before).into_owned(), change.address.clone());
            }
        }
        for change in &mut self.changes[first_change..] {
            if change.action == Action::Create {
                if let Some(freeing) = released.get(folded(&change.name).as_ref()) {
                    change.depends_on.push(freeing.clone());
                }
            }
        }
    }

    fn create_user(&mut self, want: &DesiredUser, note: Option<String>) {
        let mut change = self.user_change(Action::Create, &want.user_name);
        change.after = Some(Values {
            user_name: Some(want.user_name.clone()),
            active: Some(want.active),
            attrs: want.attrs.clone(),
            protect: Some(want.protect),
            ..Values::default()
        });
        change.note = note;
        let idx = self.push(change);
        self.user_changes
            .insert(folded(&want.user_name).into_owned(), idx);
    }

    /// A desired user that exists live at `at`: managed (with its state record) or adopted.
    fn keep_user(
        &mut self,
        input: &TenantInput<'_>,
        matcher: &Matcher<'_, '_, LiveUser>,
        want: &DesiredUser,
        record: Option<(&str, &ManagedUser)>,
        at: u32,
        note: Option<String>,
    ) -> Resolved {
        let live = &input.live.users[at as usize];
        let managed = record.map(|(_, r)| r);
        let before = Values {
            user_name: Some(live.user_name.clone()),
            active: Some(live.active),
            attrs: live.attrs.clone(),
            protect: managed.map(|m| m.protect),
            ..Values::default()
        };
        if !want.active && input.dialect.spec().deactivate_deletes {
            // ZPA deletes a user set `active: false`: plan the delete it is, counted by the
            // guards, and do not re-create it afterwards.
            let mut change = self.user_change(Action::Delete, &want.user_name);
            change.id = Some(live.id.clone());
            change.managed_as = managed.map(|m| m.user_name.clone());
            change.before = Some(before);
            change.note = Some(format!(
                "`active: false` on {} deletes the user",
                input.dialect.name().to_uppercase()
            ));
            let idx = self.push(change);
            self.user_changes
                .insert(folded(&want.user_name).into_owned(), idx);
            return Resolved::Absent;
        }

        let mut notes: Vec<String> = note.into_iter().collect();
        let renames = needs_rename(
            &live.user_name,
            &want.user_name,
            managed.map(|m| m.user_name.as_str()),
        );
        if renames {
            if let Some(blocked) = matcher.rename_blocked(at, &want.user_name, Some(&live.id)) {
                self.conflicts.push(Conflict::new(
                    self.tenant,
                    &user_address(self.tenant, &want.user_name),
                    blocked,
                ));
                return Resolved::Unresolved;
            }
            notes.extend(rename_note(
                &live.user_name,
                &want.user_name,
                managed.map(|m| m.user_name.as_str()),
                want.renamed_from.as_deref(),
            ));
        }
        let attrs_differ = live.attrs.differs_from(&want.attrs) || live.active != want.active;
        let protect_differs = managed.is_some_and(|m| m.protect != want.protect);
        // Recorded under another spelling than the declared one (a case-only difference that
        // is not a rename): the record follows the configuration.
        let record_moves = managed.is_some_and(|m| m.user_name != want.user_name);
        let action = match (managed, renames) {
            (None, _) => Action::Adopt,
            (Some(_), true) => Action::Rename,
            (Some(_), false) if attrs_differ || protect_differs || record_moves => Action::Update,
            (Some(_), false) => return Resolved::Live(at),
        };
        let after = Values {
            user_name: Some(if renames {
                want.user_name.clone()
            } else {
                live.user_name.clone()
            }),
            active: Some(want.active),
            attrs: live.attrs.overlay(&want.attrs),
            protect: Some(want.protect),
            ..Values::default()
        };
        let mut change = self.user_change(action, &want.user_name);
        change.id = Some(live.id.clone());
        change.managed_as = managed.map(|m| m.user_name.clone());
        change.drift = managed.map_or_else(Vec::new, |m| user_drift(m, live, &after));
        change.before = Some(before);
        change.after = Some(after);
        change.note = (!notes.is_empty()).then(|| notes.join("; "));
        self.push(change);
        Resolved::Live(at)
    }

    /// Deprovision a managed user that is no longer desired, by its id.
    fn remove_user(&mut self, input: &TenantInput<'_>, record: &ManagedUser, live: &LiveUser) {
        let deletes_on_deactivate = input.dialect.spec().deactivate_deletes;
        let mut notes = Vec::new();
        let action = match input.remove_user_action {
            RemoveUserAction::Delete => Action::Delete,
            RemoveUserAction::Disable if deletes_on_deactivate => {
                notes.push(format!(
                    "remove_user_action is `disable`, but on {} `active: false` deletes the user",
                    input.dialect.name().to_uppercase()
                ));
                Action::Delete
            }
            RemoveUserAction::Disable if live.active => Action::Disable,
            RemoveUserAction::Disable => return, // already disabled
        };
        if live.user_name != record.user_name {
            notes.push(format!(
                "renamed outside zsc to `{}`; zsc acts on id `{}`",
                live.user_name, live.id
            ));
        }
        let before = Values {
            user_name: Some(live.user_name.clone()),
            active: Some(live.active),
            attrs: live.attrs.clone(),
            protect: Some(record.protect),
            ..Values::default()
        };
        let mut change = self.user_change(action, &record.user_name);
        change.id = Some(live.id.clone());
        change.managed_as = Some(record.user_name.clone());
        change.after = (action == Action::Disable).then(|| Values {
            active: Some(false),
            ..before.clone()
        });
        change.before = Some(before);
        change.note = (!notes.is_empty()).then(|| notes.join("; "));
        let idx = self.push(change);
        self.user_changes
            .insert(folded(&record.user_name).into_owned(), idx);
    }

    /// Group changes and membership changes.
    fn groups(
        &mut self,
        input: &TenantInput<'_>,
        ix: &LiveIndex<'_>,
        resolved: &HashMap<String, Resolved>,
    ) {
        let t = self.tenant;
        let matcher = Matcher {
            tenant: t,
            objects: &input.live.groups,
            names: &ix.group_names,
            by_id: &ix.groups_by_id,
            held: &ix.held_group_ids,
            address: group_address,
        };
        let mut taken: HashSet<&str> = HashSet::new();
        let declared: HashSet<Cow<'_, str>> = input
            .desired
            .groups
            .iter()
            .map(|g| folded(&g.name))
            .collect();
        // Names a rename or delete frees, and the change that frees them.
        let mut released: HashMap<String, String> = HashMap::new();
        let mut creates: Vec<(String, usize)> = Vec::new();

        // Every desired member resolved up front, on every core.
        let wanted = crate::par::map(&input.desired.groups, 64, |g| {
            g.members
                .iter()
                .map(|m| {
                    resolved
                        .get(folded(m).as_ref())
                        .copied()
                        .unwrap_or(Resolved::Unresolved)
                })
                .collect::<Vec<Resolved>>()
        });
        for (g, want) in input.desired.groups.iter().enumerate() {
            let record = record_for(
                &input.managed.groups,
                &want.name,
                want.renamed_from.as_deref(),
                &declared,
                &taken,
            );
            if let Some((key, _)) = record {
                taken.insert(key);
            }
            let found = matcher.find(
                &want.name,
                want.renamed_from.as_deref(),
                record,
                &self.claimed_groups,
                &mut self.conflicts,
            );
            let (at, managed, note) = match found {
                Match::Conflict => continue,
                Match::Create { note } => {
                    let idx = self.create_group(ix, want, &wanted[g], note);
                    creates.push((folded(&want.name).into_owned(), idx));
                    continue;
                }
                Match::Managed { record, at, .. } => (at, Some(record), None),
                Match::Adopted { at, note } => (at, None, note),
            };
            self.claimed_groups[at as usize] = true;
            let live = ix.group(at);
            let address = group_address(t, &want.name);
            let renames = needs_rename(&live.name, &want.name, managed.map(|m| m.name.as_str()));
            let mut notes: Vec<String> = note.into_iter().collect();
            if renames {
                if let Some(blocked) = matcher.rename_blocked(at, &want.name, Some(&live.id)) {
                    self.conflicts.push(Conflict::new(t, &address, blocked));
                    continue;
                }
                released.insert(folded(&live.name).into_owned(), address.clone());
                notes.extend(rename_note(
                    &live.name,
                    &want.name,
                    managed.map(|m| m.name.as_str()),
                    want.renamed_from.as_deref(),
                ));
            }
            let managed_protect = managed.map(|m| m.protect);
            let group_change = match (managed, renames) {
                (None, _) => Some(Action::Adopt),
                (Some(_), true) => Some(Action::Rename),
                (Some(m), false) if m.protect != want.protect || m.name != want.name => {
                    Some(Action::Update)
                }
                _ => None,
            };
            if let Some(action) = group_change {
                let mut change =
                    Change::new(address.clone(), t, ObjectKind::Group, action, &want.name);
                change.id = Some(live.id.clone());
                change.managed_as = managed.map(|m| m.name.clone());
                change.before = Some(Values {
                    name: Some(live.name.clone()),
                    protect: managed_protect,
                    members: Some(live.members.clone()),
                    ..Values::default()
                });
                change.after = Some(Values {
                    name: Some(if renames {
                        want.name.clone()
                    } else {
                        live.name.clone()
                    }),
                    protect: Some(want.protect),
                    ..Values::default()
                });
                if let Some(m) = managed.filter(|m| renames && m.name != live.name) {
                    change
                        .drift
                        .push(Drift::of("name", Some(&m.name), m.wrote.as_ref()));
                }
                change.note = (!notes.is_empty()).then(|| notes.join("; "));
                self.push(change);
            }
            let first = self.changes.len();
            self.members(ix, want, &wanted[g], at, managed);
            if group_change.is_some() {
                // Membership ops in state land under the group's new key: after the group's.
                for change in &mut self.changes[first..] {
                    change.depends_on.push(address.clone());
                }
            }
        }

        for (key, record) in &input.managed.groups {
            if taken.contains(key.as_str()) {
                continue;
            }
            let Some(&at) = ix.groups_by_id.get(record.id.as_str()) else {
                continue; // gone live: the fold drops it from state
            };
            if std::mem::replace(&mut self.claimed_groups[at as usize], true) {
                continue; // another record or a desired group holds it already
            }
            let live = ix.group(at);
            let address = group_address(t, &record.name);
            released.insert(folded(&live.name).into_owned(), address.clone());
            let mut notes = vec!["group deletion is permanent".to_owned()];
            if live.name != record.name {
                notes.push(format!(
                    "renamed outside zsc to `{}`; zsc acts on id `{}`",
                    live.name, live.id
                ));
            }
            let mut change =
                Change::new(address, t, ObjectKind::Group, Action::Delete, &record.name);
            change.id = Some(live.id.clone());
            change.managed_as = Some(record.name.clone());
            change.before = Some(Values {
                name: Some(live.name.clone()),
                protect: Some(record.protect),
                ..Values::default()
            });
            change.note = Some(notes.join("; "));
            self.push(change);
        }

        // A create that takes a name another group gives up waits for it.
        for (key, idx) in creates {
            if let Some(freeing) = released.get(&key) {
                self.changes[idx].depends_on.push(freeing.clone());
            }
        }
    }

    fn create_group(
        &mut self,
        ix: &LiveIndex<'_>,
        want: &DesiredGroup,
        wanted: &[Resolved],
        note: Option<String>,
    ) -> usize {
        let t = self.tenant;
        let address = group_address(t, &want.name);
        let mut change = Change::new(
            address.clone(),
            t,
            ObjectKind::Group,
            Action::Create,
            &want.name,
        );
        change.after = Some(Values {
            name: Some(want.name.clone()),
            protect: Some(want.protect),
            ..Values::default()
        });
        change.note = note;
        let idx = self.push(change);
        for (member, state) in want.members.iter().zip(wanted) {
            let (member_id, depends_on) = match *state {
                Resolved::Live(i) => (Some(ix.user(i).id.clone()), vec![address.clone()]),
                Resolved::Created => (None, vec![address.clone(), user_address(t, member)]),
                Resolved::Absent | Resolved::Unresolved => continue,
            };
            let mut add = membership(t, &want.name, None, member, member_id, Action::Add);
            add.depends_on = depends_on;
            self.push(add);
        }
        idx
    }

    /// Membership changes that make the live group at `at` hold exactly `want`'s members.
    fn members(
        &mut self,
        ix: &LiveIndex<'_>,
        want: &DesiredGroup,
        wanted: &[Resolved],
        at: u32,
        managed: Option<&ManagedGroup>,
    ) {
        let t = self.tenant;
        let live = ix.group(at);
        let mut marks = ix.marks.borrow_mut();
        marks.generation += 1;
        let generation = marks.generation;
        let positions = &ix.member_positions[at as usize];
        for &i in positions.iter() {
            if i != NO_USER {
                marks.present[i as usize] = generation;
            }
        }
        let recorded: Option<HashSet<&str>> =
            managed.map(|m| m.members.iter().map(String::as_str).collect());
        for (member, state) in want.members.iter().zip(wanted) {
            match *state {
                Resolved::Live(i) => {
                    marks.kept[i as usize] = generation;
                    if marks.present[i as usize] != generation {
                        let user = ix.user(i);
                        let mut add = membership(
                            t,
                            &want.name,
                            Some(&live.id),
                            member,
                            Some(user.id.clone()),
                            Action::Add,
                        );
                        if let (Some(m), Some(rec)) = (managed, &recorded) {
                            if rec.contains(user.id.as_str()) {
                                add.drift.push(Drift::of(
                                    "member",
                                    Some(&user.id),
                                    m.wrote.as_ref(),
                                ));
                            }
                        }
                        self.push(add);
                    }
                }
                Resolved::Created => {
                    let mut add =
                        membership(t, &want.name, Some(&live.id), member, None, Action::Add);
                    add.depends_on = vec![user_address(t, member)];
                    self.push(add);
                }
                Resolved::Absent | Resolved::Unresolved => {}
            }
        }
        let mut removed = 0;
        for (id, &i) in live.members.iter().zip(positions.iter()) {
            // A member id that is no live user (dangling) is always removed.
            if i != NO_USER && marks.kept[i as usize] == generation {
                continue;
            }
            removed += 1;
            // Name the member by its userName when that is unambiguous, else by its id.
            let name = match i {
                NO_USER => id.as_str(),
                i => {
                    let user = ix.user(i);
                    if ix.user_names.get(&user.user_name).len() == 1 {
                        user.user_name.as_str()
                    } else {
                        id.as_str()
                    }
                }
            };
            let mut remove = membership(
                t,
                &want.name,
                Some(&live.id),
                name,
                Some(id.clone()),
                Action::Remove,
            );
            if let Some(rec) = &recorded {
                if !rec.contains(id.as_str()) {
                    remove.drift.push(Drift::of("member", None, None));
                }
            }
            self.push(remove);
        }
        if removed > 0 {
            self.member_losses.push(super::MemberLoss {
                group: want.name.clone(),
                removed,
                had: live.members.len(),
            });
        }
    }

    /// A user is disabled or deleted only after it has left the groups it is removed from.
    fn link_removals_before_user_removals(&mut self) {
        let mut waits: Vec<(usize, String)> = Vec::new();
        let removed_by_id: HashMap<&str, usize> = self
            .user_changes
            .values()
            .filter(|&&idx| self.changes[idx].action.is_destructive())
            .filter_map(|&idx| self.changes[idx].id.as_deref().map(|id| (id, idx)))
            .collect();
        for change in &self.changes {
            if change.action != Action::Remove {
                continue;
            }
            let by_id = change
                .member_id
                .as_deref()
                .and_then(|id| removed_by_id.get(id).copied());
            if let Some(idx) = by_id {
                waits.push((idx, change.address.clone()));
            }
        }
        for (idx, address) in waits {
            self.changes[idx].depends_on.push(address);
        }
    }

    /// A removed user and a created one with the same `external_id` are likely one person
    /// renamed: say so on both, since the plan cannot know.
    fn note_likely_renames(&mut self) {
        let mut removed: HashMap<&str, String> = HashMap::new();
        for c in &self.changes {
            if c.object == ObjectKind::User && c.action.is_destructive() {
                if let Some(ext) = c
                    .before
                    .as_ref()
                    .and_then(|b| b.attrs.external_id.as_deref())
                {
                    removed.insert(ext, c.name.clone());
                }
            }
        }
        if removed.is_empty() {
            return;
        }
        let mut notes: Vec<(usize, String)> = Vec::new();
        for (i, c) in self.changes.iter().enumerate() {
            if c.object != ObjectKind::User || c.action != Action::Create {
                continue;
            }
            let ext = c
                .after
                .as_ref()
                .and_then(|a| a.attrs.external_id.as_deref());
            if let Some(old) = ext.and_then(|e| removed.get(e)) {
                notes.push((
                    i,
                    format!(
                        "`{old}` is removed with the same external_id: if this is a rename, \
                         declare `renamed_from: {old}` to keep its id, groups and access history"
                    ),
                ));
            }
        }
        for (i, note) in notes {
            let change = &mut self.changes[i];
            change.note = Some(match change.note.take() {
                Some(n) => format!("{n}; {note}"),
                None => note,
            });
        }
    }
}

/// Why a kept object's name changes, when the configuration does not say so itself (a
/// `renamed_from` naming the live name needs no note).
fn rename_note(
    live: &str,
    want: &str,
    managed_as: Option<&str>,
    renamed_from: Option<&str>,
) -> Option<String> {
    if folded(live) == folded(want) {
        return Some(format!("changes only the case of `{live}`"));
    }
    match (managed_as, renamed_from) {
        (Some(m), _) if m == want => Some(format!(
            "renamed outside zsc: `{want}` -> `{live}`; zsc renames it back"
        )),
        (_, Some(from)) if folded(from) == folded(live) => None,
        (Some(m), _) if m != live => Some(format!(
            "zsc manages it as `{m}`; renamed outside zsc to `{live}`; zsc renames it to `{want}`"
        )),
        _ => None,
    }
}

/// Drift on the attributes a user change touches: where live differs from what state recorded.
fn user_drift(record: &ManagedUser, live: &LiveUser, after: &Values) -> Vec<Drift> {
    let mut out = Vec::new();
    let wrote = record.wrote.as_ref();
    if Some(&live.user_name) != after.user_name.as_ref() && record.user_name != live.user_name {
        out.push(Drift::of("user_name", Some(&record.user_name), wrote));
    }
    if after.active != Some(live.active) && record.active != live.active {
        out.push(Drift::of("active", Some(&record.active.to_string()), wrote));
    }
    for field in USER_FIELDS {
        let (rec, now, next) = (
            (field.get)(&record.attrs),
            (field.get)(&live.attrs),
            (field.get)(&after.attrs),
        );
        if next != now && rec != now {
            out.push(Drift::of(field.name, rec.as_deref(), wrote));
        }
    }
    out
}

impl Drift {
    /// Drift on `attribute`, whose value state recorded as `recorded`; if zsc wrote it in its
    /// last apply, `wrote` says when.
    fn of(attribute: &str, recorded: Option<&str>, wrote: Option<&Wrote>) -> Drift {
        Drift {
            attribute: attribute.to_owned(),
            recorded: recorded.map(str::to_owned),
            written_at: wrote
                .filter(|w| {
                    w.fields
                        .iter()
                        .any(|f| f == attribute || (attribute == "member" && f == "members"))
                })
                .map(|w| w.at.clone()),
        }
    }
}

fn membership(
    tenant: &str,
    group: &str,
    group_id: Option<&str>,
    member: &str,
    member_id: Option<String>,
    action: Action,
) -> Change {
    let mut change = Change::new(
        membership_address(tenant, group, member),
        tenant,
        ObjectKind::Membership,
        action,
        group,
    );
    change.id = group_id.map(str::to_owned);
    change.member = Some(member.to_owned());
    change.member_id = member_id;
    change
}
