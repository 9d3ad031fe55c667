//! What must hold after every apply, checked against the emulators' data and request logs and
//! zsc's state, independently of how zsc computes its plan:
//!
//! 1. after an apply that exits 0, every managed object is live exactly as the YAML says;
//! 2. no object that state did not hold and the plan did not adopt was changed or deleted, and
//!    an attribute zsc never manages (`title`) survives every write;
//! 3. zsc created no duplicate: no successful POST of a name that already existed;
//! 4. the next plan is empty (checked by the caller with [`converged_plan_args`]);
//! 5. no apply disabled or deleted more than the destroy limits allow;
//! 6. every write maps to a change of the plan the apply carried out (and, after a complete
//!    apply, every change to a write); an apply the plan refused wrote nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use zsc::emulator::LoggedRequest;
use zsc::model::folded;
use zsc::scim::wire::WireUser;

use super::desired::Desired;
use super::steps::{ATTRS, GROUPS, TENANTS, USERS};
use super::world::{Capture, World};
use crate::harness::Run;

/// How an apply was run.
#[derive(Clone, Debug)]
pub enum ApplyKind {
    /// `zsc apply --auto-approve`.
    Full,
    /// `zsc apply --auto-approve --target ADDR`.
    Targeted(String),
    /// `zsc apply FILE` of a plan that is not stale; `server_changed`: servers were changed
    /// outside zsc since it was saved, so it may fail and need not bring the YAML about.
    Saved { server_changed: bool },
    /// `zsc apply FILE` refused as stale.
    Stale,
    /// `zsc apply --auto-approve`, SIGKILLed.
    Killed,
}

/// Everything known about one apply.
pub struct ApplyRun {
    pub kind: ApplyKind,
    pub run: Run,
    pub pre: Capture,
    pub post: Capture,
    /// The plan it carries out: the saved one, or `zsc plan --format json` just before.
    pub plan: Option<Value>,
    /// Whether that plan exited 1 (conflicts, guards, a refresh that failed).
    pub plan_refused: bool,
    pub plan_stderr: String,
    /// Each tenant's request log during the apply.
    pub logs: Vec<Vec<LoggedRequest>>,
}

impl ApplyRun {
    fn exited_ok(&self) -> bool {
        self.run.code == 0
    }

    fn writes(&self, t: usize) -> impl Iterator<Item = &LoggedRequest> {
        self.logs[t].iter().filter(|r| r.method != "GET")
    }

    fn any_writes(&self) -> bool {
        (0..self.logs.len()).any(|t| self.writes(t).next().is_some())
    }

    fn changes(&self, t: usize) -> Vec<&Value> {
        self.plan
            .as_ref()
            .and_then(|p| p["changes"].as_array())
            .map(|changes| {
                changes
                    .iter()
                    .filter(|c| c["tenant"] == TENANTS[t])
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The arguments of the plan that must be empty after this apply, if any.
pub fn converged_plan_args(apply: &ApplyRun) -> Option<Vec<String>> {
    if !apply.exited_ok() {
        return None;
    }
    let base = ["plan", "--detailed-exitcode"].map(String::from).to_vec();
    match &apply.kind {
        ApplyKind::Full
        | ApplyKind::Saved {
            server_changed: false,
        } => Some(base),
        ApplyKind::Targeted(address) => {
            let mut args = base;
            args.push("--target".into());
            args.push(address.clone());
            Some(args)
        }
        _ => None,
    }
}

pub fn check_apply(world: &World, apply: &ApplyRun) -> Result<(), String> {
    exit_status(apply)?;
    for t in 0..world.tenant_count() {
        writes_follow_the_plan(apply, t)?;
        unmanaged_untouched(world, apply, t)?;
        no_duplicates(apply, t)?;
    }
    guards_held(world, apply)?;
    if apply.exited_ok()
        && matches!(
            apply.kind,
            ApplyKind::Full
                | ApplyKind::Saved {
                    server_changed: false
                }
        )
    {
        for t in 0..world.tenant_count() {
            live_as_declared(&world.desired, apply, t)?;
            every_change_written(apply, t)?;
        }
    }
    Ok(())
}

/// The exit code the plan predicts, and no write at all from an apply that was refused.
fn exit_status(apply: &ApplyRun) -> Result<(), String> {
    let code = apply.run.code;
    let fail = |what: &str| {
        Err(format!(
            "{what} (apply exited {code}; plan exited {})\napply stdout:\n{}\napply stderr:\n{}\nplan stderr:\n{}",
            if apply.plan_refused { 1 } else { 0 },
            apply.run.stdout,
            apply.run.stderr,
            apply.plan_stderr
        ))
    };
    let refused = match &apply.kind {
        ApplyKind::Stale => true,
        ApplyKind::Saved { .. } => false,
        _ => apply.plan_refused,
    };
    if refused {
        if apply.any_writes() {
            return fail(&format!(
                "an apply refused by its plan wrote: {:?}",
                apply.logs
            ));
        }
        if code == 0 && !matches!(apply.kind, ApplyKind::Killed) {
            return fail("the plan was refused but the apply succeeded");
        }
        return Ok(());
    }
    match (&apply.kind, code) {
        (ApplyKind::Killed, _) | (_, 0) => Ok(()),
        (
            ApplyKind::Saved {
                server_changed: true,
            },
            1,
        ) => Ok(()),
        _ => fail("an apply of a plan zsc accepted failed"),
    }
}

fn path_id(path: &str) -> Option<(&str, &str)> {
    let path = path.split('?').next().unwrap_or(path);
    let mut parts = path.trim_start_matches('/').split('/');
    let kind = parts.next()?;
    let id = parts.next()?;
    Some((kind, id))
}

fn is_ok(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Whether a write's body sets `active` to false.
fn sets_inactive(request: &LoggedRequest) -> bool {
    let Some(body) = &request.body else {
        return false;
    };
    match request.method.as_str() {
        "PUT" => body["active"] == Value::Bool(false),
        "PATCH" => body["Operations"].as_array().is_some_and(|ops| {
            ops.iter().any(|op| {
                let path = op["path"].as_str().unwrap_or("");
                (path.eq_ignore_ascii_case("active") && op["value"] == Value::Bool(false))
                    || (path.is_empty() && op["value"]["active"] == Value::Bool(false))
            })
        }),
        _ => false,
    }
}

/// The name a PUT or PATCH gives an object, if it sets one.
fn written_name(request: &LoggedRequest, kind: &str) -> Option<String> {
    let key = if kind == "Users" {
        "userName"
    } else {
        "displayName"
    };
    let body = request.body.as_ref()?;
    match request.method.as_str() {
        "PUT" => body[key].as_str().map(str::to_owned),
        "PATCH" => body["Operations"].as_array()?.iter().find_map(|op| {
            let path = op["path"].as_str().unwrap_or("");
            if path.eq_ignore_ascii_case(key) {
                op["value"].as_str().map(str::to_owned)
            } else if path.is_empty() {
                op["value"][key].as_str().map(str::to_owned)
            } else {
                None
            }
        }),
        _ => None,
    }
}

/// The name a POST creates.
fn posted_name(request: &LoggedRequest, kind: &str) -> String {
    let body = request.body.clone().unwrap_or(Value::Null);
    let key = if kind == "Users" {
        "userName"
    } else {
        "displayName"
    };
    body[key].as_str().unwrap_or_default().to_owned()
}

fn object_name(raw: &Value, kind: &str) -> String {
    let key = if kind == "Users" {
        "userName"
    } else {
        "displayName"
    };
    raw[key].as_str().unwrap_or_default().to_owned()
}

/// Ids of objects that existed before the apply and that a create of the plan took over after
/// its POST met 409 (an object of that name already existed).
fn adopted_after_conflict(apply: &ApplyRun, t: usize, kind: &str) -> BTreeSet<String> {
    let conflicted: BTreeSet<String> = apply
        .writes(t)
        .filter(|r| {
            r.method == "POST" && r.path.starts_with(&format!("/{kind}")) && r.status == 409
        })
        .map(|r| folded(&posted_name(r, kind)).into_owned())
        .collect();
    let before = if kind == "Users" {
        &apply.pre.tenants[t].users
    } else {
        &apply.pre.tenants[t].groups
    };
    before
        .iter()
        .filter(|(_, raw)| conflicted.contains(folded(&object_name(raw, kind)).as_ref()))
        .map(|(id, _)| id.clone())
        .collect()
}

/// Invariant 6: every write maps to a change of the plan.
fn writes_follow_the_plan(apply: &ApplyRun, t: usize) -> Result<(), String> {
    let Some(_) = &apply.plan else {
        return Ok(());
    };
    let changes = apply.changes(t);
    let creates = |object: &str| -> BTreeSet<String> {
        changes
            .iter()
            .filter(|c| c["object"] == object && c["action"] == "create")
            .filter_map(|c| c["name"].as_str())
            .map(|n| folded(n).into_owned())
            .collect()
    };
    let user_creates = creates("user");
    let group_creates = creates("group");
    // id -> the changes naming it
    let mut by_id: BTreeMap<(&str, String), Vec<&Value>> = BTreeMap::new();
    for change in &changes {
        let Some(id) = change["id"].as_str() else {
            continue;
        };
        let kind = if change["object"] == "user" {
            "Users"
        } else {
            "Groups"
        };
        by_id.entry((kind, id.to_owned())).or_default().push(change);
    }
    let pre = &apply.pre.tenants[t];
    let adopted_users = adopted_after_conflict(apply, t, "Users");
    let adopted_groups = adopted_after_conflict(apply, t, "Groups");
    for request in apply.writes(t) {
        let bad = |why: &str| {
            Err(format!(
                "tenant {}: {} {} ({}) {why}\nbody: {}\nplan changes: {}",
                TENANTS[t],
                request.method,
                request.path,
                request.status,
                request.body.clone().unwrap_or(Value::Null),
                serde_json::to_string_pretty(&changes).unwrap_or_default()
            ))
        };
        let Some((kind, id)) = path_id(&request.path) else {
            // A POST to /Users or /Groups.
            let path = request.path.trim_start_matches('/');
            let kind = path.split('?').next().unwrap_or(path);
            let name = folded(&posted_name(request, kind)).into_owned();
            let planned = match kind {
                "Users" => user_creates.contains(&name),
                "Groups" => group_creates.contains(&name),
                _ => false,
            };
            if request.method != "POST" || !planned {
                return bad("is not a create of the plan");
            }
            continue;
        };
        let existed = match kind {
            "Users" => pre.users.contains_key(id),
            _ => pre.groups.contains_key(id),
        };
        if !existed {
            // Created by this apply (its POST was checked above), or never existed (a write
            // to an id zsc made up would have answered 404).
            if is_ok(request.status) && request.method == "POST" {
                return bad("POST to an id");
            }
            continue;
        }
        let planned = by_id.get(&(kind, id.to_owned()));
        let adopted = match kind {
            "Users" => adopted_users.contains(id),
            _ => adopted_groups.contains(id),
        };
        let Some(planned) = planned else {
            if adopted && request.method != "DELETE" {
                continue;
            }
            return bad("writes to an object no change of the plan names");
        };
        if request.method == "DELETE" && !planned.iter().any(|c| c["action"] == "delete") {
            return bad("deletes an object the plan does not delete");
        }
        if kind == "Users" && sets_inactive(request) {
            let deactivates = planned
                .iter()
                .any(|c| c["action"] == "disable" || c["after"]["active"] == Value::Bool(false));
            if !deactivates {
                return bad("deactivates a user the plan keeps active");
            }
        }
    }
    Ok(())
}

/// Invariant 6, the other way: after a complete apply every change of the plan was written.
fn every_change_written(apply: &ApplyRun, t: usize) -> Result<(), String> {
    let writes: Vec<&LoggedRequest> = apply.writes(t).collect();
    for change in apply.changes(t) {
        let action = change["action"].as_str().unwrap_or_default();
        let object = change["object"].as_str().unwrap_or_default();
        let kind = if object == "user" { "Users" } else { "Groups" };
        // Only `protect` changes: state alone records it.
        let state_only = action == "update"
            && change["after"].as_object().is_some_and(|after| {
                after
                    .iter()
                    .all(|(k, v)| k == "protect" || change["before"][k] == *v)
            });
        let written = match (object, action) {
            _ if state_only => true,
            (_, "adopt") => true,
            ("user" | "group", "create") => {
                let name = folded(change["name"].as_str().unwrap_or_default()).into_owned();
                writes.iter().any(|r| {
                    r.method == "POST"
                        && path_id(&r.path).is_none()
                        && r.path.starts_with(&format!("/{kind}"))
                        && folded(&posted_name(r, kind)) == name
                })
            }
            ("membership", _) => match change["id"].as_str() {
                Some(id) => writes
                    .iter()
                    .any(|r| path_id(&r.path) == Some(("Groups", id))),
                None => true,
            },
            _ => match change["id"].as_str() {
                Some(id) => writes.iter().any(|r| path_id(&r.path) == Some((kind, id))),
                None => true,
            },
        };
        if !written {
            return Err(format!(
                "tenant {}: the apply exited 0 but sent nothing for the change {}",
                TENANTS[t], change
            ));
        }
    }
    Ok(())
}

/// A user as compared for "unchanged": without `meta` (already gone) and `groups`, which the
/// server derives from the groups (an unmanaged user may be added to a managed group).
fn comparable_user(raw: &Value) -> Value {
    let mut raw = raw.clone();
    if let Some(object) = raw.as_object_mut() {
        object.remove("groups");
    }
    raw
}

/// Invariant 2: objects zsc neither managed nor adopted are as the history made them.
fn unmanaged_untouched(world: &World, apply: &ApplyRun, t: usize) -> Result<(), String> {
    let tenant = TENANTS[t];
    let managed = apply.pre.state.tenant(tenant);
    let managed_ids: BTreeSet<&str> = managed
        .map(|m| {
            m.users
                .values()
                .map(|u| u.id.as_str())
                .chain(m.groups.values().map(|g| g.id.as_str()))
                .collect()
        })
        .unwrap_or_default();
    // Adoptions: changes to an object zsc does not manage yet (no `managed_as`).
    let mut adopted: BTreeSet<String> = apply
        .changes(t)
        .iter()
        .filter(|c| c["object"] != "membership" && c.get("managed_as").is_none())
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    adopted.extend(adopted_after_conflict(apply, t, "Users"));
    adopted.extend(adopted_after_conflict(apply, t, "Groups"));
    let pre = &apply.pre.tenants[t];
    let post = &apply.post.tenants[t];
    if !matches!(apply.kind, ApplyKind::Stale) {
        for id in &adopted {
            legitimate_adoption(&world.desired, apply, t, id)?;
        }
    }
    let deleted_users: BTreeSet<&str> = apply
        .writes(t)
        .filter(|r| r.method == "DELETE" && is_ok(r.status))
        .filter_map(|r| path_id(&r.path))
        .filter(|(kind, _)| *kind == "Users")
        .map(|(_, id)| id)
        .collect();
    for (id, before) in &pre.users {
        if managed_ids.contains(id.as_str()) || adopted.contains(id) {
            // Managed: zsc may change what it manages, never what it does not.
            if let Some(after) = post.users.get(id) {
                if after["title"] != before["title"] {
                    return Err(format!(
                        "tenant {tenant}: user {id}'s title, which zsc does not manage, changed: {} -> {}",
                        before["title"], after["title"]
                    ));
                }
            }
            continue;
        }
        match post.users.get(id) {
            None => {
                return Err(format!(
                    "tenant {tenant}: user {id} ({}), which zsc does not manage, was deleted",
                    before["userName"]
                ))
            }
            Some(after) if comparable_user(after) != comparable_user(before) => {
                return Err(format!(
                    "tenant {tenant}: user {id}, which zsc does not manage, changed:\nbefore: {before}\nafter:  {after}"
                ))
            }
            Some(_) => {}
        }
    }
    for (id, before) in &pre.groups {
        if managed_ids.contains(id.as_str()) || adopted.contains(id) {
            continue;
        }
        let mut expected = before.clone();
        if let Some(members) = expected["members"].as_array_mut() {
            members.retain(|m| {
                !m["value"]
                    .as_str()
                    .is_some_and(|v| deleted_users.contains(v))
            });
        }
        // Members by id: the server derives each member's `display` from the user's current
        // userName, which zsc may change on a user it manages.
        let normal = |v: &Value| {
            let mut v = v.clone();
            let ids: Vec<Value> = v["members"]
                .as_array()
                .map(|ms| ms.iter().map(|m| m["value"].clone()).collect())
                .unwrap_or_default();
            if let Some(object) = v.as_object_mut() {
                object.remove("members");
                if !ids.is_empty() {
                    object.insert("members".into(), Value::Array(ids));
                }
            }
            v
        };
        match post.groups.get(id) {
            None => {
                return Err(format!(
                    "tenant {tenant}: group {id} ({}), which zsc does not manage, was deleted",
                    before["displayName"]
                ))
            }
            Some(after) if normal(after) != normal(&expected) => {
                return Err(format!(
                    "tenant {tenant}: group {id}, which zsc does not manage, changed:\nbefore: {before}\nafter:  {after}"
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// An object the plan adopts carries a name the YAML declares (or a declared `renamed_from`),
/// and no other live object of its kind had that name.
fn legitimate_adoption(
    desired: &Desired,
    apply: &ApplyRun,
    t: usize,
    id: &str,
) -> Result<(), String> {
    let pre = &apply.pre.tenants[t];
    let (kind, raw, live) = match (pre.users.get(id), pre.groups.get(id)) {
        (Some(raw), _) => ("Users", raw, &pre.users),
        (_, Some(raw)) => ("Groups", raw, &pre.groups),
        _ => return Ok(()), // created meanwhile by a saved plan's create? nothing to hold it to
    };
    let name = folded(&object_name(raw, kind)).into_owned();
    let declared: BTreeSet<String> = if kind == "Users" {
        desired
            .users_in(t)
            .flat_map(|(i, u)| std::iter::once(i).chain(u.renamed_from))
            .map(|i| folded(USERS[i]).into_owned())
            .collect()
    } else {
        desired
            .groups_in(t)
            .flat_map(|(i, g)| std::iter::once(i).chain(g.renamed_from))
            .map(|i| folded(GROUPS[i]).into_owned())
            .collect()
    };
    if !declared.contains(&name) {
        return Err(format!(
            "tenant {}: the plan adopts {kind} {id} ({name}), a name the YAML does not declare",
            TENANTS[t]
        ));
    }
    let holders = live
        .values()
        .filter(|r| folded(&object_name(r, kind)) == name)
        .count();
    // A saved plan was made from what was live then; only without changes since is the count
    // the same.
    let planned_from_now = !matches!(
        apply.kind,
        ApplyKind::Saved {
            server_changed: true
        }
    );
    if holders > 1 && planned_from_now {
        return Err(format!(
            "tenant {}: the plan adopts {kind} {id} though {holders} live objects are named {name}",
            TENANTS[t]
        ));
    }
    Ok(())
}

/// Invariant 3: no POST succeeded for a name that existed before (and was not deleted first by
/// the same apply), and none twice.
fn no_duplicates(apply: &ApplyRun, t: usize) -> Result<(), String> {
    let pre = &apply.pre.tenants[t];
    for kind in ["Users", "Groups"] {
        let live = if kind == "Users" {
            &pre.users
        } else {
            &pre.groups
        };
        let mut created: BTreeSet<String> = BTreeSet::new();
        // Objects that gave up their name earlier in the same apply: deleted, or renamed.
        let mut deleted: BTreeSet<&str> = BTreeSet::new();
        for request in apply.writes(t) {
            if is_ok(request.status) {
                if let Some((k, id)) = path_id(&request.path) {
                    let renamed_away = live.get(id).is_some_and(|raw| {
                        written_name(request, kind)
                            .is_some_and(|n| folded(&n) != folded(&object_name(raw, kind)))
                    });
                    if k == kind && (request.method == "DELETE" || renamed_away) {
                        deleted.insert(id);
                    }
                }
            }
            let is_create = request.method == "POST"
                && is_ok(request.status)
                && path_id(&request.path).is_none()
                && request.path.starts_with(&format!("/{kind}"));
            if !is_create {
                continue;
            }
            let name = folded(&posted_name(request, kind)).into_owned();
            let existing: Vec<&String> = live
                .iter()
                .filter(|(id, raw)| {
                    !deleted.contains(id.as_str()) && folded(&object_name(raw, kind)) == name
                })
                .map(|(id, _)| id)
                .collect();
            if !existing.is_empty() || !created.insert(name.clone()) {
                return Err(format!(
                    "tenant {}: zsc created a duplicate: POST /{kind} `{name}` succeeded while {} existed ({existing:?}) or it was created twice",
                    TENANTS[t],
                    existing.len()
                ));
            }
        }
    }
    Ok(())
}

/// Invariant 5: the destroy guards held, counting from the request logs.
fn guards_held(world: &World, apply: &ApplyRun) -> Result<(), String> {
    let Some(plan) = &apply.plan else {
        return Ok(());
    };
    let limits = &plan["limits"];
    let max_destroy = limits["max_destroy"].as_u64().unwrap_or(20);
    let percent = limits["max_destroy_percent"].as_f64().unwrap_or(25.0);
    let mut total = 0u64;
    for (t, tenant) in TENANTS.iter().enumerate().take(world.tenant_count()) {
        let pre = &apply.pre.tenants[t];
        let declared_inactive: BTreeSet<String> = world
            .desired
            .users_in(t)
            .filter(|(_, u)| u.active == Some(false))
            .map(|(i, _)| folded(USERS[i]).into_owned())
            .collect();
        let mut destroyed: BTreeSet<String> = BTreeSet::new();
        for request in apply.writes(t) {
            let Some((kind, id)) = path_id(&request.path) else {
                continue;
            };
            if request.method == "DELETE" && is_ok(request.status) {
                destroyed.insert(format!("{kind}/{id}"));
            }
            if kind == "Users" && sets_inactive(request) && is_ok(request.status) {
                let Some(before) = pre.users.get(id) else {
                    continue;
                };
                let was_active = before["active"] != Value::Bool(false);
                let declared = declared_inactive
                    .contains(folded(&object_name(before, kind)).as_ref())
                    || apply.changes(t).iter().any(|c| {
                        c["id"] == id
                            && c["action"] != "disable"
                            && c["after"]["active"] == Value::Bool(false)
                    });
                if was_active && !declared {
                    destroyed.insert(format!("{kind}/{id}"));
                }
            }
        }
        let count = destroyed.len() as u64;
        total += count;
        let summary = plan["tenants"]
            .as_array()
            .and_then(|ts| ts.iter().find(|x| x["name"] == *tenant));
        let managed = summary
            .map(|s| {
                s["managed_users"].as_u64().unwrap_or(0) + s["managed_groups"].as_u64().unwrap_or(0)
            })
            .unwrap_or(0);
        if count > 0 && (managed == 0 || count as f64 * 100.0 / managed as f64 > percent) {
            return Err(format!(
                "tenant {}: the apply destroyed {count} of {managed} managed objects, more than max_destroy_percent {percent}: {destroyed:?}",
                tenant
            ));
        }
    }
    if total > max_destroy {
        return Err(format!(
            "the apply destroyed {total} objects, more than max_destroy {max_destroy}"
        ));
    }
    Ok(())
}

/// A user's managed attributes as the YAML wants them live.
fn expected_attr(declared: &Option<String>) -> Option<Option<String>> {
    declared
        .as_ref()
        .map(|v| (!v.is_empty()).then(|| v.clone()))
}

/// Invariant 1: after a successful complete apply, every declared object is live, found by the
/// id state records, exactly as declared; state holds nothing else; removed objects are gone or
/// disabled.
fn live_as_declared(desired: &Desired, apply: &ApplyRun, t: usize) -> Result<(), String> {
    let tenant = TENANTS[t];
    let post = &apply.post.tenants[t];
    let empty = zsc::state::TenantState::default();
    let state = apply.post.state.tenant(tenant).unwrap_or(&empty);
    let fail = |what: String| Err(format!("tenant {tenant}: after a successful apply, {what}"));
    let mut user_ids: BTreeMap<usize, String> = BTreeMap::new();
    for (i, user) in desired.users_in(t) {
        let name = USERS[i];
        let Some(record) = state.users.get(folded(name).as_ref()) else {
            return fail(format!("state holds no user {name}"));
        };
        if record.user_name != name {
            return fail(format!("state manages {name} as {}", record.user_name));
        }
        if record.protect != user.protect {
            return fail(format!(
                "state records protect {} for {name}",
                record.protect
            ));
        }
        let Some(raw) = post.users.get(&record.id) else {
            return fail(format!("user {name} (id {}) is not live", record.id));
        };
        let live: WireUser = serde_json::from_value(raw.clone()).expect("a user parses");
        // Names compare case-insensitively: once state records the declared spelling, zsc
        // leaves a live name that differs only in case alone (`zsc::model::needs_rename`).
        if folded(&live.user_name) != folded(name) {
            return fail(format!("user {} is live as {}", name, live.user_name));
        }
        let want_active = user.active.unwrap_or(true);
        if live.active.unwrap_or(true) != want_active {
            return fail(format!("user {name} is live with active {:?}", live.active));
        }
        let attrs = live.attrs();
        let got = [
            &attrs.display_name,
            &attrs.given_name,
            &attrs.family_name,
            &attrs.email,
            &attrs.department,
            &attrs.external_id,
        ];
        for (a, declared) in user.attrs.iter().enumerate() {
            if let Some(want) = expected_attr(declared) {
                if *got[a] != want {
                    return fail(format!(
                        "user {name} has {} {:?}, the YAML says {:?}",
                        ATTRS[a], got[a], want
                    ));
                }
            }
        }
        user_ids.insert(i, record.id.clone());
    }
    for (i, group) in desired.groups_in(t) {
        let name = GROUPS[i];
        let Some(record) = state.groups.get(folded(name).as_ref()) else {
            return fail(format!("state holds no group {name}"));
        };
        if record.name != name || record.protect != group.protect {
            return fail(format!("state records group {name} as {record:?}"));
        }
        let Some(raw) = post.groups.get(&record.id) else {
            return fail(format!("group {name} (id {}) is not live", record.id));
        };
        if folded(raw["displayName"].as_str().unwrap_or_default()) != folded(name) {
            return fail(format!("group {name} is live as {}", raw["displayName"]));
        }
        let live: BTreeSet<&str> = raw["members"]
            .as_array()
            .map(|ms| ms.iter().filter_map(|m| m["value"].as_str()).collect())
            .unwrap_or_default();
        let want: BTreeSet<&str> = desired
            .members_in(group, t)
            .iter()
            .map(|m| user_ids[m].as_str())
            .collect();
        if live != want {
            return fail(format!(
                "group {name} has members {live:?}, the YAML says {want:?}"
            ));
        }
        let mut recorded: Vec<&str> = record.members.iter().map(String::as_str).collect();
        recorded.sort_unstable();
        if recorded != want.iter().copied().collect::<Vec<_>>() {
            return fail(format!(
                "state records members {recorded:?} for group {name}, live has {want:?}"
            ));
        }
    }
    let declared_users: BTreeSet<String> = desired
        .users_in(t)
        .map(|(i, _)| folded(USERS[i]).into_owned())
        .collect();
    let declared_groups: BTreeSet<String> = desired
        .groups_in(t)
        .map(|(i, _)| folded(GROUPS[i]).into_owned())
        .collect();
    // A user removed from the YAML stays managed while disabled (so that the name stays tied
    // to it); deleted, it is forgotten.
    let extra_users: Vec<&String> = state
        .users
        .iter()
        .filter(|(k, record)| {
            !declared_users.contains(*k)
                && (desired.remove_delete
                    || post
                        .users
                        .get(&record.id)
                        .is_some_and(|raw| raw["active"] != Value::Bool(false)))
        })
        .map(|(k, _)| k)
        .collect();
    let extra_groups: Vec<&String> = state
        .groups
        .keys()
        .filter(|k| !declared_groups.contains(*k))
        .collect();
    if !extra_users.is_empty() || !extra_groups.is_empty() {
        return fail(format!(
            "state still manages undeclared users {extra_users:?} (not disabled) and groups {extra_groups:?}"
        ));
    }
    // What state managed before and the YAML no longer declares is gone or disabled.
    let kept: BTreeSet<&str> = state
        .users
        .values()
        .map(|u| u.id.as_str())
        .chain(state.groups.values().map(|g| g.id.as_str()))
        .collect();
    if let Some(before) = apply.pre.state.tenant(tenant) {
        for user in before.users.values() {
            if kept.contains(user.id.as_str()) {
                continue;
            }
            if let Some(raw) = post.users.get(&user.id) {
                if desired.remove_delete || raw["active"] != Value::Bool(false) {
                    return fail(format!(
                        "user {} (id {}), removed from the YAML, is live: {raw}",
                        user.user_name, user.id
                    ));
                }
            }
        }
        for group in before.groups.values() {
            if !kept.contains(group.id.as_str()) && post.groups.contains_key(&group.id) {
                return fail(format!(
                    "group {} (id {}), removed from the YAML, is live",
                    group.name, group.id
                ));
            }
        }
    }
    Ok(())
}
