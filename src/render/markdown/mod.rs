//! The plan as a pull-request comment (GitHub and GitLab flavoured markdown), and a failed plan
//! as one.
//!
//! What a reviewer must not miss comes first and cannot be crowded out: the summary line, where
//! the plan comes from ([`Context`]: commit, run, time), conflicts (`[!CAUTION]`), then what
//! removes access (`[!WARNING]`, every list capped and counted). Per tenant a table of counts,
//! then the changes in ```` ```diff ```` blocks laid out by the text view's building blocks
//! ([`super::text::blocks`], [`super::text::write_block`]), sorted by risk ([`Risk`]): what is
//! disabled or deleted, memberships removed, what is created or added, what changes in place.
//! Each change's symbol moves to the first column as a marker GitHub's diff highlighter colors
//! (`+` green, `-` red, `!` orange: `~` is not colored, so in-place changes use `!`, as
//! Terraform's PR commenters do); a legend says so.
//!
//! The comment stays under GitHub's 65,536-character limit: past [`COMMENT_BUDGET`] it is cut,
//! and the budget is spent by risk: removals of access first, each of those sections capped so
//! that neither crowds out the other, then creates, then in-place changes. What a section
//! leaves out is counted at its end and in total at the bottom. Plans under
//! [`SMALL_PLAN_LINES`] lines are never folded; past that, long sections fold into
//! `<details>` (left open where they remove access).
//!
//! [`failed`] renders a plan that failed (a guard refused it, or no plan could be made) as the
//! same comment's replacement, so a pull request never keeps showing a plan that no longer
//! holds.
//!
//! Pure: returns a `String`, never prints, reads nothing ([`Context::from_env`] is the one
//! exception, named as such, for the command line to call).

use std::fmt::Write;

use crate::plan::{Action, Change, ObjectKind, Plan};

use super::text;
use super::thousands;

mod failed;
mod sections;
#[cfg(test)]
mod tests;

pub use failed::{failed, Failed};
pub use sections::Risk;
use sections::{allocate, Section, TenantPart};

/// Characters a comment may use before it is cut; GitHub refuses comments over 65,536.
pub const COMMENT_BUDGET: usize = 60_000;

/// In a plan longer than [`SMALL_PLAN_LINES`], sections longer than this many lines fold into
/// `<details>`.
pub const FOLD_LINES: usize = 30;

/// Plans whose diff blocks are shorter than this are never folded: everything is in view.
pub const SMALL_PLAN_LINES: usize = 100;

/// How many conflicts and destructive changes the blocks at the top list by address.
const LISTED: usize = 20;

/// How many warnings (groups losing members) the block at the top lists.
const LISTED_WARNINGS: usize = 10;

/// Membership changes of one group shown per block: a group losing 3,000 members becomes
/// blocks of this many, so the budget can show some of them.
const MEMBERS_PER_BLOCK: usize = 50;

/// In the first pass over the budget each access-removing section may take at most this share
/// (in percent) of what is left for changes, so that 3,000 membership removals cannot hide
/// 1,000 disables; what the others leave unused is offered again afterwards, by risk.
const RISKY_SHARE_PERCENT: usize = 40;

/// A hidden marker CI scripts use to find and update the previous plan comment.
pub const MARKER: &str = "<!-- zsc-plan -->";

/// A second hidden marker on comments from [`failed`]: the comment already says the plan
/// failed, so a CI script posts it as it is instead of building its own error comment.
pub const FAILED_MARKER: &str = "<!-- zsc-plan-failed -->";

// ---- context

/// Where a plan comes from, shown under its summary line: the commit, the CI run (whose log
/// holds the full plan) and the time. Every field is optional; an empty context shows nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// The commit the plan is for (full SHA).
    pub sha: Option<String>,
    /// A link to that commit.
    pub commit_url: Option<String>,
    /// A link to the CI run or job.
    pub run_url: Option<String>,
    /// When the plan was made (RFC 3339; shown in UTC to the minute when it parses).
    pub time: Option<String>,
}

impl Context {
    /// The context CI exposes in these environment variables, read through `var` (empty values
    /// count as unset):
    ///
    /// | field | GitHub Actions | GitLab CI |
    /// |---|---|---|
    /// | `sha` | `ZSC_COMMIT_SHA`, else `GITHUB_SHA` | `ZSC_COMMIT_SHA`, else `CI_COMMIT_SHA` |
    /// | `commit_url` | `GITHUB_SERVER_URL/GITHUB_REPOSITORY/commit/SHA` | `CI_PROJECT_URL/-/commit/SHA` |
    /// | `run_url` | `GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID` | `CI_JOB_URL`, else `CI_PIPELINE_URL` |
    /// | `time` | `ZSC_PLAN_TIME` | `ZSC_PLAN_TIME`, else `CI_JOB_STARTED_AT`, else `CI_PIPELINE_CREATED_AT` |
    ///
    /// `ZSC_COMMIT_SHA` is for workflows whose own variable names another commit: on a GitHub
    /// `pull_request` event `GITHUB_SHA` is the merge commit GitHub made, and the workflow
    /// passes `github.event.pull_request.head.sha` instead. GitHub exposes no time; the caller
    /// adds the current one with [`Context::at`].
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Context {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut context = Context::default();
        if let Some(repository) = var("GITHUB_REPOSITORY") {
            let server = var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
            let server = server.trim_end_matches('/');
            context.sha = var("ZSC_COMMIT_SHA").or_else(|| var("GITHUB_SHA"));
            context.commit_url = context
                .sha
                .as_ref()
                .map(|sha| format!("{server}/{repository}/commit/{sha}"));
            context.run_url =
                var("GITHUB_RUN_ID").map(|id| format!("{server}/{repository}/actions/runs/{id}"));
        } else if var("GITLAB_CI").is_some() || var("CI_PROJECT_URL").is_some() {
            context.sha = var("ZSC_COMMIT_SHA").or_else(|| var("CI_COMMIT_SHA"));
            context.commit_url = match (var("CI_PROJECT_URL"), &context.sha) {
                (Some(project), Some(sha)) => {
                    Some(format!("{}/-/commit/{sha}", project.trim_end_matches('/')))
                }
                _ => None,
            };
            context.run_url = var("CI_JOB_URL").or_else(|| var("CI_PIPELINE_URL"));
            context.time = var("CI_JOB_STARTED_AT").or_else(|| var("CI_PIPELINE_CREATED_AT"));
        } else {
            context.sha = var("ZSC_COMMIT_SHA");
        }
        if let Some(time) = var("ZSC_PLAN_TIME") {
            context.time = Some(time);
        }
        context
    }

    /// The same context, with `time` (RFC 3339) where the environment gave none.
    pub fn at(mut self, time: &str) -> Context {
        if self.time.is_none() {
            self.time = Some(time.to_owned());
        }
        self
    }

    /// `Commit [0123abcd](…) · [CI run](…) · 2026-11-30 14:05 UTC`, or `None` when empty.
    fn line(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(sha) = &self.sha {
            let short: String = sha.chars().take(12).collect();
            let short = code(&short);
            parts.push(match &self.commit_url {
                Some(url) => format!("Commit [{short}]({})", link_target(url)),
                None => format!("Commit {short}"),
            });
        }
        if let Some(url) = &self.run_url {
            parts.push(format!(
                "[CI run]({}) (full plan in its log)",
                link_target(url)
            ));
        }
        if let Some(time) = &self.time {
            parts.push(match time.parse::<jiff::Timestamp>() {
                Ok(t) => t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
                Err(_) => escape_controls(time),
            });
        }
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
}

// ---- the plan

/// Render `plan` as a PR comment within [`COMMENT_BUDGET`] characters, without context.
pub fn plan(plan: &Plan) -> String {
    plan_with(plan, &Context::default())
}

/// Render `plan` as a PR comment within [`COMMENT_BUDGET`] characters, saying where it comes
/// from.
pub fn plan_with(plan: &Plan, context: &Context) -> String {
    let mut out = body(plan, context, COMMENT_BUDGET);
    let _ = writeln!(out, "\n{MARKER}");
    out
}

/// Render `plan` in at most about `budget` characters (the notices and closing markup are
/// accounted for; the summary and the warnings at the top are always shown).
pub fn plan_within(plan: &Plan, budget: usize) -> String {
    let mut out = body(plan, &Context::default(), budget);
    let _ = writeln!(out, "\n{MARKER}");
    out
}

/// The comment without its marker.
fn body(plan: &Plan, context: &Context, budget: usize) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        let _ = writeln!(
            out,
            "**zsc plan: no changes.** Live state matches the configuration."
        );
    } else {
        let _ = writeln!(out, "**zsc plan:** {}", text::summary_words(&plan.summary));
    }
    if let Some(line) = context.line() {
        let _ = writeln!(out, "\n{line}");
    }
    if !plan.refreshed {
        out.push_str(
            "\nPlanned from the state file alone (`--refresh=false`): live drift is not shown.\n",
        );
    }
    if let Some(at) = &plan.as_of {
        let _ = writeln!(out, "\nPlanned as of {} (`--at`).", code(at));
    }
    conflicts(&mut out, plan);
    if plan.skipped_removals > 0 {
        let _ = writeln!(
            out,
            "\n> [!IMPORTANT]\n> **{}**",
            text::skipped_words(plan.skipped_removals)
        );
    }
    destroy_warning(&mut out, plan);
    expiring(&mut out, plan);
    if !plan.is_empty() {
        out.push_str(
            "\nLegend: `+` create or add, `!` change in place, `-` disable, delete or remove.\n",
        );
    }

    let by_tenant = text::by_tenant(plan);
    let tenants: Vec<TenantPart> = plan
        .tenants
        .iter()
        .map(|tenant| {
            let changes = by_tenant
                .iter()
                .find(|(name, _)| *name == tenant.name)
                .map_or(&[][..], |(_, list)| list.as_slice());
            TenantPart::new(tenant, plan.refreshed, changes)
        })
        .collect();

    let fixed = out.len() + RESERVE + tenants.iter().map(TenantPart::fixed_len).sum::<usize>();
    let mut tenants = tenants;
    {
        let mut sections: Vec<&mut Section> = tenants
            .iter_mut()
            .flat_map(|part| part.sections.iter_mut())
            .collect();
        allocate(&mut sections, budget.saturating_sub(fixed));
    }
    let total_lines: usize = tenants
        .iter()
        .flat_map(|part| &part.sections)
        .map(Section::shown_lines)
        .sum();
    let fold = total_lines >= SMALL_PLAN_LINES;

    let mut writer = Budgeted {
        out,
        budget: budget.saturating_sub(RESERVE),
        left_out: 0,
        full: false,
    };
    for part in &tenants {
        part.write(&mut writer, fold);
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
    out
}

/// Room kept for the final notice and the markers.
const RESERVE: usize = 300;

/// The comment under construction, refusing pieces that would take it past its budget.
struct Budgeted {
    out: String,
    budget: usize,
    /// Changes not shown.
    left_out: usize,
    /// Once a piece did not fit, nothing more is added (the comment stays in order).
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
    for c in plan.conflicts.iter().take(LISTED) {
        let _ = writeln!(out, "> - {}: {}", code(&c.address), c.message);
    }
    more_items(out, plan.conflicts.len(), LISTED, "");
}

/// What ends within the notice period, soonest first.
fn expiring(out: &mut String, plan: &Plan) {
    if plan.expiring.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n**Expiring soon** ({}):\n",
        plural(plan.expiring.len(), "grant", "grants")
    );
    for e in plan.expiring.iter().take(LISTED) {
        let what = match &e.group {
            Some(group) => format!("{} in {}", code(&e.user), code(group)),
            None => format!("user {}", code(&e.user)),
        };
        let _ = writeln!(out, "- {}: {what} until {}", e.tenant, e.until);
    }
    if plan.expiring.len() > LISTED {
        let _ = writeln!(
            out,
            "- … and {} more",
            thousands(plan.expiring.len() - LISTED)
        );
    }
}

/// `> - … and 80 more`, when a list was cut at `shown`.
fn more_items(out: &mut String, total: usize, shown: usize, what: &str) {
    if total > shown {
        let _ = writeln!(out, "> - … and {} more{what}", thousands(total - shown));
    }
}

/// `> [!WARNING]`: groups losing members, then what this plan disables, deletes or removes,
/// before anything else. Each item is its own paragraph or list item, so that it renders as a
/// line of its own in any GFM renderer (a soft line break in a quote is only a space there).
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
    let mut first = true;
    let mut paragraph = |out: &mut String, text: &str| {
        if !first {
            out.push_str(">\n");
        }
        first = false;
        let _ = writeln!(out, "> {text}");
    };
    for warning in plan.warnings.iter().take(LISTED_WARNINGS) {
        paragraph(out, &format!("**{warning}.**"));
    }
    if plan.warnings.len() > LISTED_WARNINGS {
        paragraph(
            out,
            &format!(
                "**… and {} more {}** (every one is in the job log).",
                thousands(plan.warnings.len() - LISTED_WARNINGS),
                if plan.warnings.len() - LISTED_WARNINGS == 1 {
                    "warning"
                } else {
                    "warnings"
                }
            ),
        );
    }
    if parts.is_empty() {
        return;
    }
    paragraph(
        out,
        &format!("**This plan removes access:** {}.", parts.join(", ")),
    );
    let destroys: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action.is_destructive())
        .collect();
    if destroys.is_empty() {
        return;
    }
    out.push_str(">\n");
    for c in destroys.iter().take(LISTED) {
        let verb = match (c.object, c.action) {
            (ObjectKind::User, Action::Disable) => "disabled",
            (ObjectKind::Group, _) => "deleted (permanent)",
            _ => "deleted",
        };
        let _ = writeln!(out, "> - {} will be {verb}", code(&c.address));
    }
    more_items(out, destroys.len(), LISTED, " disabled or deleted");
}

/// `text` cut at the last line break within `room` bytes; whether it was cut.
fn cut_at_line(text: &str, room: usize) -> (&str, bool) {
    if text.len() <= room {
        return (text, false);
    }
    let mut end = room;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind('\n').unwrap_or(end);
    (&text[..end], true)
}

/// Control characters other than line breaks and tabs written `\u{..}`: an error may quote
/// what a server sent.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// A URL as a markdown link target: `<…>` when it holds characters that would end it.
fn link_target(url: &str) -> String {
    let url = escape_controls(url);
    if url.contains([' ', '(', ')', '<', '>']) {
        format!("<{}>", url.replace(['<', '>'], ""))
    } else {
        url
    }
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
