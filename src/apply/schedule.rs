//! Running the steps: start every step whose dependencies are done, up to the parallelism;
//! as steps finish, record their changes together (one write, one fsync) before any of them
//! counts as done, then release what waited for them. Interruption and a failure to record
//! both stop the scheduling; what is in flight finishes.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::plan::Plan;
use crate::scim::ScimClient;
use crate::state::{State, StateOp};

use super::steps::Steps;
use super::work::{prepare, IdMap, Prepared, StepResult};
use super::{Outcome, Progress, Recorder};

/// One run of a plan's steps.
pub(super) struct Scheduler<'a> {
    pub plan: &'a Plan,
    pub clients: &'a HashMap<String, ScimClient>,
    pub steps: Steps,
    pub change_deps: Vec<Vec<usize>>,
    pub outcomes: Vec<Option<Outcome>>,
    pub progress: Arc<dyn Progress>,
    pub parallelism: usize,
    pub now: Arc<str>,
    /// See [`super::ApplyOptions::look_up_creates`].
    look_up_creates: bool,
    ids: IdMap,
    ready: Vec<usize>,
    running: JoinSet<(usize, StepResult)>,
    pub interrupted: bool,
    pub record_error: Option<String>,
}

impl<'a> Scheduler<'a> {
    pub fn new(
        plan: &'a Plan,
        clients: &'a HashMap<String, ScimClient>,
        change_deps: Vec<Vec<usize>>,
        progress: Arc<dyn Progress>,
        options: &super::ApplyOptions,
    ) -> Self {
        let steps = Steps::new(plan, &change_deps);
        let mut ready = steps.initially_ready();
        ready.reverse(); // pop() takes plan order
        Scheduler {
            plan,
            clients,
            outcomes: vec![None; plan.changes.len()],
            steps,
            change_deps,
            progress,
            parallelism: options.parallelism.max(1),
            now: options.now.as_str().into(),
            look_up_creates: options.look_up_creates,
            ids: IdMap::default(),
            ready,
            running: JoinSet::new(),
            interrupted: false,
            record_error: None,
        }
    }

    /// Run until every step has finished or been skipped, or scheduling stopped and what was
    /// in flight finished.
    pub async fn run(
        &mut self,
        state: &mut State,
        recorder: &mut dyn Recorder,
        mut interrupt: watch::Receiver<bool>,
    ) {
        self.interrupted = *interrupt.borrow();
        loop {
            self.start_ready();
            if self.running.is_empty() {
                break;
            }
            let joined = tokio::select! {
                joined = self.running.join_next() => joined,
                changed = interrupt.changed(), if !self.interrupted => {
                    if changed.is_err() || *interrupt.borrow() {
                        self.interrupted = true;
                    }
                    continue;
                }
            };
            let Some(joined) = joined else { break };
            // Group commit: take every step that has finished by now and record them
            // together, one write and one fsync, before any of them counts as done.
            let mut finished = vec![joined];
            while let Some(more) = self.running.try_join_next() {
                finished.push(more);
            }
            let mut results: Vec<(usize, StepResult)> = Vec::with_capacity(finished.len());
            for joined in finished {
                match joined {
                    Ok(r) => results.push(r),
                    Err(e) => self.record_error = Some(format!("a worker failed: {e}")),
                }
            }
            // Keep the slots busy during the journal's fsync: only steps whose dependencies
            // are recorded are ever ready.
            self.start_ready();
            self.record(&results, recorder);
            for (s, result) in results {
                self.finish(s, result, state);
            }
        }
    }

    /// Start ready steps until `parallelism` are in flight (unless scheduling has stopped).
    fn start_ready(&mut self) {
        while !self.interrupted
            && self.record_error.is_none()
            && self.running.len() < self.parallelism
        {
            let Some(s) = self.ready.pop() else { break };
            let step = &self.steps.steps[s];
            match prepare(
                self.plan,
                step,
                &self.outcomes,
                &self.change_deps,
                &self.ids,
                self.look_up_creates,
            ) {
                Prepared::Skip(reason) => {
                    for c in step.changes.clone() {
                        self.settle(c, Outcome::Skipped(reason.clone()));
                    }
                    self.steps.release(s, &mut self.ready);
                }
                Prepared::Run(work) => {
                    let work = *work;
                    let tenant = step.tenant.clone();
                    for (c, reason) in &work.skipped {
                        self.settle(*c, Outcome::Skipped(reason.clone()));
                    }
                    let Some(client) = self.clients.get(&tenant).cloned() else {
                        let reason = format!("no client for tenant `{tenant}`");
                        for &c in &work.changes {
                            self.outcomes[c] = Some(Outcome::Failed(reason.clone()));
                        }
                        self.steps.release(s, &mut self.ready);
                        continue;
                    };
                    let now = Arc::clone(&self.now);
                    self.running
                        .spawn(async move { (s, work.run(client, now).await) });
                }
            }
        }
    }

    /// Make the finished steps' state changes durable, all in one record.
    fn record(&mut self, results: &[(usize, StepResult)], recorder: &mut dyn Recorder) {
        let entries: Vec<(&str, &[StateOp])> = results
            .iter()
            .filter(|(_, r)| !r.ops.is_empty())
            .map(|(s, r)| (self.steps.steps[*s].tenant.as_str(), r.ops.as_slice()))
            .collect();
        if entries.is_empty() {
            return;
        }
        if let Err(e) = recorder.record(&entries) {
            // The remote changes happened but are not durable: stop scheduling; the next run
            // adopts what this one could not record.
            self.record_error = Some(e);
        }
    }

    /// A recorded step: its changes to state, the ids it learned, its outcomes.
    fn finish(&mut self, s: usize, result: StepResult, state: &mut State) {
        let tenant = self.steps.steps[s].tenant.clone();
        for op in &result.ops {
            state.apply(&tenant, op);
        }
        for (key, id) in result.created_users {
            self.ids.users.insert((tenant.clone(), key), id);
        }
        for (key, id) in result.created_groups {
            self.ids.groups.insert((tenant.clone(), key), id);
        }
        for (c, outcome) in result.outcomes {
            self.settle(c, outcome);
        }
        self.steps.release(s, &mut self.ready);
    }

    fn settle(&mut self, c: usize, outcome: Outcome) {
        self.progress
            .finished_change(&self.plan.changes[c], &outcome);
        self.outcomes[c] = Some(outcome);
    }
}
