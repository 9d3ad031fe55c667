//! Safety guards: a plan that would destroy too much, or anything protected, is refused.

use serde::{Deserialize, Serialize};

use super::{Action, ObjectKind, Plan};

/// The limits a plan must respect.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// At most this many disables and deletes in one plan.
    pub max_destroy: usize,
    /// At most this share (percent) of the objects zsc manages in a tenant may be disabled or
    /// deleted by one plan (compare Peribolos' maximum removal delta). The same share of them
    /// gone live stops a plan too.
    pub max_destroy_percent: f64,
    /// Plan a tenant whose configuration points at another server than the one it was applied
    /// to even though objects zsc manages are gone (`--allow-moved-tenant`).
    #[serde(default)]
    pub allow_moved_tenant: bool,
}

/// A reason the plan may not be applied as it is.
#[derive(Clone, Debug, PartialEq)]
pub enum GuardViolation {
    TooManyDestroys {
        count: usize,
        limit: usize,
    },
    TooLargeShare {
        tenant: String,
        count: usize,
        managed: usize,
        limit: f64,
    },
    Protected {
        address: String,
        action: Action,
    },
    /// Too large a share of what zsc manages in a tenant is gone live.
    Vanished {
        tenant: String,
        gone: usize,
        managed: usize,
        limit: f64,
    },
    /// A tenant pointing at another server than it was applied to, with managed objects gone.
    MovedTenant {
        tenant: String,
        from: String,
        to: String,
        gone: usize,
    },
    /// The plan refuses to decide about an object (see [`super::Conflict`]).
    Conflict {
        address: String,
        message: String,
    },
}

impl std::fmt::Display for GuardViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardViolation::TooManyDestroys { count, limit } => write!(
                f,
                "the plan would disable or delete {count} objects, more than `max_destroy` ({limit}); \
                 review it, then allow it for one run with `--max-destroy {count}`"
            ),
            GuardViolation::TooLargeShare {
                tenant,
                count,
                managed,
                limit,
            } => {
                let share = *count as f64 * 100.0 / *managed as f64;
                write!(
                    f,
                    "the plan would disable or delete {count} of the {managed} objects zsc manages in \
                     `{tenant}` ({share:.0}%), more than `max_destroy_percent` ({limit}%); review it, \
                     then allow it for one run with `--max-destroy-percent {}`",
                    share.ceil()
                )
            }
            GuardViolation::Conflict { address, message } => write!(f, "`{address}`: {message}"),
            GuardViolation::Vanished {
                tenant,
                gone,
                managed,
                limit,
            } => {
                let share = *gone as f64 * 100.0 / *managed as f64;
                write!(
                    f,
                    "{gone} of the {managed} objects zsc manages in `{tenant}` are gone live \
                     ({share:.0}%, more than `max_destroy_percent`, {limit}%): deleted outside zsc, \
                     or this is another tenant; zsc will not create them again on its own: check \
                     the tenant, then allow it for one run with `--max-destroy-percent {}`",
                    share.ceil()
                )
            }
            GuardViolation::MovedTenant {
                tenant,
                from,
                to,
                gone,
            } => write!(
                f,
                "`{tenant}` was last applied to `{from}`, the configuration now points at `{to}`, \
                 and {gone} of the objects zsc manages there are gone: this may be another \
                 organisation's tenant; if the move is meant, allow it for one run with \
                 `--allow-moved-tenant`"
            ),
            GuardViolation::Protected { address, action } => {
                let verb = match action {
                    Action::Disable => "disable",
                    _ => "delete",
                };
                write!(
                    f,
                    "the plan would {verb} `{address}`, which is protected; to release it, \
                     declare it with `protect: false` and apply that first"
                )
            }
        }
    }
}

/// Every guard the plan trips: its conflicts first, then in plan order.
pub fn check_guards(plan: &Plan, limits: Limits) -> Vec<GuardViolation> {
    let mut out: Vec<GuardViolation> = plan
        .conflicts
        .iter()
        .map(|c| GuardViolation::Conflict {
            address: c.address.clone(),
            message: c.message.clone(),
        })
        .collect();
    for change in &plan.changes {
        let protected = change.before.as_ref().and_then(|b| b.protect) == Some(true);
        if protected
            && change.action.is_destructive()
            && matches!(change.object, ObjectKind::User | ObjectKind::Group)
        {
            out.push(GuardViolation::Protected {
                address: change.address.clone(),
                action: change.action,
            });
        }
    }
    for tenant in &plan.tenants {
        let count = plan
            .changes
            .iter()
            .filter(|c| c.tenant == tenant.name && c.object != ObjectKind::Membership)
            .filter(|c| c.action.is_destructive())
            .count();
        let managed = tenant.managed_users + tenant.managed_groups;
        if count > 0 && managed > 0 {
            let share = count as f64 * 100.0 / managed as f64;
            if share > limits.max_destroy_percent {
                out.push(GuardViolation::TooLargeShare {
                    tenant: tenant.name.clone(),
                    count,
                    managed,
                    limit: limits.max_destroy_percent,
                });
            }
        }
    }
    for tenant in &plan.tenants {
        let gone = tenant.gone.total();
        let managed = tenant.managed_users + tenant.managed_groups;
        if gone > 0 && managed > 0 {
            let share = gone as f64 * 100.0 / managed as f64;
            if share > limits.max_destroy_percent {
                out.push(GuardViolation::Vanished {
                    tenant: tenant.name.clone(),
                    gone,
                    managed,
                    limit: limits.max_destroy_percent,
                });
            }
        }
        if let Some(change) = tenant.server_change.as_ref().filter(|_| gone > 0) {
            if !limits.allow_moved_tenant {
                out.push(GuardViolation::MovedTenant {
                    tenant: tenant.name.clone(),
                    from: change.from.clone(),
                    to: change.to.clone(),
                    gone,
                });
            }
        }
    }
    let count = plan.summary.destroys();
    if count > limits.max_destroy {
        out.push(GuardViolation::TooManyDestroys {
            count,
            limit: limits.max_destroy,
        });
    }
    out
}

/// Warnings for the top of a plan: each managed group losing more than `max_destroy_percent`
/// of its members (a slip in review that empties a group locks people out as surely as
/// deleting them). One member of two is no news; the only member of a group is.
pub fn warnings(plan: &Plan, limits: Limits) -> Vec<String> {
    // What happened to the tenant first: it is what makes the rest of the plan make sense.
    let mut out = tenant_warnings(plan);
    for tenant in &plan.tenants {
        for loss in &tenant.member_losses {
            let share = loss.removed as f64 * 100.0 / loss.had.max(1) as f64;
            if (loss.removed > 1 || loss.had == 1) && share > limits.max_destroy_percent {
                out.push(format!(
                    "group `{}` in `{}` loses {} of its {} members ({share:.0}%)",
                    loss.group, tenant.name, loss.removed, loss.had
                ));
            }
        }
    }
    out
}

/// What happened to each tenant itself: a server other than the one it was applied to, and
/// managed objects gone live.
pub fn tenant_warnings(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for tenant in &plan.tenants {
        if let Some(change) = &tenant.server_change {
            out.push(format!(
                "tenant `{}` was last applied to `{}`; the configuration now points at `{}`",
                tenant.name, change.from, change.to
            ));
        }
        if let Some(text) = gone_text(tenant) {
            out.push(text);
        }
    }
    out
}

/// `42 of the 100 users zsc manages in `prod` are gone live: ...`.
fn gone_text(tenant: &super::TenantSummary) -> Option<String> {
    let gone = &tenant.gone;
    if gone.is_none() {
        return None;
    }
    let mut parts = Vec::new();
    if gone.users > 0 {
        parts.push(format!(
            "{} of the {} users",
            gone.users, tenant.managed_users
        ));
    }
    if gone.groups > 0 {
        parts.push(format!(
            "{} of the {} groups",
            gone.groups, tenant.managed_groups
        ));
    }
    let mut sample: Vec<String> = gone.sample.iter().map(|n| format!("`{n}`")).collect();
    if gone.total() > sample.len() {
        sample.push("…".to_owned());
    }
    Some(format!(
        "{} zsc manages in `{}` are gone live: deleted outside zsc, or this is another tenant ({})",
        parts.join(" and "),
        tenant.name,
        sample.join(", ")
    ))
}
