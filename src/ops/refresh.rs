//! `zsc refresh`, and the read every plan starts with: read the tenants live, accounting for
//! what state manages and the configuration declares, and fold what was read into state.

use std::collections::HashMap;

use crate::config::Config;
use crate::error::Error;
use crate::model::{name_key, LiveTenant};
use crate::plan::refresh::refresh_tenant;
use crate::plan::GuardViolation;
use crate::scim::Expected;
use crate::state::State;

use super::tenants::Tenants;
use super::{ReadSettings, Workspace};

/// What a refresh read, per tenant (in configuration order), and what a reviewer must know.
pub struct Refreshed {
    pub tenants: Vec<(String, usize, usize)>,
    pub warnings: Vec<String>,
}

/// `zsc refresh`: read every tenant and record what the managed objects hold now. A refresh
/// that would forget too much (managed objects gone live, a tenant that moved to another
/// server) is refused like a plan, naming the flag that allows it: forgetting them would make
/// the next plan create them again, maybe in another organisation's tenant.
pub async fn refresh(
    ws: &Workspace,
    settings: &ReadSettings,
    limits: &super::LimitFlags,
) -> Result<Refreshed, Error> {
    ws.locked("refresh", async {
        let mut state = ws.store.load().await?.state;
        // Renamed tenants' records move first, so that what the move says is reported below.
        let mut notes = super::tenant_keys::follow_renames(&mut state, &ws.config);
        notes.extend(super::tenant_keys::orphans(&state, &ws.config));
        let tenants = Tenants::connect(&ws.config, settings).await?;
        let plan_settings = super::plan::PlanSettings {
            refresh: true,
            refresh_mode: Some(crate::config::RefreshMode::Full),
            targets: Vec::new(),
            limits: ws.limits(limits),
            accept_listing_gap: settings.accept_listing_gap,
            access: super::AccessSettings::default(),
        };
        let computed = super::plan::compute(ws, state, &tenants, &plan_settings).await;
        tenants.shutdown().await?;
        let (plan, learned) = computed?;
        let mut refreshed = learned.into_state(&ws.config);
        super::plan::record_agreement(&mut refreshed, &ws.config, &plan, &[]);
        let forgets: Vec<_> = crate::plan::check_guards(&plan, plan_settings.limits)
            .into_iter()
            .filter(|v| {
                matches!(
                    v,
                    GuardViolation::Vanished { .. } | GuardViolation::MovedTenant { .. }
                )
            })
            .collect();
        if !forgets.is_empty() {
            return Err(Error::Refused(forgets));
        }
        ws.store.commit(&mut refreshed).await?;
        Ok(Refreshed {
            tenants: plan
                .tenants
                .iter()
                .map(|t| (t.name.clone(), t.live_users, t.live_groups))
                .collect(),
            warnings: {
                notes.extend(crate::plan::tenant_warnings(&plan));
                notes
            },
        })
    })
    .await
}

/// Read `names` in full, concurrently, with what each listing counted.
pub async fn read_counted(
    config: &Config,
    state: &State,
    tenants: &Tenants,
    names: &[String],
    accept_gap: bool,
) -> Result<HashMap<String, (LiveTenant, crate::scim::Totals)>, Error> {
    tenants
        .read_counted(names, |name| {
            let mut expected = expected(config, state, name);
            expected.accept_gap = accept_gap;
            expected
        })
        .await
}

/// What a read of `tenant` must account for even if a listing comes back short: the declared
/// names (and old names), and the ids state manages.
fn expected(config: &Config, state: &State, tenant: &str) -> Expected {
    let mut expected = Expected::default();
    if let Some(desired) = config.desired.get(tenant) {
        for u in &desired.users {
            expected.users.push(u.user_name.clone());
            expected.users.extend(u.renamed_from.iter().cloned());
        }
        for g in &desired.groups {
            expected.groups.push(g.name.clone());
            expected.groups.extend(g.renamed_from.iter().cloned());
        }
    }
    if let Some(managed) = state.tenants.get(tenant) {
        expected.user_ids = managed.users.values().map(|u| u.id.clone()).collect();
        expected.group_ids = managed.groups.values().map(|g| g.id.clone()).collect();
    }
    for names in [&mut expected.users, &mut expected.groups] {
        names.sort_by_cached_key(|n| name_key(n));
        names.dedup_by(|a, b| name_key(a) == name_key(b));
    }
    expected
}

/// Replace each tenant's managed objects with what `live` (by tenant name) holds now (by id).
pub fn fold<'a>(state: &mut State, config: &Config, live: impl Fn(&str) -> Option<&'a LiveTenant>) {
    for name in config.tenants.keys() {
        let Some(tenant_live) = live(name) else {
            continue;
        };
        let refreshed = state
            .tenants
            .get(name)
            .map(|managed| refresh_tenant(managed, tenant_live))
            .unwrap_or_default();
        if refreshed.users.is_empty() && refreshed.groups.is_empty() {
            state.tenants.remove(name);
        } else {
            state.tenants.insert(name.clone(), refreshed);
        }
    }
}
