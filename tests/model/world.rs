//! Replaying a history: the temp dir, one or two emulators, the YAML model, and each step carried
//! out for real (the `zsc` binary, or HTTP requests to the emulator as an admin would send them).
//! Every apply is handed to [`super::invariants`]; every step is written to the transcript that a
//! failing history prints.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use zsc::dialect::Dialect;
use zsc::emulator::{EmulatorHandle, Faults, LoggedRequest};
use zsc::model::folded;
use zsc::scim::wire::{WireGroup, WireUser};
use zsc::state::{State, StateStore};

use super::desired::Desired;
use super::invariants::{self, ApplyKind, ApplyRun};
use super::steps::{
    History, Obj, Step, Switch, GROUPS, SERVER_GROUPS, SERVER_USERS, TENANTS, USERS,
};
use crate::harness::{emulator_options, finish, signal, Env, Run};

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The saved plan file, and what the world was when it was saved.
pub struct Saved {
    /// The configuration it was made from ([`Desired::canonical`]).
    pub desired: Desired,
    pub plan: Value,
    /// Whether a server changed outside zsc since.
    pub server_changed: bool,
}

/// What a tenant held at one moment: every user and group as the server returns it by id
/// (without `meta`), in the emulator's order.
#[derive(Clone, Debug, Default)]
pub struct TenantCapture {
    pub users: BTreeMap<String, Value>,
    pub groups: BTreeMap<String, Value>,
}

/// The tenants and zsc's state (with any journal replayed, as zsc's next command sees it).
#[derive(Clone, Debug)]
pub struct Capture {
    pub tenants: Vec<TenantCapture>,
    pub state: State,
}

pub struct World {
    pub env: Env,
    pub second: Option<EmulatorHandle>,
    pub desired: Desired,
    pub memberships_on_users: bool,
    /// The emulators' switches.
    faults: Faults,
    written_yaml: Option<String>,
    pub saved: Option<Saved>,
    pub transcript: Vec<String>,
    pub applies_checked: usize,
    /// How the applies ended: `kind exit`, counted.
    pub outcomes: BTreeMap<String, usize>,
}

fn faults(switch: Switch) -> Faults {
    let mut faults = Faults::default();
    match switch {
        Switch::None => {}
        Switch::StrictSchemas => faults.strict_schemas = true,
        Switch::NoPatch => {
            faults.no_patch = true;
            faults.put_clears_omitted = true;
        }
        Switch::DuplicateGroupNames => faults.duplicate_group_names = true,
        Switch::ShortListings => faults.omit_from_lists = Some(3),
    }
    faults
}

impl World {
    pub fn new(history: &History) -> World {
        let mut env = Env::new();
        env.start_emulator(Dialect::Scim, faults(history.switch));
        let second = history.two_tenants.then(|| {
            let mut options = emulator_options(Dialect::Scim);
            options.faults = faults(history.switch);
            env.spawn_emulator(options)
        });
        let tenants = if history.two_tenants { 2 } else { 1 };
        let mut world = World {
            env,
            second,
            desired: Desired::new(tenants),
            memberships_on_users: history.memberships_on_users,
            faults: faults(history.switch),
            written_yaml: None,
            saved: None,
            transcript: Vec::new(),
            applies_checked: 0,
            outcomes: BTreeMap::new(),
        };
        world.note(format!(
            "# emulators: {} (scim dialect), switch {:?}; memberships written on {}",
            if tenants == 2 { "a and b" } else { "a" },
            history.switch,
            if history.memberships_on_users {
                "users"
            } else {
                "groups"
            }
        ));
        world
    }

    pub fn tenant_count(&self) -> usize {
        self.desired.tenants
    }

    pub fn emulator(&self, t: usize) -> &EmulatorHandle {
        if t == 0 {
            self.env.emulator()
        } else {
            self.second.as_ref().expect("a second tenant")
        }
    }

    fn urls(&self) -> Vec<String> {
        (0..self.tenant_count())
            .map(|t| self.emulator(t).base_url())
            .collect()
    }

    pub fn note(&mut self, line: String) {
        self.transcript.push(line);
    }

    /// The text of a request or YAML with the emulators' URLs named, so a transcript reads the
    /// same on every run.
    fn anonymise(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (t, name) in TENANTS.iter().enumerate().take(self.tenant_count()) {
            text = text.replace(&self.emulator(t).base_url(), &format!("${{{name}}}"));
        }
        text
    }

    pub fn yaml(&self) -> String {
        self.desired.yaml(&self.urls(), self.memberships_on_users)
    }

    /// Write zsc.yaml if the model changed since it was last written.
    fn flush_yaml(&mut self) {
        let yaml = self.yaml();
        if self.written_yaml.as_deref() != Some(yaml.as_str()) {
            self.env.write("zsc.yaml", &yaml);
            let shown = self.anonymise(&yaml);
            self.note(format!("cat > zsc.yaml <<'EOF'\n{shown}EOF"));
            self.written_yaml = Some(yaml);
        }
    }

    /// Run zsc; the exit code must be one zsc documents.
    pub fn zsc(&mut self, args: &[&str]) -> Result<Run, String> {
        self.flush_yaml();
        let run = self.env.zsc(args);
        self.note(format!("zsc {}   # exit {}", args.join(" "), run.code));
        if ![0, 1, 2].contains(&run.code) {
            return Err(format!(
                "`zsc {}` exited {}\nstdout:\n{}\nstderr:\n{}",
                args.join(" "),
                run.code,
                run.stdout,
                run.stderr
            ));
        }
        Ok(run)
    }

    pub fn clear_logs(&self) {
        for t in 0..self.tenant_count() {
            self.emulator(t).clear_request_log();
        }
    }

    pub fn logs(&self) -> Vec<Vec<LoggedRequest>> {
        (0..self.tenant_count())
            .map(|t| self.emulator(t).request_log())
            .collect()
    }

    /// A request to tenant `t`'s emulator, as an admin would send it.
    fn server(&mut self, t: usize, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let base = self.emulator(t).base_url();
        let shown = body.as_ref().map(|b| format!(" {b}")).unwrap_or_default();
        let (status, answer) = self.env.scim_at(&base, method, path, body);
        self.note(format!(
            "server {}: {method} {path}{shown}   # {status}",
            TENANTS[t]
        ));
        (status, answer)
    }

    /// Tenant `t`'s users, in name order (then id), as a step picks its victim.
    fn live_users(&self, t: usize) -> Vec<WireUser> {
        let mut users = self.emulator(t).snapshot().users;
        users.sort_by(|a, b| {
            (folded(&a.user_name), &a.user_name, &a.id).cmp(&(
                folded(&b.user_name),
                &b.user_name,
                &b.id,
            ))
        });
        users
    }

    fn live_groups(&self, t: usize) -> Vec<WireGroup> {
        let mut groups = self.emulator(t).snapshot().groups;
        groups.sort_by(|a, b| {
            (folded(&a.display_name), &a.display_name, &a.id).cmp(&(
                folded(&b.display_name),
                &b.display_name,
                &b.id,
            ))
        });
        groups
    }

    /// One raw object, without `meta`.
    fn raw(&self, t: usize, kind: &str, id: &str) -> Option<Value> {
        let base = self.emulator(t).base_url();
        let (status, mut body) = self
            .env
            .scim_at(&base, "GET", &format!("/{kind}/{id}"), None);
        if status != 200 {
            return None;
        }
        if let Some(object) = body.as_object_mut() {
            object.remove("meta");
        }
        Some(body)
    }

    /// Every object of every tenant, and the state zsc will start from.
    pub fn capture(&self) -> Capture {
        let tenants = (0..self.tenant_count())
            .map(|t| {
                let data = self.emulator(t).snapshot();
                let mut capture = TenantCapture::default();
                for user in data.users {
                    let id = user.id.expect("user id");
                    let raw = self.raw(t, "Users", &id).expect("GET user by id");
                    capture.users.insert(id, raw);
                }
                for group in data.groups {
                    let id = group.id.expect("group id");
                    let raw = self.raw(t, "Groups", &id).expect("GET group by id");
                    capture.groups.insert(id, raw);
                }
                capture
            })
            .collect();
        let state = self.effective_state();
        Capture { tenants, state }
    }

    /// The state as zsc's next command loads it (the journal of a killed apply replayed), read
    /// from a copy so that nothing zsc would see is touched.
    fn effective_state(&self) -> State {
        let dir = self.env.path(".zsc");
        let copy = tempfile::tempdir().expect("temp dir");
        for name in ["state.json", "state.json.journal"] {
            let from = dir.join(name);
            if from.exists() {
                std::fs::copy(&from, copy.path().join(name)).expect("copy state");
            }
        }
        let loaded = StateStore::new(copy.path().join("state.json"))
            .load()
            .expect("the state loads");
        loaded.state
    }

    /// The state file's bytes (`None`: no file), and whether a journal waits to be replayed.
    fn state_bytes(&self) -> (Option<Vec<u8>>, bool) {
        let dir = self.env.path(".zsc");
        (
            std::fs::read(dir.join("state.json")).ok(),
            dir.join("state.json.journal").exists(),
        )
    }

    /// Carry out one step; an error is a broken invariant.
    pub fn step(&mut self, step: &Step) -> Result<(), String> {
        if is_yaml_edit(step) {
            self.desired.edit(step);
            return Ok(());
        }
        match step {
            Step::Plan => self.plan(&["plan"], false),
            Step::PlanNoRefresh => self.plan(&["plan", "--refresh=false"], true),
            Step::PlanTargeted => self.plan_targeted(),
            Step::PlanSaved => self.plan_saved(),
            Step::Apply => self.apply(ApplyKind::Full),
            Step::ApplySaved => self.apply_saved(),
            Step::ApplyTarget { obj, tenant } => match self.target(*obj, *tenant) {
                Some(address) => self.apply(ApplyKind::Targeted(address)),
                None => Ok(()),
            },
            Step::LoseState => {
                let dir = self.env.path(".zsc");
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).expect("remove .zsc");
                }
                self.note("rm -rf .zsc".into());
                Ok(())
            }
            Step::KilledApply { after_ms } => self.killed_apply(*after_ms),
            _ => {
                self.server_step(step);
                if let Some(saved) = &mut self.saved {
                    saved.server_changed = true;
                }
                Ok(())
            }
        }
    }

    /// The address `--target` takes for a declared object, in a tenant it is declared in.
    fn target(&self, obj: Obj, tenant: u8) -> Option<String> {
        let n = self.tenant_count();
        let pick = |scope: u8| {
            let t = usize::from(tenant) % n;
            if Desired::in_tenant(scope, t) {
                t
            } else {
                usize::from(scope) - 1
            }
        };
        match obj {
            Obj::User(i) => {
                let i = usize::from(i) % USERS.len();
                let user = self.desired.users.get(&i)?;
                Some(format!(
                    "{}.user[\"{}\"]",
                    TENANTS[pick(user.scope)],
                    USERS[i]
                ))
            }
            Obj::Group(i) => {
                let i = usize::from(i) % GROUPS.len();
                let group = self.desired.groups.get(&i)?;
                Some(format!(
                    "{}.group[\"{}\"]",
                    TENANTS[pick(group.scope)],
                    GROUPS[i]
                ))
            }
        }
    }

    /// A plan reads and never writes; without refresh it sends no request at all.
    fn plan(&mut self, args: &[&str], offline: bool) -> Result<(), String> {
        self.clear_logs();
        let run = self.zsc(args)?;
        if run.code == 2 {
            return Err(format!(
                "`zsc {}` exited 2 without --detailed-exitcode",
                args.join(" ")
            ));
        }
        for (t, log) in self.logs().iter().enumerate() {
            let bad: Vec<&LoggedRequest> = log
                .iter()
                .filter(|r| offline || r.method != "GET")
                .collect();
            if !bad.is_empty() {
                return Err(format!(
                    "`zsc {}` sent {} to tenant {}: {bad:?}",
                    args.join(" "),
                    if offline { "requests" } else { "writes" },
                    TENANTS[t]
                ));
            }
        }
        Ok(())
    }

    /// A targeted plan against a full one, both as JSON: when both are offered, the targeted
    /// plan's changes (address and action) are a subset of the full plan's. It never concludes
    /// from what it did not read, so it cannot make a change the full read would not.
    fn plan_targeted(&mut self) -> Result<(), String> {
        let changes = |run: &Run| -> Result<Vec<(String, String)>, String> {
            let plan: Value = serde_json::from_str(&run.stdout)
                .map_err(|e| format!("the JSON plan does not parse: {e}\n{}", run.stdout))?;
            let mut out: Vec<(String, String)> = plan["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    (
                        c["address"].as_str().unwrap_or_default().to_owned(),
                        c["action"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            out.sort();
            Ok(out)
        };
        self.clear_logs();
        let targeted = self.zsc(&["plan", "--refresh=changed", "--format", "json"])?;
        for (t, log) in self.logs().iter().enumerate() {
            if let Some(write) = log.iter().find(|r| r.method != "GET") {
                return Err(format!(
                    "`zsc plan --refresh=changed` wrote to tenant {}: {write:?}",
                    TENANTS[t]
                ));
            }
        }
        let full = self.zsc(&["plan", "--format", "json"])?;
        if targeted.code != 0 || full.code != 0 {
            return Ok(());
        }
        let (targeted, full) = (changes(&targeted)?, changes(&full)?);
        let extra: Vec<&(String, String)> = targeted.iter().filter(|c| !full.contains(c)).collect();
        if !extra.is_empty() {
            return Err(format!(
                "the targeted plan makes changes the full plan does not: {extra:?}\n\
                 targeted: {targeted:?}\nfull: {full:?}"
            ));
        }
        Ok(())
    }

    fn plan_saved(&mut self) -> Result<(), String> {
        let path = self.env.path("saved.json");
        let _ = std::fs::remove_file(&path);
        self.saved = None;
        self.plan(&["plan", "-o", "saved.json"], false)?;
        if path.exists() {
            let text = std::fs::read_to_string(&path).expect("read the saved plan");
            let plan: Value = serde_json::from_str(&text)
                .map_err(|e| format!("the saved plan is not JSON: {e}"))?;
            self.saved = Some(Saved {
                desired: self.desired.canonical(),
                plan,
                server_changed: false,
            });
        }
        Ok(())
    }

    /// The plan an apply would carry out now: `zsc plan --format json` (with the apply's
    /// targets), and whether zsc refused it (exit 1).
    fn pre_plan(&mut self, targets: &[String]) -> Result<(Option<Value>, bool, String), String> {
        let mut args = vec!["plan", "--format", "json"];
        for target in targets {
            args.push("--target");
            args.push(target);
        }
        self.clear_logs();
        let run = self.zsc(&args)?;
        let plan = serde_json::from_str::<Value>(&run.stdout).ok();
        if run.code == 0 && plan.is_none() {
            return Err(format!(
                "`zsc plan --format json` printed no JSON:\n{}",
                run.stdout
            ));
        }
        Ok((plan, run.code != 0, run.stderr))
    }

    fn apply(&mut self, kind: ApplyKind) -> Result<(), String> {
        let targets: Vec<String> = match &kind {
            ApplyKind::Targeted(address) => vec![address.clone()],
            _ => Vec::new(),
        };
        let (plan, refused, why) = self.pre_plan(&targets)?;
        let pre = self.capture();
        self.clear_logs();
        let mut args = vec!["apply", "--auto-approve"];
        for target in &targets {
            args.push("--target");
            args.push(target);
        }
        let run = self.zsc(&args)?;
        self.check(kind, run, pre, plan, refused, why)
    }

    fn apply_saved(&mut self) -> Result<(), String> {
        let Some(saved) = &self.saved else {
            return Ok(());
        };
        let plan = saved.plan.clone();
        let yaml_changed = saved.desired != self.desired.canonical();
        let server_changed = saved.server_changed;
        let state_moved = match self.state_bytes() {
            // A journal to replay: the serial is not the file's; no prediction.
            (_, true) => None,
            (Some(bytes), false) => {
                let state: Value = serde_json::from_slice(&bytes).expect("state is JSON");
                Some(state["lineage"] != plan["lineage"] || state["serial"] != plan["serial"])
            }
            (None, false) => Some(plan["serial"] != 0),
        };
        let pre = self.capture();
        self.clear_logs();
        let run = self.zsc(&["apply", "saved.json"])?;
        let stale = run.code == 1 && run.stderr.contains("is stale");
        if yaml_changed && !stale {
            return Err(format!(
                "`zsc apply saved.json` after the configuration changed was not refused as stale (exit {})\nstderr:\n{}",
                run.code, run.stderr
            ));
        }
        if let Some(moved) = state_moved {
            if moved && !stale {
                return Err(format!(
                    "`zsc apply saved.json` after the state moved on was not refused as stale (exit {})\nstderr:\n{}",
                    run.code, run.stderr
                ));
            }
            if !moved && !yaml_changed && stale {
                return Err(format!(
                    "`zsc apply saved.json` was refused as stale though neither state nor configuration changed\nstderr:\n{}",
                    run.stderr
                ));
            }
        }
        let kind = if stale {
            ApplyKind::Stale
        } else {
            ApplyKind::Saved { server_changed }
        };
        self.check(kind, run, pre, Some(plan), false, String::new())
    }

    fn killed_apply(&mut self, after_ms: u8) -> Result<(), String> {
        let (plan, refused, why) = self.pre_plan(&[])?;
        let pre = self.capture();
        self.clear_logs();
        self.flush_yaml();
        // Slow the servers down a little, so that the kill lands while requests are under way.
        for t in 0..self.tenant_count() {
            self.emulator(t).set_faults(Faults {
                latency_ms: 2,
                ..self.faults.clone()
            });
        }
        let child = self.env.spawn(&["apply", "--auto-approve"]);
        let wait = Duration::from_micros(u64::from(after_ms) * 150);
        std::thread::sleep(wait);
        signal(&child, "KILL");
        let run = finish(child);
        for t in 0..self.tenant_count() {
            self.emulator(t).set_faults(self.faults.clone());
        }
        self.note(format!(
            "zsc apply --auto-approve & sleep {:.4}; kill -KILL $!   # exit {}",
            wait.as_secs_f64(),
            run.code
        ));
        self.check(ApplyKind::Killed, run, pre, plan, refused, why)
    }

    fn check(
        &mut self,
        kind: ApplyKind,
        run: Run,
        pre: Capture,
        plan: Option<Value>,
        refused: bool,
        why: String,
    ) -> Result<(), String> {
        let logs = self.logs();
        let post = self.capture();
        self.applies_checked += 1;
        let label = match &kind {
            ApplyKind::Full => "apply",
            ApplyKind::Targeted(_) => "apply --target",
            ApplyKind::Saved { .. } => "apply FILE",
            ApplyKind::Stale => "apply FILE (stale)",
            ApplyKind::Killed => "apply (killed)",
        };
        let refused = if refused { " refused" } else { "" };
        *self
            .outcomes
            .entry(format!("{label}{refused} exit {}", run.code))
            .or_default() += 1;
        let refused = !refused.is_empty();
        let apply = ApplyRun {
            kind,
            run,
            pre,
            post,
            plan,
            plan_refused: refused,
            plan_stderr: why,
            logs,
        };
        invariants::check_apply(self, &apply)?;
        if let Some(args) = invariants::converged_plan_args(&apply) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.clear_logs();
            let run = self.zsc(&args)?;
            if run.code != 0 {
                return Err(format!(
                    "the plan after a successful apply is not empty: `zsc {}` exited {}\nstdout:\n{}\nstderr:\n{}",
                    args.join(" "),
                    run.code,
                    run.stdout,
                    run.stderr
                ));
            }
        }
        Ok(())
    }

    fn server_step(&mut self, step: &Step) {
        let n = self.tenant_count();
        let tenant = |t: &u8| usize::from(*t) % n;
        match step {
            Step::ServerCreateUser { tenant: t, name } => {
                let name = SERVER_USERS[usize::from(*name) % SERVER_USERS.len()];
                self.server(
                    tenant(t),
                    "POST",
                    "/Users",
                    Some(json!({
                        "schemas": [CORE_USER],
                        "userName": name,
                        "displayName": "Made by hand",
                        "title": "Hand-made",
                        "active": true
                    })),
                );
            }
            Step::ServerCreateGroup {
                tenant: t,
                name,
                member,
            } => {
                let t = tenant(t);
                let name = SERVER_GROUPS[usize::from(*name) % SERVER_GROUPS.len()];
                let users = self.live_users(t);
                let members: Vec<Value> = member
                    .and_then(|m| pick(&users, m))
                    .map(|u| vec![json!({ "value": u.id })])
                    .unwrap_or_default();
                self.server(
                    t,
                    "POST",
                    "/Groups",
                    Some(json!({
                        "schemas": [CORE_GROUP],
                        "displayName": name,
                        "members": members
                    })),
                );
            }
            Step::ServerRenameUser {
                tenant: t,
                victim,
                to,
            } => {
                let to = SERVER_USERS[usize::from(*to) % SERVER_USERS.len()];
                self.edit_user(tenant(t), *victim, |user| user["userName"] = json!(to));
            }
            Step::ServerRenameGroup {
                tenant: t,
                victim,
                to,
            } => {
                let to = SERVER_GROUPS[usize::from(*to) % SERVER_GROUPS.len()];
                self.edit_group(tenant(t), *victim, |group| group["displayName"] = json!(to));
            }
            Step::ServerDeleteUser { tenant: t, victim } => {
                let t = tenant(t);
                if let Some(id) = pick(&self.live_users(t), *victim).and_then(|u| u.id.clone()) {
                    self.server(t, "DELETE", &format!("/Users/{id}"), None);
                }
            }
            Step::ServerDeleteGroup { tenant: t, victim } => {
                let t = tenant(t);
                if let Some(id) = pick(&self.live_groups(t), *victim).and_then(|g| g.id.clone()) {
                    self.server(t, "DELETE", &format!("/Groups/{id}"), None);
                }
            }
            Step::ServerEditUser {
                tenant: t,
                victim,
                attr,
                value,
            } => {
                let (attr, value) = (*attr, *value);
                self.edit_user(tenant(t), *victim, |user| server_edit(user, attr, value));
            }
            Step::ServerDeactivate { tenant: t, victim } => {
                self.edit_user(tenant(t), *victim, |user| user["active"] = json!(false));
            }
            Step::ServerAddMember {
                tenant: t,
                group,
                user,
            } => {
                let t = tenant(t);
                let Some(uid) = pick(&self.live_users(t), *user).and_then(|u| u.id.clone()) else {
                    return;
                };
                self.edit_group(t, *group, |g| {
                    let members = g["members"].as_array().cloned().unwrap_or_default();
                    if !members.iter().any(|m| m["value"] == json!(uid)) {
                        let mut members = members;
                        members.push(json!({ "value": uid }));
                        g["members"] = Value::Array(members);
                    }
                });
            }
            Step::ServerRemoveMember {
                tenant: t,
                group,
                member,
            } => {
                let member = usize::from(*member);
                self.edit_group(tenant(t), *group, |g| {
                    if let Some(members) = g["members"].as_array_mut() {
                        if !members.is_empty() {
                            let k = member % members.len();
                            members.remove(k);
                        }
                    }
                });
            }
            _ => unreachable!("not a server change: {step:?}"),
        }
    }

    /// GET the `victim`-th user, change it, PUT it back (a PUT works on every server switch).
    fn edit_user(&mut self, t: usize, victim: u8, change: impl FnOnce(&mut Value)) {
        let Some(id) = pick(&self.live_users(t), victim).and_then(|u| u.id.clone()) else {
            return;
        };
        let Some(mut user) = self.raw(t, "Users", &id) else {
            return;
        };
        if let Some(object) = user.as_object_mut() {
            object.remove("groups");
        }
        change(&mut user);
        self.server(t, "PUT", &format!("/Users/{id}"), Some(user));
    }

    fn edit_group(&mut self, t: usize, victim: u8, change: impl FnOnce(&mut Value)) {
        let Some(id) = pick(&self.live_groups(t), victim).and_then(|g| g.id.clone()) else {
            return;
        };
        let Some(mut group) = self.raw(t, "Groups", &id) else {
            return;
        };
        change(&mut group);
        self.server(t, "PUT", &format!("/Groups/{id}"), Some(group));
    }
}

fn pick<T>(items: &[T], index: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[usize::from(index) % items.len()])
}

/// Set (or, for `value` 0, remove) one attribute of a user's JSON: the six zsc manages, then
/// `title`, which it never manages.
fn server_edit(user: &mut Value, attr: u8, value: u8) {
    let text = (value != 0).then(|| format!("srv{value}"));
    let object = user.as_object_mut().expect("a user is an object");
    let set = |object: &mut serde_json::Map<String, Value>, key: &str, text: &Option<String>| {
        match text {
            Some(v) => {
                object.insert(key.to_owned(), json!(v));
            }
            None => {
                object.remove(key);
            }
        }
    };
    match attr % 7 {
        0 => set(object, "displayName", &text),
        1 | 2 => {
            let key = if attr % 7 == 1 {
                "givenName"
            } else {
                "familyName"
            };
            let name = object.entry("name").or_insert_with(|| json!({}));
            if let Some(name) = name.as_object_mut() {
                set(name, key, &text);
            }
        }
        3 => match &text {
            Some(v) => {
                object.insert(
                    "emails".into(),
                    json!([{ "value": format!("{v}@example.org"), "type": "work", "primary": true }]),
                );
            }
            None => {
                object.remove("emails");
            }
        },
        4 => {
            if text.is_some() {
                let schemas = object
                    .entry("schemas")
                    .or_insert_with(|| json!([CORE_USER]));
                if let Some(list) = schemas.as_array_mut() {
                    if !list.iter().any(|s| s == ENTERPRISE) {
                        list.push(json!(ENTERPRISE));
                    }
                }
            }
            let ext = object.entry(ENTERPRISE).or_insert_with(|| json!({}));
            if let Some(ext) = ext.as_object_mut() {
                set(ext, "department", &text);
            }
        }
        5 => set(object, "externalId", &text),
        _ => set(object, "title", &text),
    }
}

fn is_yaml_edit(step: &Step) -> bool {
    matches!(
        step,
        Step::AddUser { .. }
            | Step::RemoveUser { .. }
            | Step::RenameUser { .. }
            | Step::SetAttr { .. }
            | Step::SetActive { .. }
            | Step::AddGroup { .. }
            | Step::RemoveGroup { .. }
            | Step::RenameGroup { .. }
            | Step::SetMember { .. }
            | Step::Scope { .. }
            | Step::Protect { .. }
            | Step::RemoveUserAction { .. }
            | Step::Limits { .. }
    )
}
