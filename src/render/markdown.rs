//! The plan as a pull-request comment (GitHub and GitLab flavoured markdown).
//!
//! Summary line first; destructive changes called out at the top; per tenant a table of counts
//! and the changes in ```` ```diff ```` blocks laid out by the text view's building blocks
//! ([`super::text::blocks`], [`super::text::write_block`]) with each change's symbol moved to
//! the first column, where diff highlighting looks for it. Long sections fold into
//! `<details>`. The comment stays under GitHub's 65,536-character limit: past
//! [`COMMENT_BUDGET`] it stops and says how many changes it left out.
//!
//! Pure: returns a `String`, never prints.

use std::fmt::Write;

use crate::plan::{Action, Change, ObjectKind, Plan, Summary, TenantSummary};

use super::text::{self, Block};
use super::{thousands, Styles};

/// Characters a comment may use before it is truncated; GitHub refuses comments over 65,536.
pub const COMMENT_BUDGET: usize = 60_000;

/// Sections longer than this many lines are folded into `<details>`.
pub const FOLD_LINES: usize = 30;

/// How many destructive changes the warning at the top lists by address.
const LISTED_DESTROYS: usize = 20;

/// A hidden marker CI scripts use to find and update the previous plan comment.
pub const MARKER: &str = "<!-- zsc-plan -->";

/// Render `plan` as a PR comment within [`COMMENT_BUDGET`] characters.
pub fn plan(plan: &Plan) -> String {
    plan_within(plan, COMMENT_BUDGET)
}

/// Render `plan` in at most about `budget` characters (the truncation notice and closing
/// markup are accounted for).
pub fn plan_within(plan: &Plan, budget: usize) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        let _ = writeln!(
            out,
            "**zsc plan: no changes.** Live state matches the configuration."
        );
    } else {
        let _ = writeln!(out, "**zsc plan:** {}", text::summary_words(&plan.summary));
    }
    if !plan.refreshed {
        out.push_str(
            "\nPlanned from the state file alone (`--refresh=false`): live drift is not shown.\n",
        );
    }
    conflicts(&mut out, plan);
    destroy_warning(&mut out, plan);

    let by_tenant = text::by_tenant(plan);
    let mut writer = Budgeted {
        out,
        budget: budget.saturating_sub(RESERVE),
        left_out: 0,
        full: false,
    };
    for tenant in &plan.tenants {
        let changes = by_tenant
            .iter()
            .find(|(name, _)| *name == tenant.name)
            .map_or(&[][..], |(_, list)| list.as_slice());
        tenant_section(&mut writer, tenant, plan.refreshed, changes);
    }
    let mut out = writer.out;
    if writer.left_out > 0 {
        let _ = writeln!(
            out,
            "\n**… {} more {}; full plan in the job log/artifact.**",
            thousands(writer.left_out),
            if writer.left_out == 1 {
                "change"
            } else {
                "changes"
            }
        );
    }
    let _ = writeln!(out, "\n{MARKER}");
    out
}

/// Room kept for the closing fence, `</details>`, the truncation notice and the marker.
const RESERVE: usize = 300;

/// The comment under construction, refusing pieces that would take it past its budget.
struct Budgeted {
    out: String,
    budget: usize,
    /// Changes not shown because the budget ran out.
    left_out: usize,
    /// Once a piece did not fit, nothing more is added (the comment stays in plan order).
    full: bool,
}

impl Budgeted {
    /// Append `piece` if it fits.
    fn push(&mut self, piece: &str) -> bool {
        if self.full || self.out.len() + piece.len() > self.budget {
            self.full = true;
            return false;
        }
        self.out.push_str(piece);
        true
    }
}

/// `> [!CAUTION]`: what the plan refuses to decide, first: it cannot be applied until each is
/// resolved.
fn conflicts(out: &mut String, plan: &Plan) {
    if plan.conflicts.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n> [!CAUTION]");
    let _ = writeln!(
        out,
        "> **This plan cannot be applied: zsc refuses to decide {}.**",
        plural(plan.conflicts.len(), "conflict", "conflicts")
    );
    out.push_str(">\n");
    for c in plan.conflicts.iter().take(LISTED_DESTROYS) {
        let _ = writeln!(out, "> - {}: {}", code(&c.address), c.message);
    }
    if plan.conflicts.len() > LISTED_DESTROYS {
        let _ = writeln!(
            out,
            "> - … and {} more",
            thousands(plan.conflicts.len() - LISTED_DESTROYS)
        );
    }
}

/// `> [!WARNING]`: what this plan disables, deletes or removes, before anything else.
fn destroy_warning(out: &mut String, plan: &Plan) {
    let s = &plan.summary;
    let mut parts = Vec::new();
    if s.users.disable > 0 {
        parts.push(format!("{} to disable", users(s.users.disable)));
    }
    if s.users.delete > 0 {
        parts.push(format!("{} to delete", users(s.users.delete)));
    }
    if s.groups.delete > 0 {
        parts.push(format!(
            "{} to delete (permanent)",
            plural(s.groups.delete, "group", "groups")
        ));
    }
    if s.memberships.remove > 0 {
        parts.push(format!(
            "{} to remove",
            plural(s.memberships.remove, "membership", "memberships")
        ));
    }
    if parts.is_empty() && plan.warnings.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n> [!WARNING]");
    for warning in &plan.warnings {
        let _ = writeln!(out, "> **{warning}.**");
    }
    if parts.is_empty() {
        return;
    }
    let _ = writeln!(out, "> **This plan removes access:** {}.", parts.join(", "));
    let destroys: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action.is_destructive())
        .collect();
    if destroys.is_empty() {
        return;
    }
    out.push_str(">\n");
    for c in destroys.iter().take(LISTED_DESTROYS) {
        let verb = match (c.object, c.action) {
            (ObjectKind::User, Action::Disable) => "disabled",
            (ObjectKind::Group, _) => "deleted (permanent)",
            _ => "deleted",
        };
        let _ = writeln!(out, "> - {} will be {verb}", code(&c.address));
    }
    if destroys.len() > LISTED_DESTROYS {
        let _ = writeln!(
            out,
            "> - … and {} more",
            thousands(destroys.len() - LISTED_DESTROYS)
        );
    }
}

fn tenant_section(w: &mut Budgeted, tenant: &TenantSummary, refreshed: bool, changes: &[&Change]) {
    let summary = Summary::of(changes.iter().copied());
    let mut head = String::new();
    let _ = writeln!(head, "\n### {}\n", tenant.name);
    let line = text::tenant_line(tenant, refreshed);
    let line = line
        .strip_prefix(&format!("{}: ", tenant.name))
        .unwrap_or(&line);
    let _ = writeln!(head, "{}{}\n", line[..1].to_uppercase(), &line[1..]);
    if changes.is_empty() {
        head.push_str("No changes.\n");
    } else {
        counts_table(&mut head, &summary, tenant);
    }
    if !w.push(&head) {
        w.left_out += changes.len();
        return;
    }

    let blocks = text::blocks(changes);
    let (user_blocks, group_blocks): (Vec<&Block<'_>>, Vec<&Block<'_>>) =
        blocks.iter().partition(|b| b.is_user());
    section(w, "Users", &user_blocks);
    section(w, "Groups and memberships", &group_blocks);
}

/// A table of counts: one row per kind of object, one column per kind of change.
fn counts_table(out: &mut String, s: &Summary, t: &TenantSummary) {
    let n = |v: usize| thousands(v);
    out.push_str(
        "| | + create / add | ~ adopt | ~ update | ~ rename | ~ disable | - delete / remove | unmanaged |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let u = &s.users;
    let _ = writeln!(
        out,
        "| users | {} | {} | {} | | {} | {} | {} |",
        n(u.create),
        n(u.adopt),
        n(u.update),
        n(u.disable),
        n(u.delete),
        n(t.unmanaged_users)
    );
    let g = &s.groups;
    let _ = writeln!(
        out,
        "| groups | {} | {} | {} | {} | | {} | {} |",
        n(g.create),
        n(g.adopt),
        n(g.update),
        n(g.rename),
        n(g.delete),
        n(t.unmanaged_groups)
    );
    let m = &s.memberships;
    let _ = writeln!(
        out,
        "| memberships | {} | | | | | {} | |",
        n(m.add),
        n(m.remove)
    );
}

/// One section of a tenant's changes in a diff block, folded when long, cut off (and counted)
/// when the budget runs out.
fn section(w: &mut Budgeted, title: &str, blocks: &[&Block<'_>]) {
    if blocks.is_empty() {
        return;
    }
    let rendered: Vec<String> = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| diff_block(b, i == 0))
        .collect();
    let lines: usize = rendered.iter().map(|r| r.lines().count()).sum();
    let changes: usize = blocks.iter().map(|b| b.len()).sum();
    let fence = fence_for(&rendered);
    let folded = lines > FOLD_LINES;

    let mut open = String::new();
    if folded {
        let _ = writeln!(
            open,
            "\n<details><summary>{title}: {} ({} lines)</summary>\n",
            plural(changes, "change", "changes"),
            thousands(lines)
        );
    } else {
        let _ = writeln!(open, "\n**{title}**\n");
    }
    let _ = writeln!(open, "{fence}diff");
    if !w.push(&open) {
        w.left_out += changes;
        return;
    }
    let mut shown = 0;
    for (block, text) in blocks.iter().zip(&rendered) {
        if !w.push(text) {
            break;
        }
        shown += block.len();
    }
    w.left_out += changes - shown;
    // The closing markup always fits: RESERVE keeps room for it.
    let _ = writeln!(w.out, "{fence}");
    if folded {
        w.out.push_str("\n</details>\n");
    }
}

/// One block as diff lines: the text view's lines, without colors, with each change symbol
/// moved to the first column. The first block of a section drops the blank line before it.
fn diff_block(block: &Block<'_>, first: bool) -> String {
    let mut plain = String::new();
    text::write_block(&mut plain, block, Styles::PLAIN);
    let plain = if first {
        plain.trim_start_matches('\n')
    } else {
        &plain
    };
    let mut out = String::with_capacity(plain.len() + 1);
    for line in plain.lines() {
        out.push_str(&to_diff_line(line));
        out.push('\n');
    }
    out
}

/// `      + member "x"` → `+       member "x"`: diff highlighting reads the first column, and
/// keeping the indentation after the symbol keeps the nesting readable.
fn to_diff_line(line: &str) -> String {
    let body = line.trim_start_matches(' ');
    let indent = line.len() - body.len();
    let mut chars = body.chars();
    match (chars.next(), chars.next()) {
        (Some(sym @ ('+' | '-' | '~')), Some(' ')) => {
            format!("{sym}{}{}", " ".repeat(indent), &body[1..])
        }
        _ => line.to_owned(),
    }
}

/// A code fence longer than any run of backticks inside the blocks (names may hold backticks).
fn fence_for(rendered: &[String]) -> String {
    let longest = rendered
        .iter()
        .flat_map(|r| r.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// Inline code that survives backticks in the text.
fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {text} ``")
    } else {
        format!("`{text}`")
    }
}

fn users(n: usize) -> String {
    plural(n, "user", "users")
}

fn plural(n: usize, singular: &str, plural: &str) -> String {
    super::count(n, singular, plural)
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn symbols_move_to_the_first_column() {
        assert_eq!(to_diff_line("  + user \"a\" {"), "+   user \"a\" {");
        assert_eq!(
            to_diff_line("      ~ department = \"A\" -> \"B\""),
            "~       department = \"A\" -> \"B\""
        );
        assert_eq!(to_diff_line("    }"), "    }");
        assert_eq!(
            to_diff_line("  # t.user[\"a\"] will be created"),
            "  # t.user[\"a\"] will be created"
        );
        assert_eq!(to_diff_line("  -x"), "  -x");
    }

    #[test]
    fn fences_outgrow_backticks_in_names() {
        assert_eq!(fence_for(&["plain".to_owned()]), "```");
        assert_eq!(fence_for(&["a ```` b".to_owned()]), "`````");
        assert_eq!(code("a`b"), "`` a`b ``");
    }
}
