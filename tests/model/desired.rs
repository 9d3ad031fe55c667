//! The model of the YAML: what the configuration declares, the edits a step makes to it, what
//! it means per tenant, and its text.
//!
//! Edits keep the configuration valid: a rename's source is never also declared, members are
//! declared users, and two renames never name the same source.

use std::collections::{BTreeMap, BTreeSet};

use super::steps::{Obj, Step, ATTRS, GROUPS, TENANTS, USERS};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DUser {
    pub renamed_from: Option<usize>,
    /// Indexed like [`ATTRS`]: `None` undeclared, `Some("")` cleared.
    pub attrs: [Option<String>; 6],
    pub active: Option<bool>,
    pub protect: bool,
    /// 0 every tenant, 1 only `a`, 2 only `b`.
    pub scope: u8,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DGroup {
    pub renamed_from: Option<usize>,
    pub members: BTreeSet<usize>,
    pub protect: bool,
    pub scope: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub users: BTreeMap<usize, DUser>,
    pub groups: BTreeMap<usize, DGroup>,
    pub remove_delete: bool,
    pub max_destroy: usize,
    pub max_destroy_percent: u32,
    pub tenants: usize,
}

/// The value of attribute `attr` the YAML declares as value `k` (k ≥ 1).
pub fn attr_value(attr: usize, k: u8) -> String {
    match ATTRS[attr] {
        "email" => format!("mail{k}@example.com"),
        "external_id" => format!("E{k}"),
        name => format!("{name} {k}"),
    }
}

impl Desired {
    pub fn new(tenants: usize) -> Desired {
        Desired {
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            remove_delete: false,
            max_destroy: 20,
            max_destroy_percent: 100,
            tenants,
        }
    }

    /// Apply a YAML edit; false if `step` is not one, or changes nothing.
    pub fn edit(&mut self, step: &Step) -> bool {
        let before = self.clone();
        let u = |i: &u8| usize::from(*i) % USERS.len();
        let g = |i: &u8| usize::from(*i) % GROUPS.len();
        match step {
            Step::AddUser { user } => {
                let user = u(user);
                if !self.users.contains_key(&user) {
                    self.forget_rename_source_user(user);
                    self.users.insert(user, DUser::default());
                }
            }
            Step::RemoveUser { user } => {
                let user = u(user);
                self.users.remove(&user);
                for group in self.groups.values_mut() {
                    group.members.remove(&user);
                }
            }
            Step::RenameUser {
                from,
                to,
                renamed_from,
            } => {
                let (from, to) = (u(from), u(to));
                if from != to && !self.users.contains_key(&to) {
                    if let Some(mut record) = self.users.remove(&from) {
                        self.forget_rename_source_user(to);
                        self.forget_rename_source_user(from);
                        record.renamed_from = renamed_from.then_some(from);
                        self.users.insert(to, record);
                        for group in self.groups.values_mut() {
                            if group.members.remove(&from) {
                                group.members.insert(to);
                            }
                        }
                    }
                }
            }
            Step::SetAttr { user, attr, value } => {
                let attr = usize::from(*attr) % ATTRS.len();
                if let Some(record) = self.users.get_mut(&u(user)) {
                    record.attrs[attr] = value.map(|k| {
                        if k == 0 {
                            String::new()
                        } else {
                            attr_value(attr, k)
                        }
                    });
                }
            }
            Step::SetActive { user, active } => {
                if let Some(record) = self.users.get_mut(&u(user)) {
                    record.active = *active;
                }
            }
            Step::AddGroup { group } => {
                let group = g(group);
                if !self.groups.contains_key(&group) {
                    self.forget_rename_source_group(group);
                    self.groups.insert(group, DGroup::default());
                }
            }
            Step::RemoveGroup { group } => {
                self.groups.remove(&g(group));
            }
            Step::RenameGroup {
                from,
                to,
                renamed_from,
            } => {
                let (from, to) = (g(from), g(to));
                if from != to && !self.groups.contains_key(&to) {
                    if let Some(mut record) = self.groups.remove(&from) {
                        self.forget_rename_source_group(to);
                        self.forget_rename_source_group(from);
                        record.renamed_from = renamed_from.then_some(from);
                        self.groups.insert(to, record);
                    }
                }
            }
            Step::SetMember {
                group,
                user,
                member,
            } => {
                let user = u(user);
                if self.users.contains_key(&user) {
                    if let Some(record) = self.groups.get_mut(&g(group)) {
                        if *member {
                            record.members.insert(user);
                        } else {
                            record.members.remove(&user);
                        }
                    }
                }
            }
            Step::Scope { obj, scope } => {
                let scope = if self.tenants == 2 { *scope % 3 } else { 0 };
                match obj {
                    Obj::User(i) => {
                        if let Some(record) = self.users.get_mut(&u(i)) {
                            record.scope = scope;
                        }
                    }
                    Obj::Group(i) => {
                        if let Some(record) = self.groups.get_mut(&g(i)) {
                            record.scope = scope;
                        }
                    }
                }
            }
            Step::Protect { obj, protect } => match obj {
                Obj::User(i) => {
                    if let Some(record) = self.users.get_mut(&u(i)) {
                        record.protect = *protect;
                    }
                }
                Obj::Group(i) => {
                    if let Some(record) = self.groups.get_mut(&g(i)) {
                        record.protect = *protect;
                    }
                }
            },
            Step::RemoveUserAction { delete } => self.remove_delete = *delete,
            Step::Limits {
                max_destroy,
                percent,
            } => {
                self.max_destroy = [0, 1, 2, 20][usize::from(*max_destroy) % 4];
                self.max_destroy_percent = [25, 50, 100][usize::from(*percent) % 3];
            }
            _ => return false,
        }
        *self != before
    }

    /// A name that becomes declared (or a rename's source anew) is no longer any other
    /// object's `renamed_from`: validation refuses both.
    fn forget_rename_source_user(&mut self, name: usize) {
        for record in self.users.values_mut() {
            if record.renamed_from == Some(name) {
                record.renamed_from = None;
            }
        }
    }

    fn forget_rename_source_group(&mut self, name: usize) {
        for record in self.groups.values_mut() {
            if record.renamed_from == Some(name) {
                record.renamed_from = None;
            }
        }
    }

    /// This configuration with what it says in more than one way said one way (`active: true`
    /// is the default): two configurations mean the same, and have the same fingerprint, when
    /// these are equal.
    pub fn canonical(&self) -> Desired {
        let mut canonical = self.clone();
        for user in canonical.users.values_mut() {
            if user.active == Some(true) {
                user.active = None;
            }
        }
        canonical
    }

    /// Whether an object of this scope is declared in tenant `t` (0 or 1).
    pub fn in_tenant(scope: u8, t: usize) -> bool {
        scope == 0 || usize::from(scope) == t + 1
    }

    /// The users declared in tenant `t`.
    pub fn users_in(&self, t: usize) -> impl Iterator<Item = (usize, &DUser)> {
        self.users
            .iter()
            .filter(move |(_, r)| Desired::in_tenant(r.scope, t))
            .map(|(i, r)| (*i, r))
    }

    pub fn groups_in(&self, t: usize) -> impl Iterator<Item = (usize, &DGroup)> {
        self.groups
            .iter()
            .filter(move |(_, r)| Desired::in_tenant(r.scope, t))
            .map(|(i, r)| (*i, r))
    }

    /// Whether two scopes share a tenant.
    fn share_tenant(&self, a: u8, b: u8) -> bool {
        (0..self.tenants).any(|t| Desired::in_tenant(a, t) && Desired::in_tenant(b, t))
    }

    /// The members the YAML can declare for `group`: declared users sharing a tenant with it.
    pub fn valid_members(&self, group: &DGroup) -> Vec<usize> {
        group
            .members
            .iter()
            .copied()
            .filter(|m| {
                self.users
                    .get(m)
                    .is_some_and(|u| self.share_tenant(u.scope, group.scope))
            })
            .collect()
    }

    /// The members of `group` in tenant `t`.
    pub fn members_in(&self, group: &DGroup, t: usize) -> BTreeSet<usize> {
        self.valid_members(group)
            .into_iter()
            .filter(|m| Desired::in_tenant(self.users[m].scope, t))
            .collect()
    }

    fn scope_yaml(&self, scope: u8) -> Option<String> {
        (self.tenants == 2 && scope != 0).then(|| format!("[{}]", TENANTS[usize::from(scope) - 1]))
    }

    /// The configuration's text, with `urls` the tenants' base URLs.
    pub fn yaml(&self, urls: &[String], memberships_on_users: bool) -> String {
        let mut y = String::from("tenants:\n");
        for (t, url) in urls.iter().enumerate() {
            y.push_str(&format!(
                "  {}:\n    kind: scim\n    url: {url}\n    token: {{ env: ZSC_TEST_TOKEN }}\n",
                TENANTS[t]
            ));
        }
        y.push_str(&format!(
            "defaults:\n  remove_user_action: {}\n  max_destroy: {}\n  max_destroy_percent: {}\n",
            if self.remove_delete {
                "delete"
            } else {
                "disable"
            },
            self.max_destroy,
            self.max_destroy_percent
        ));
        y.push_str(if self.users.is_empty() {
            "users: []\n"
        } else {
            "users:\n"
        });
        for (i, user) in &self.users {
            y.push_str(&format!("  - user_name: {}\n", USERS[*i]));
            if let Some(from) = user.renamed_from {
                y.push_str(&format!("    renamed_from: {}\n", USERS[from]));
            }
            for (a, value) in user.attrs.iter().enumerate() {
                if let Some(value) = value {
                    y.push_str(&format!("    {}: \"{value}\"\n", ATTRS[a]));
                }
            }
            if let Some(active) = user.active {
                y.push_str(&format!("    active: {active}\n"));
            }
            if user.protect {
                y.push_str("    protect: true\n");
            }
            if let Some(scope) = self.scope_yaml(user.scope) {
                y.push_str(&format!("    tenants: {scope}\n"));
            }
            if memberships_on_users {
                let groups: Vec<&str> = self
                    .groups
                    .iter()
                    .filter(|(_, g)| self.valid_members(g).contains(i))
                    .map(|(gi, _)| GROUPS[*gi])
                    .collect();
                if !groups.is_empty() {
                    y.push_str(&format!("    groups: [{}]\n", groups.join(", ")));
                }
            }
        }
        y.push_str(if self.groups.is_empty() {
            "groups: []\n"
        } else {
            "groups:\n"
        });
        for (i, group) in &self.groups {
            y.push_str(&format!("  - name: {}\n", GROUPS[*i]));
            if let Some(from) = group.renamed_from {
                y.push_str(&format!("    renamed_from: {}\n", GROUPS[from]));
            }
            let members = self.valid_members(group);
            if !memberships_on_users && !members.is_empty() {
                let names: Vec<&str> = members.iter().map(|m| USERS[*m]).collect();
                y.push_str(&format!("    members: [{}]\n", names.join(", ")));
            }
            if group.protect {
                y.push_str("    protect: true\n");
            }
            if let Some(scope) = self.scope_yaml(group.scope) {
                y.push_str(&format!("    tenants: {scope}\n"));
            }
        }
        y
    }
}
