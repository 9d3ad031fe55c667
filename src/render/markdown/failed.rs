//! A plan that failed (a guard refused it, or no plan could be made), as the comment that
//! replaces the last one.

use std::fmt::Write;

use crate::plan::{GuardViolation, Plan};

use super::{
    body, code, cut_at_line, escape_controls, thousands, Action, Context, COMMENT_BUDGET,
    FAILED_MARKER, LISTED, MARKER, RESERVE,
};

/// A plan that cannot be posted as it is.
#[derive(Clone, Copy, Debug)]
pub enum Failed<'a> {
    /// A plan was made, and a guard refused it (`max_destroy`, `max_destroy_percent`,
    /// `protect`, a conflict): the violations [`crate::plan::check_guards`] returned.
    Refused {
        plan: &'a Plan,
        violations: &'a [GuardViolation],
    },
    /// No plan could be made: the configuration, the state or a tenant failed first (an
    /// invalid file, an unreachable server, a 401). The error as zsc printed it.
    Error { message: &'a str },
}

/// A failed plan as a PR comment, replacing the previous plan comment (it ends with
/// [`MARKER`], and with [`FAILED_MARKER`] so a CI script need not build one): what failed,
/// which guard tripped and by how much, how to lift it, and the refused plan itself within
/// what is left of [`COMMENT_BUDGET`]; or the error text.
pub fn failed(failure: &Failed<'_>, context: &Context) -> String {
    let mut out = String::new();
    match failure {
        Failed::Refused { plan, violations } => {
            let _ = writeln!(
                out,
                "**zsc plan failed:** {} refused this plan. Nothing was changed, and nothing \
                 can be applied from this commit until the plan passes.",
                if violations.len() == 1 {
                    "a safety guard"
                } else {
                    "safety guards"
                }
            );
            if let Some(line) = context.line() {
                let _ = writeln!(out, "\n{line}");
            }
            let _ = writeln!(out, "\n> [!CAUTION]");
            for (i, v) in violations.iter().take(LISTED).enumerate() {
                if i > 0 {
                    out.push_str(">\n");
                }
                let _ = writeln!(out, "> {}", violation(v));
            }
            if violations.len() > LISTED {
                let _ = writeln!(
                    out,
                    ">\n> … and {} more (every one is in the job log).",
                    thousands(violations.len() - LISTED)
                );
            }
            let _ = writeln!(out, "\n## The refused plan\n");
            let left = COMMENT_BUDGET.saturating_sub(out.len() + RESERVE);
            let plan_text = body(plan, &Context::default(), left);
            out.push_str(&plan_text);
        }
        Failed::Error { message } => {
            let _ = writeln!(
                out,
                "**zsc plan failed:** no plan could be made, so nothing can be applied from \
                 this commit. Nothing was changed."
            );
            if let Some(line) = context.line() {
                let _ = writeln!(out, "\n{line}");
            }
            let message = escape_controls(message.trim_end());
            let room = COMMENT_BUDGET.saturating_sub(out.len() + RESERVE);
            let (message, cut) = cut_at_line(&message, room);
            let fence = "`".repeat(
                message
                    .split(|c| c != '`')
                    .map(str::len)
                    .max()
                    .unwrap_or(0)
                    .max(2)
                    + 1,
            );
            let _ = writeln!(out, "\n{fence}text\n{message}\n{fence}");
            if cut {
                let _ = writeln!(out, "\n*… the rest of the error is in the job log.*");
            }
        }
    }
    let _ = writeln!(out, "\n{FAILED_MARKER}\n{MARKER}");
    out
}

/// One guard violation: which guard, by how much, and how to lift it.
fn violation(v: &GuardViolation) -> String {
    match v {
        GuardViolation::TooManyDestroys { count, limit } => format!(
            "**`max_destroy`**: this plan would disable or delete **{}** users and groups; the \
             limit is {} ({} over). If that is intended, raise `max_destroy` under `defaults:` \
             in this change, or apply once with `--max-destroy {count}`.",
            thousands(*count),
            thousands(*limit),
            thousands(count.saturating_sub(*limit)),
        ),
        GuardViolation::TooLargeShare {
            tenant,
            count,
            managed,
            limit,
        } => {
            let share = *count as f64 * 100.0 / (*managed).max(1) as f64;
            format!(
                "**`max_destroy_percent`** in {}: this plan would disable or delete {} of the {} \
                 objects zsc manages there (**{share:.0}%**); the limit is {limit}%. If that is \
                 intended, raise `max_destroy_percent` under `defaults:` in this change, or \
                 apply once with `--max-destroy-percent {}`.",
                code(tenant),
                thousands(*count),
                thousands(*managed),
                share.ceil()
            )
        }
        GuardViolation::Protected { address, action } => format!(
            "**`protect`**: this plan would {} {}, which is protected. To release it, declare \
             it with `protect: false` and apply that first.",
            if *action == Action::Disable {
                "disable"
            } else {
                "delete"
            },
            code(address)
        ),
        GuardViolation::Conflict { address, message } => format!(
            "**conflict** at {}: {message}. Resolve it on the server (rename or delete one), in \
             the configuration, or with `zsc state rm`.",
            code(address)
        ),
        GuardViolation::Vanished { tenant, .. } => {
            format!("**objects gone** in {}: {v}.", code(tenant))
        }
        GuardViolation::MovedTenant { tenant, .. } => {
            format!("**moved tenant** {}: {v}.", code(tenant))
        }
    }
}
