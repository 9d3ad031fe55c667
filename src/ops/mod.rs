//! The workflow layer: what each command does, between the command line and the core.
//!
//! Each command is one function here that takes a [`Workspace`] (the loaded configuration and
//! the state store) and settings resolved once from the flags, and returns what happened as
//! data for `render` to show: "read live, fold into state, plan, guard, execute, record".
//! Errors are [`crate::Error`]s that know their exit code.
//!
//! What this layer must not do: parse flags or print. It talks to tenants only through
//! [`crate::scim`] (via [`tenants::Tenants`]), writes state only through
//! [`crate::state::StateStore`] and other files only through [`crate::fsx`]; the planner and
//! the views it calls are pure.

pub mod apply;
pub mod import;
pub mod plan;
pub mod refresh;
pub mod state;
pub mod targets;
pub mod tenant_keys;
pub mod tenants;

use std::path::{Path, PathBuf};

use crate::config::{self, Config};
use crate::error::Error;
use crate::plan::Limits;
use crate::state::StateStore;

/// The configuration a command works with, and the state store beside it.
pub struct Workspace {
    pub config: Config,
    pub store: StateStore,
    /// What the configuration asks that its tenants' dialects may not do (not errors).
    pub warnings: Vec<config::dialect_checks::Warning>,
}

impl Workspace {
    /// Load and validate the configuration at `config` (no network); the state lives at
    /// `state`, or `.zsc/state.json` beside the configuration. `check_tokens`: whether every
    /// token must be available now (not for `zsc validate`, which needs no secret).
    pub fn load(
        config: &Path,
        state: Option<&Path>,
        check_tokens: bool,
    ) -> Result<Workspace, Error> {
        let config = config::load_with(config, &config::LoadOptions { check_tokens })?;
        let path = state
            .map(Path::to_owned)
            .unwrap_or_else(|| config.dir.join(".zsc").join("state.json"));
        let mut warnings = config::dialect_checks::warnings(&config);
        warnings.extend(config.notes.iter().cloned());
        warnings.extend(
            crate::access::past(&config.desired, jiff::Timestamp::now())
                .into_iter()
                .map(|(origin, message)| config::dialect_checks::Warning { origin, message }),
        );
        Ok(Workspace {
            store: StateStore::new(path),
            warnings,
            config,
        })
    }

    /// The state file's path.
    pub fn state_path(&self) -> PathBuf {
        self.store.path().to_owned()
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
