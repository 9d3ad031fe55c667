//! Desired against live, per tenant: the changes that make live equal desired.
//!
//! Pure and linear in the size of the input: every lookup goes through a hash map built once.
//!
//! Rules (DESIGN.md "Identity and matching"):
//! - users match by userName, groups by displayName, both case-insensitively;
//! - a desired object that exists live but is not managed is adopted, never created again;
//! - a managed object no longer desired is deprovisioned (users per `remove_user_action`,
//!   groups deleted); a live object zsc never managed is left alone and counted;
//! - the members of a managed group are authoritative.

use std::borrow::Cow;
use std::cell::RefCell;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use crate::dialect::Dialect;
use crate::model::{folded, DesiredTenant, LiveGroup, LiveTenant, LiveUser, RemoveUserAction};
use crate::state::TenantState;

use super::change::{
    group_address, membership_address, user_address, Action, Change, ObjectKind, Values,
};
use super::TenantSummary;

/// Everything the planner needs to know about one tenant.
pub struct TenantInput<'a> {
    pub name: &'a str,
    pub dialect: Dialect,
    pub desired: &'a DesiredTenant,
    /// What state says zsc manages (already refreshed against `live`).
    pub managed: &'a TenantState,
    /// What the server holds.
    pub live: &'a LiveTenant,
    pub remove_user_action: RemoveUserAction,
}

/// Compute the changes for one tenant, sorted users first, then groups, then memberships, each
/// by name.
pub fn diff_tenant(input: &TenantInput<'_>) -> (Vec<Change>, TenantSummary) {
    let ix = LiveIndex::new(input.live);
    let mut out = TenantDiff {
        tenant: input.name,
        changes: Vec::new(),
        user_changes: HashMap::new(),
        member_losses: Vec::new(),
    };
    let desired_user_keys: HashSet<Cow<'_, str>> = input
        .desired
        .users
        .iter()
        .map(|u| folded(&u.user_name))
        .collect();

    out.users(input, &ix, &desired_user_keys);
    let consumed_groups = out.groups(input, &ix);
    out.link_removals_before_user_removals();

    let managed_user_ids: HashSet<&str> = input
        .managed
        .users
        .values()
        .map(|u| u.id.as_str())
        .collect();
    let unmanaged_users = input
        .live
        .users
        .iter()
        .filter(|u| {
            !managed_user_ids.contains(u.id.as_str())
                && !desired_user_keys.contains(folded(&u.user_name).as_ref())
        })
        .count();
    let managed_group_ids: HashSet<&str> = input
        .managed
        .groups
        .values()
        .map(|g| g.id.as_str())
        .collect();
    let unmanaged_groups = input
        .live
        .groups
        .iter()
        .filter(|g| {
            !managed_group_ids.contains(g.id.as_str()) && !consumed_groups.contains(g.id.as_str())
        })
        .count();

    let summary = TenantSummary {
        name: input.name.to_owned(),
        dialect: input.dialect,
        live_users: input.live.users.len(),
        live_groups: input.live.groups.len(),
        managed_users: input.managed.users.len(),
        managed_groups: input.managed.groups.len(),
        unmanaged_users,
        unmanaged_groups,
        member_losses: out.member_losses,
    };
    (out.changes, summary)
}

/// Hash indexes over a live tenant. Users also get a dense index, so that comparing a group's
/// members costs array reads instead of hash sets per group.
struct LiveIndex<'a> {
    live: &'a LiveTenant,
    /// Folded userName → position in `live.users`.
    users_by_key: HashMap<Cow<'a, str>, u32>,
    /// Id → position in `live.users`.
    users_by_id: HashMap<&'a str, u32>,
    groups_by_key: HashMap<Cow<'a, str>, &'a LiveGroup>,
    /// Id → position in `live.groups`.
    groups_by_id: HashMap<&'a str, usize>,
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

/// Each of `members`' position by `find`, or NO_USER.
fn positions_of<'m>(members: &'m [String], find: impl Fn(&'m String) -> Option<u32>) -> Vec<u32> {
    members.iter().map(|m| find(m).unwrap_or(NO_USER)).collect()
}

impl<'a> LiveIndex<'a> {
    fn new(live: &'a LiveTenant) -> Self {
        let n = live.users.len();
        let mut users_by_key = HashMap::with_capacity(n);
        let mut users_by_id = HashMap::with_capacity(n);
        for (i, u) in live.users.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            users_by_key.insert(folded(&u.user_name), i);
            users_by_id.insert(u.id.as_str(), i);
        }
        let member_positions = crate::par::map(&live.groups, 64, |g| {
            positions_of(&g.members, |id| users_by_id.get(id.as_str()).copied())
        });
        LiveIndex {
            live,
            member_positions,
            users_by_key,
            users_by_id,
            groups_by_key: live.groups.iter().map(|g| (folded(&g.name), g)).collect(),
            groups_by_id: live
                .groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.id.as_str(), i))
                .collect(),
            marks: RefCell::new(Marks {
                generation: 0,
                present: vec![0; n],
                kept: vec![0; n],
            }),
        }
    }

    fn user_index(&self, user_name: &str) -> Option<u32> {
        self.users_by_key.get(folded(user_name).as_ref()).copied()
    }

    fn user(&self, user_name: &str) -> Option<&'a LiveUser> {
        self.user_index(user_name)
            .map(|i| &self.live.users[i as usize])
    }

    fn group_by_id(&self, id: &str) -> Option<&'a LiveGroup> {
        self.groups_by_id.get(id).map(|&i| &self.live.groups[i])
    }

    /// The members' user positions of `group`, one of `live.groups` (resolved now if another
    /// group shares its id).
    fn member_positions(&self, group: &LiveGroup) -> std::borrow::Cow<'_, [u32]> {
        match self.groups_by_id.get(group.id.as_str()) {
            Some(&i) if std::ptr::eq(&self.live.groups[i], group) => {
                std::borrow::Cow::Borrowed(&self.member_positions[i])
            }
            _ => std::borrow::Cow::Owned(positions_of(&group.members, |id| {
                self.users_by_id.get(id.as_str()).copied()
            })),
        }
    }

    fn group(&self, name: &str) -> Option<&'a LiveGroup> {
        self.groups_by_key.get(folded(name).as_ref()).copied()
    }
}

struct TenantDiff<'t> {
    tenant: &'t str,
    changes: Vec<Change>,
    /// For each user (by name key) that a change creates or removes: the change's index.
    user_changes: HashMap<String, usize>,
    member_losses: Vec<super::MemberLoss>,
}

impl TenantDiff<'_> {
    fn push(&mut self, change: Change) -> usize {
        self.changes.push(change);
        self.changes.len() - 1
    }

    fn users(
        &mut self,
        input: &TenantInput<'_>,
        ix: &LiveIndex<'_>,
        desired: &HashSet<Cow<'_, str>>,
    ) {
        let t = self.tenant;
        for want in &input.desired.users {
            let key = folded(&want.user_name);
            let managed = input.managed.users.get(key.as_ref());
            let after_protect = Some(want.protect);
            match ix.user(&want.user_name) {
                None => {
                    let idx = self.push(Change {
                        address: user_address(t, &want.user_name),
                        tenant: t.to_owned(),
                        object: ObjectKind::User,
                        action: Action::Create,
                        name: want.user_name.clone(),
                        id: None,
                        member: None,
                        member_id: None,
                        before: None,
                        after: Some(Values {
                            user_name: Some(want.user_name.clone()),
                            active: Some(want.active),
                            attrs: want.attrs.without_empty(),
                            protect: after_protect,
                            ..Values::default()
                        }),
                        depends_on: Vec::new(),
                        note: None,
                    });
                    self.user_changes.insert(key.into_owned(), idx);
                }
                Some(live) => {
                    let remote_differs =
                        live.attrs.differs_from(&want.attrs) || live.active != want.active;
                    let action = match managed {
                        None => Action::Adopt,
                        Some(m) if remote_differs || m.protect != want.protect => Action::Update,
                        Some(_) => continue,
                    };
                    let target = live.attrs.overlay(&want.attrs);
                    let before = Values {
                        user_name: Some(live.user_name.clone()),
                        active: Some(live.active),
                        attrs: live.attrs.clone(),
                        protect: managed.map(|m| m.protect),
                        ..Values::default()
                    };
                    let after = Values {
                        user_name: Some(live.user_name.clone()),
                        active: Some(want.active),
                        attrs: target,
                        protect: after_protect,
                        ..Values::default()
                    };
                    self.push(Change {
                        address: user_address(t, &want.user_name),
                        tenant: t.to_owned(),
                        object: ObjectKind::User,
                        action,
                        name: live.user_name.clone(),
                        id: Some(live.id.clone()),
                        member: None,
                        member_id: None,
                        before: Some(before),
                        after: Some(after),
                        depends_on: Vec::new(),
                        note: None,
                    });
                }
            }
        }

        let deletes_on_deactivate = input.dialect.spec().deactivate_deletes;
        for (key, managed) in &input.managed.users {
            if desired.contains(key.as_str()) {
                continue;
            }
            let Some(live) = ix.user(&managed.user_name) else {
                continue; // already gone: refresh drops it from state
            };
            let (action, note) = match input.remove_user_action {
                RemoveUserAction::Delete => (Action::Delete, None),
                RemoveUserAction::Disable if deletes_on_deactivate => (
                    Action::Delete,
                    Some(format!(
                        "remove_user_action is `disable`, but on {} `active: false` deletes the user",
                        input.dialect.name().to_uppercase()
                    )),
                ),
                RemoveUserAction::Disable if live.active => (Action::Disable, None),
                RemoveUserAction::Disable => continue, // already disabled
            };
            let before = Values {
                user_name: Some(live.user_name.clone()),
                active: Some(live.active),
                attrs: live.attrs.clone(),
                protect: Some(managed.protect),
                ..Values::default()
            };
            let after = (action == Action::Disable).then(|| Values {
                active: Some(false),
                ..before.clone()
            });
            let idx = self.push(Change {
                address: user_address(t, &live.user_name),
                tenant: t.to_owned(),
                object: ObjectKind::User,
                action,
                name: live.user_name.clone(),
                id: Some(live.id.clone()),
                member: None,
                member_id: None,
                before: Some(before),
                after,
                depends_on: Vec::new(),
                note,
            });
            self.user_changes.insert(key.clone(), idx);
        }
    }

    /// Group changes and membership changes. Returns the ids of live groups that a desired group
    /// took (by name, by rename or by managed id).
    fn groups<'l>(&mut self, input: &TenantInput<'_>, ix: &LiveIndex<'l>) -> HashSet<&'l str> {
        let t = self.tenant;
        let mut consumed: HashSet<&'l str> = HashSet::new();
        let mut desired_keys: HashSet<String> = HashSet::new();
        // Names a rename or delete frees, and the change that frees them.
        let mut released: HashMap<String, String> = HashMap::new();
        let mut creates: Vec<(String, usize)> = Vec::new();

        // Every desired member resolved to a live user up front, on every core.
        let users_by_key = &ix.users_by_key;
        let wanted_positions = crate::par::map(&input.desired.groups, 64, |g| {
            positions_of(&g.members, |m| {
                users_by_key.get(folded(m).as_ref()).copied()
            })
        });
        for (g, want) in input.desired.groups.iter().enumerate() {
            let key = folded(&want.name).into_owned();
            desired_keys.insert(key.clone());
            let managed = input.managed.groups.get(&key);
            let live = ix
                .group(&want.name)
                .or_else(|| managed.and_then(|m| ix.group_by_id(&m.id)))
                .or_else(|| want.renamed_from.as_deref().and_then(|from| ix.group(from)))
                .filter(|g| !consumed.contains(g.id.as_str()));
            let address = group_address(t, &want.name);
            let Some(live) = live else {
                let idx = self.push(Change {
                    address: address.clone(),
                    tenant: t.to_owned(),
                    object: ObjectKind::Group,
                    action: Action::Create,
                    name: want.name.clone(),
                    id: None,
                    member: None,
                    member_id: None,
                    before: None,
                    after: Some(Values {
                        name: Some(want.name.clone()),
                        protect: Some(want.protect),
                        ..Values::default()
                    }),
                    depends_on: Vec::new(),
                    note: None,
                });
                creates.push((key, idx));
                for (member, &i) in want.members.iter().zip(&wanted_positions[g]) {
                    let member_id = ix.live.users.get(i as usize).map(|u| u.id.clone());
                    let mut depends_on = vec![address.clone()];
                    if member_id.is_none() {
                        depends_on.push(user_address(t, member));
                    }
                    let idx = self.push(membership(
                        t,
                        &want.name,
                        None,
                        member,
                        member_id,
                        Action::Add,
                    ));
                    self.changes[idx].depends_on = depends_on;
                }
                continue;
            };
            consumed.insert(live.id.as_str());

            let managed_protect = managed.map(|m| m.protect);
            let group_change = if live.name != want.name {
                released.insert(folded(&live.name).into_owned(), address.clone());
                Some(Action::Rename)
            } else if managed.is_none() {
                Some(Action::Adopt)
            } else if managed_protect != Some(want.protect) {
                Some(Action::Update)
            } else {
                None
            };
            let group_change_address = group_change.map(|_| address.clone());
            if let Some(action) = group_change {
                self.push(Change {
                    address: address.clone(),
                    tenant: t.to_owned(),
                    object: ObjectKind::Group,
                    action,
                    name: want.name.clone(),
                    id: Some(live.id.clone()),
                    member: None,
                    member_id: None,
                    before: Some(Values {
                        name: Some(live.name.clone()),
                        protect: managed_protect,
                        members: Some(live.members.clone()),
                        ..Values::default()
                    }),
                    after: Some(Values {
                        name: Some(want.name.clone()),
                        protect: Some(want.protect),
                        ..Values::default()
                    }),
                    depends_on: Vec::new(),
                    note: None,
                });
            }
            let first = self.changes.len();
            self.members(&want.name, &want.members, &wanted_positions[g], live, ix);
            if let Some(group_change) = group_change_address {
                // Membership ops in state land under the group's new key: after the group's.
                for change in &mut self.changes[first..] {
                    change.depends_on.push(group_change.clone());
                }
            }
        }

        for (key, managed) in &input.managed.groups {
            if desired_keys.contains(key) {
                continue;
            }
            let live = ix
                .group(&managed.name)
                .or_else(|| ix.group_by_id(&managed.id))
                .filter(|g| !consumed.contains(g.id.as_str()));
            let Some(live) = live else { continue };
            consumed.insert(live.id.as_str());
            let address = group_address(t, &live.name);
            released.insert(folded(&live.name).into_owned(), address.clone());
            self.push(Change {
                address,
                tenant: t.to_owned(),
                object: ObjectKind::Group,
                action: Action::Delete,
                name: live.name.clone(),
                id: Some(live.id.clone()),
                member: None,
                member_id: None,
                before: Some(Values {
                    name: Some(live.name.clone()),
                    protect: Some(managed.protect),
                    ..Values::default()
                }),
                after: None,
                depends_on: Vec::new(),
                note: Some("group deletion is permanent".to_owned()),
            });
        }

        // A create that takes a name another group gives up waits for it.
        for (key, idx) in creates {
            if let Some(freeing) = released.get(&key) {
                self.changes[idx].depends_on.push(freeing.clone());
            }
        }
        consumed
    }

    /// Membership changes that make `live`'s members equal `wanted` (userNames).
    /// `wanted_positions`: each wanted member's position in `live.users` (or NO_USER).
    fn members(
        &mut self,
        group: &str,
        wanted: &[String],
        wanted_positions: &[u32],
        live: &LiveGroup,
        ix: &LiveIndex<'_>,
    ) {
        let t = self.tenant;
        let mut marks = ix.marks.borrow_mut();
        marks.generation += 1;
        let generation = marks.generation;
        let positions = ix.member_positions(live);
        for &i in positions.iter() {
            if i != NO_USER {
                marks.present[i as usize] = generation;
            }
        }
        for (member, &i) in wanted.iter().zip(wanted_positions) {
            match (i != NO_USER).then_some(i) {
                Some(i) => {
                    marks.kept[i as usize] = generation;
                    if marks.present[i as usize] != generation {
                        let user = &ix.live.users[i as usize];
                        self.push(membership(
                            t,
                            group,
                            Some(&live.id),
                            member,
                            Some(user.id.clone()),
                            Action::Add,
                        ));
                    }
                }
                None => {
                    let idx = self.push(membership(
                        t,
                        group,
                        Some(&live.id),
                        member,
                        None,
                        Action::Add,
                    ));
                    self.changes[idx].depends_on = vec![user_address(t, member)];
                }
            }
        }
        let mut removed = 0;
        for (id, &i) in live.members.iter().zip(positions.iter()) {
            // A member id that is no live user (dangling) is always removed.
            if i != NO_USER && marks.kept[i as usize] == generation {
                continue;
            }
            removed += 1;
            let name = if i == NO_USER {
                id.as_str()
            } else {
                ix.live.users[i as usize].user_name.as_str()
            };
            self.push(membership(
                t,
                group,
                Some(&live.id),
                name,
                Some(id.clone()),
                Action::Remove,
            ));
        }
        if removed > 0 {
            self.member_losses.push(super::MemberLoss {
                group: group.to_owned(),
                removed,
                had: live.members.len(),
            });
        }
    }

    /// A user is disabled or deleted only after it has left the groups it is removed from.
    fn link_removals_before_user_removals(&mut self) {
        let mut waits: Vec<(usize, String)> = Vec::new();
        for change in &self.changes {
            if change.action != Action::Remove {
                continue;
            }
            let Some(member) = change.member.as_deref() else {
                continue;
            };
            if let Some(&idx) = self.user_changes.get(folded(member).as_ref()) {
                if self.changes[idx].action.is_destructive() {
                    waits.push((idx, change.address.clone()));
                }
            }
        }
        for (idx, address) in waits {
            self.changes[idx].depends_on.push(address);
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
    Change {
        address: membership_address(tenant, group, member),
        tenant: tenant.to_owned(),
        object: ObjectKind::Membership,
        action,
        name: group.to_owned(),
        id: group_id.map(str::to_owned),
        member: Some(member.to_owned()),
        member_id,
        before: None,
        after: None,
        depends_on: Vec::new(),
        note: None,
    }
}
