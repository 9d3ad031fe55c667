//! One step, resolved against what has happened so far (ids learned from creates, changes
//! that failed) and carried out through the tenant's client: what it did, as outcomes per
//! change and the state changes that record it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::model::{folded, LiveUser, UserAttrs, USER_FIELDS};
use crate::plan::{Action, Change, ObjectKind, Plan};
use crate::scim::{MemberRef, ScimClient, ScimError, UserUpdate};
use crate::state::{ManagedGroup, ManagedUser, StateOp, Wrote};

use super::steps::{Step, StepKind};
use super::Outcome;

/// Ids learned during this apply, for members whose users were created by it.
#[derive(Default)]
pub(super) struct IdMap {
    pub users: HashMap<(String, String), String>,
    pub groups: HashMap<(String, String), String>,
}

pub(super) enum Prepared {
    Skip(String),
    Run(Box<Work>),
}

/// A step with everything resolved, ready to send.
pub(super) struct Work {
    task: Task,
    /// The changes this work carries out.
    pub changes: Vec<usize>,
    /// Changes of the step left out because something they need failed.
    pub skipped: Vec<(usize, String)>,
}

/// What a step does.
enum Task {
    CreateUser(CreateUserTask),
    /// Adopt, update, rename or disable, by id.
    UpdateUser(UpdateUserTask),
    /// Delete a user or a group, by id.
    Delete(DeleteTask),
    CreateGroup(CreateGroupTask),
    /// Adopt, rename or update, by id: renamed when `before_name` differs from `live_name`;
    /// recorded under `name`.
    KeepGroup(KeepGroupTask),
    Members(MembersTask),
}

struct CreateUserTask {
    change: usize,
    user_name: String,
    active: bool,
    /// As planned: an empty value clears (it matters when the create meets an existing
    /// user, which is then brought to exactly this).
    attrs: UserAttrs,
    protect: bool,
}

/// Adopt, update, rename or disable, by id.
struct UpdateUserTask {
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
}

struct DeleteTask {
    change: usize,
    object: ObjectKind,
    id: String,
    /// The record state holds it under.
    managed_as: String,
}

struct CreateGroupTask {
    change: usize,
    name: String,
    protect: bool,
    members: Vec<(usize, MemberRef)>,
    /// Adopt a group of the name if one exists already (see `ApplyOptions::look_up_creates`).
    look_up_first: bool,
}

/// Adopt, rename or update, by id: renamed when `before_name` differs from `live_name`;
/// recorded under `name`.
struct KeepGroupTask {
    change: usize,
    id: String,
    managed_as: Option<String>,
    name: String,
    live_name: String,
    before_name: String,
    members: Vec<String>,
    protect: bool,
}

struct MembersTask {
    group: String,
    group_id: String,
    add: Vec<(usize, MemberRef)>,
    remove: Vec<(usize, String)>,
}

/// What a step did: per change outcomes, state ops, ids learned.
#[derive(Default)]
pub(super) struct StepResult {
    pub outcomes: Vec<(usize, Outcome)>,
    pub ops: Vec<StateOp>,
    pub created_users: Vec<(String, String)>,
    pub created_groups: Vec<(String, String)>,
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
pub(super) fn prepare(
    plan: &Plan,
    step: &Step,
    outcomes: &[Option<Outcome>],
    change_deps: &[Vec<usize>],
    ids: &IdMap,
    look_up_creates: bool,
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
                    group_task(*c, change, members, look_up_creates)
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
            Task::Members(MembersTask {
                group: group.clone(),
                group_id,
                add,
                remove,
            })
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
        Action::Create => Task::CreateUser(CreateUserTask {
            change: c,
            user_name: change.name.clone(),
            active: after.active.unwrap_or(true),
            attrs: after.attrs,
            protect: after.protect.unwrap_or(false),
        }),
        Action::Delete => delete_task(c, change),
        // Adopt, Update, Rename, Disable.
        _ => Task::UpdateUser(UpdateUserTask {
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
        }),
    }
}

/// A delete, of a user or a group, by id, removing the record it is managed as.
fn delete_task(c: usize, change: &Change) -> Task {
    Task::Delete(DeleteTask {
        object: change.object,
        change: c,
        id: change.id.clone().unwrap_or_default(),
        managed_as: change
            .managed_as
            .clone()
            .unwrap_or_else(|| change.name.clone()),
    })
}

fn group_task(
    c: usize,
    change: &Change,
    members: Vec<(usize, MemberRef)>,
    look_up_first: bool,
) -> Task {
    let after = change.after.clone().unwrap_or_default();
    let before = change.before.clone().unwrap_or_default();
    let id = change.id.clone().unwrap_or_default();
    match change.action {
        Action::Create => Task::CreateGroup(CreateGroupTask {
            change: c,
            name: change.name.clone(),
            protect: after.protect.unwrap_or(false),
            members,
            look_up_first,
        }),
        Action::Delete => delete_task(c, change),
        _ => Task::KeepGroup(KeepGroupTask {
            change: c,
            id,
            managed_as: change.managed_as.clone(),
            name: change.name.clone(),
            live_name: after.name.unwrap_or_else(|| change.name.clone()),
            before_name: before.name.unwrap_or_else(|| change.name.clone()),
            members: before.members.unwrap_or_default(),
            protect: after.protect.unwrap_or(false),
        }),
    }
}

impl Work {
    pub async fn run(self, client: ScimClient, now: Arc<str>) -> StepResult {
        let mut r = StepResult::default();
        match self.task {
            Task::CreateUser(t) => t.run(&client, &now, &mut r).await,
            Task::UpdateUser(t) => t.run(&client, &now, &mut r).await,
            Task::Delete(t) => t.run(&client, &now, &mut r).await,
            Task::CreateGroup(t) => t.run(&client, &now, &mut r).await,
            Task::KeepGroup(t) => t.run(&client, &now, &mut r).await,
            Task::Members(t) => t.run(&client, &now, &mut r).await,
        }
        r
    }
}

/// Every change of `changes` failed with `e`.
fn fail(r: &mut StepResult, changes: &[usize], e: &ScimError) {
    for &c in changes {
        r.outcomes.push((c, Outcome::Failed(e.to_string())));
    }
}

impl CreateUserTask {
    async fn run(self, client: &ScimClient, now: &str, r: &mut StepResult) {
        let CreateUserTask {
            change,
            user_name,
            active,
            attrs,
            protect,
        } = self;

        match client.create_user(&user_name, active, &attrs).await {
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
                        return;
                    }
                    written = update.fields();
                    user.attrs = target;
                    user.active = active;
                    user.user_name = user_name.clone();
                }
                r.created_users
                    .push((folded(&user_name).into_owned(), user.id.clone()));
                let wrote = Wrote::merge(None, now, &written);
                r.ops
                    .push(put_user(&user, &user_name, protect, Some(wrote)));
                let outcome = if created.adopted {
                    Outcome::Adopted
                } else {
                    Outcome::Done
                };
                r.outcomes.push((change, outcome));
            }
            Err(e) => fail(r, &[change], &e),
        };
    }
}

impl UpdateUserTask {
    async fn run(self, client: &ScimClient, now: &str, r: &mut StepResult) {
        let UpdateUserTask {
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
        } = self;

        let update = UserUpdate {
            user_name: (user_name_before != user_name).then_some(user_name.as_str()),
            before: &before,
            after: &after,
            active: (active_before != active_after).then_some(active_after),
        };
        match client.update_user(&id, &update).await {
            Ok(()) => {
                let wrote = Wrote::merge(None, now, &update.fields());
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
                fail(r, &[change], &e);
            }
            Err(e) => fail(r, &[change], &e),
        }
    }
}

impl DeleteTask {
    async fn run(self, client: &ScimClient, _now: &str, r: &mut StepResult) {
        let deleted = match self.object {
            ObjectKind::Group => client.delete_group(&self.id).await,
            _ => client.delete_user(&self.id).await,
        };
        match deleted {
            Ok(_) => {
                r.ops.push(match self.object {
                    ObjectKind::Group => StateOp::RemoveGroup {
                        name: self.managed_as,
                    },
                    _ => StateOp::RemoveUser {
                        user_name: self.managed_as,
                    },
                });
                r.outcomes.push((self.change, Outcome::Done));
            }
            Err(e) => fail(r, &[self.change], &e),
        }
    }
}

impl CreateGroupTask {
    async fn run(self, client: &ScimClient, now: &str, r: &mut StepResult) {
        let CreateGroupTask {
            change,
            name,
            protect,
            members,
            look_up_first,
        } = self;

        let refs: Vec<MemberRef> = members.iter().map(|(_, m)| m.clone()).collect();
        match client.create_group(&name, &refs, look_up_first).await {
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
                        wrote: Some(Wrote::merge(None, now, &fields)),
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
                fail(r, &all, &e);
            }
        }
    }
}

impl KeepGroupTask {
    async fn run(self, client: &ScimClient, now: &str, r: &mut StepResult) {
        let KeepGroupTask {
            change,
            id,
            managed_as,
            name,
            live_name,
            before_name,
            members,
            protect,
        } = self;

        let renames = before_name != live_name;
        if renames {
            if let Err(e) = client.rename_group(&id, &live_name).await {
                fail(r, &[change], &e);
                return;
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
                wrote: renames.then(|| Wrote::merge(None, now, &["name".to_owned()])),
            },
        });
        r.outcomes.push((change, Outcome::Done));
    }
}

impl MembersTask {
    async fn run(self, client: &ScimClient, now: &str, r: &mut StepResult) {
        let MembersTask {
            group,
            group_id,
            add,
            remove,
        } = self;

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
