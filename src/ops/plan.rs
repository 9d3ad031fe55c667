//! `zsc plan`, and the plan every apply starts with: read live (or take state as live), plan
//! each tenant against state as it was recorded, keep the chosen targets, add the warnings,
//! check the guards; and saved plans, written and read back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::fsx;
use crate::model::{DesiredTenant, LiveTenant};
use crate::plan::file::{self, PlanFileError};
use crate::plan::refresh::live_from_state;
use crate::plan::{check_guards, Address, Limits, Plan, PlanMeta, TenantInput};
use crate::state::{State, TenantState};

use super::tenants::Tenants;
use super::Workspace;

/// How to make a plan, resolved from the flags.
pub struct PlanSettings {
    /// Read live state first (false: plan from the state file alone).
    pub refresh: bool,
    pub targets: Vec<Address>,
    pub limits: Limits,
    pub accept_listing_gap: bool,
}

/// A plan, and whether it may be applied.
pub struct Planned {
    pub plan: Plan,
    /// Why it may not be applied as it is (guards, conflicts), if it may not.
    pub refused: Option<Error>,
    /// Where it was saved (`-o FILE`), when it was (a refused plan is not saved).
    pub saved: Option<PathBuf>,
}

/// `zsc plan`: refresh unless told not to, plan, check the guards, save the plan if asked.
pub async fn plan(
    ws: &Workspace,
    settings: &PlanSettings,
    parallelism: Option<usize>,
    out: Option<&Path>,
) -> Result<Planned, Error> {
    let state = ws.store.load().await?.state;
    let tenants = Tenants::connect(&ws.config, parallelism).await?;
    let result = compute(ws, &state, &tenants, settings).await;
    tenants.shutdown().await?;
    let (plan, _) = result?;
    let refused = guard(&plan, settings.limits).err();
    let saved = match (out, &refused) {
        (Some(path), None) => {
            write(path, &plan)?;
            Some(path.to_owned())
        }
        _ => None,
    };
    Ok(Planned {
        plan,
        refused,
        saved,
    })
}

/// Refresh (unless told not to) and plan. Returns the plan and the state with what the read
/// learned folded in. The plan compares live with state as it was recorded, so that what
/// changed outside zsc shows.
pub async fn compute(
    ws: &Workspace,
    state: &State,
    tenants: &Tenants,
    settings: &PlanSettings,
) -> Result<(Plan, State), Error> {
    let config = &ws.config;
    let mut refreshed = state.clone();
    let live: HashMap<String, LiveTenant> = if settings.refresh {
        let live =
            super::refresh::read(config, state, tenants, settings.accept_listing_gap).await?;
        super::refresh::fold(&mut refreshed, config, &live);
        live
    } else {
        config
            .tenants
            .keys()
            .map(|name| {
                let managed = state.tenants.get(name).cloned().unwrap_or_default();
                (name.clone(), live_from_state(&managed))
            })
            .collect()
    };
    let empty_state = TenantState::default();
    let empty_desired = DesiredTenant::default();
    let inputs: Vec<TenantInput<'_>> = config
        .tenants
        .iter()
        .map(|(name, tenant)| TenantInput {
            name,
            dialect: tenant.dialect,
            desired: config.desired.get(name).unwrap_or(&empty_desired),
            managed: state.tenants.get(name).unwrap_or(&empty_state),
            live: &live[name],
            remove_user_action: config.defaults.remove_user_action,
        })
        .collect();
    let mut plan = Plan::build(
        PlanMeta {
            lineage: state.lineage.clone(),
            serial: state.serial,
            config_fingerprint: config.fingerprint(),
            refreshed: settings.refresh,
        },
        &inputs,
    );
    drop(inputs);
    plan.retain_targets(&settings.targets);
    plan.warnings
        .extend(crate::plan::warnings(&plan, settings.limits));
    plan.limits = Some(settings.limits);
    Ok((plan, refreshed))
}

/// The guards `plan` trips under `limits`, as the error that refuses it.
pub fn guard(plan: &Plan, limits: Limits) -> Result<(), Error> {
    let violations = check_guards(plan, limits);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused(violations))
    }
}

/// Save `plan` to `path` (atomically, mode 0600).
pub fn write(path: &Path, plan: &Plan) -> Result<(), Error> {
    fsx::write_atomic(path, &file::to_bytes(plan), fsx::Mode::Private)
        .map_err(|e| Error::file("write the plan to", path, e))
}

/// Read a plan saved by `zsc plan -o FILE`.
pub fn read(path: &Path) -> Result<Plan, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::file("read the plan", path, e))?;
    file::from_bytes(&bytes).map_err(|source| plan_file_error(path, source))
}

pub(super) fn plan_file_error(path: &Path, source: PlanFileError) -> Error {
    Error::PlanFile {
        path: path.to_owned(),
        source,
    }
}
