//! Folding a fresh read of a tenant into what state says zsc manages.

use std::collections::HashMap;

use crate::model::{LiveGroup, LiveTenant, LiveUser};
use crate::state::{ManagedGroup, ManagedUser, TenantState};

/// The managed objects of `managed`, each found live by its id, with the attributes, `active`
/// and members `live` holds now. The name each is managed as stays (a live name that differs is
/// a rename made outside zsc, which the plan reports); what the last apply wrote is forgotten,
/// since state now records what the server holds. Managed objects whose id no longer exists
/// live are dropped (nothing is left to manage; if they are still desired, the plan creates or
/// adopts them again).
pub fn refresh_tenant(managed: &TenantState, live: &LiveTenant) -> TenantState {
    let users_by_id: HashMap<&str, &LiveUser> =
        live.users.iter().map(|u| (u.id.as_str(), u)).collect();
    let groups_by_id: HashMap<&str, &LiveGroup> =
        live.groups.iter().map(|g| (g.id.as_str(), g)).collect();

    let mut out = TenantState {
        server: managed.server.clone(),
        // Kept: a fingerprint covers its record too, so one whose record changed here no
        // longer matches (see `plan::targeted`).
        full_refresh: managed.full_refresh.clone(),
        reconciled: managed.reconciled.clone(),
        ..TenantState::default()
    };
    for (key, m) in &managed.users {
        if let Some(l) = users_by_id.get(m.id.as_str()) {
            out.users.insert(
                key.clone(),
                ManagedUser {
                    id: l.id.clone(),
                    user_name: m.user_name.clone(),
                    active: l.active,
                    attrs: l.attrs.clone(),
                    protect: m.protect,
                    wrote: None,
                },
            );
        }
    }
    for (key, m) in &managed.groups {
        if let Some(l) = groups_by_id.get(m.id.as_str()) {
            out.groups.insert(
                key.clone(),
                ManagedGroup {
                    id: l.id.clone(),
                    name: m.name.clone(),
                    members: l.members.clone(),
                    protect: m.protect,
                    wrote: None,
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
