//! Live objects indexed once per plan: by name, by id, and each group's members as positions.

use std::borrow::Cow;
use std::cell::RefCell;

use foldhash::{HashMap, HashMapExt};

use crate::model::{folded, LiveGroup, LiveTenant, LiveUser};
use crate::state::TenantState;

/// Live objects by folded name. Most names are held by one object; the few held by several
/// (group names have no uniqueness in SCIM) keep every position in `more`.
pub(super) struct Names<'a> {
    pub(super) first: HashMap<Cow<'a, str>, u32>,
    pub(super) more: HashMap<Cow<'a, str>, Vec<u32>>,
}

impl<'a> Names<'a> {
    pub(super) fn new(names: impl ExactSizeIterator<Item = &'a str>) -> Self {
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
    pub(super) fn get(&self, name: &str) -> &[u32] {
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
pub(super) struct LiveIndex<'a> {
    pub(super) live: &'a LiveTenant,
    pub(super) user_names: Names<'a>,
    /// Id → position in `live.users`.
    pub(super) users_by_id: HashMap<&'a str, u32>,
    pub(super) group_names: Names<'a>,
    /// Id → position in `live.groups`.
    pub(super) groups_by_id: HashMap<&'a str, u32>,
    /// Ids that some state record holds: a name never adopts them.
    pub(super) held_user_ids: HashMap<&'a str, &'a str>,
    pub(super) held_group_ids: HashMap<&'a str, &'a str>,
    /// Per live group (in `live.groups` order): each member's position in `live.users`, or
    /// NO_USER. Resolved up front on every core: a million memberships are a million lookups.
    pub(super) member_positions: Vec<Vec<u32>>,
    /// Per user position: the group generation in which it was seen as a live member, and in
    /// which a desired member matched it. Reused across groups, never cleared.
    pub(super) marks: RefCell<Marks>,
}

pub(super) struct Marks {
    pub(super) generation: u32,
    pub(super) present: Vec<u32>,
    pub(super) kept: Vec<u32>,
}

/// A member position that is no live user.
pub(super) const NO_USER: u32 = u32::MAX;

impl<'a> LiveIndex<'a> {
    pub(super) fn new(live: &'a LiveTenant, managed: &'a TenantState) -> Self {
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

    pub(super) fn user(&self, i: u32) -> &'a LiveUser {
        &self.live.users[i as usize]
    }

    pub(super) fn group(&self, i: u32) -> &'a LiveGroup {
        &self.live.groups[i as usize]
    }
}
