//! The state file's content: what zsc manages in each tenant, and the operations that change it.
//!
//! Pure data; the store in [`super::store`] reads and writes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{name_key, UserAttrs};

/// The state format this build reads and writes. A newer file is refused, never rewritten.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// Everything zsc manages, per tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    /// Identifies this state's history: a state file and a plan or journal from another
    /// lineage never mix.
    pub lineage: String,
    /// Increases by one on every save that changes the content.
    pub serial: u64,
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantState>,
}

/// The managed objects of one tenant. Keys are [`name_key`]s of userName / displayName.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantState {
    #[serde(default)]
    pub users: BTreeMap<String, ManagedUser>,
    #[serde(default)]
    pub groups: BTreeMap<String, ManagedGroup>,
}

/// A user zsc manages, with the attributes last seen or last written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedUser {
    pub id: String,
    pub user_name: String,
    pub active: bool,
    #[serde(flatten)]
    pub attrs: UserAttrs,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protect: bool,
}

/// A group zsc manages, with its members as user ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedGroup {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protect: bool,
}

/// One change to state. A completed remote change is journaled as the list of ops it implies,
/// so replaying the journal onto the state it started from gives the state after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum StateOp {
    PutUser { user: ManagedUser },
    RemoveUser { user_name: String },
    PutGroup { group: ManagedGroup },
    RemoveGroup { name: String },
    AddMembers { group: String, ids: Vec<String> },
    RemoveMembers { group: String, ids: Vec<String> },
}

impl State {
    /// A new, empty state with a fresh lineage.
    pub fn new() -> State {
        State {
            format_version: STATE_FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            tenants: BTreeMap::new(),
        }
    }

    pub fn tenant(&self, name: &str) -> Option<&TenantState> {
        self.tenants.get(name)
    }

    /// Apply one op to the named tenant. Ops are idempotent: replaying a journal twice gives
    /// the same state as replaying it once.
    pub fn apply(&mut self, tenant: &str, op: &StateOp) {
        let t = self.tenants.entry(tenant.to_owned()).or_default();
        match op {
            StateOp::PutUser { user } => {
                t.users.insert(name_key(&user.user_name), user.clone());
            }
            StateOp::RemoveUser { user_name } => {
                t.users.remove(&name_key(user_name));
            }
            StateOp::PutGroup { group } => {
                t.groups.insert(name_key(&group.name), group.clone());
            }
            StateOp::RemoveGroup { name } => {
                t.groups.remove(&name_key(name));
            }
            StateOp::AddMembers { group, ids } => {
                if let Some(g) = t.groups.get_mut(&name_key(group)) {
                    for id in ids {
                        if !g.members.contains(id) {
                            g.members.push(id.clone());
                        }
                    }
                }
            }
            StateOp::RemoveMembers { group, ids } => {
                if let Some(g) = t.groups.get_mut(&name_key(group)) {
                    g.members.retain(|m| !ids.contains(m));
                }
            }
        }
        if t.users.is_empty() && t.groups.is_empty() {
            self.tenants.remove(tenant);
        }
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}
