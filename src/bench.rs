//! Synthetic tenants and the measurements behind `examples/bench.rs` and the benchmark smoke
//! test. Not part of zsc's interface.
//!
//! Everything is deterministic: the same size gives the same users, groups and changes.

use std::collections::HashMap;
use std::sync::Arc;

use crate::apply::{self, ApplyOptions, ApplyReport, Recorder, Silent};
use crate::dialect::Dialect;
use crate::model::{
    name_key, DesiredGroup, DesiredTenant, DesiredUser, LiveGroup, LiveTenant, LiveUser, Origin,
    RemoveUserAction, UserAttrs,
};
use crate::plan::{Plan, PlanMeta, TenantInput};
use crate::scim::wire::{WireGroup, WireMember, WireUser};
use crate::scim::ScimClient;
use crate::state::{ManagedGroup, ManagedUser, State, StateOp, TenantState};

/// The shape of a synthetic tenant.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub users: usize,
    pub groups: usize,
    /// Groups each user belongs to (memberships = users × this).
    pub groups_per_user: usize,
}

/// Desired state, live state and what state says is managed, for one tenant.
pub struct World {
    pub desired: DesiredTenant,
    pub live: LiveTenant,
    pub managed: TenantState,
}

pub fn user_name(i: usize) -> String {
    format!("user{i:06}@example.com")
}

pub fn group_name(g: usize) -> String {
    format!("Group {g:05}")
}

fn attrs(i: usize, changed: bool) -> UserAttrs {
    UserAttrs {
        display_name: Some(if changed {
            format!("User {i} (renamed)")
        } else {
            format!("User {i}")
        }),
        department: Some(format!("Dept {}", i % 50)),
        ..UserAttrs::default()
    }
}

/// The groups of user `i`: `groups_per_user` distinct groups spread evenly.
fn groups_of(i: usize, size: Size) -> impl Iterator<Item = usize> {
    let stride = (size.groups / size.groups_per_user.max(1)).max(1);
    (0..size.groups_per_user.min(size.groups)).map(move |k| (i + k * stride) % size.groups)
}

/// A tenant where everything is managed and `changed` (0.0–1.0) of users and of memberships
/// differ between desired and live: changed users have another display name live; changed
/// memberships are missing live (so the plan adds them).
pub fn world(size: Size, changed: f64) -> World {
    let every = if changed > 0.0 {
        (1.0 / changed).round().max(1.0) as usize
    } else {
        usize::MAX
    };
    let mut desired = DesiredTenant::default();
    let mut live = LiveTenant::default();
    let mut managed = TenantState::default();
    let mut members: Vec<Vec<String>> = vec![Vec::new(); size.groups];
    let mut live_members: Vec<Vec<String>> = vec![Vec::new(); size.groups];
    let mut membership = 0usize;
    for i in 0..size.users {
        let name = user_name(i);
        let id = format!("u{i}");
        desired.users.push(DesiredUser {
            user_name: name.clone(),
            renamed_from: None,
            attrs: attrs(i, false),
            active: true,
            protect: false,
            origin: Origin::default(),
            until: None,
        });
        let live_user = LiveUser {
            id: id.clone(),
            user_name: name.clone(),
            active: true,
            attrs: attrs(i, i % every == every - 1),
        };
        managed.users.insert(
            name_key(&name),
            ManagedUser {
                id: id.clone(),
                user_name: name.clone(),
                active: true,
                attrs: live_user.attrs.clone(),
                protect: false,
                wrote: None,
            },
        );
        live.users.push(live_user);
        for g in groups_of(i, size) {
            members[g].push(name.clone());
            if membership % every != every - 1 {
                live_members[g].push(id.clone());
            }
            membership += 1;
        }
    }
    for (g, (members, live_members)) in members.into_iter().zip(live_members).enumerate() {
        let name = group_name(g);
        let id = format!("g{g}");
        managed.groups.insert(
            name_key(&name),
            ManagedGroup {
                id: id.clone(),
                name: name.clone(),
                members: live_members.clone(),
                protect: false,
                wrote: None,
            },
        );
        live.groups.push(LiveGroup {
            id,
            name: name.clone(),
            members: live_members,
        });
        desired.groups.push(DesiredGroup {
            name,
            renamed_from: None,
            members,
            protect: false,
            origin: Origin::default(),
            ..DesiredGroup::default()
        });
    }
    World {
        desired,
        live,
        managed,
    }
}

/// Plan one tenant the way `zsc plan` does after its refresh.
pub fn plan(world: &World, dialect: Dialect) -> Plan {
    Plan::build(
        PlanMeta {
            lineage: "bench".into(),
            serial: 1,
            config_fingerprint: "bench".into(),
            refreshed: true,
        },
        &[TenantInput {
            name: "bench",
            dialect,
            desired: &world.desired,
            managed: &world.managed,
            live: &world.live,
            remove_user_action: RemoveUserAction::Disable,
            server: None,
        }],
    )
}

/// The live tenant as emulator data, to seed a server with.
pub fn emulator_data(live: &LiveTenant) -> crate::emulator::EmulatorData {
    let names: HashMap<&str, &str> = live
        .users
        .iter()
        .map(|u| (u.id.as_str(), u.user_name.as_str()))
        .collect();
    crate::emulator::EmulatorData {
        users: live
            .users
            .iter()
            .map(|u| WireUser {
                id: Some(u.id.clone()),
                ..WireUser::from_model(&u.user_name, u.active, &u.attrs, false)
            })
            .collect(),
        groups: live
            .groups
            .iter()
            .map(|g| WireGroup {
                schemas: vec![crate::scim::wire::GROUP_SCHEMA.to_owned()],
                id: Some(g.id.clone()),
                display_name: g.name.clone(),
                members: Some(
                    g.members
                        .iter()
                        .map(|m| WireMember {
                            value: m.clone(),
                            display: names.get(m.as_str()).map(|n| (*n).to_owned()),
                            reference: None,
                        })
                        .collect(),
                ),
                external_id: None,
                meta: None,
            })
            .collect(),
    }
}

/// Desired state only: `users` new users joined round-robin to `groups` new groups.
pub fn new_team(users: usize, groups: usize) -> DesiredTenant {
    let size = Size {
        users,
        groups,
        groups_per_user: 1,
    };
    let w = world(size, 0.0);
    w.desired
}

/// A recorder that keeps nothing (for measurements of the network side alone).
pub struct NoRecorder;

impl Recorder for NoRecorder {
    fn record(&mut self, _entries: &[(&str, &[StateOp])]) -> Result<(), String> {
        Ok(())
    }
}

/// Plan `desired` against an empty tenant and apply it through `client`.
pub async fn apply_new(
    client: &ScimClient,
    desired: &DesiredTenant,
    dialect: Dialect,
    parallelism: usize,
    recorder: &mut dyn Recorder,
) -> Result<(Plan, ApplyReport), String> {
    let live = LiveTenant::default();
    let managed = TenantState::default();
    let plan = Plan::build(
        PlanMeta {
            lineage: "bench".into(),
            serial: 0,
            config_fingerprint: "bench".into(),
            refreshed: true,
        },
        &[TenantInput {
            name: "bench",
            dialect,
            desired,
            managed: &managed,
            live: &live,
            remove_user_action: RemoveUserAction::Disable,
            server: None,
        }],
    );
    let clients = HashMap::from([("bench".to_owned(), client.clone())]);
    let mut state = State::new();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let report = apply::apply(
        &plan,
        &clients,
        &mut state,
        recorder,
        &ApplyOptions {
            parallelism,
            now: crate::state::now(),
            look_up_creates: false,
        },
        Arc::new(Silent),
        rx,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok((plan, report))
}

/// Peak resident memory of this process, in MiB (Linux `VmHWM`).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time (user + system) this process has used, in seconds (Linux `/proc/self/stat`).
pub fn cpu_seconds() -> Option<f64> {
    cpu_seconds_of("self")
}

/// CPU time (user + system) process `pid` has used, in seconds: `"self"` or a child's id.
pub fn cpu_seconds_of(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
