//! The checks that need every file: duplicates, renames, tenant scopes, allowed domains,
//! memberships and what the dialects allow; then the per-tenant desired state. Each is a named
//! phase of [`Cross`], run in order by [`Validator::finish`].

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::BTreeMap;

mod expand;

// foldhash, not SipHash: a 100,000-user configuration hashes a million member names here, and
// configuration text is the user's own (no untrusted keys to flood the table with).
use foldhash::{HashMap, HashMapExt};

use crate::model::{DesiredGroup, DesiredTenant, DesiredUser, Until, Why};

use expand::{Member, NONE};

use super::super::check::Sink;
use super::super::raw::At;
use super::{declared_list, key, Pos, Validated, Validator};

impl Validator {
    /// Cross-file checks and the per-tenant desired state. None when a problem was reported
    /// (or the sink already holds some).
    pub fn finish(self, sink: &mut Sink) -> Option<Validated> {
        let desired = {
            let mut cross = Cross::new(&self);
            cross.duplicates(sink);
            cross.renames(sink);
            cross.scopes(sink);
            cross.allowed_domains(sink);
            if !self.broken {
                cross.memberships(sink);
                cross.rules();
                cross.flatten(sink);
                cross.dialect_limits(sink);
            }
            if !sink.problems.is_empty() || self.broken || !self.backend_ok {
                return None;
            }
            (cross.desired()?, std::mem::take(&mut cross.notes))
        };
        let tenants = self
            .tenants
            .into_iter()
            .flatten()
            .map(|t| (t.name.clone(), t))
            .collect();
        let (desired, notes) = desired;
        Some((tenants, self.defaults, desired, notes, self.backend))
    }
}

/// What the cross-file phases learn, in the order they learn it.
struct Cross<'v> {
    v: &'v Validator,
    tenant_count: usize,
    /// Users by name key: the first declaration of each.
    user_index: HashMap<Cow<'v, str>, usize>,
    /// The users that count (first declarations), in declaration order.
    users: Vec<usize>,
    group_index: HashMap<Cow<'v, str>, usize>,
    groups: Vec<usize>,
    /// Old group names, by key: the group renamed from each.
    renames: HashMap<Cow<'v, str>, usize>,
    /// Per user and per group, the tenants it is in.
    user_scopes: Vec<Vec<bool>>,
    group_scopes: Vec<Vec<bool>>,
    /// Per user, then per group: whose scope names an unknown tenant ("shares no tenant" is
    /// not reported for it, as the intended tenant is unknown).
    uncertain: Vec<bool>,
    /// Per group, its members: after `flatten`, each user once, in order of first mention.
    members: Vec<Vec<Member>>,
    /// The `until:`s memberships hold ([`Member::until`] indexes them).
    ends: Vec<Until>,
    /// Tenant masks of rules limited to some tenants ([`Member::only`] indexes them).
    masks: Vec<Vec<bool>>,
    /// Warnings for the command to show.
    notes: Vec<crate::config::dialect_checks::Warning>,
    /// How many more "did you mean" suggestions to look for.
    suggestions_left: usize,
}

impl<'v> Cross<'v> {
    fn new(v: &'v Validator) -> Self {
        Cross {
            v,
            tenant_count: v.tenant_names.len(),
            user_index: HashMap::with_capacity(v.users.len()),
            users: Vec::with_capacity(v.users.len()),
            group_index: HashMap::with_capacity(v.groups.len()),
            groups: Vec::with_capacity(v.groups.len()),
            renames: HashMap::new(),
            user_scopes: Vec::new(),
            group_scopes: Vec::new(),
            uncertain: vec![false; v.users.len() + v.groups.len()],
            members: vec![Vec::new(); v.groups.len()],
            ends: Vec::new(),
            masks: Vec::new(),
            notes: Vec::new(),
            suggestions_left: 20,
        }
    }

    /// Duplicates: the first declaration wins; later ones are reported against it.
    fn duplicates(&mut self, sink: &mut Sink) {
        let v = self.v;
        for (i, u) in v.users.iter().enumerate() {
            match self.user_index.entry(key(&u.user_name)) {
                Entry::Occupied(first) => {
                    let first = &v.users[*first.get()];
                    sink.error(
                        u.pos.file,
                        u.name_at,
                        format!(
                            "duplicate user `{}` (user names are case-insensitive; first declared at {})",
                            u.user_name,
                            v.origin(Pos { file: first.pos.file, at: first.name_at })
                        ),
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert(i);
                    self.users.push(i);
                }
            }
        }
        for (i, g) in v.groups.iter().enumerate() {
            match self.group_index.entry(key(&g.name)) {
                Entry::Occupied(first) => {
                    let first = &v.groups[*first.get()];
                    sink.error(
                        g.pos.file,
                        g.name_at,
                        format!(
                            "duplicate group `{}` (group names are case-insensitive; first declared at {})",
                            g.name,
                            v.origin(Pos { file: first.pos.file, at: first.name_at })
                        ),
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert(i);
                    self.groups.push(i);
                }
            }
        }
    }

    /// `renamed_from` on groups and users.
    fn renames(&mut self, sink: &mut Sink) {
        let v = self.v;
        self.renames = v.renames(
            sink,
            "group",
            self.groups.iter().map(|&gi| {
                let g = &v.groups[gi];
                (gi, g.name.as_str(), g.renamed_from.as_ref(), g.pos.file)
            }),
            &self.group_index,
            |i| Pos {
                file: v.groups[i].pos.file,
                at: v.groups[i].name_at,
            },
        );
        v.renames(
            sink,
            "user",
            self.users.iter().map(|&ui| {
                let u = &v.users[ui];
                (
                    ui,
                    u.user_name.as_str(),
                    u.renamed_from.as_ref(),
                    u.pos.file,
                )
            }),
            &self.user_index,
            |i| Pos {
                file: v.users[i].pos.file,
                at: v.users[i].name_at,
            },
        );
    }

    /// Scopes: which tenants each user and group is in.
    fn scopes(&mut self, sink: &mut Sink) {
        let v = self.v;
        let users = v.users.len();
        self.user_scopes = v
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| self.scope(sink, i, u.pos, &u.tenants))
            .collect();
        self.group_scopes = v
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| self.scope(sink, users + i, g.pos, &g.tenants))
            .collect();
    }

    /// The tenants a `tenants:` list names (every tenant without one); unknown ones are
    /// reported and make the scope uncertain.
    fn scope(
        &mut self,
        sink: &mut Sink,
        slot: usize,
        pos: Pos,
        list: &Option<Vec<At<String>>>,
    ) -> Vec<bool> {
        let v = self.v;
        let Some(list) = list else {
            return vec![true; self.tenant_count];
        };
        let mut mask = vec![false; self.tenant_count];
        for t in list {
            match v.tenant_names.iter().position(|n| *n == t.value) {
                Some(i) => mask[i] = true,
                None => {
                    self.uncertain[slot] = true;
                    sink.error(
                        pos.file,
                        t.at,
                        format!(
                            "unknown tenant `{}` ({})",
                            t.value,
                            declared_list(&v.tenant_names)
                        ),
                    );
                }
            }
        }
        mask
    }

    /// Every user in a tenant with `allowed_domains` is in one of them.
    fn allowed_domains(&self, sink: &mut Sink) {
        let v = self.v;
        for &ui in &self.users {
            let u = &v.users[ui];
            for (ti, t) in v.tenants.iter().enumerate() {
                let Some(t) = t else { continue };
                if t.allowed_domains.is_empty() || !self.user_scopes[ui][ti] {
                    continue;
                }
                let domain = u
                    .user_name
                    .rsplit_once('@')
                    .map(|(_, d)| d.to_ascii_lowercase());
                if !domain.is_some_and(|d| t.allowed_domains.contains(&d)) {
                    sink.error(
                        u.pos.file,
                        u.name_at,
                        format!(
                            "user `{}` is not in a domain tenant `{}` allows ({})",
                            u.user_name,
                            t.name,
                            t.allowed_domains
                                .iter()
                                .map(|d| format!("`{d}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
            }
        }
    }

    /// Whether user `ui` and group `gi` share a tenant (or one of them names an unknown one).
    fn shares(&self, ui: usize, gi: usize) -> bool {
        self.uncertain[ui]
            || self.uncertain[self.v.users.len() + gi]
            || self.user_scopes[ui]
                .iter()
                .zip(&self.group_scopes[gi])
                .any(|(a, b)| *a && *b)
    }

    /// Memberships: members on groups, then groups on users, in declaration order; then each
    /// member once, at its first mention.
    fn memberships(&mut self, sink: &mut Sink) {
        let v = self.v;
        // A million lookups in a large configuration: resolved on every core first.
        let (declared, by_name) = (&v.groups, &self.user_index);
        let resolved = crate::par::map(&self.groups, 64, |&gi| {
            declared[gi]
                .members
                .iter()
                .map(|m| by_name.get(&key(&m.name.value)).copied())
                .collect::<Vec<_>>()
        });
        for (&gi, resolved) in self.groups.clone().iter().zip(&resolved) {
            let g = &v.groups[gi];
            for (entry, found) in g.members.iter().zip(resolved) {
                let m = &entry.name;
                match *found {
                    Some(ui) if self.shares(ui, gi) => {
                        let until = self.end(entry.until);
                        self.members[gi].push(Member::new(ui, Why::listed(), until));
                    }
                    Some(ui) => sink.error(
                        g.pos.file,
                        m.at,
                        format!(
                            "member `{}` shares no tenant with group `{}` (user: {}; group: {})",
                            m.value,
                            g.name,
                            v.scope_text(&self.user_scopes[ui]),
                            v.scope_text(&self.group_scopes[gi])
                        ),
                    ),
                    None => {
                        let hint =
                            self.suggest(&m.value, v.users.iter().map(|u| u.user_name.as_str()));
                        sink.error(
                            g.pos.file,
                            m.at,
                            format!(
                                "member `{}` of group `{}` is not a declared user{hint}",
                                m.value, g.name
                            ),
                        );
                    }
                }
            }
        }
        for ui in self.users.clone() {
            let u = &v.users[ui];
            for listed in &u.groups {
                let entry = &listed.name;
                match self.group_index.get(&key(&entry.value)).copied() {
                    Some(gi) if self.shares(ui, gi) => {
                        let until = self.end(listed.until);
                        let why = Why {
                            bits: Why::USER_LISTED,
                            ..Why::default()
                        };
                        self.members[gi].push(Member::new(ui, why, until));
                    }
                    Some(gi) => sink.error(
                        u.pos.file,
                        entry.at,
                        format!(
                            "user `{}` shares no tenant with group `{}` (user: {}; group: {})",
                            u.user_name,
                            entry.value,
                            v.scope_text(&self.user_scopes[ui]),
                            v.scope_text(&self.group_scopes[gi])
                        ),
                    ),
                    None => {
                        let hint = self.group_hint(&entry.value);
                        sink.error(
                            u.pos.file,
                            entry.at,
                            format!(
                                "user `{}` is in group `{}`, which is not declared{hint}",
                                u.user_name, entry.value
                            ),
                        );
                    }
                }
            }
        }
    }

    /// What to say after "group `x` is not declared": that it was renamed, or what was meant.
    fn group_hint(&mut self, name: &str) -> String {
        let v = self.v;
        match self.renames.get(&key(name)) {
            Some(&gi) => format!("; it is renamed to `{}`", v.groups[gi].name),
            None => self.suggest(name, v.groups.iter().map(|g| g.name.as_str())),
        }
    }

    /// "; did you mean `x`?" for a name that names nothing, for the first few such names (each
    /// suggestion compares with every declared name).
    fn suggest<'a>(&mut self, typed: &str, names: impl Iterator<Item = &'a str>) -> String {
        if self.suggestions_left == 0 {
            return String::new();
        }
        self.suggestions_left -= 1;
        super::super::check::did_you_mean(typed, names)
            .map(|m| format!("; did you mean `{m}`?"))
            .unwrap_or_default()
    }

    /// What the dialects allow: groups per user, attributes kept.
    fn dialect_limits(&self, sink: &mut Sink) {
        let v = self.v;
        let n = self.tenant_count;
        let mut group_counts = vec![0u32; v.users.len() * n];
        for &gi in &self.groups {
            for m in &self.members[gi] {
                let ui = m.ui as usize;
                for ti in 0..n {
                    if self.holds(m, gi, ti) {
                        group_counts[ui * n + ti] += 1;
                    }
                }
            }
        }
        for &ui in &self.users {
            let u = &v.users[ui];
            super::super::dialect_checks::check_user(
                sink,
                &v.tenants,
                &super::super::dialect_checks::UserView {
                    file: u.pos.file,
                    at: u.name_at,
                    user_name: &u.user_name,
                    attrs: &u.attrs,
                    scope: &self.user_scopes[ui],
                    groups: &group_counts[ui * n..(ui + 1) * n],
                },
            );
        }
    }

    /// The desired users and groups of each tenant, by name.
    fn desired(&self) -> Option<BTreeMap<String, DesiredTenant>> {
        let v = self.v;
        let mut desired = BTreeMap::new();
        // Members in name order, whatever order they were declared or matched in.
        let mut by_name = self.users.clone();
        by_name.sort_by_cached_key(|&ui| crate::model::name_key(&v.users[ui].user_name));
        let mut rank = vec![0u32; v.users.len()];
        for (r, &ui) in by_name.iter().enumerate() {
            rank[ui] = r as u32;
        }
        for (ti, t) in v.tenants.iter().enumerate() {
            let t = t.as_ref()?;
            let mut tenant = DesiredTenant::default();
            for &ui in self.users.iter().filter(|&&ui| self.user_scopes[ui][ti]) {
                let u = &v.users[ui];
                tenant.users.push(DesiredUser {
                    user_name: u.user_name.clone(),
                    renamed_from: u.renamed_from.as_ref().map(|r| r.value.clone()),
                    attrs: super::super::dialect_checks::stored_attrs(&u.attrs, t.dialect),
                    active: u.active,
                    protect: u.protect,
                    origin: v.origin(u.pos),
                    until: u.until,
                });
            }
            for &gi in self.groups.iter().filter(|&&gi| self.group_scopes[gi][ti]) {
                tenant.groups.push(self.desired_group(gi, ti, &rank));
            }
            tenant
                .users
                .sort_by_cached_key(|u| crate::model::name_key(&u.user_name));
            tenant
                .groups
                .sort_by_cached_key(|g| crate::model::name_key(&g.name));
            desired.insert(t.name.clone(), tenant);
        }
        Some(desired)
    }
}

impl Cross<'_> {
    /// Whether membership `m` of group `gi` holds in tenant `ti`.
    fn holds(&self, m: &Member, gi: usize, ti: usize) -> bool {
        self.group_scopes[gi][ti]
            && self.user_scopes[m.ui as usize][ti]
            && (m.only == NONE || self.masks[m.only as usize][ti])
    }

    /// Group `gi` as tenant `ti` has it.
    fn desired_group(&self, gi: usize, ti: usize, rank: &[u32]) -> DesiredGroup {
        let v = self.v;
        let g = &v.groups[gi];
        let mut group = DesiredGroup {
            name: g.name.clone(),
            renamed_from: g.renamed_from.as_ref().map(|r| r.value.clone()),
            members: Vec::with_capacity(self.members[gi].len()),
            rules: g.rules.clone(),
            exclude: g.exclude.iter().map(|e| e.value.clone()).collect(),
            include_groups: g.include_groups.iter().map(|e| e.value.clone()).collect(),
            protect: g.protect,
            origin: v.origin(g.pos),
            ..DesiredGroup::default()
        };
        let plain = self.members[gi].iter().all(|m| m.why == Why::listed());
        let mut members: Vec<&Member> = self.members[gi]
            .iter()
            .filter(|m| self.holds(m, gi, ti))
            .collect();
        members.sort_unstable_by_key(|m| rank[m.ui as usize]);
        for m in members {
            if m.until != NONE {
                let at = group.members.len() as u32;
                group.until.push((at, self.ends[m.until as usize]));
            }
            if !plain {
                group.why.push(m.why);
            }
            group.members.push(v.users[m.ui as usize].user_name.clone());
        }
        group
    }
}

impl Validator {
    /// Check `renamed_from` on users or groups: the old name must not be declared (a change
    /// of case only is a rename, not a declaration of the old name), and two may not take the
    /// same old name. Returns the old names by key, and who took each.
    fn renames<'d>(
        &self,
        sink: &mut Sink,
        kind: &str,
        decls: impl Iterator<Item = (usize, &'d str, Option<&'d At<String>>, usize)>,
        index: &HashMap<Cow<'d, str>, usize>,
        declared_at: impl Fn(usize) -> Pos,
    ) -> HashMap<Cow<'d, str>, usize> {
        let mut renames: HashMap<Cow<str>, usize> = HashMap::new();
        let mut names: HashMap<usize, &str> = HashMap::new();
        for (i, name, from, file) in decls {
            names.insert(i, name);
            let Some(from) = from else { continue };
            let from_key = key(&from.value);
            if let Some(&other) = index.get(&from_key) {
                if other == i && from.value != name {
                    continue; // only the case changes
                }
                let message = if other == i {
                    format!("{kind} `{name}` is renamed from itself")
                } else {
                    format!(
                        "{kind} `{name}` is renamed from `{}`, which is also declared (at {}); a \
                         renamed {kind}'s old name must not be declared",
                        from.value,
                        self.origin(declared_at(other))
                    )
                };
                sink.error(file, from.at, message);
                continue;
            }
            match renames.entry(from_key) {
                Entry::Occupied(first) => {
                    sink.error(
                        file,
                        from.at,
                        format!(
                            "{kind}s `{}` and `{name}` are both renamed from `{}`",
                            names.get(first.get()).copied().unwrap_or_default(),
                            from.value
                        ),
                    );
                }
                Entry::Vacant(slot) => {
                    slot.insert(i);
                }
            }
        }
        renames
    }

    fn scope_text(&self, mask: &[bool]) -> String {
        let names: Vec<String> = self
            .tenant_names
            .iter()
            .zip(mask)
            .filter(|(_, m)| **m)
            .map(|(t, _)| format!("`{t}`"))
            .collect();
        if names.is_empty() {
            "no tenant".to_owned()
        } else {
            names.join(", ")
        }
    }
}
