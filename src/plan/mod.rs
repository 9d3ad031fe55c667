//! Planning: desired + state + live → [`Plan`], a sorted list of changes with dependencies.
//!
//! Pure. Nothing here touches the network or the file system, and nothing here prints; the
//! plan is data that `render` shows and `apply` executes.

pub mod change;
pub mod diff;
pub mod file;
pub mod graph;
pub mod guard;
pub mod import;
pub mod refresh;
pub mod targeted;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::dialect::Dialect;
use crate::model::folded;

pub use change::{Action, Address, AddressError, Change, Drift, ObjectKind, Values};
pub use diff::{diff_tenant, TenantInput, TenantPlan};
pub use guard::{check_guards, tenant_warnings, warnings, GuardViolation, Limits};

/// The plan file and JSON view format this build writes and reads.
/// (2: users are identified by id and may be renamed; plans carry conflicts, drift and the
/// guard limits they were made with.)
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// A complete plan: what will change, in which order, computed from which state and config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    /// The lineage and serial of the state the plan was computed from: applying a saved plan
    /// to any other state is refused as stale.
    pub lineage: String,
    pub serial: u64,
    /// sha256 of the desired configuration the plan was computed from.
    pub config_fingerprint: String,
    /// Whether live state was read for this plan (`--refresh=false` plans from state alone).
    pub refreshed: bool,
    pub tenants: Vec<TenantSummary>,
    pub changes: Vec<Change>,
    pub summary: Summary,
    /// Things a reviewer must not miss (e.g. a group losing most of its members), shown first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the plan refuses to decide (two live objects sharing a name, a rename onto a name
    /// another object holds...): the objects named are left alone, and the plan may not be
    /// applied until each is resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    /// The destroy limits in force when the plan was made (configuration, raised by flags):
    /// applying the saved plan holds it to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Access that ends within the notice period (`defaults.expiry_notice_days`), soonest
    /// first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expiring: Vec<Expiring>,
    /// The moment the plan was computed as of, when it was not the moment it was made
    /// (`--at`): expirations are judged at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// How many changes `--skip-removals` left out (removals, and what waited for them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_removals: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Access that ends soon: a user's `until:`, or a membership's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiring {
    pub tenant: String,
    pub user: String,
    /// The group whose membership ends; absent when the user itself ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// When, as written (a date is the end of that day, UTC).
    pub until: String,
    /// The first moment it no longer holds (RFC 3339, UTC).
    pub at: String,
}

/// An object the plan refuses to decide about, and why, with the way out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub address: String,
    pub tenant: String,
    pub message: String,
}

impl Conflict {
    pub fn new(tenant: &str, address: &str, message: String) -> Conflict {
        Conflict {
            address: address.to_owned(),
            tenant: tenant.to_owned(),
            message,
        }
    }
}

/// Per-tenant facts a reviewer wants beside the changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSummary {
    pub name: String,
    pub dialect: Dialect,
    pub live_users: usize,
    pub live_groups: usize,
    pub managed_users: usize,
    pub managed_groups: usize,
    /// Live objects zsc neither manages nor is asked to: left alone.
    pub unmanaged_users: usize,
    pub unmanaged_groups: usize,
    /// Managed groups that lose members in this plan: how many, of how many they had.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_losses: Vec<MemberLoss>,
    /// Managed objects whose id is no longer live: deleted outside zsc, or this is another
    /// tenant.
    #[serde(default, skip_serializing_if = "Gone::is_none")]
    pub gone: Gone,
    /// The server the tenant was last applied to, when the configuration now points at
    /// another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_change: Option<ServerChange>,
    /// Present when only what the plan can touch was read (a targeted refresh): then
    /// `live_users` and `live_groups` are the server's counts and `unmanaged_*` are 0, not
    /// counted: no listing was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<targeted::TargetedRead>,
}

/// Managed objects gone live.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gone {
    pub users: usize,
    pub groups: usize,
    /// A few of their names, to recognise them by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sample: Vec<String>,
}

impl Gone {
    /// How many names [`Gone::sample`] holds at most.
    pub const SAMPLE: usize = 5;

    pub fn is_none(&self) -> bool {
        self.users + self.groups == 0
    }

    pub fn total(&self) -> usize {
        self.users + self.groups
    }

    /// The managed objects of `managed` whose ids `live` does not hold.
    pub fn of(managed: &crate::state::TenantState, live: &crate::model::LiveTenant) -> Gone {
        let user_ids: std::collections::HashSet<&str> =
            live.users.iter().map(|u| u.id.as_str()).collect();
        let group_ids: std::collections::HashSet<&str> =
            live.groups.iter().map(|g| g.id.as_str()).collect();
        let mut gone = Gone::default();
        for u in managed.users.values() {
            if !user_ids.contains(u.id.as_str()) {
                gone.users += 1;
                if gone.sample.len() < Gone::SAMPLE {
                    gone.sample.push(u.user_name.clone());
                }
            }
        }
        for g in managed.groups.values() {
            if !group_ids.contains(g.id.as_str()) {
                gone.groups += 1;
                if gone.sample.len() < Gone::SAMPLE {
                    gone.sample.push(g.name.clone());
                }
            }
        }
        gone
    }
}

/// A tenant whose configuration points at another server than the one it was applied to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerChange {
    pub from: String,
    pub to: String,
}

/// A group losing members.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberLoss {
    pub group: String,
    pub removed: usize,
    pub had: usize,
}

/// Counts of changes by object and action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub users: UserCounts,
    pub groups: GroupCounts,
    pub memberships: MembershipCounts,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCounts {
    pub create: usize,
    pub adopt: usize,
    pub update: usize,
    #[serde(default)]
    pub rename: usize,
    pub disable: usize,
    pub delete: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCounts {
    pub create: usize,
    pub adopt: usize,
    pub update: usize,
    pub rename: usize,
    pub delete: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipCounts {
    pub add: usize,
    pub remove: usize,
}

impl Summary {
    pub fn of<'a>(changes: impl IntoIterator<Item = &'a Change>) -> Summary {
        let mut s = Summary::default();
        for c in changes {
            match (c.object, c.action) {
                (ObjectKind::User, Action::Create) => s.users.create += 1,
                (ObjectKind::User, Action::Adopt) => s.users.adopt += 1,
                (ObjectKind::User, Action::Update) => s.users.update += 1,
                (ObjectKind::User, Action::Rename) => s.users.rename += 1,
                (ObjectKind::User, Action::Disable) => s.users.disable += 1,
                (ObjectKind::User, Action::Delete) => s.users.delete += 1,
                (ObjectKind::Group, Action::Create) => s.groups.create += 1,
                (ObjectKind::Group, Action::Adopt) => s.groups.adopt += 1,
                (ObjectKind::Group, Action::Update) => s.groups.update += 1,
                (ObjectKind::Group, Action::Rename) => s.groups.rename += 1,
                (ObjectKind::Group, Action::Delete) => s.groups.delete += 1,
                (ObjectKind::Membership, Action::Add) => s.memberships.add += 1,
                (ObjectKind::Membership, Action::Remove) => s.memberships.remove += 1,
                _ => {}
            }
        }
        s
    }

    /// Disables and deletes: what the destroy guards count.
    pub fn destroys(&self) -> usize {
        self.users.disable + self.users.delete + self.groups.delete
    }
}

/// Where a plan comes from, besides the per-tenant inputs.
pub struct PlanMeta {
    pub lineage: String,
    pub serial: u64,
    pub config_fingerprint: String,
    pub refreshed: bool,
}

impl Plan {
    /// Plan every tenant, in the order given.
    pub fn build(meta: PlanMeta, tenants: &[TenantInput<'_>]) -> Plan {
        let mut changes = Vec::new();
        let mut summaries = Vec::with_capacity(tenants.len());
        let mut conflicts = Vec::new();
        let mut warnings = Vec::new();
        for input in tenants {
            let mut tenant = diff_tenant(input);
            sort_changes(&mut tenant.changes);
            changes.append(&mut tenant.changes);
            summaries.push(tenant.summary);
            conflicts.append(&mut tenant.conflicts);
            warnings.append(&mut tenant.warnings);
        }
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            lineage: meta.lineage,
            serial: meta.serial,
            config_fingerprint: meta.config_fingerprint,
            refreshed: meta.refreshed,
            tenants: summaries,
            summary: Summary::of(&changes),
            changes,
            warnings,
            conflicts,
            limits: None,
            expiring: Vec::new(),
            as_of: None,
            skipped_removals: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Keep only the changes `targets` select (see [`Address::selects`]: a tenant, a user or a
    /// group with its memberships, a membership) and everything they depend on, transitively.
    pub fn retain_targets(&mut self, targets: &[Address]) {
        if targets.is_empty() {
            return;
        }
        let by_address: std::collections::HashMap<&str, usize> = self
            .changes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.address.as_str(), i))
            .collect();
        let mut keep = vec![false; self.changes.len()];
        // A group selected by its old name brings the membership changes it makes under its
        // new one.
        let renamed: Vec<(&str, String)> = self
            .changes
            .iter()
            .filter(|c| c.object == ObjectKind::Group && targets.iter().any(|t| t.selects(c)))
            .map(|c| (c.tenant.as_str(), folded(&c.name).into_owned()))
            .collect();
        let mut stack: Vec<usize> = self
            .changes
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                targets.iter().any(|t| t.selects(c))
                    || (c.object == ObjectKind::Membership
                        && renamed
                            .iter()
                            .any(|(t, g)| *t == c.tenant && *g == folded(&c.name)))
            })
            .map(|(i, _)| i)
            .collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut keep[i], true) {
                continue;
            }
            for dep in &self.changes[i].depends_on {
                if let Some(&j) = by_address.get(dep.as_str()) {
                    stack.push(j);
                }
            }
        }
        let mut keep = keep.into_iter();
        self.changes.retain(|_| keep.next().unwrap_or(false));
        self.summary = Summary::of(&self.changes);
        self.conflicts.retain(|c| {
            Address::parse(&c.address).is_ok_and(|a| targets.iter().any(|t| t.covers(&a)))
        });
    }

    /// `--skip-removals`, the emergency additive mode: leave out every change that takes
    /// access away (a disable, a delete, a member removal, the `active: false` part of an
    /// update) and every change that waits for one, counting them in `skipped_removals`.
    pub fn skip_removals(&mut self) {
        let mut skip = vec![false; self.changes.len()];
        for (i, change) in self.changes.iter_mut().enumerate() {
            if change.action.is_destructive() || change.action == Action::Remove {
                skip[i] = true;
                continue;
            }
            let (Some(before), Some(after)) = (&change.before, &mut change.after) else {
                continue;
            };
            if before.active == Some(true) && after.active == Some(false) {
                after.active = Some(true);
                if change.action == Action::Update && change.before == change.after {
                    skip[i] = true;
                } else {
                    let note = "`active: false` left out (--skip-removals)";
                    change.note = Some(match change.note.take() {
                        Some(n) => format!("{n}; {note}"),
                        None => note.to_owned(),
                    });
                }
            }
        }
        // What waits for a skipped change would fail without it; each pass skips at least one
        // more change or ends.
        for _ in 0..self.changes.len() {
            let skipped: HashSet<&str> = self
                .changes
                .iter()
                .zip(&skip)
                .filter(|(_, s)| **s)
                .map(|(c, _)| c.address.as_str())
                .collect();
            let waiting: Vec<usize> = (0..self.changes.len())
                .filter(|&i| {
                    !skip[i]
                        && self.changes[i]
                            .depends_on
                            .iter()
                            .any(|d| skipped.contains(d.as_str()))
                })
                .collect();
            if waiting.is_empty() {
                break;
            }
            for i in waiting {
                skip[i] = true;
            }
        }
        let mut skip = skip.into_iter();
        let before = self.changes.len();
        self.changes.retain(|_| !skip.next().unwrap_or(false));
        self.skipped_removals += before - self.changes.len();
        self.summary = Summary::of(&self.changes);
        for tenant in &mut self.tenants {
            tenant.member_losses.clear();
        }
    }
}

/// Users, then groups, then memberships; each by name, case-insensitively, then exactly.
fn sort_changes(changes: &mut [Change]) {
    changes.sort_by_cached_key(|c| {
        (
            c.object,
            folded(&c.name).into_owned(),
            c.member.as_deref().map(|m| folded(m).into_owned()),
            c.address.clone(),
        )
    });
}

#[cfg(test)]
mod tests;
