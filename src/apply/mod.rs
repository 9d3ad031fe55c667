//! Executing a plan: the dependency graph runs with bounded concurrency through each tenant's
//! SCIM client, and every completed change is recorded before it counts as done.
//!
//! Changes are grouped into steps, the unit of work sent to a server: one step per user or
//! group change, except that a new group travels with its members in its create request, and the
//! member changes of an existing group are batched into as few PATCH requests as the dialect
//! allows. A step starts when every step it depends on has finished; if a step it needs failed,
//! it is skipped. A member whose user could not be created is skipped on its own; the rest of
//! its group's changes go ahead.
//!
//! This module prints nothing: it reports through [`Progress`] and returns an [`ApplyReport`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::model::{folded, LiveUser, UserAttrs, USER_FIELDS};
use crate::plan::graph::DependencyGraph;
use crate::plan::{Action, Change, ObjectKind, Plan};
use crate::scim::{MemberRef, ScimClient, ScimError, UserUpdate};
use crate::state::{ManagedGroup, ManagedUser, State, StateOp, Wrote};

/// Where completed changes are made durable before they count as done.
pub trait Recorder {
    /// Make these completed changes (tenant, ops) durable, all or none reported.
    fn record(&mut self, entries: &[(&str, &[StateOp])]) -> Result<(), String>;
}

/// Told about progress as the apply goes; implementations draw bars or print lines.
pub trait Progress: Send + Sync {
    fn started(&self, _total: usize) {}
    fn finished_change(&self, _change: &Change, _outcome: &Outcome) {}
}

/// A progress sink that ignores everything.
pub struct Silent;
impl Progress for Silent {}

/// What happened to one change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Done, but the object already existed and was adopted instead of created.
    Adopted,
    Failed(String),
    /// Not attempted because a change it needs failed.
    Skipped(String),
    /// Not attempted because the apply was interrupted.
    NotStarted,
}

impl Outcome {
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Done | Outcome::Adopted)
    }
}

/// How to run.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Steps in flight at once, across tenants.
    pub parallelism: usize,
    /// When this apply runs (RFC 3339, UTC): state records it with what the apply wrote, so
    /// that a later plan can tell a value the server did not keep.
    pub now: String,
}

/// The result of an apply: one outcome per change, in plan order.
#[derive(Debug)]
pub struct ApplyReport {
    pub outcomes: Vec<Outcome>,
    pub interrupted: bool,
    pub elapsed: Duration,
    /// HTTP requests the run's clients sent, across tenants and retries included (a refresh
    /// before the apply counts too).
    pub requests: u64,
    /// A change was done remotely but could not be recorded: the apply stopped there.
    pub record_error: Option<String>,
}

impl ApplyReport {
    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.iter().filter(|o| pred(o)).count()
    }

    pub fn all_done(&self) -> bool {
        self.outcomes.iter().all(Outcome::is_done)
    }
}

/// A unit of work: one or more changes that travel together.
#[derive(Debug)]
struct Step {
    tenant: String,
    kind: StepKind,
    /// The plan changes this step carries out.
    changes: Vec<usize>,
}

#[derive(Debug)]
enum StepKind {
    User(usize),
    /// A group change; for a create, `members` are the membership adds it carries inline.
    Group {
        change: usize,
        members: Vec<usize>,
    },
    /// The membership changes of one existing group.
    Members {
        group: String,
        changes: Vec<usize>,
    },
}

/// Execute `plan`. `state` is updated (and `recorder` told) as each step completes.
pub async fn apply(
    plan: &Plan,
    clients: &HashMap<String, ScimClient>,
    state: &mut State,
    recorder: &mut dyn Recorder,
    options: &ApplyOptions,
    progress: Arc<dyn Progress>,
    mut interrupt: watch::Receiver<bool>,
) -> Result<ApplyReport, crate::plan::graph::GraphError> {
    let started = Instant::now();
    let graph = DependencyGraph::build(plan)?;
    let change_deps = graph.dependencies();
    let (steps, step_of) = group_into_steps(plan);

    // Step-level dependencies: hard ones skip the whole step when they fail; for membership
    // adds a failed user creation skips only that member.
    let mut waits_on: Vec<HashSet<usize>> = vec![HashSet::new(); steps.len()];
    for (s, step) in steps.iter().enumerate() {
        for &c in &step.changes {
            for &d in &change_deps[c] {
                if step_of[d] != s {
                    waits_on[s].insert(step_of[d]);
                }
            }
        }
    }
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    let mut pending: Vec<usize> = vec![0; steps.len()];
    for (s, deps) in waits_on.iter().enumerate() {
        pending[s] = deps.len();
        for &d in deps {
            dependents[d].push(s);
        }
    }

    progress.started(plan.changes.len());
    let mut outcomes: Vec<Option<Outcome>> = vec![None; plan.changes.len()];
    let mut ids = IdMap::default();
    let mut ready: Vec<usize> = (0..steps.len()).filter(|&s| pending[s] == 0).collect();
    ready.reverse(); // pop() takes plan order
    let mut running: JoinSet<(usize, StepResult)> = JoinSet::new();
    let mut interrupted = *interrupt.borrow();
    let mut record_error = None;
    let parallelism = options.parallelism.max(1);
    let now: Arc<str> = options.now.as_str().into();

    // Start ready steps until `parallelism` are in flight. Used at the top of the loop and
    // again while finished steps are being recorded, so that slots do not idle during the
    // journal's fsync. Only steps whose dependencies are recorded are ever ready.
    macro_rules! schedule {
        () => {
            while !interrupted && record_error.is_none() && running.len() < parallelism {
                let Some(s) = ready.pop() else { break };
                let step = &steps[s];
                match prepare(plan, step, &outcomes, &change_deps, &ids) {
                    Prepared::Skip(reason) => {
                        for &c in &step.changes {
                            outcomes[c] = Some(Outcome::Skipped(reason.clone()));
                            progress.finished_change(
                                &plan.changes[c],
                                &Outcome::Skipped(reason.clone()),
                            );
                        }
                        release(s, &dependents, &mut pending, &mut ready);
                    }
                    Prepared::Run(work) => {
                        let work = *work;
                        for (c, reason) in &work.skipped {
                            outcomes[*c] = Some(Outcome::Skipped(reason.clone()));
                            progress.finished_change(
                                &plan.changes[*c],
                                &Outcome::Skipped(reason.clone()),
                            );
                        }
                        let Some(client) = clients.get(&step.tenant).cloned() else {
                            let reason = format!("no client for tenant `{}`", step.tenant);
                            for &c in &work.changes {
                                outcomes[c] = Some(Outcome::Failed(reason.clone()));
                            }
                            release(s, &dependents, &mut pending, &mut ready);
                            continue;
                        };
                        let now = Arc::clone(&now);
                        running.spawn(async move { (s, work.run(client, now).await) });
                    }
                }
            }
        };
    }

    loop {
        schedule!();
        if running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            changed = interrupt.changed(), if !interrupted => {
                if changed.is_err() || *interrupt.borrow() {
                    interrupted = true;
                }
                continue;
            }
        };
        let Some(joined) = joined else { break };
        // Group commit: take every step that has finished by now and record them together,
        // one write and one fsync, before any of them counts as done.
        let mut finished = vec![joined];
        while let Some(more) = running.try_join_next() {
            finished.push(more);
        }
        let mut results: Vec<(usize, StepResult)> = Vec::with_capacity(finished.len());
        for joined in finished {
            match joined {
                Ok(r) => results.push(r),
                Err(e) => record_error = Some(format!("a worker failed: {e}")),
            }
        }
        schedule!();
        let entries: Vec<(&str, &[StateOp])> = results
            .iter()
            .filter(|(_, r)| !r.ops.is_empty())
            .map(|(s, r)| (steps[*s].tenant.as_str(), r.ops.as_slice()))
            .collect();
        if !entries.is_empty() {
            if let Err(e) = recorder.record(&entries) {
                // The remote changes happened but are not durable: stop scheduling; the next
                // run adopts what this one could not record.
                record_error = Some(e);
            }
        }
        for (s, result) in results {
            let tenant = &steps[s].tenant;
            for op in &result.ops {
                state.apply(tenant, op);
            }
            for (key, id) in result.created_users {
                ids.users.insert((tenant.clone(), key), id);
            }
            for (key, id) in result.created_groups {
                ids.groups.insert((tenant.clone(), key), id);
            }
            for (c, outcome) in result.outcomes {
                progress.finished_change(&plan.changes[c], &outcome);
                outcomes[c] = Some(outcome);
            }
            release(s, &dependents, &mut pending, &mut ready);
        }
    }

    let requests = clients.values().map(ScimClient::requests_sent).sum();
    Ok(ApplyReport {
        outcomes: outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::NotStarted))
            .collect(),
        interrupted,
        elapsed: started.elapsed(),
        requests,
        record_error,
    })
}

fn release(s: usize, dependents: &[Vec<usize>], pending: &mut [usize], ready: &mut Vec<usize>) {
    for &d in &dependents[s] {
        pending[d] -= 1;
        if pending[d] == 0 {
            ready.push(d);
        }
    }
}

/// Group plan changes into steps; returns the steps and, per change, its step.
fn group_into_steps(plan: &Plan) -> (Vec<Step>, Vec<usize>) {
    let mut steps: Vec<Step> = Vec::new();
    let mut step_of = vec![usize::MAX; plan.changes.len()];
    // Group creates, by (tenant, group key), so their member adds can join them.
    let mut creates: HashMap<(String, String), usize> = HashMap::new();
    let mut member_steps: HashMap<(String, String), usize> = HashMap::new();
    for (i, c) in plan.changes.iter().enumerate() {
        let tenant = c.tenant.clone();
        match c.object {
            ObjectKind::User => {
                step_of[i] = steps.len();
                steps.push(Step {
                    tenant,
                    kind: StepKind::User(i),
                    changes: vec![i],
                });
            }
            ObjectKind::Group => {
                step_of[i] = steps.len();
                if c.action == Action::Create {
                    creates.insert((tenant.clone(), folded(&c.name).into_owned()), steps.len());
                }
                steps.push(Step {
                    tenant,
                    kind: StepKind::Group {
                        change: i,
                        members: Vec::new(),
                    },
                    changes: vec![i],
                });
            }
            ObjectKind::Membership => {
                let key = (tenant.clone(), folded(&c.name).into_owned());
                if let Some(&s) = creates.get(&key) {
                    if c.action == Action::Add {
                        if let StepKind::Group { members, .. } = &mut steps[s].kind {
                            members.push(i);
                        }
                        steps[s].changes.push(i);
                        step_of[i] = s;
                        continue;
                    }
                }
                let s = *member_steps.entry(key).or_insert_with(|| {
                    steps.push(Step {
                        tenant,
                        kind: StepKind::Members {
                            group: c.name.clone(),
                            changes: Vec::new(),
                        },
                        changes: Vec::new(),
                    });
                    steps.len() - 1
                });
                if let StepKind::Members { changes, .. } = &mut steps[s].kind {
                    changes.push(i);
                }
                steps[s].changes.push(i);
                step_of[i] = s;
            }
        }
    }
    (steps, step_of)
}

/// Ids learned during this apply, for members whose users were created by it.
#[derive(Default)]
struct IdMap {
    users: HashMap<(String, String), String>,
    groups: HashMap<(String, String), String>,
}

enum Prepared {
    Skip(String),
    Run(Box<Work>),
}

/// A step with everything resolved, ready to send.
struct Work {
    task: Task,
    /// The changes this work carries out.
    changes: Vec<usize>,
    /// Changes of the step left out because something they need failed.
    skipped: Vec<(usize, String)>,
}

enum Task {
    CreateUser {
        change: usize,
        user_name: String,
        active: bool,
        /// As planned: an empty value clears (it matters when the create meets an existing
        /// user, which is then brought to exactly this).
        attrs: UserAttrs,
        protect: bool,
    },
    /// Adopt, update, rename or disable, by id.
    UpdateUser {
        change: usize,
        id: String,
        /// The record state holds it under, if any, and the one it is held under after.
        managed_as: Option<String>,
        record_as: String,
        /// The live userName before and after.
        user_name_before: String,
        user_name: String,
        /// Boxed: the largest variant by far otherwise.
        before: Box<UserAttrs>,
        after: Box<UserAttrs>,
        active_before: bool,
        active_after: bool,
        protect: bool,
    },
    DeleteUser {
        change: usize,
        id: String,
        managed_as: String,
    },
    CreateGroup {
        change: usize,
        name: String,
        protect: bool,
        members: Vec<(usize, MemberRef)>,
    },
    /// Adopt, rename or update, by id: renamed when `before_name` differs from `live_name`;
    /// recorded under `name`.
    KeepGroup {
        change: usize,
        id: String,
        managed_as: Option<String>,
        name: String,
        live_name: String,
        before_name: String,
        members: Vec<String>,
        protect: bool,
    },
    DeleteGroup {
        change: usize,
        id: String,
        managed_as: String,
    },
    Members {
        group: String,
        group_id: String,
        add: Vec<(usize, MemberRef)>,
        remove: Vec<(usize, String)>,
    },
}

/// What a step did: per change outcomes, state ops, ids learned.
#[derive(Default)]
struct StepResult {
    outcomes: Vec<(usize, Outcome)>,
    ops: Vec<StateOp>,
    created_users: Vec<(String, String)>,
    created_groups: Vec<(String, String)>,
}

fn failed_dependency(
    plan: &Plan,
    c: usize,
    outcomes: &[Option<Outcome>],
    change_deps: &[Vec<usize>],
    own: &[usize],
) -> Option<String> {
    change_deps[c]
        .iter()
        .filter(|d| !own.contains(d))
        .find(|&&d| !outcomes[d].as_ref().is_some_and(Outcome::is_done))
        .map(|&d| format!("`{}` did not succeed", plan.changes[d].address))
}

/// Resolve a step against what has happened so far.
fn prepare(
    plan: &Plan,
    step: &Step,
    outcomes: &[Option<Outcome>],
    change_deps: &[Vec<usize>],
    ids: &IdMap,
) -> Prepared {
    let tenant = step.tenant.clone();
    let user_id = |c: &Change| -> Option<String> {
        c.member_id.clone().or_else(|| {
            let member = c.member.as_deref()?;
            ids.users
                .get(&(tenant.clone(), folded(member).into_owned()))
                .cloned()
        })
    };
    let mut skipped = Vec::new();
    let task = match &step.kind {
        StepKind::User(c) | StepKind::Group { change: c, .. } => {
            if let Some(reason) = failed_dependency(plan, *c, outcomes, change_deps, &step.changes)
            {
                return Prepared::Skip(reason);
            }
            let change = &plan.changes[*c];
            match step.kind {
                StepKind::User(_) => user_task(*c, change),
                _ => {
                    let mut members = Vec::new();
                    if let StepKind::Group { members: m, .. } = &step.kind {
                        for &mc in m {
                            let member = &plan.changes[mc];
                            let blocked =
                                failed_dependency(plan, mc, outcomes, change_deps, &step.changes);
                            match (blocked, user_id(member)) {
                                (None, Some(id)) => members.push((
                                    mc,
                                    MemberRef {
                                        id,
                                        user_name: member.member.clone().unwrap_or_default(),
                                    },
                                )),
                                (Some(reason), _) => skipped.push((mc, reason)),
                                (None, None) => {
                                    skipped.push((mc, "the member's id is not known".to_owned()))
                                }
                            }
                        }
                    }
                    group_task(*c, change, members)
                }
            }
        }
        StepKind::Members { group, changes } => {
            let group_id = changes
                .iter()
                .find_map(|&c| plan.changes[c].id.clone())
                .or_else(|| {
                    ids.groups
                        .get(&(tenant.clone(), folded(group).into_owned()))
                        .cloned()
                });
            let mut add = Vec::new();
            let mut remove = Vec::new();
            for &c in changes {
                let change = &plan.changes[c];
                if let Some(reason) = failed_dependency(plan, c, outcomes, change_deps, &[]) {
                    skipped.push((c, reason));
                    continue;
                }
                match (change.action, user_id(change)) {
                    (Action::Add, Some(id)) => add.push((
                        c,
                        MemberRef {
                            id,
                            user_name: change.member.clone().unwrap_or_default(),
                        },
                    )),
                    (Action::Remove, Some(id)) => remove.push((c, id)),
                    _ => skipped.push((c, "the member's id is not known".to_owned())),
                }
            }
            let Some(group_id) = group_id else {
                return Prepared::Skip(format!("the id of group `{group}` is not known"));
            };
            Task::Members {
                group: group.clone(),
                group_id,
                add,
                remove,
            }
        }
    };
    let skipped_set: HashSet<usize> = skipped.iter().map(|(c, _)| *c).collect();
    Prepared::Run(Box::new(Work {
        task,
        changes: step
            .changes
            .iter()
            .copied()
            .filter(|c| !skipped_set.contains(c))
            .collect(),
        skipped,
    }))
}

fn user_task(c: usize, change: &Change) -> Task {
    let after = change.after.clone().unwrap_or_default();
    let before = change.before.clone().unwrap_or_default();
    let id = change.id.clone().unwrap_or_default();
    match change.action {
        Action::Create => Task::CreateUser {
            change: c,
            user_name: change.name.clone(),
            active: after.active.unwrap_or(true),
            attrs: after.attrs,
            protect: after.protect.unwrap_or(false),
        },
        Action::Delete => Task::DeleteUser {
            change: c,
            id,
            managed_as: change
                .managed_as
                .clone()
                .unwrap_or_else(|| change.name.clone()),
        },
        // Adopt, Update, Rename, Disable.
        _ => Task::UpdateUser {
            change: c,
            id,
            managed_as: change.managed_as.clone(),
            record_as: change.name.clone(),
            user_name_before: before.user_name.unwrap_or_else(|| change.name.clone()),
            user_name: after.user_name.unwrap_or_else(|| change.name.clone()),
            active_before: before.active.unwrap_or(true),
            active_after: after.active.unwrap_or(false),
            before: Box::new(before.attrs),
            after: Box::new(after.attrs),
            protect: after.protect.unwrap_or(false),
        },
    }
}

fn group_task(c: usize, change: &Change, members: Vec<(usize, MemberRef)>) -> Task {
    let after = change.after.clone().unwrap_or_default();
    let before = change.before.clone().unwrap_or_default();
    let id = change.id.clone().unwrap_or_default();
    match change.action {
        Action::Create => Task::CreateGroup {
            change: c,
            name: change.name.clone(),
            protect: after.protect.unwrap_or(false),
            members,
        },
        Action::Delete => Task::DeleteGroup {
            change: c,
            id,
            managed_as: change
                .managed_as
                .clone()
                .unwrap_or_else(|| change.name.clone()),
        },
        _ => Task::KeepGroup {
            change: c,
            id,
            managed_as: change.managed_as.clone(),
            name: change.name.clone(),
            live_name: after.name.unwrap_or_else(|| change.name.clone()),
            before_name: before.name.unwrap_or_else(|| change.name.clone()),
            members: before.members.unwrap_or_default(),
            protect: after.protect.unwrap_or(false),
        },
    }
}

impl Work {
    async fn run(self, client: ScimClient, now: Arc<str>) -> StepResult {
        let mut r = StepResult::default();
        let fail = |r: &mut StepResult, changes: &[usize], e: &ScimError| {
            for &c in changes {
                r.outcomes.push((c, Outcome::Failed(e.to_string())));
            }
        };
        match self.task {
            Task::CreateUser {
                change,
                user_name,
                active,
                attrs,
                protect,
            } => match client.create_user(&user_name, active, &attrs).await {
                Ok(created) => {
                    let mut user = created.value;
                    let mut written = written_user_fields(&user.attrs);
                    if created.adopted {
                        // It existed: bring it to exactly what the plan said, clears included.
                        let target = user.attrs.overlay(&attrs);
                        let update = UserUpdate {
                            user_name: (user.user_name != user_name).then_some(user_name.as_str()),
                            before: &user.attrs,
                            after: &target,
                            active: (user.active != active).then_some(active),
                        };
                        if let Err(e) = client.update_user(&user.id, &update).await {
                            r.ops.push(put_user(&user, &user_name, protect, None));
                            r.created_users
                                .push((folded(&user_name).into_owned(), user.id.clone()));
                            r.outcomes.push((
                                change,
                                Outcome::Failed(format!(
                                    "it existed already (id `{}`) and was adopted, but could not be brought to the planned values: {e}",
                                    user.id
                                )),
                            ));
                            return r;
                        }
                        written = update.fields();
                        user.attrs = target;
                        user.active = active;
                        user.user_name = user_name.clone();
                    }
                    r.created_users
                        .push((folded(&user_name).into_owned(), user.id.clone()));
                    let wrote = Wrote::merge(None, &now, &written);
                    r.ops
                        .push(put_user(&user, &user_name, protect, Some(wrote)));
                    let outcome = if created.adopted {
                        Outcome::Adopted
                    } else {
                        Outcome::Done
                    };
                    r.outcomes.push((change, outcome));
                }
                Err(e) => fail(&mut r, &[change], &e),
            },
            Task::UpdateUser {
                change,
                id,
                managed_as,
                record_as,
                user_name_before,
                user_name,
                before,
                after,
                active_before,
                active_after,
                protect,
            } => {
                let update = UserUpdate {
                    user_name: (user_name_before != user_name).then_some(user_name.as_str()),
                    before: &before,
                    after: &after,
                    active: (active_before != active_after).then_some(active_after),
                };
                match client.update_user(&id, &update).await {
                    Ok(()) => {
                        let wrote = Wrote::merge(None, &now, &update.fields());
                        if let Some(old) = managed_as.filter(|m| folded(m) != folded(&record_as)) {
                            r.ops.push(StateOp::RemoveUser { user_name: old });
                        }
                        r.ops.push(StateOp::PutUser {
                            user: ManagedUser {
                                id,
                                user_name: record_as,
                                active: active_after,
                                attrs: *after,
                                protect,
                                wrote: Some(wrote).filter(|w| !w.fields.is_empty()),
                            },
                        });
                        r.outcomes.push((change, Outcome::Done));
                    }
                    Err(e) if e.is_not_found() => {
                        if let Some(old) = managed_as {
                            r.ops.push(StateOp::RemoveUser { user_name: old });
                        }
                        fail(&mut r, &[change], &e);
                    }
                    Err(e) => fail(&mut r, &[change], &e),
                }
            }
            Task::DeleteUser {
                change,
                id,
                managed_as,
            } => match client.delete_user(&id).await {
                Ok(_) => {
                    r.ops.push(StateOp::RemoveUser {
                        user_name: managed_as,
                    });
                    r.outcomes.push((change, Outcome::Done));
                }
                Err(e) => fail(&mut r, &[change], &e),
            },
            Task::CreateGroup {
                change,
                name,
                protect,
                members,
            } => {
                let refs: Vec<MemberRef> = members.iter().map(|(_, m)| m.clone()).collect();
                match client.create_group(&name, &refs).await {
                    Ok(created) => {
                        let group = created.value;
                        r.created_groups
                            .push((folded(&name).into_owned(), group.id.clone()));
                        let mut fields = vec!["name".to_owned()];
                        if !refs.is_empty() || created.adopted {
                            fields.push("members".to_owned());
                        }
                        r.ops.push(StateOp::PutGroup {
                            group: ManagedGroup {
                                id: group.id,
                                name,
                                members: group.members,
                                protect,
                                wrote: Some(Wrote::merge(None, &now, &fields)),
                            },
                        });
                        let outcome = if created.adopted {
                            Outcome::Adopted
                        } else {
                            Outcome::Done
                        };
                        r.outcomes.push((change, outcome));
                        for (c, _) in members {
                            r.outcomes.push((c, Outcome::Done));
                        }
                    }
                    Err(e) => {
                        let all: Vec<usize> = std::iter::once(change)
                            .chain(members.iter().map(|(c, _)| *c))
                            .collect();
                        fail(&mut r, &all, &e);
                    }
                }
            }
            Task::KeepGroup {
                change,
                id,
                managed_as,
                name,
                live_name,
                before_name,
                members,
                protect,
            } => {
                let renames = before_name != live_name;
                if renames {
                    if let Err(e) = client.rename_group(&id, &live_name).await {
                        fail(&mut r, &[change], &e);
                        return r;
                    }
                }
                if let Some(old) = managed_as.filter(|m| folded(m) != folded(&name)) {
                    r.ops.push(StateOp::RemoveGroup { name: old });
                }
                r.ops.push(StateOp::PutGroup {
                    group: ManagedGroup {
                        id,
                        name,
                        members,
                        protect,
                        wrote: renames.then(|| Wrote::merge(None, &now, &["name".to_owned()])),
                    },
                });
                r.outcomes.push((change, Outcome::Done));
            }
            Task::DeleteGroup {
                change,
                id,
                managed_as,
            } => match client.delete_group(&id).await {
                Ok(_) => {
                    r.ops.push(StateOp::RemoveGroup { name: managed_as });
                    r.outcomes.push((change, Outcome::Done));
                }
                Err(e) => fail(&mut r, &[change], &e),
            },
            Task::Members {
                group,
                group_id,
                add,
                remove,
            } => {
                let adds: Vec<MemberRef> = add.iter().map(|(_, m)| m.clone()).collect();
                let removes: Vec<String> = remove.iter().map(|(_, id)| id.clone()).collect();
                let patched = client.patch_members(&group_id, &adds, &removes).await;
                let at = Some(now.to_string());
                // Record what went through, even when some failed.
                let added: Vec<String> = adds
                    .iter()
                    .zip(&patched.adds)
                    .filter(|(_, done)| done.is_ok())
                    .map(|(m, _)| m.id.clone())
                    .collect();
                let removed: Vec<String> = removes
                    .iter()
                    .zip(&patched.removes)
                    .filter(|(_, done)| done.is_ok())
                    .map(|(id, _)| id.clone())
                    .collect();
                if !added.is_empty() {
                    r.ops.push(StateOp::AddMembers {
                        group: group.clone(),
                        ids: added,
                        at: at.clone(),
                    });
                }
                if !removed.is_empty() {
                    r.ops.push(StateOp::RemoveMembers {
                        group,
                        ids: removed,
                        at,
                    });
                }
                for ((c, _), done) in add.iter().zip(&patched.adds) {
                    r.outcomes.push((*c, outcome_of(done)));
                }
                for ((c, _), done) in remove.iter().zip(&patched.removes) {
                    r.outcomes.push((*c, outcome_of(done)));
                }
            }
        }
        r
    }
}

fn outcome_of(done: &Result<(), String>) -> Outcome {
    match done {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::Failed(e.clone()),
    }
}

/// The state record of a user as written: `user` as the server holds it, managed as
/// `user_name`.
fn put_user(user: &LiveUser, user_name: &str, protect: bool, wrote: Option<Wrote>) -> StateOp {
    StateOp::PutUser {
        user: ManagedUser {
            id: user.id.clone(),
            user_name: user_name.to_owned(),
            active: user.active,
            attrs: user.attrs.clone(),
            protect,
            wrote,
        },
    }
}

/// What a create wrote: userName, `active` and every attribute it set.
fn written_user_fields(attrs: &UserAttrs) -> Vec<String> {
    let mut fields = vec!["user_name".to_owned(), "active".to_owned()];
    fields.extend(
        USER_FIELDS
            .iter()
            .filter(|f| (f.get)(attrs).is_some())
            .map(|f| f.name.to_owned()),
    );
    fields
}
