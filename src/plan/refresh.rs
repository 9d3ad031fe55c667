//! Folding a fresh read of a tenant into what state says zsc manages.

use std::collections::HashMap;

use crate::model::{folded, LiveGroup, LiveTenant, LiveUser};
use crate::state::{ManagedGroup, ManagedUser, TenantState};

/// The managed objects of `managed`, with the ids, attributes and members `live` holds now.
/// Managed objects that no longer exist live are dropped (nothing is left to manage; if they
/// are still desired, the plan creates them again).
pub fn refresh_tenant(managed: &TenantState, live: &LiveTenant) -> TenantState {
    let users_by_key: HashMap<String, &LiveUser> = live
        .users
        .iter()
        .map(|u| (folded(&u.user_name).into_owned(), u))
        .collect();
    let groups_by_id: HashMap<&str, &LiveGroup> =
        live.groups.iter().map(|g| (g.id.as_str(), g)).collect();
    let groups_by_key: HashMap<String, &LiveGroup> = live
        .groups
        .iter()
        .map(|g| (folded(&g.name).into_owned(), g))
        .collect();

    let mut out = TenantState::default();
    for (key, m) in &managed.users {
        if let Some(l) = users_by_key.get(key) {
            out.users.insert(
                key.clone(),
                ManagedUser {
                    id: l.id.clone(),
                    user_name: l.user_name.clone(),
                    active: l.active,
                    attrs: l.attrs.clone(),
                    protect: m.protect,
                },
            );
        }
    }
    for (key, m) in &managed.groups {
        let live = groups_by_id
            .get(m.id.as_str())
            .or_else(|| groups_by_key.get(key))
            .copied();
        if let Some(l) = live {
            out.groups.insert(
                key.clone(),
                ManagedGroup {
                    id: l.id.clone(),
                    name: m.name.clone(),
                    members: l.members.clone(),
                    protect: m.protect,
                },
            );
        }
    }
    out
}

/// What state remembers of a tenant, as if it were a live read: for `--refresh=false`.
pub fn live_from_state(managed: &TenantState) -> LiveTenant {
    LiveTenant {
        users: managed
            .users
            .values()
            .map(|u| LiveUser {
                id: u.id.clone(),
                user_name: u.user_name.clone(),
                active: u.active,
                attrs: u.attrs.clone(),
            })
            .collect(),
        groups: managed
            .groups
            .values()
            .map(|g| LiveGroup {
                id: g.id.clone(),
                name: g.name.clone(),
                members: g.members.clone(),
            })
            .collect(),
    }
}
