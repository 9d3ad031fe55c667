//! The state file's content: what zsc manages in each tenant, and the operations that change it.
//!
//! Pure data; the store in [`super::store`] reads and writes it.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::{folded, UserAttrs};

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

/// The managed objects of one tenant. Keys are [`folded`]s of the name zsc manages each object
/// as (its `user_name` / `name`); the object itself is its `id`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantState {
    #[serde(default)]
    pub users: BTreeMap<String, ManagedUser>,
    #[serde(default)]
    pub groups: BTreeMap<String, ManagedGroup>,
    /// What identifies the server the tenant was last applied to (its normalised base URL, or
    /// `emulator` for the built-in one): a configuration pointing elsewhere is news.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// What the last full read of the tenant counted, and when; a targeted refresh compares
    /// the server's counts with it (see `ops::targeted`). zsc's own creates and deletes since
    /// are counted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_refresh: Option<FullRefresh>,
    /// The managed objects whose record was, when last compared, what the configuration
    /// declares (see [`Reconciled`]).
    #[serde(default, skip_serializing_if = "Reconciled::is_empty")]
    pub reconciled: Reconciled,
}

/// When a tenant was last read in full, and how many users and groups its server counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullRefresh {
    /// RFC 3339, UTC.
    pub at: String,
    pub users: u64,
    pub groups: u64,
}

/// Per managed object (keyed as [`TenantState::users`] and [`TenantState::groups`] are), a
/// fingerprint of the declaration and of the record together, taken when the record was what
/// the declaration asks for: after an apply that left nothing of it undone, or a refresh whose
/// plan had no change for it. While both fingerprints still match, a targeted refresh takes the
/// object from state instead of reading it (see `plan::targeted`). Changing either (the YAML,
/// or the record through a refresh, an apply or `zsc state rm`) makes it differ.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciled {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, String>,
}

impl Reconciled {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }
}

/// A user zsc manages: its id (what it is), the userName zsc manages it as, and the attributes
/// last seen or last written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedUser {
    pub id: String,
    /// The userName zsc gave or adopted it with. A live userName that differs is a rename made
    /// outside zsc (the plan says so); a refresh does not change this.
    pub user_name: String,
    pub active: bool,
    #[serde(flatten)]
    pub attrs: UserAttrs,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protect: bool,
    /// What zsc's last apply of this user wrote, and when; cleared when a refresh records what
    /// the server holds instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrote: Option<Wrote>,
}

/// A group zsc manages, with its members as user ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedGroup {
    pub id: String,
    /// The displayName zsc gave or adopted it with (see [`ManagedUser::user_name`]).
    pub name: String,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protect: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrote: Option<Wrote>,
}

/// The values an apply wrote to an object: if the server later holds something else, the plan
/// can say that it did not keep them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wrote {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// What: `user_name`, `active`, attribute names, `name`, `members`.
    pub fields: Vec<String>,
}

impl Wrote {
    /// `fields` written at `at`, added to what the same apply wrote before.
    pub fn merge(previous: Option<Wrote>, at: &str, fields: &[String]) -> Wrote {
        let mut wrote = match previous {
            Some(w) if w.at == at => w,
            _ => Wrote {
                at: at.to_owned(),
                fields: Vec::new(),
            },
        };
        for f in fields {
            if !wrote.fields.contains(f) {
                wrote.fields.push(f.clone());
            }
        }
        wrote
    }
}

/// One change to state. A completed remote change is journaled as the list of ops it implies,
/// so replaying the journal onto the state it started from gives the state after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum StateOp {
    PutUser {
        user: ManagedUser,
    },
    RemoveUser {
        user_name: String,
    },
    PutGroup {
        group: ManagedGroup,
    },
    RemoveGroup {
        name: String,
    },
    AddMembers {
        group: String,
        ids: Vec<String>,
        /// When the apply wrote them (absent in journals of older versions).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    RemoveMembers {
        group: String,
        ids: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
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
                t.users
                    .insert(folded(&user.user_name).into_owned(), user.clone());
            }
            StateOp::RemoveUser { user_name } => {
                t.users.remove(folded(user_name).as_ref());
            }
            StateOp::PutGroup { group } => {
                t.groups
                    .insert(folded(&group.name).into_owned(), group.clone());
            }
            StateOp::RemoveGroup { name } => {
                t.groups.remove(folded(name).as_ref());
            }
            StateOp::AddMembers { group, ids, at } => {
                if let Some(g) = t.groups.get_mut(folded(group).as_ref()) {
                    add_members(&mut g.members, ids);
                    wrote_members(g, at.as_deref());
                }
            }
            StateOp::RemoveMembers { group, ids, at } => {
                if let Some(g) = t.groups.get_mut(folded(group).as_ref()) {
                    remove_members(&mut g.members, ids);
                    wrote_members(g, at.as_deref());
                }
            }
        }
        if t.users.is_empty() && t.groups.is_empty() {
            self.tenants.remove(tenant);
        }
    }
}

fn wrote_members(group: &mut ManagedGroup, at: Option<&str>) {
    if let Some(at) = at {
        group.wrote = Some(Wrote::merge(
            group.wrote.take(),
            at,
            &["members".to_owned()],
        ));
    }
}

/// Below this many ids a linear scan of the member list beats building a hash set.
const LINEAR_SCAN_IDS: usize = 8;

/// Appends each id not already a member, in order, once. Linear for a handful of ids; with more,
/// a hash set keeps a 50,000-member group at O(members + ids) instead of O(members × ids).
fn add_members(members: &mut Vec<String>, ids: &[String]) {
    if ids.len() <= LINEAR_SCAN_IDS {
        for id in ids {
            if !members.contains(id) {
                members.push(id.clone());
            }
        }
        return;
    }
    let mut seen: HashSet<&str> = members.iter().map(String::as_str).collect();
    let new: Vec<String> = ids
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect();
    members.extend(new);
}

/// Removes every member listed in `ids`, keeping the others in order.
fn remove_members(members: &mut Vec<String>, ids: &[String]) {
    if ids.len() <= LINEAR_SCAN_IDS {
        members.retain(|m| !ids.contains(m));
        return;
    }
    let gone: HashSet<&str> = ids.iter().map(String::as_str).collect();
    members.retain(|m| !gone.contains(m.as_str()));
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("u{i}")).collect()
    }

    fn state_with_group(members: Vec<String>) -> State {
        let mut state = State::new();
        state.apply(
            "t",
            &StateOp::PutGroup {
                group: ManagedGroup {
                    id: "g1".into(),
                    name: "Big".into(),
                    members,
                    protect: false,
                    wrote: None,
                },
            },
        );
        state
    }

    fn members(state: &State) -> &[String] {
        &state.tenants["t"].groups["big"].members
    }

    #[test]
    fn add_and_remove_members_scale_to_fifty_thousand() {
        let mut state = state_with_group(ids(0..50_000));
        // Half already present, half new, one duplicated within the op: each new id once, in
        // order, after the existing ones.
        let mut add = ids(25_000..75_000);
        add.push("u70000".into());
        state.apply(
            "t",
            &StateOp::AddMembers {
                group: "BIG".into(),
                ids: add,
                at: None,
            },
        );
        assert_eq!(members(&state), ids(0..75_000).as_slice());

        state.apply(
            "t",
            &StateOp::RemoveMembers {
                group: "Big".into(),
                ids: ids(10_000..60_000),
                at: None,
            },
        );
        let mut expected = ids(0..10_000);
        expected.extend(ids(60_000..75_000));
        assert_eq!(members(&state), expected.as_slice());
    }

    #[test]
    fn small_member_ops_keep_the_same_semantics() {
        let mut state = state_with_group(ids(0..3));
        let op = StateOp::AddMembers {
            group: "big".into(),
            ids: vec!["u1".into(), "u9".into(), "u9".into()],
            at: None,
        };
        state.apply("t", &op);
        state.apply("t", &op);
        assert_eq!(members(&state), ["u0", "u1", "u2", "u9"]);
        state.apply(
            "t",
            &StateOp::RemoveMembers {
                group: "big".into(),
                ids: vec!["u0".into(), "u7".into()],
                at: None,
            },
        );
        assert_eq!(members(&state), ["u1", "u2", "u9"]);
    }

    #[test]
    fn member_ops_on_an_unknown_group_change_nothing() {
        let mut state = State::new();
        state.apply(
            "t",
            &StateOp::AddMembers {
                group: "nope".into(),
                ids: ids(0..100),
                at: None,
            },
        );
        assert!(state.tenants.is_empty());
    }
}
