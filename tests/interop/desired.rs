//! The desired state of a scenario: the YAML zsc reads, and what the server must hold once it
//! is applied (which is not always what the YAML says: undeclared attributes keep their value,
//! users taken out of the YAML are disabled or deleted).

use std::collections::BTreeMap;

use super::ATTRS;
use crate::harness::TOKEN_ENV;

#[derive(Clone, Debug)]
pub(super) struct User {
    pub(super) name: String,
    /// What the YAML declares ("" clears).
    pub(super) declared: BTreeMap<&'static str, String>,
    /// What the server must hold.
    pub(super) live: BTreeMap<&'static str, String>,
    pub(super) active: bool,
}

impl User {
    pub(super) fn new(name: &str, attrs: &[(&'static str, &str)]) -> User {
        let mut user = User {
            name: name.to_owned(),
            declared: BTreeMap::new(),
            live: BTreeMap::new(),
            active: true,
        };
        for (attr, value) in attrs {
            user.set(attr, value);
        }
        user
    }

    /// Declare `attr`: the server must then hold `value` ("" = nothing).
    pub(super) fn set(&mut self, attr: &'static str, value: &str) {
        assert!(ATTRS.contains(&attr), "{attr}");
        self.declared.insert(attr, value.to_owned());
        if value.is_empty() {
            self.live.remove(attr);
        } else {
            self.live.insert(attr, value.to_owned());
        }
    }

    /// The server holds `value` for `attr` without the YAML declaring it.
    pub(super) fn holds(mut self, attr: &'static str, value: &str) -> User {
        self.live.insert(attr, value.to_owned());
        self
    }

    /// Stop declaring `attr`: the server keeps what it holds.
    pub(super) fn undeclare(&mut self, attr: &'static str) {
        self.declared.remove(attr);
    }
}

#[derive(Clone, Debug)]
pub(super) struct Group {
    pub(super) name: String,
    pub(super) renamed_from: Option<String>,
    pub(super) members: Vec<String>,
}

impl Group {
    pub(super) fn new(name: &str, members: &[&str]) -> Group {
        Group {
            name: name.to_owned(),
            renamed_from: None,
            members: members.iter().map(|m| (*m).to_owned()).collect(),
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Desired {
    pub(super) remove_user_action: &'static str,
    pub(super) users: Vec<User>,
    pub(super) groups: Vec<Group>,
    /// Users zsc manages that the YAML no longer declares, disabled and kept on the server.
    pub(super) disabled: Vec<User>,
}

impl Desired {
    pub(super) fn new(users: Vec<User>, groups: Vec<Group>) -> Desired {
        Desired {
            remove_user_action: "disable",
            users,
            groups,
            disabled: Vec::new(),
        }
    }

    pub(super) fn user(&mut self, name: &str) -> &mut User {
        self.users
            .iter_mut()
            .find(|u| u.name == name)
            .unwrap_or_else(|| panic!("no desired user {name}"))
    }

    pub(super) fn group(&mut self, name: &str) -> &mut Group {
        self.groups
            .iter_mut()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("no desired group {name}"))
    }

    /// Take a user out of the YAML (and out of every group): disabled and kept, or deleted,
    /// per `remove_user_action`.
    pub(super) fn remove_user(&mut self, name: &str) {
        let at = self
            .users
            .iter()
            .position(|u| u.name == name)
            .expect("declared");
        let mut user = self.users.remove(at);
        for g in &mut self.groups {
            g.members.retain(|m| m != name);
        }
        if self.remove_user_action == "disable" {
            user.active = false;
            self.disabled.push(user);
        }
    }

    /// Switch to `remove_user_action: delete`: the users disabled so far are still managed
    /// and not declared, so they go too.
    pub(super) fn delete_removed_users(&mut self) {
        self.remove_user_action = "delete";
        self.disabled.clear();
    }

    pub(super) fn yaml(&self, url: &str) -> String {
        let q = |s: &str| serde_json::to_string(s).expect("string");
        let mut y = format!(
            "tenants:\n  t:\n    kind: scim\n    url: {url}\n    token: {{ env: {TOKEN_ENV} }}\n    \
             page_size: 2\ndefaults:\n  remove_user_action: {}\n  max_destroy_percent: 100\n",
            self.remove_user_action
        );
        y.push_str(if self.users.is_empty() {
            "users: []\n"
        } else {
            "users:\n"
        });
        for u in &self.users {
            y.push_str(&format!("  - user_name: {}\n", q(&u.name)));
            for (attr, value) in &u.declared {
                y.push_str(&format!("    {attr}: {}\n", q(value)));
            }
            if !u.active {
                y.push_str("    active: false\n");
            }
        }
        y.push_str(if self.groups.is_empty() {
            "groups: []\n"
        } else {
            "groups:\n"
        });
        for g in &self.groups {
            y.push_str(&format!("  - name: {}\n", q(&g.name)));
            if let Some(from) = &g.renamed_from {
                y.push_str(&format!("    renamed_from: {}\n", q(from)));
            }
            let members: Vec<String> = g.members.iter().map(|m| q(m)).collect();
            y.push_str(&format!("    members: [{}]\n", members.join(", ")));
        }
        y
    }
}
