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
//! `steps.rs` groups changes into steps (pure), `schedule.rs` runs them, `work.rs` resolves
//! each step against what happened so far and carries it out through the client.

mod schedule;
mod steps;
mod work;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::plan::graph::DependencyGraph;
use crate::plan::{Change, Plan};
use crate::scim::ScimClient;
use crate::state::{State, StateOp};

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
    /// Look each group's name up before creating it: the plan did not read the tenant just
    /// before (a saved plan, or `--refresh=false`), and a server that accepts a second group of
    /// a name would otherwise get one when someone created it meanwhile.
    pub look_up_creates: bool,
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

/// Execute `plan`. `state` is updated (and `recorder` told) as each step completes.
pub async fn apply(
    plan: &Plan,
    clients: &HashMap<String, ScimClient>,
    state: &mut State,
    recorder: &mut dyn Recorder,
    options: &ApplyOptions,
    progress: Arc<dyn Progress>,
    interrupt: watch::Receiver<bool>,
) -> Result<ApplyReport, crate::plan::graph::GraphError> {
    let started = Instant::now();
    let graph = DependencyGraph::build(plan)?;
    progress.started(plan.changes.len());
    let mut scheduler =
        schedule::Scheduler::new(plan, clients, graph.dependencies(), progress, options);
    scheduler.run(state, recorder, interrupt).await;
    Ok(ApplyReport {
        outcomes: std::mem::take(&mut scheduler.outcomes)
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::NotStarted))
            .collect(),
        interrupted: scheduler.interrupted,
        elapsed: started.elapsed(),
        requests: clients.values().map(ScimClient::requests_sent).sum(),
        record_error: scheduler.record_error.take(),
    })
}
