//! Tenants as state knows them: a tenant key renamed in the configuration (`renamed_from:`)
//! takes its state records along, a tenant state holds but the configuration no longer
//! declares is reported on every plan, and state records which server each tenant was applied
//! to.

use crate::config::Config;
use crate::render::count;
use crate::state::State;

/// Move the records of each tenant declared with `renamed_from: OLD` from `OLD` to its key
/// (ids kept, no adoption round), unless state holds both. Returns what it did, in words.
pub fn follow_renames(state: &mut State, config: &Config) -> Vec<String> {
    let mut notes = Vec::new();
    for (name, tenant) in &config.tenants {
        let Some(from) = &tenant.renamed_from else {
            continue;
        };
        match (
            state.tenants.contains_key(from),
            state.tenants.contains_key(name),
        ) {
            (true, false) => {
                if let Some(records) = state.tenants.remove(from) {
                    notes.push(format!(
                        "tenant `{from}` is renamed to `{name}`: {} and {} zsc manages move with it",
                        count(records.users.len(), "user", "users"),
                        count(records.groups.len(), "group", "groups")
                    ));
                    state.tenants.insert(name.clone(), records);
                }
            }
            (true, true) => notes.push(format!(
                "tenant `{name}` is declared `renamed_from: {from}`, but state holds both: \
                 nothing moved; remove what `{from}` holds with `zsc state rm {from}` if it is \
                 no longer wanted"
            )),
            (false, _) => {}
        }
    }
    notes
}

/// A line for each tenant state holds that the configuration does not declare.
pub fn orphans(state: &State, config: &Config) -> Vec<String> {
    state
        .tenants
        .iter()
        .filter(|(name, _)| !config.tenants.contains_key(*name))
        .map(|(name, t)| {
            format!(
                "state holds `{name}` ({}, {}) which the configuration no longer declares; \
                 nothing will be changed there: declare the tenant that replaces it with \
                 `renamed_from: {name}` (its records move, ids kept), or stop managing them \
                 with `zsc state rm {name}`",
                count(t.users.len(), "user", "users"),
                count(t.groups.len(), "group", "groups")
            )
        })
        .collect()
}

/// Record, for each configured tenant state holds records of, the server it is applied to.
pub fn record_servers(state: &mut State, config: &Config) {
    for (name, tenant) in &config.tenants {
        if let Some(records) = state.tenants.get_mut(name) {
            records.server = Some(tenant.server());
        }
    }
}
