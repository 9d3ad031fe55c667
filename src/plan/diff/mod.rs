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

use foldhash::{HashMap, HashMapExt};

use crate::dialect::Dialect;
use crate::model::{folded, DesiredTenant, LiveTenant, LiveUser, RemoveUserAction, USER_FIELDS};
use crate::state::{ManagedUser, TenantState, Wrote};

use super::change::{membership_address, user_address, Action, Change, Drift, ObjectKind, Values};
use super::{Conflict, TenantSummary};

mod groups;
mod index;
mod matching;
mod users;

use index::LiveIndex;

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
        read: None,
    };
    TenantPlan {
        changes: out.changes,
        summary,
        conflicts: out.conflicts,
        warnings: out.warnings,
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
