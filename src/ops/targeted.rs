//! Reading tenants before a plan: in full, or (a targeted refresh, `--refresh=changed` or a
//! tenant's `refresh: changed`) only what the plan can touch.
//!
//! A targeted read of a tenant costs one discovery request, one count per resource type (the
//! `totalResults` of a one-object page) and one request per object it reads (see
//! [`crate::plan::targeted::select`]). It gives way to a full read when it cannot vouch for
//! what it does not read: no full read recorded yet, the last one older than the tenant's
//! `max_refresh_age`, a count that differs from what state recorded (objects were created or
//! deleted elsewhere), a URL other than the one state records, a server whose names cannot be
//! looked up one by one (see [`ScimClient::read_some`]), or more objects to read one by one than
//! a full read would cost. After planning, every change must concern objects it read
//! ([`crate::plan::targeted::unread`]); what does not is read too and the plan made again.
//!
//! What it must not do: conclude that an object is gone, changed or unmanaged from anything
//! but a read (`plan::targeted` takes every object not read from state as recorded).

use std::collections::{HashMap, HashSet};

use crate::config::{Config, RefreshMode};
use crate::error::Error;
use crate::model::LiveTenant;
use crate::plan::targeted::{self, Found, TargetedRead, Want};
use crate::plan::{Address, ObjectKind, Plan};
use crate::render::thousands;
use crate::scim::{Lookups, ScimClient, ScimError, Totals};
use crate::state::{FullRefresh, State};

use super::tenants::Tenants;

/// How many times a plan is made again after reading what its changes concerned.
const MAX_ROUNDS: usize = 3;

/// What was read of every tenant.
#[derive(Default)]
pub struct Reads {
    pub live: HashMap<String, LiveTenant>,
    /// Tenants read in full, and what their listings counted.
    pub full: HashMap<String, Totals>,
    /// Tenants read in part.
    pub targeted: HashMap<String, Targeted>,
    /// Tenants asked to be read in part but read in full, and why.
    pub notes: Vec<String>,
}

/// A tenant read in part.
pub struct Targeted {
    pub found: Found,
    /// What the server counts now (equal to what state recorded, or it would be read in full).
    pub counted: Totals,
    pub last_full: FullRefresh,
    /// Requests sent to it before the read began (to tell the read's own).
    requests_before: u64,
}

/// The refresh each tenant gets: `flag` (`--refresh=full|changed`) or, without one, the
/// tenant's `refresh:`.
fn mode(config: &Config, name: &str, flag: Option<RefreshMode>) -> RefreshMode {
    flag.unwrap_or_else(|| {
        config
            .tenants
            .get(name)
            .map_or(RefreshMode::Full, |t| t.read.refresh)
    })
}

/// Read every tenant as asked: in full, or in part where that is asked for and safe.
pub async fn read(
    config: &Config,
    state: &State,
    tenants: &Tenants,
    flag: Option<RefreshMode>,
    accept_gap: bool,
) -> Result<Reads, Error> {
    let mut reads = Reads::default();
    let mut full: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    let empty_state = crate::state::TenantState::default();
    let empty_desired = crate::model::DesiredTenant::default();
    // One tenant after another: each attempt is a few requests, and borrowing state and the
    // configuration (a million users) beats copying them into tasks.
    for (name, tenant) in &config.tenants {
        if mode(config, name, flag) == RefreshMode::Full {
            full.push(name.clone());
            continue;
        }
        let managed = state.tenants.get(name).unwrap_or(&empty_state);
        let desired = config.desired.get(name).unwrap_or(&empty_desired);
        let client = &tenants.clients[name];
        match attempt(client, name, managed, desired, tenant).await {
            Ok(Attempt::Read(read)) => {
                let (targeted, live) = *read;
                reads.live.insert(name.clone(), live);
                reads.targeted.insert(name.clone(), targeted);
            }
            Ok(Attempt::Full(why)) => {
                reads.notes.push(format!(
                    "`{name}`: read in full, not only what this plan can touch: {why}"
                ));
                full.push(name.clone());
            }
            Err(e) => errors.push((name.clone(), e)),
        }
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.0.cmp(&b.0));
        return Err(Error::Read(errors));
    }
    if !full.is_empty() {
        full.sort();
        let read = super::refresh::read_counted(config, state, tenants, &full, accept_gap).await?;
        for (name, (live, totals)) in read {
            reads.live.insert(name.clone(), live);
            reads.full.insert(name, totals);
        }
    }
    reads.notes.sort();
    Ok(reads)
}

/// Why a tenant whose names cannot be looked up is read in full.
const UNFILTERABLE: &str = "names cannot be looked up one by one on this server (it cannot \
     filter, refused a filter, or its `eq` tells case apart)";

enum Attempt {
    /// What was read, boxed: the alternative is one string.
    Read(Box<(Targeted, LiveTenant)>),
    /// Read it in full instead, for this reason.
    Full(String),
}

/// The first round of a targeted read of one tenant, or why it must be read in full.
async fn attempt(
    client: &ScimClient,
    name: &str,
    managed: &crate::state::TenantState,
    desired: &crate::model::DesiredTenant,
    tenant: &crate::config::TenantConfig,
) -> Result<Attempt, ScimError> {
    let max_age = tenant.read.max_refresh_age;
    // Counts prove nothing about a server never read: the same counts elsewhere (a mirror, a
    // recovery tenant) would pass.
    let server = tenant.server();
    if managed.server.as_ref().is_some_and(|s| *s != server) {
        return Ok(Attempt::Full(format!(
            "the configuration points at {server}, state records {}",
            managed.server.as_deref().unwrap_or_default()
        )));
    }
    let Some(last_full) = managed.full_refresh.clone() else {
        return Ok(Attempt::Full(
            "state records no full read of this tenant yet".to_owned(),
        ));
    };
    if let Some(age) = age_of(&last_full.at) {
        if age > max_age {
            return Ok(Attempt::Full(format!(
                "its last full read ({}) is {} old, more than `max_refresh_age` ({})",
                last_full.at,
                crate::config::read_policy::format_duration(round_to_minutes(age)),
                crate::config::read_policy::format_duration(max_age)
            )));
        }
    } else {
        return Ok(Attempt::Full(format!(
            "state records its last full read at `{}`, which is not a time",
            last_full.at
        )));
    }
    let requests_before = client.requests_sent();
    let (users, groups) = client.count().await?;
    let (Some(users), Some(groups)) = (users, groups) else {
        return Ok(Attempt::Full(
            "the server's answers carry no totalResults to count with".to_owned(),
        ));
    };
    for (what, now, then) in [
        ("users", users, last_full.users),
        ("groups", groups, last_full.groups),
    ] {
        if now != then {
            return Ok(Attempt::Full(format!(
                "the server counts {} {what}, {} than at its last full read ({}, {}): some were \
                 created or deleted outside zsc",
                thousands(now as usize),
                if now > then { "more" } else { "fewer" },
                last_full.at,
                thousands(then as usize)
            )));
        }
    }
    let want = targeted::select(desired, managed);
    let spec = client.spec();
    let page = client.page_size().max(1) as u64;
    let mut full_cost = users.div_ceil(page) + groups.div_ceil(page);
    if !spec.group_list_has_members && !client.memberships_from_users() {
        full_cost += groups;
    }
    let cost = want.requests(!spec.group_list_has_members) as u64;
    if cost > full_cost {
        return Ok(Attempt::Full(format!(
            "reading the {} objects that changed one by one would take {} requests, more than \
             a full read ({full_cost})",
            thousands(want_len(&want)),
            thousands(cost as usize)
        )));
    }
    let mut found = Found::default();
    if !read_round(client, &want, &mut found).await? {
        return Ok(Attempt::Full(UNFILTERABLE.to_owned()));
    }
    let live = targeted::assemble(managed, &found);
    tracing::info!(
        tenant = name,
        "targeted refresh: counted {users} users and {groups} groups as at the last full read; \
         read {} objects",
        want_len(&want)
    );
    Ok(Attempt::Read(Box::new((
        Targeted {
            found,
            counted: Totals { users, groups },
            last_full,
            requests_before,
        },
        live,
    ))))
}

fn want_len(want: &Want) -> usize {
    want.user_ids.len() + want.group_ids.len() + want.user_names.len() + want.group_names.len()
}

/// Read `want` into `found`; false when the server cannot look names up (nothing was read).
async fn read_round(
    client: &ScimClient,
    want: &Want,
    found: &mut Found,
) -> Result<bool, ScimError> {
    if want.is_empty() {
        return Ok(true);
    }
    let lookups = Lookups {
        user_ids: want.user_ids.iter().cloned().collect(),
        group_ids: want.group_ids.iter().cloned().collect(),
        user_names: want.user_names.values().cloned().collect(),
        group_names: want.group_names.values().cloned().collect(),
    };
    let looked = client.read_some(&lookups).await?;
    if looked.unfilterable {
        return Ok(false);
    }
    found.add(
        want,
        looked.users,
        looked.groups,
        looked.missing_user_ids,
        looked.missing_group_ids,
    );
    Ok(true)
}

/// Make sure every change of `plan` in a tenant read in part concerns objects it read: read
/// what they concern, and let the caller plan again (true) until none is left. A tenant still
/// short after [`MAX_ROUNDS`] is read in full. `build` makes the plan from the live pictures.
pub async fn settle(
    config: &Config,
    state: &State,
    tenants: &Tenants,
    reads: &mut Reads,
    accept_gap: bool,
    mut build: impl FnMut(&HashMap<String, LiveTenant>) -> Plan,
) -> Result<Plan, Error> {
    let mut plan = build(&reads.live);
    for round in 0..=MAX_ROUNDS {
        let mut short: Vec<(String, Want)> = Vec::new();
        for (name, t) in &reads.targeted {
            let want =
                targeted::unread(plan.changes.iter().filter(|c| c.tenant == *name), &t.found);
            if !want.is_empty() {
                short.push((name.clone(), want));
            }
        }
        if short.is_empty() {
            return Ok(plan);
        }
        short.sort_by(|a, b| a.0.cmp(&b.0));
        if round == MAX_ROUNDS {
            let names: Vec<String> = short.into_iter().map(|(n, _)| n).collect();
            for name in &names {
                reads.targeted.remove(name);
                reads.notes.push(format!(
                    "`{name}`: read in full: after {MAX_ROUNDS} rounds the plan still changed \
                     objects not read"
                ));
            }
            let read =
                super::refresh::read_counted(config, state, tenants, &names, accept_gap).await?;
            for (name, (live, totals)) in read {
                reads.live.insert(name.clone(), live);
                reads.full.insert(name, totals);
            }
            return Ok(build(&reads.live));
        }
        let mut errors = Vec::new();
        for (name, want) in short {
            let t = reads.targeted.get_mut(&name).expect("a targeted tenant");
            let client = &tenants.clients[&name];
            let want = want.unless_read(&t.found);
            match read_round(client, &want, &mut t.found).await {
                Ok(_) => {
                    let managed = state.tenants.get(&name).cloned().unwrap_or_default();
                    reads
                        .live
                        .insert(name, targeted::assemble(&managed, &t.found));
                }
                Err(e) => errors.push((name, e)),
            }
        }
        if !errors.is_empty() {
            return Err(Error::Read(errors));
        }
        plan = build(&reads.live);
    }
    Ok(plan)
}

/// Say in each targeted tenant's summary what was read and counted instead of listed.
pub fn describe(plan: &mut Plan, reads: &Reads, tenants: &Tenants) {
    for summary in &mut plan.tenants {
        let Some(t) = reads.targeted.get(&summary.name) else {
            continue;
        };
        let (users_read, groups_read) = t.found.counts();
        summary.live_users = usize::try_from(t.counted.users).unwrap_or(usize::MAX);
        summary.live_groups = usize::try_from(t.counted.groups).unwrap_or(usize::MAX);
        // Nothing was listed, so nothing is known of what zsc does not manage: not counted.
        summary.unmanaged_users = 0;
        summary.unmanaged_groups = 0;
        let requests = tenants.clients[&summary.name]
            .requests_sent()
            .saturating_sub(t.requests_before);
        summary.read = Some(TargetedRead {
            users_read,
            groups_read,
            last_full_refresh: t.last_full.at.clone(),
            requests,
        });
    }
}

/// State after the reads: tenants read in full take what the server holds (and record the
/// read and its counts), tenants read in part take what they read.
pub fn fold(state: &mut State, config: &Config, reads: &Reads) {
    let now = crate::state::now();
    super::refresh::fold(state, config, |name| {
        reads
            .live
            .get(name)
            .filter(|_| reads.full.contains_key(name))
    });
    for (name, totals) in &reads.full {
        if let Some(t) = state.tenants.get_mut(name) {
            t.full_refresh = Some(FullRefresh {
                at: now.clone(),
                users: totals.users,
                groups: totals.groups,
            });
        }
    }
    for (name, t) in &reads.targeted {
        if let Some(managed) = state.tenants.get_mut(name) {
            targeted::fold(managed, &t.found);
        }
    }
}

/// Record, per tenant, which declared objects' records are what they declare: all but those
/// `undone` names (objects with a change not made, or a conflict). Not after a `--target`ed
/// plan, which leaves others' changes out.
pub fn stamp(state: &mut State, config: &Config, undone: &HashSet<(String, ObjectKind, String)>) {
    let empty = crate::model::DesiredTenant::default();
    for (name, managed) in state.tenants.iter_mut() {
        if !config.tenants.contains_key(name) {
            continue;
        }
        let desired = config.desired.get(name).unwrap_or(&empty);
        let mine: HashSet<(ObjectKind, String)> = undone
            .iter()
            .filter(|(t, _, _)| t == name)
            .map(|(_, k, n)| (*k, n.clone()))
            .collect();
        targeted::stamp(managed, desired, &mine);
    }
}

/// After an apply of `plan`: the objects all of whose changes were made take fingerprints
/// (their records are what they declare now); the others lose theirs. Objects without a
/// change keep what the plan's refresh recorded.
pub fn stamp_applied(
    state: &mut State,
    config: &Config,
    plan: &Plan,
    done: &dyn Fn(usize) -> bool,
) {
    let undone = undone(plan, Some(done));
    let mut complete: HashMap<String, HashSet<(ObjectKind, String)>> = HashMap::new();
    for change in &plan.changes {
        for (kind, name) in targeted::concerned(std::iter::once(change)) {
            if !undone.contains(&(change.tenant.clone(), kind, name.clone())) {
                complete
                    .entry(change.tenant.clone())
                    .or_default()
                    .insert((kind, name));
            }
        }
    }
    let empty = crate::model::DesiredTenant::default();
    for (name, managed) in state.tenants.iter_mut() {
        let desired = config.desired.get(name).unwrap_or(&empty);
        if let Some(objects) = complete.get(name) {
            targeted::stamp_only(managed, desired, objects);
        }
        for (tenant, kind, key) in &undone {
            if tenant == name {
                match kind {
                    ObjectKind::User => managed.reconciled.users.remove(key),
                    _ => managed.reconciled.groups.remove(key),
                };
            }
        }
    }
}

/// The objects a plan leaves undone: every change of it (or those `done` does not say are
/// done), and every conflict, as (tenant, kind, folded name).
pub fn undone(
    plan: &Plan,
    done: Option<&dyn Fn(usize) -> bool>,
) -> HashSet<(String, ObjectKind, String)> {
    let mut out = HashSet::new();
    for (i, change) in plan.changes.iter().enumerate() {
        if done.is_some_and(|d| d(i)) {
            continue;
        }
        for (kind, name) in targeted::concerned(std::iter::once(change)) {
            out.insert((change.tenant.clone(), kind, name));
        }
    }
    for conflict in &plan.conflicts {
        match Address::parse(&conflict.address) {
            Ok(Address::User { tenant, user_name }) => {
                out.insert((tenant, ObjectKind::User, crate::model::name_key(&user_name)));
            }
            Ok(Address::Group { tenant, name })
            | Ok(Address::Membership {
                tenant,
                group: name,
                ..
            }) => {
                out.insert((tenant, ObjectKind::Group, crate::model::name_key(&name)));
            }
            _ => {}
        }
    }
    out
}

/// After an apply, the counts state keeps of each tenant follow zsc's own creates and deletes,
/// so the next targeted refresh still finds them equal to the server's. A tenant state held
/// nothing of before this apply gets its first record here, from the plan's full read
/// (`read_at`: when that read was made in this run; `None` for a saved plan). Where the count
/// cannot be told (a create that found its object there already, a create or delete that
/// failed and may have happened all the same), the tenant's counts are forgotten: its next
/// plan reads it in full.
pub fn count_applied(
    state: &mut State,
    plan: &Plan,
    read_at: Option<&str>,
    done: &dyn Fn(usize) -> bool,
    uncertain: &dyn Fn(usize) -> bool,
) {
    use crate::plan::Action;
    if let Some(at) = read_at.filter(|_| plan.refreshed) {
        for summary in plan.tenants.iter().filter(|t| t.read.is_none()) {
            if let Some(t) = state.tenants.get_mut(&summary.name) {
                t.full_refresh.get_or_insert_with(|| FullRefresh {
                    at: at.to_owned(),
                    users: summary.live_users as u64,
                    groups: summary.live_groups as u64,
                });
            }
        }
    }
    let mut unknown: HashSet<&str> = HashSet::new();
    for (i, change) in plan.changes.iter().enumerate() {
        let counted = matches!(
            change.action,
            Action::Create | Action::Delete | Action::Disable
        ) && change.object != ObjectKind::Membership;
        if counted && uncertain(i) {
            unknown.insert(&change.tenant);
        }
        if !done(i) || uncertain(i) {
            continue;
        }
        let Some(full) = state
            .tenants
            .get_mut(&change.tenant)
            .and_then(|t| t.full_refresh.as_mut())
        else {
            continue;
        };
        let deletes_user = change.action == Action::Delete
            || (change.action == Action::Disable
                && plan
                    .tenants
                    .iter()
                    .find(|t| t.name == change.tenant)
                    .is_some_and(|t| t.dialect.spec().deactivate_deletes));
        let counter = match change.object {
            ObjectKind::User => &mut full.users,
            ObjectKind::Group => &mut full.groups,
            ObjectKind::Membership => continue,
        };
        match change.action {
            Action::Create => *counter += 1,
            Action::Delete => *counter = counter.saturating_sub(1),
            Action::Disable if deletes_user => *counter = counter.saturating_sub(1),
            _ => {}
        }
    }
    for name in unknown {
        if let Some(t) = state.tenants.get_mut(name) {
            t.full_refresh = None;
        }
    }
}

/// How long ago an RFC 3339 time was (`None`: not a time).
fn age_of(at: &str) -> Option<std::time::Duration> {
    let then: jiff::Timestamp = at.parse().ok()?;
    let now = jiff::Timestamp::now();
    let secs = now.as_second().saturating_sub(then.as_second());
    Some(std::time::Duration::from_secs(
        u64::try_from(secs).unwrap_or(0),
    ))
}

fn round_to_minutes(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(d.as_secs() / 60 * 60)
}
