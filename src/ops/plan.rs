//! `zsc plan`, and the plan every apply starts with: read live (or take state as live), plan
//! each tenant against state as it was recorded, keep the chosen targets, add the warnings,
//! check the guards; and saved plans, written and read back.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::access::{self, Expired};
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
    pub access: super::AccessSettings,
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
    read: &super::ReadSettings,
    out: Option<&Path>,
) -> Result<Planned, Error> {
    let state = ws.store.load().await?.state;
    let tenants = Tenants::connect(&ws.config, read).await?;
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
    let mut moved = state.clone();
    let mut notes = super::tenant_keys::follow_renames(&mut moved, config);
    notes.extend(super::tenant_keys::orphans(&moved, config));
    let state = &moved;
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
    // Access as of the moment asked: what expired is no longer desired.
    let now = settings.access.at.unwrap_or_else(jiff::Timestamp::now);
    let notice =
        jiff::SignedDuration::from_hours(24 * i64::from(config.defaults.expiry_notice_days));
    let mut expiring = Vec::new();
    let access: HashMap<&str, (Cow<'_, DesiredTenant>, Expired)> = config
        .tenants
        .keys()
        .map(|name| {
            let desired = config.desired.get(name).unwrap_or(&empty_desired);
            let (desired, expired, soon) = access::as_of(name, desired, now, notice);
            expiring.extend(soon);
            (name.as_str(), (desired, expired))
        })
        .collect();
    let servers: HashMap<&str, String> = config
        .tenants
        .iter()
        .map(|(name, t)| (name.as_str(), t.server()))
        .collect();
    let inputs: Vec<TenantInput<'_>> = config
        .tenants
        .iter()
        .map(|(name, tenant)| TenantInput {
            name,
            dialect: tenant.dialect,
            desired: &access[name.as_str()].0,
            managed: state.tenants.get(name).unwrap_or(&empty_state),
            live: &live[name],
            remove_user_action: config.defaults.remove_user_action,
            server: Some(servers[name.as_str()].as_str()),
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
    for (name, (desired, expired)) in &access {
        access::explain(&mut plan, name, desired, expired);
    }
    plan.expiring = expiring;
    plan.as_of = settings.access.at.map(|at| at.to_string());
    plan.retain_targets(&settings.targets);
    if settings.access.skip_removals {
        plan.skip_removals();
    }
    plan.warnings.extend(notes);
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
