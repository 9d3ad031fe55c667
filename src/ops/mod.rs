//! The workflow layer: what each command does, between the command line and the core.
//!
//! Each command is one function here that takes a [`Workspace`] (the loaded configuration and
//! the state store) and settings resolved once from the flags, and returns what happened as
//! data for `render` to show: "read live, fold into state, plan, guard, execute, record".
//! Errors are [`crate::Error`]s that know their exit code.
//!
//! What this layer must not do: parse flags or print. It talks to tenants only through
//! [`crate::scim`] (via [`tenants::Tenants`]), writes state only through the configured
//! [`crate::state::Backend`] (under its lock: [`Workspace::locked`]) and other files only
//! through [`crate::fsx`]; the planner and the views it calls are pure.

pub mod apply;
pub mod doctor;
pub mod import;
pub mod plan;
mod push;
pub mod refresh;
pub mod state;
pub mod targeted;
pub mod targets;
pub mod tenant_keys;
pub mod tenants;

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use crate::config::{self, BackendOverride, Config, LoadOptions};
use crate::error::Error;
use crate::plan::Limits;
use crate::state::{Backend, LockWait};

/// The configuration a command works with, and the backend that keeps its state.
pub struct Workspace {
    pub config: Config,
    /// Where the state is kept: the local file, or the configuration's `backend:`.
    pub store: Backend,
    /// What the configuration asks that its tenants' dialects may not do (not errors).
    pub warnings: Vec<config::dialect_checks::Warning>,
    /// How long a command waits for a state lock another run holds.
    pub lock_timeout: Duration,
    /// Told the holder's description when a command starts waiting for a lock.
    pub lock_waiting: Box<dyn Fn(&str) + Send + Sync>,
}

/// Where the state is kept and how its lock is waited for, resolved from the flags.
#[derive(Clone, Debug, Default)]
pub struct BackendSettings {
    /// `--backend-config KEY=VALUE`, parsed; `ZSC_BACKEND_<KEY>` is read by [`Workspace::load_with`].
    pub overrides: Vec<BackendOverride>,
    /// `--lock-timeout`.
    pub lock_timeout: Duration,
}

impl Workspace {
    /// Load and validate the configuration at `config` (no network); the state lives at
    /// `state`, or `.zsc/state.json` beside the configuration, unless `backend:` keeps it
    /// elsewhere. `check_tokens`: whether every token must be available now (not for
    /// `zsc validate`, which needs no secret).
    pub fn load(
        config: &Path,
        state: Option<&Path>,
        check_tokens: bool,
    ) -> Result<Workspace, Error> {
        Workspace::load_with(config, state, &BackendSettings::default(), check_tokens)
    }

    /// [`Workspace::load`] with the backend's overrides (the environment's `ZSC_BACKEND_<KEY>`,
    /// then `settings.overrides`) and lock timeout.
    pub fn load_with(
        config: &Path,
        state: Option<&Path>,
        settings: &BackendSettings,
        check_tokens: bool,
    ) -> Result<Workspace, Error> {
        let mut overrides = config::backend::env_overrides(std::env::vars());
        overrides.extend(settings.overrides.iter().cloned());
        let options = LoadOptions {
            backend_overrides: overrides,
            check_tokens,
        };
        let config = config::load_with(config, &options)?;
        let work_dir = config.dir.join(".zsc");
        if let (Some(path), false) = (state, config.backend == config::BackendConfig::Local) {
            return Err(Error::Refusal(format!(
                "`--state {}` names a local state file, but the configuration keeps its state in \
                 the {}; leave `--state` out (or move the state with `zsc state migrate`)",
                path.display(),
                config.backend
            )));
        }
        let path = state
            .map(Path::to_owned)
            .unwrap_or_else(|| work_dir.join("state.json"));
        let mut warnings = config::dialect_checks::warnings(&config);
        warnings.extend(config.notes.iter().cloned());
        warnings.extend(
            crate::access::past(&config.desired, jiff::Timestamp::now())
                .into_iter()
                .map(|(origin, message)| config::dialect_checks::Warning { origin, message }),
        );
        Ok(Workspace {
            store: Backend::open(&config.backend, path, &work_dir)?,
            warnings,
            config,
            lock_timeout: settings.lock_timeout,
            lock_waiting: Box::new(|_| {}),
        })
    }

    /// Run `work` holding the state lock for `command`, waiting for it as `--lock-timeout`
    /// says; the lock is given back however `work` ends (a remote lock outlives only a process
    /// that is killed, and then `zsc state unlock` releases it).
    pub async fn locked<T>(
        &self,
        command: &str,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let wait = LockWait {
            timeout: self.lock_timeout,
            waiting: &*self.lock_waiting,
        };
        let guard = self.store.lock(command, &wait).await?;
        let result = work.await;
        let released = self.store.release(guard).await;
        match (result, released) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(e)) => Err(e.into()),
            (Err(e), released) => {
                if let Err(unlock) = released {
                    tracing::warn!("could not release the state lock: {unlock}");
                }
                Err(e)
            }
        }
    }

    /// The destroy limits for a run: the configuration's, raised by the flags given.
    pub fn limits(&self, raised: &LimitFlags) -> Limits {
        raised.over(Limits {
            max_destroy: self.config.defaults.max_destroy,
            max_destroy_percent: self.config.defaults.max_destroy_percent,
            allow_moved_tenant: false,
        })
    }
}

/// `--max-destroy` and `--max-destroy-percent`, as given for one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct LimitFlags {
    pub max_destroy: Option<usize>,
    pub max_destroy_percent: Option<f64>,
    pub allow_moved_tenant: bool,
}

impl LimitFlags {
    /// `base` raised by these flags: the one place a limit is resolved.
    pub fn over(&self, base: Limits) -> Limits {
        Limits {
            max_destroy: self.max_destroy.unwrap_or(base.max_destroy),
            max_destroy_percent: self.max_destroy_percent.unwrap_or(base.max_destroy_percent),
            allow_moved_tenant: self.allow_moved_tenant || base.allow_moved_tenant,
        }
    }
}

/// Which access a plan grants: as of when, and whether it may take any away.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessSettings {
    /// Judge `until:` at this moment (`--at`); `None`: now.
    pub at: Option<jiff::Timestamp>,
    /// `--skip-removals`: only creates, updates and additions.
    pub skip_removals: bool,
}

/// How to read tenants: `--parallelism` (requests in flight per tenant),
/// `--accept-listing-gap`, and where progress goes.
#[derive(Clone, Debug, Default)]
pub struct ReadSettings {
    pub parallelism: Option<usize>,
    pub accept_listing_gap: bool,
    pub progress: Option<crate::scim::ProgressSink>,
}

/// `zsc validate`: how much the configuration declares.
pub struct Validated {
    pub users: usize,
    pub groups: usize,
    pub tenants: usize,
}

pub fn validate(ws: &Workspace) -> Validated {
    let config = &ws.config;
    Validated {
        users: config.desired.values().map(|t| t.users.len()).sum(),
        groups: config.desired.values().map(|t| t.groups.len()).sum(),
        tenants: config.tenants.len(),
    }
}
