//! `zsc apply`: fold what an interrupted apply recorded, plan (or read a saved plan and check
//! it is still fresh), guard, ask, execute through the clients while journaling every completed
//! change (and, with a remote backend, pushing the state periodically: `push.rs`), and commit
//! the state. All of it under the state lock.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use crate::apply::{self as executor, ApplyOptions, ApplyReport, Progress, Recorder};
use crate::error::Error;
use crate::plan::file::{check_fresh, Current};
use crate::plan::{Address, Plan};
use crate::state::{Backend, Journal, StateOp};

use super::plan::{compute, guard, plan_file_error, PlanSettings};
use super::push::{push_interval, push_periodically, PushingRecorder};
use super::tenants::Tenants;
use super::{LimitFlags, ReadSettings, Workspace};

/// How to apply, resolved from the flags.
pub struct ApplySettings {
    /// A plan saved by `zsc plan -o FILE`: applied exactly, without asking.
    pub plan_file: Option<PathBuf>,
    pub targets: Vec<Address>,
    /// Read live state before planning (false: plan from the state file alone).
    pub refresh: bool,
    /// How much to read (`None`: each tenant's `refresh:`).
    pub refresh_mode: Option<crate::config::RefreshMode>,
    pub limits: LimitFlags,
    pub read: ReadSettings,
    /// `--at` (planning only) and `--skip-removals` (a saved plan too).
    pub access: super::AccessSettings,
}

/// What the command line gives an apply: how to show the plan, ask, report progress and
/// learn of an interruption.
pub trait ApplyHooks {
    /// An interrupted apply's recorded changes were folded into state before anything else.
    fn recovered(&self, changes: usize);
    /// The plan this apply made (not called for a saved plan).
    fn planned(&self, plan: &Plan);
    /// Ask before changing anything (not called for a saved plan); an error refuses.
    fn confirm(&self) -> Result<(), Error>;
    /// Where progress goes while changes are made.
    fn progress(&self) -> Arc<dyn Progress>;
    /// Told once execution starts: becomes `true` when the run is to stop scheduling.
    fn interrupt(&self) -> watch::Receiver<bool>;
}

/// What an apply did.
pub struct Applied {
    pub plan: Plan,
    /// `None` when the plan had nothing to do.
    pub report: Option<ApplyReport>,
    pub from_file: bool,
}

impl Applied {
    /// How the run ends: interrupted, a change done but not recorded, changes not done, or
    /// success.
    pub fn result(&self) -> Result<(), Error> {
        let Some(report) = &self.report else {
            return Ok(());
        };
        if report.interrupted {
            return Err(Error::Interrupted);
        }
        if let Some(e) = &report.record_error {
            return Err(Error::Record(e.clone()));
        }
        if report.all_done() {
            Ok(())
        } else {
            Err(Error::Unfinished)
        }
    }
}

/// Records into the journal; the state copy is updated by the executor.
struct JournalRecorder {
    journal: Journal,
}

impl Recorder for JournalRecorder {
    fn record(&mut self, entries: &[(&str, &[StateOp])]) -> Result<(), String> {
        self.journal.record_all(entries).map_err(|e| e.to_string())
    }
}

/// `zsc apply [FILE]`.
pub async fn apply(
    ws: &Workspace,
    settings: &ApplySettings,
    hooks: &dyn ApplyHooks,
) -> Result<Applied, Error> {
    ws.locked("apply", async {
        let store = &ws.store;
        let loaded = store.load().await?;
        let mut state = loaded.state;
        if loaded.replayed > 0 || store.has_journal() {
            // An earlier apply was cut off: fold what it recorded (or the empty journal it
            // left) before doing anything.
            store.commit(&mut state).await?;
            if loaded.replayed > 0 {
                hooks.recovered(loaded.replayed);
            }
        }
        let tenants = Tenants::connect(&ws.config, &settings.read).await?;
        let result = run(ws, settings, hooks, (&mut state, loaded.existed), &tenants).await;
        let shutdown = tenants.shutdown().await;
        let applied = result?;
        shutdown?;
        Ok(applied)
    })
    .await
}

async fn run(
    ws: &Workspace,
    settings: &ApplySettings,
    hooks: &dyn ApplyHooks,
    (state, existed): (&mut crate::state::State, bool),
    tenants: &Tenants,
) -> Result<Applied, Error> {
    let store = &ws.store;
    let read_at = crate::state::now();
    let (plan, from_file) = match &settings.plan_file {
        Some(path) => {
            if settings.access.at.is_some() {
                return Err(Error::Refusal(format!(
                    "--at applies when planning; {} was planned already (as of its own time)",
                    path.display()
                )));
            }
            let mut plan = super::plan::read(path)?;
            let current = Current {
                lineage: &state.lineage,
                serial: state.serial,
                existed,
                config_fingerprint: &ws.config.fingerprint(),
            };
            let starts_lineage =
                check_fresh(&plan, &current).map_err(|e| plan_file_error(path, e))?;
            if starts_lineage {
                // Planned before any state existed, applied before any exists: the plan's
                // lineage starts this state's history.
                state.lineage = plan.lineage.clone();
            }
            plan.retain_targets(&settings.targets);
            if settings.access.skip_removals {
                plan.skip_removals();
            }
            // The plan was made with renamed tenants' records under their new keys.
            super::tenant_keys::follow_renames(state, &ws.config);
            (plan, true)
        }
        None => {
            let plan_settings = PlanSettings {
                refresh: settings.refresh,
                refresh_mode: settings.refresh_mode,
                targets: settings.targets.clone(),
                limits: ws.limits(&settings.limits),
                accept_listing_gap: settings.read.accept_listing_gap,
                access: settings.access,
            };
            let (plan, learned) = compute(ws, state.clone(), tenants, &plan_settings).await?;
            let mut refreshed = learned.into_state(&ws.config);
            super::plan::record_agreement(
                &mut refreshed,
                &ws.config,
                &plan,
                &plan_settings.targets,
            );
            hooks.planned(&plan);
            // Keep what the refresh learned, even if nothing else happens, unless the plan is
            // refused: a tenant whose objects vanished must not forget them.
            guard(&plan, plan_settings.limits)?;
            super::tenant_keys::record_servers(&mut refreshed, &ws.config);
            store.commit(&mut refreshed).await?;
            *state = refreshed;
            (plan, false)
        }
    };
    // A saved plan is held to the limits it was made with, unless this run raises them.
    let limits = settings.limits.over(
        plan.limits
            .unwrap_or_else(|| ws.limits(&LimitFlags::default())),
    );
    guard(&plan, limits)?;
    if plan.is_empty() {
        return Ok(Applied {
            plan,
            report: None,
            from_file,
        });
    }
    if !from_file {
        hooks.confirm()?;
    }

    let journal = store.open_journal(state)?;
    let options = ApplyOptions {
        parallelism: tenants.step_limit(),
        now: crate::state::now(),
        // Live was not read just before (a saved plan, or `--refresh=false`): a group of the
        // name may have appeared since.
        look_up_creates: from_file || !plan.refreshed,
    };
    // Every completed change is journaled; with a remote backend the state is also pushed
    // every few seconds while the apply runs.
    let (mut recorder, pushing): (Box<dyn Recorder + Send>, _) = match store {
        Backend::Local(_) => (Box::new(JournalRecorder { journal }), None),
        Backend::Remote(remote) => {
            let recorder = PushingRecorder::new(state, journal);
            let shared = recorder.shared();
            (Box::new(recorder), Some((remote, shared)))
        }
    };
    let (done, finished) = watch::channel(false);
    let execute = async {
        let report = executor::apply(
            &plan,
            &tenants.clients,
            state,
            &mut *recorder,
            &options,
            hooks.progress(),
            hooks.interrupt(),
        )
        .await;
        let _ = done.send(true);
        report
    };
    let executed = match &pushing {
        None => execute.await,
        Some((remote, shared)) => {
            tokio::join!(
                execute,
                push_periodically(remote, shared, push_interval(), finished)
            )
            .0
        }
    };
    drop(recorder);
    if let Ok(report) = &executed {
        // What a targeted refresh trusts next time: the counts as zsc's own creates and
        // deletes left them, and the objects now as declared.
        let is_done = |i: usize| report.outcomes.get(i).is_some_and(|o| o.is_done());
        let uncertain = |i: usize| {
            matches!(
                report.outcomes.get(i),
                Some(executor::Outcome::Adopted | executor::Outcome::Failed(_))
            )
        };
        let fresh = (!from_file).then_some(read_at.as_str());
        super::targeted::count_applied(state, &plan, fresh, &is_done, &uncertain);
        super::targeted::stamp_applied(state, &ws.config, &plan, &is_done);
    }
    // The last write: everything, with the journal folded away.
    super::tenant_keys::record_servers(state, &ws.config);
    store.commit(state).await?;
    let report = executed.map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Applied {
        plan,
        report: Some(report),
        from_file,
    })
}
