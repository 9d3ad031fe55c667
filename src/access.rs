//! Access at a moment, and why: what `until:` takes away at a given time ([`as_of`]), what
//! ends soon, and the reasons behind each planned membership change ([`explain`]).
//!
//! Pure functions over the desired state (rules and nesting are already expanded by
//! validation) and a plan; nothing here reads files or the clock: the moment is an argument.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::model::rules::Subject;
use crate::model::{folded, DesiredGroup, DesiredTenant, DesiredUser, Origin, Until, Why};
use crate::plan::{Action, Expiring, ObjectKind, Plan};

/// What ended by a moment, in one tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Memberships that ended, by (group, user) name key.
    memberships: HashMap<(String, String), Until>,
    /// Users that ended, by name key.
    users: HashMap<String, Until>,
}

impl Expired {
    pub fn is_empty(&self) -> bool {
        self.memberships.is_empty() && self.users.is_empty()
    }
}

/// `desired` as of `now`: users whose `until:` passed are no longer desired (so deprovisioned
/// as `remove_user_action` says), nor are memberships whose `until:` passed. Also returns what
/// expired, and what ends before `now + notice`, soonest first. Borrows `desired` when nothing
/// expired (the common case costs no copy).
pub fn as_of<'a>(
    tenant: &str,
    desired: &'a DesiredTenant,
    now: jiff::Timestamp,
    notice: jiff::SignedDuration,
) -> (Cow<'a, DesiredTenant>, Expired, Vec<Expiring>) {
    let horizon = now.saturating_add(notice).unwrap_or(now);
    let mut expired = Expired::default();
    let mut soon: Vec<(Until, Expiring)> = Vec::new();
    let mut note = |user: &str, group: Option<&str>, until: Until| {
        if until.at <= horizon {
            soon.push((
                until,
                Expiring {
                    tenant: tenant.to_owned(),
                    user: user.to_owned(),
                    group: group.map(str::to_owned),
                    until: until.to_string(),
                    at: until.at.to_string(),
                },
            ));
        }
    };
    for u in &desired.users {
        match u.until {
            Some(until) if until.passed(now) => {
                expired
                    .users
                    .insert(folded(&u.user_name).into_owned(), until);
            }
            Some(until) => note(&u.user_name, None, until),
            None => {}
        }
    }
    for g in &desired.groups {
        for &(i, until) in &g.until {
            let member = &g.members[i as usize];
            if expired.users.contains_key(folded(member).as_ref()) {
                continue;
            }
            if until.passed(now) {
                let pair = (folded(&g.name).into_owned(), folded(member).into_owned());
                expired.memberships.insert(pair, until);
            } else {
                note(member, Some(&g.name), until);
            }
        }
    }
    soon.sort_by(|a, b| (a.0, &a.1.user, &a.1.group).cmp(&(b.0, &b.1.user, &b.1.group)));
    let soon = soon.into_iter().map(|(_, e)| e).collect();
    if expired.is_empty() {
        return (Cow::Borrowed(desired), expired, soon);
    }
    let users = desired
        .users
        .iter()
        .filter(|u| !expired.users.contains_key(folded(&u.user_name).as_ref()))
        .cloned()
        .collect();
    let groups = desired
        .groups
        .iter()
        .map(|g| without_expired(g, &expired))
        .collect();
    (Cow::Owned(DesiredTenant { users, groups }), expired, soon)
}

/// `g` without the members `expired` names.
fn without_expired(g: &DesiredGroup, expired: &Expired) -> DesiredGroup {
    let group_key = folded(&g.name);
    let gone = |member: &str| {
        let key = folded(member);
        expired.users.contains_key(key.as_ref())
            || expired
                .memberships
                .contains_key(&(group_key.clone().into_owned(), key.into_owned()))
    };
    if !g.members.iter().any(|m| gone(m)) {
        return g.clone();
    }
    let mut group = DesiredGroup {
        members: Vec::with_capacity(g.members.len()),
        why: Vec::with_capacity(g.why.len()),
        until: Vec::new(),
        ..g.clone()
    };
    for (i, member) in g.members.iter().enumerate() {
        if gone(member) {
            continue;
        }
        if let Some(until) = g.until(i) {
            group.until.push((group.members.len() as u32, until));
        }
        if !g.why.is_empty() {
            group.why.push(g.why(i));
        }
        group.members.push(member.clone());
    }
    group
}

/// Give every membership change of `tenant` in `plan` its reasons: for an addition, why the
/// membership is desired; for a removal, which reasons do not hold (any more).
pub fn explain(plan: &mut Plan, tenant: &str, desired: &DesiredTenant, expired: &Expired) {
    let mut lookup: Option<Lookup<'_>> = None;
    for change in &mut plan.changes {
        if change.tenant != tenant {
            continue;
        }
        if change.object == ObjectKind::User {
            // A user deprovisioned because its `until:` passed says so.
            if change.action.is_destructive() {
                if let Some(until) = expired.users.get(folded(&change.name).as_ref()) {
                    change.reasons = vec![format!(
                        "`{}` was declared until {until}, which has passed",
                        change.name
                    )];
                }
            }
            continue;
        }
        if change.object != ObjectKind::Membership {
            continue;
        }
        let Some(member) = change.member.as_deref() else {
            continue;
        };
        let lookup = lookup.get_or_insert_with(|| Lookup::new(desired));
        let group = lookup.group(&change.name);
        change.reasons = match (change.action, group) {
            (Action::Add, Some(g)) => match lookup.index_of(g, member) {
                Some(i) => reasons_for(lookup, &desired.groups[g], i),
                None => Vec::new(),
            },
            (Action::Remove, Some(g)) => {
                gone_reasons(lookup, tenant, &desired.groups[g], member, expired)
            }
            (Action::Remove, None) => {
                vec![format!("`{}` is no longer declared", change.name)]
            }
            _ => Vec::new(),
        };
    }
}

/// Indexes over one tenant's desired state, built on the first membership change.
struct Lookup<'a> {
    desired: &'a DesiredTenant,
    users: HashMap<Cow<'a, str>, &'a DesiredUser>,
    groups: HashMap<Cow<'a, str>, usize>,
    /// Per group asked about: member key to index.
    members: HashMap<usize, HashMap<Cow<'a, str>, usize>>,
}

impl<'a> Lookup<'a> {
    fn new(desired: &'a DesiredTenant) -> Self {
        Lookup {
            desired,
            users: desired
                .users
                .iter()
                .map(|u| (folded(&u.user_name), u))
                .collect(),
            groups: desired
                .groups
                .iter()
                .enumerate()
                .map(|(i, g)| (folded(&g.name), i))
                .collect(),
            members: HashMap::new(),
        }
    }

    fn user(&self, name: &str) -> Option<&'a DesiredUser> {
        self.users.get(folded(name).as_ref()).copied()
    }

    fn group(&self, name: &str) -> Option<usize> {
        self.groups.get(folded(name).as_ref()).copied()
    }

    fn index_of(&mut self, group: usize, member: &str) -> Option<usize> {
        let g = &self.desired.groups[group];
        let index = self.members.entry(group).or_insert_with(|| {
            g.members
                .iter()
                .enumerate()
                .map(|(i, m)| (folded(m), i))
                .collect()
        });
        index.get(folded(member).as_ref()).copied()
    }
}

fn subject(user: &DesiredUser) -> Subject<'_> {
    Subject {
        user_name: &user.user_name,
        attrs: &user.attrs,
        active: user.active,
    }
}

/// Why member `index` of `group` is one, in words.
fn reasons_for(lookup: &Lookup<'_>, group: &DesiredGroup, index: usize) -> Vec<String> {
    let member = &group.members[index];
    let why = group.why(index);
    let user = lookup.user(member);
    let mut out = Vec::new();
    if why.has(Why::LISTED) {
        out.push(format!(
            "listed in the members of `{}` ({})",
            group.name, group.origin
        ));
    }
    if why.has(Why::USER_LISTED) {
        let at = user.map_or_else(String::new, |u| format!(" ({})", u.origin));
        out.push(format!(
            "`{member}` lists `{}` in its groups{at}",
            group.name
        ));
    }
    if why.has(Why::RULE) {
        if let Some(rule) = group.rules.get(usize::from(why.rule)) {
            out.push(format!(
                "matches rule {} of `{}` ({{ {} }}, {})",
                why.rule + 1,
                group.name,
                rule.text(),
                group.origin
            ));
        }
    }
    if why.has(Why::INCLUDED) {
        if let Some(via) = group.include_groups.get(usize::from(why.via)) {
            out.push(format!(
                "a member of `{via}`, which `{}` includes",
                group.name
            ));
        }
    }
    let ends = [group.until(index), user.and_then(|u| u.until)];
    if let Some(until) = ends.into_iter().flatten().min() {
        out.push(format!("until {until}"));
    }
    out
}

/// Why `member` is not (any more) a member of `group`: the reasons that do not hold.
fn gone_reasons(
    lookup: &mut Lookup<'_>,
    tenant: &str,
    group: &DesiredGroup,
    member: &str,
    expired: &Expired,
) -> Vec<String> {
    let key = folded(member);
    // A live name: it may hold anything.
    let shown = crate::model::printable(member);
    let member = shown.as_ref();
    if let Some(until) = expired.users.get(key.as_ref()) {
        return vec![format!(
            "`{member}` was declared until {until}, which has passed"
        )];
    }
    let pair = (folded(&group.name).into_owned(), key.into_owned());
    if let Some(until) = expired.memberships.get(&pair) {
        return vec![format!(
            "the membership was declared until {until}, which has passed"
        )];
    }
    let Some(user) = lookup.user(member) else {
        return vec![format!("`{member}` is not declared for `{tenant}`")];
    };
    let mut out = Vec::new();
    let excluded = group.exclude.iter().any(|e| folded(e) == pair.1);
    if excluded {
        out.push(format!("excluded by `exclude:` of `{}`", group.name));
    }
    for (n, rule) in group.rules.iter().enumerate() {
        let why = if !rule.applies_in(tenant) {
            Some(format!(
                "it applies in {} only",
                names(rule.tenants().unwrap_or_default())
            ))
        } else {
            rule.conditions
                .iter()
                .find_map(|c| c.mismatch(subject(user)))
        };
        if let Some(why) = why {
            out.push(format!(
                "rule {} ({{ {} }}) does not match: {why}",
                n + 1,
                rule.text()
            ));
        }
    }
    if !group.include_groups.is_empty() {
        out.push(format!(
            "not a member of {}, which `{}` includes",
            names(&group.include_groups),
            group.name
        ));
    }
    out.push(format!(
        "not listed in `members:` of `{}` nor in the user's `groups:`",
        group.name
    ));
    out
}

fn names(list: &[String]) -> String {
    let quoted: Vec<String> = list.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

/// `until:` already past at `now`, per declaration (not per tenant): for `zsc validate`.
pub fn past(
    desired: &std::collections::BTreeMap<String, DesiredTenant>,
    now: jiff::Timestamp,
) -> Vec<(Origin, String)> {
    let mut seen = std::collections::BTreeMap::new();
    for tenant in desired.values() {
        for u in &tenant.users {
            if let Some(until) = u.until.filter(|u| u.passed(now)) {
                seen.entry(format!(
                    "user `{}` is declared until {until}, which has passed: plans deprovision it",
                    u.user_name
                ))
                .or_insert_with(|| u.origin.clone());
            }
        }
        for g in &tenant.groups {
            for &(i, until) in &g.until {
                if until.passed(now) {
                    seen.entry(format!(
                        "the membership of `{}` in `{}` is declared until {until}, which has \
                         passed: plans remove it",
                        g.members[i as usize], g.name
                    ))
                    .or_insert_with(|| g.origin.clone());
                }
            }
        }
    }
    seen.into_iter().map(|(m, o)| (o, m)).collect()
}

#[cfg(test)]
mod tests;
