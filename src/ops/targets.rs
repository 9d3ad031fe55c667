//! `--target ADDR`: parse each address once and refuse ones that name nothing zsc knows, before
//! any request is made.

use crate::config::Config;
use crate::error::Error;
use crate::model::folded;
use crate::plan::Address;
use crate::state::State;

/// Parse `--target` values; every problem is reported, each naming its address.
pub fn parse(targets: &[String]) -> Result<Vec<Address>, Error> {
    let mut parsed = Vec::with_capacity(targets.len());
    let mut errors = Vec::new();
    for t in targets {
        match Address::parse(t) {
            Ok(a) => parsed.push(a),
            Err(e) => errors.push(format!("--target: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(Error::Targets(errors))
    }
}

/// Parse `--target` values and check each names a tenant of the configuration and an object
/// that is declared there or managed in state (a target that names nothing is a typo, not an
/// empty plan).
pub fn resolve(targets: &[String], config: &Config, state: &State) -> Result<Vec<Address>, Error> {
    let parsed = parse(targets)?;
    let errors: Vec<String> = parsed
        .iter()
        .filter_map(|a| unknown(a, config, state))
        .collect();
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(Error::Targets(errors))
    }
}

/// Why `address` names nothing, if it does not.
fn unknown(address: &Address, config: &Config, state: &State) -> Option<String> {
    let tenant = address.tenant();
    if !config.tenants.contains_key(tenant) {
        let names: Vec<String> = config.tenants.keys().map(|k| format!("`{k}`")).collect();
        return Some(format!(
            "--target `{address}`: no tenant `{tenant}` in the configuration (tenants: {})",
            names.join(", ")
        ));
    }
    let desired = config.desired.get(tenant);
    let managed = state.tenants.get(tenant);
    let user_known = |name: &str| {
        let key = folded(name);
        desired.is_some_and(|d| d.users.iter().any(|u| folded(&u.user_name) == key))
            || managed.is_some_and(|m| m.users.contains_key(key.as_ref()))
    };
    let group_known = |name: &str| {
        let key = folded(name);
        desired.is_some_and(|d| {
            d.groups.iter().any(|g| {
                folded(&g.name) == key
                    || g.renamed_from.as_deref().is_some_and(|r| folded(r) == key)
            })
        }) || managed.is_some_and(|m| m.groups.contains_key(key.as_ref()))
    };
    let missing = match address {
        Address::Tenant(_) => None,
        Address::User { user_name, .. } => {
            (!user_known(user_name)).then(|| format!("user `{user_name}`"))
        }
        Address::Group { name, .. } => (!group_known(name)).then(|| format!("group `{name}`")),
        Address::Membership { group, member, .. } => {
            if !group_known(group) {
                Some(format!("group `{group}`"))
            } else if !user_known(member) {
                Some(format!("user `{member}`"))
            } else {
                None
            }
        }
    }?;
    Some(format!(
        "--target `{address}`: no {missing} is declared for tenant `{tenant}` or managed in its state"
    ))
}
