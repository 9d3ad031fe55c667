//! Steps: the units of work sent to a server, and the order they may run in.
//!
//! One step per user or group change, except that a new group travels with its member
//! additions in its create request, and the member changes of an existing group are batched
//! into one step (as few PATCH requests as the dialect allows). Pure: no I/O.

use std::collections::{HashMap, HashSet};

use crate::model::folded;
use crate::plan::{Action, ObjectKind, Plan};

/// A unit of work: one or more changes that travel together.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Step {
    pub tenant: String,
    pub kind: StepKind,
    /// The plan changes this step carries out.
    pub changes: Vec<usize>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum StepKind {
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

/// The steps of a plan and the order among them.
pub(super) struct Steps {
    pub steps: Vec<Step>,
    /// For each step, the steps that wait for it.
    pub dependents: Vec<Vec<usize>>,
    /// For each step, how many steps it still waits for.
    pub pending: Vec<usize>,
}

impl Steps {
    /// Group `plan`'s changes into steps; `change_deps[c]` are the changes change `c` needs.
    /// A step waits for every step holding a change one of its changes needs.
    pub fn new(plan: &Plan, change_deps: &[Vec<usize>]) -> Steps {
        let (steps, step_of) = group(plan);
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
        Steps {
            steps,
            dependents,
            pending,
        }
    }

    /// The steps that wait for nothing, in plan order.
    pub fn initially_ready(&self) -> Vec<usize> {
        (0..self.steps.len())
            .filter(|&s| self.pending[s] == 0)
            .collect()
    }

    /// Step `s` finished (however it ended): the steps waiting only for it become ready.
    pub fn release(&mut self, s: usize, ready: &mut Vec<usize>) {
        for &d in &self.dependents[s] {
            self.pending[d] -= 1;
            if self.pending[d] == 0 {
                ready.push(d);
            }
        }
    }
}

/// Group plan changes into steps; returns the steps and, per change, its step.
fn group(plan: &Plan) -> (Vec<Step>, Vec<usize>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, PlanMeta};

    fn change(address: &str, object: ObjectKind, action: Action, name: &str) -> Change {
        Change::new(address.to_owned(), "t", object, action, name)
    }

    fn plan(changes: Vec<Change>) -> Plan {
        let mut plan = Plan::build(
            PlanMeta {
                lineage: "l".into(),
                serial: 0,
                config_fingerprint: "f".into(),
                refreshed: true,
            },
            &[],
        );
        plan.changes = changes;
        plan
    }

    #[test]
    fn a_new_group_carries_its_adds_and_an_existing_groups_changes_batch_into_one_step() {
        let mut existing_add = change("m1", ObjectKind::Membership, Action::Add, "Old");
        existing_add.id = Some("g1".into());
        let p = plan(vec![
            change("u", ObjectKind::User, Action::Create, "a@x"),
            change("g", ObjectKind::Group, Action::Create, "New"),
            change("m0", ObjectKind::Membership, Action::Add, "NEW"),
            change("m0r", ObjectKind::Membership, Action::Remove, "New"),
            existing_add,
            change("m2", ObjectKind::Membership, Action::Remove, "old"),
        ]);
        let (steps, step_of) = group(&p);
        assert_eq!(
            steps.iter().map(|s| &s.kind).collect::<Vec<_>>(),
            [
                &StepKind::User(0),
                &StepKind::Group {
                    change: 1,
                    members: vec![2]
                },
                &StepKind::Members {
                    group: "New".into(),
                    changes: vec![3]
                },
                &StepKind::Members {
                    group: "Old".into(),
                    changes: vec![4, 5]
                },
            ]
        );
        assert_eq!(step_of, [0, 1, 1, 2, 3, 3]);
    }

    #[test]
    fn a_step_waits_for_the_steps_of_the_changes_it_needs_and_is_released_once() {
        let p = plan(vec![
            change("u", ObjectKind::User, Action::Create, "a@x"),
            change("g", ObjectKind::Group, Action::Create, "G"),
            change("m", ObjectKind::Membership, Action::Add, "G"),
        ]);
        // The add needs the user's create and its group's create (its own step).
        let deps = vec![vec![], vec![], vec![0, 1]];
        let mut steps = Steps::new(&p, &deps);
        assert_eq!(steps.steps.len(), 2);
        assert_eq!(steps.initially_ready(), [0]);
        assert_eq!(steps.pending, [0, 1]);
        let mut ready = Vec::new();
        steps.release(0, &mut ready);
        assert_eq!(ready, [1]);
    }
}
