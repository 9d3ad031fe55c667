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
    /// How much to read: `--refresh=full|changed`; `None` lets each tenant's `refresh:` say.
    pub refresh_mode: Option<crate::config::RefreshMode>,
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
    let result = compute(ws, state, &tenants, settings).await;
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

/// Refresh (unless told not to) and plan. Takes the state as recorded and returns the plan
/// and what the read learned ([`Learned`]; a caller that saves the state it folds into records
/// which objects agree with the plan first: [`record_agreement`]). The plan compares live with state
/// as it was recorded, so that what changed outside zsc shows. State is taken by value: on a
/// large tenant a copy costs more than the plan itself.
pub async fn compute(
    ws: &Workspace,
    mut state: State,
    tenants: &Tenants,
    settings: &PlanSettings,
) -> Result<(Plan, Learned), Error> {
    let config = &ws.config;
    let mut notes = super::tenant_keys::follow_renames(&mut state, config);
    notes.extend(super::tenant_keys::orphans(&state, config));
    let mut reads = if settings.refresh {
        super::targeted::read(
            config,
            &state,
            tenants,
            settings.refresh_mode,
            settings.accept_listing_gap,
        )
        .await?
    } else {
        super::targeted::Reads {
            live: config
                .tenants
                .keys()
                .map(|name| {
                    let live = state.tenants.get(name).map(live_from_state);
                    (name.clone(), live.unwrap_or_default())
                })
                .collect(),
            ..Default::default()
        }
    };
    let recorded = &state;
    let meta = || PlanMeta {
        lineage: recorded.lineage.clone(),
        serial: recorded.serial,
        config_fingerprint: config.fingerprint(),
        refreshed: settings.refresh,
    };
    // One moment for every round of the plan: access as of then.
    let now = settings.access.at.unwrap_or_else(jiff::Timestamp::now);
    let build =
        |live: &HashMap<String, LiveTenant>| build(config, recorded, live, meta(), settings, now);
    let mut plan = super::targeted::settle(
        config,
        recorded,
        tenants,
        &mut reads,
        settings.accept_listing_gap,
        build,
    )
    .await?;
    super::targeted::describe(&mut plan, &reads, tenants);
    plan.warnings.extend(notes);
    plan.warnings.extend(std::mem::take(&mut reads.notes));
    plan.warnings
        .extend(crate::plan::warnings(&plan, settings.limits));
    plan.limits = Some(settings.limits);
    // What the read learned (a plan from state alone learned nothing: state as it is).
    let reads = settings.refresh.then_some(reads);
    Ok((plan, Learned { state, reads }))
}

/// The state a plan was made from and what its reads learned, folded together only by the
/// commands that keep the result ([`Learned::into_state`]): `zsc plan` drops it as it is, which
/// on a tenant of a million users saves a pass over every record.
pub struct Learned {
    state: State,
    reads: Option<super::targeted::Reads>,
}

impl Learned {
    /// The state with what the reads learned folded in.
    pub fn into_state(self, config: &crate::config::Config) -> State {
        let mut state = self.state;
        if let Some(reads) = &self.reads {
            super::targeted::fold(&mut state, config, reads);
        }
        state
    }
}

/// Plan every configured tenant: desired as of `now` against `live`, with state as it was
/// recorded; then the reasons, what expires soon, the targets and `--skip-removals`.
fn build(
    config: &crate::config::Config,
    state: &State,
    live: &HashMap<String, LiveTenant>,
    meta: PlanMeta,
    settings: &PlanSettings,
    now: jiff::Timestamp,
) -> Plan {
    let empty_state = TenantState::default();
    let empty_desired = DesiredTenant::default();
    // Access as of the moment asked: what expired is no longer desired.
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
    let mut plan = Plan::build(meta, &inputs);
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
    plan
}

/// Record in `refreshed` which declared objects' records are what they declare (the plan has
/// no change for them): the fingerprints a later targeted refresh trusts. Not after a
/// `--target`ed plan, which leaves others' changes out.
pub fn record_agreement(
    refreshed: &mut State,
    config: &crate::config::Config,
    plan: &Plan,
    targets: &[Address],
) {
    if targets.is_empty() {
        super::targeted::stamp(refreshed, config, &super::targeted::undone(plan, None));
    }
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
