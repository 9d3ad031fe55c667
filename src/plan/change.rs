//! The plan's vocabulary: actions, addresses, the values a change shows, and a change itself.
//!
//! A plan is data. Each action's symbol and word are defined here once; colors live in
//! `render`. The serialised form of [`Plan`](super::Plan) is the saved plan file and the JSON
//! view, so every field here is part of a documented, versioned schema.

use serde::{Deserialize, Serialize};

use crate::model::UserAttrs;

/// What a change does. The symbol is Terraform's visual language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create a user or group.
    Create,
    /// Start managing an object that already exists live, updating it where it differs.
    Adopt,
    /// Change attributes in place.
    Update,
    /// Give a group a new displayName, keeping its id and members.
    Rename,
    /// Set a user `active: false` (on ZPA this deletes the user).
    Disable,
    /// Delete a user or a group.
    Delete,
    /// Add a user to a group.
    Add,
    /// Remove a user from a group.
    Remove,
}

impl Action {
    /// The one-character symbol shown before the object.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create | Action::Add => "+",
            Action::Adopt | Action::Update | Action::Rename | Action::Disable => "~",
            Action::Delete | Action::Remove => "-",
        }
    }

    /// Whether this change removes access: it counts against the destroy guards.
    pub fn is_destructive(self) -> bool {
        matches!(self, Action::Disable | Action::Delete)
    }
}

/// Which kind of object a change is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    User,
    Group,
    Membership,
}

/// The values of an object that a change shows before and after. Fields a change does not
/// concern are `None` and left out of JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Values {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// A group's displayName.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(flatten)]
    pub attrs: UserAttrs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect: Option<bool>,
    /// A live group's member ids (before an adopt, rename or update), so that state can record
    /// them without reading the group again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
}

/// One planned change to one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `tenant.user["name"]`, `tenant.group["name"]` or `tenant.membership["group"]["user"]`.
    pub address: String,
    pub tenant: String,
    pub object: ObjectKind,
    pub action: Action,
    /// The user's userName, or the group's displayName after the change.
    pub name: String,
    /// The remote id when the object exists live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// For memberships: the member's userName (or its id when no user has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// For memberships: the member's id when it exists live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Values>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Values>,
    /// Addresses of the changes that must succeed before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Why the change looks the way it does, when that is not obvious (e.g. a ZPA disable that
    /// deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A string as it appears inside an address: quoted, with `"` and `\` escaped.
pub fn quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

pub fn user_address(tenant: &str, user_name: &str) -> String {
    format!("{tenant}.user[{}]", quote(user_name))
}

pub fn group_address(tenant: &str, name: &str) -> String {
    format!("{tenant}.group[{}]", quote(name))
}

pub fn membership_address(tenant: &str, group: &str, member: &str) -> String {
    format!("{tenant}.membership[{}][{}]", quote(group), quote(member))
}
