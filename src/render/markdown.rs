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

use crate::plan::{Action, Change, GuardViolation, ObjectKind, Plan, Summary, TenantSummary};

use super::text::{self, Block};
use super::{thousands, Styles};

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

// ---- sections by risk

/// How much a change can cost the people it touches: the order in which the comment shows
/// changes and spends its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Risk {
    /// Users disabled or deleted, groups deleted.
    Destroy,
    /// Members removed from groups.
    RemoveMembers,
    /// Users and groups created, members added.
    Create,
    /// Updates, adoptions and renames.
    Change,
}

impl Risk {
    const ALL: [Risk; 4] = [
        Risk::Destroy,
        Risk::RemoveMembers,
        Risk::Create,
        Risk::Change,
    ];

    /// The risk of one change.
    pub fn of(change: &Change) -> Risk {
        match (change.object, change.action) {
            (_, Action::Disable | Action::Delete) => Risk::Destroy,
            (_, Action::Remove) => Risk::RemoveMembers,
            (_, Action::Create | Action::Add) => Risk::Create,
            (_, Action::Adopt | Action::Update | Action::Rename) => Risk::Change,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Risk::Destroy => "Disabled and deleted",
            Risk::RemoveMembers => "Removed from groups",
            Risk::Create => "Created and added to groups",
            Risk::Change => "Changed in place",
        }
    }

    /// Whether the section removes access: it is shown open even when folded, and capped in
    /// the budget's first pass.
    fn removes_access(self) -> bool {
        matches!(self, Risk::Destroy | Risk::RemoveMembers)
    }
}

/// One block of a section, rendered.
struct Entry {
    text: String,
    /// Plan changes it shows.
    changes: usize,
    lines: usize,
}

/// One tenant's changes of one risk.
struct Section {
    risk: Risk,
    entries: Vec<Entry>,
    /// How many of `entries`, from the first, fit the budget.
    shown: usize,
    /// Counts for the title.
    summary: Summary,
}

impl Section {
    fn changes(&self) -> usize {
        self.entries.iter().map(|e| e.changes).sum()
    }

    fn shown_changes(&self) -> usize {
        self.entries[..self.shown].iter().map(|e| e.changes).sum()
    }

    fn shown_lines(&self) -> usize {
        self.entries[..self.shown].iter().map(|e| e.lines).sum()
    }

    /// The markup around the entries: (before, after). `shown` entries of `lines` lines are
    /// shown; the rest are counted after the block.
    fn wrapper(&self, shown: usize, lines: usize, folded: bool) -> (String, String) {
        let total = self.changes();
        let words = section_words(self.risk, &self.summary);
        let fence = fence_for(self.entries.iter());
        let mut open = String::new();
        if folded {
            let _ = writeln!(
                open,
                "\n<details{}><summary><b>{}</b>: {words} ({} lines)</summary>\n",
                if self.risk.removes_access() {
                    " open"
                } else {
                    ""
                },
                self.risk.title(),
                thousands(lines)
            );
        } else {
            let _ = writeln!(open, "\n**{}**: {words}\n", self.risk.title());
        }
        let _ = writeln!(open, "{fence}diff");
        let mut close = format!("{fence}\n");
        if shown < total {
            let _ = writeln!(
                close,
                "\n*… {} more {} in this section, not shown.*",
                thousands(total - shown),
                if total - shown == 1 {
                    "change"
                } else {
                    "changes"
                }
            );
        }
        if folded {
            close.push_str("\n</details>\n");
        }
        (open, close)
    }

    /// The longest the wrapper can be, whatever fits.
    fn wrapper_len(&self) -> usize {
        let total = self.changes();
        let lines: usize = self.entries.iter().map(|e| e.lines).sum();
        let (open, close) = self.wrapper(0, lines.max(total), true);
        // Fences can grow by a few backticks for names holding them.
        open.len() + close.len() + 16
    }

    fn write(&self, w: &mut Budgeted, fold: bool) {
        let total = self.changes();
        let shown = self.shown_changes();
        let lines = self.shown_lines();
        let folded = fold && lines > FOLD_LINES;
        let (open, close) = self.wrapper(shown, lines, folded);
        if !w.push(&open) {
            w.left_out += total;
            return;
        }
        for entry in &self.entries[..self.shown] {
            w.out.push_str(&entry.text);
        }
        w.left_out += total - shown;
        // Allocation left room for the closing markup.
        w.out.push_str(&close);
    }
}

/// One tenant: its heading and table, then its sections by risk.
struct TenantPart {
    head: String,
    sections: Vec<Section>,
    changes: usize,
}

impl TenantPart {
    fn new(tenant: &TenantSummary, refreshed: bool, changes: &[&Change]) -> TenantPart {
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
        TenantPart {
            head,
            sections: sections(changes),
            changes: changes.len(),
        }
    }

    fn fixed_len(&self) -> usize {
        self.head.len()
            + self
                .sections
                .iter()
                .map(Section::wrapper_len)
                .sum::<usize>()
    }

    fn write(&self, w: &mut Budgeted, fold: bool) {
        if !w.push(&self.head) {
            w.left_out += self.changes;
            return;
        }
        for section in &self.sections {
            section.write(w, fold);
        }
    }
}

/// One tenant's changes as sections by risk, each a list of rendered blocks in plan order.
fn sections(changes: &[&Change]) -> Vec<Section> {
    let mut by_risk: Vec<(Risk, Vec<&Change>)> = Risk::ALL.iter().map(|r| (*r, vec![])).collect();
    for c in changes {
        let risk = Risk::of(c);
        by_risk[risk as usize].1.push(c);
    }
    by_risk
        .into_iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(risk, list)| {
            let mut entries = Vec::new();
            for (i, block) in risk_blocks(&list).iter().enumerate() {
                let text = diff_block(block, i == 0);
                entries.push(Entry {
                    lines: text.lines().count(),
                    changes: block.len(),
                    text,
                });
            }
            Section {
                risk,
                entries,
                shown: 0,
                summary: Summary::of(list.iter().copied()),
            }
        })
        .collect()
}

/// The blocks of one risk's changes: users, then groups with the members they are created
/// with, then the member changes of other groups, one block per group, cut into blocks of at
/// most [`MEMBERS_PER_BLOCK`] members.
fn risk_blocks<'a>(changes: &[&'a Change]) -> Vec<Block<'a>> {
    let mut members: Vec<(&str, Vec<&'a Change>)> = Vec::new();
    for c in changes
        .iter()
        .filter(|c| c.object == ObjectKind::Membership)
    {
        match members.iter_mut().find(|(group, _)| *group == c.name) {
            Some((_, list)) => list.push(c),
            None => members.push((&c.name, vec![c])),
        }
    }
    let mut out = Vec::new();
    for c in changes.iter().filter(|c| c.object == ObjectKind::User) {
        out.push(Block::User(c));
    }
    for c in changes.iter().filter(|c| c.object == ObjectKind::Group) {
        let mut folded = Vec::new();
        if c.action == Action::Create {
            if let Some(i) = members.iter().position(|(group, _)| *group == c.name) {
                folded = members.remove(i).1;
            }
        }
        let mut chunks = folded.chunks(MEMBERS_PER_BLOCK);
        out.push(Block::Group {
            change: c,
            members: chunks.next().map(<[_]>::to_vec).unwrap_or_default(),
        });
        out.extend(chunks.map(|chunk| Block::Members(chunk.to_vec())));
    }
    for (_, list) in members {
        out.extend(
            list.chunks(MEMBERS_PER_BLOCK)
                .map(|chunk| Block::Members(chunk.to_vec())),
        );
    }
    out
}

/// Decide how many entries of each section fit in `budget` characters: sections that remove
/// access first, each at most [`RISKY_SHARE_PERCENT`] of the budget, then creates, then
/// in-place changes; then whatever is left, again by risk. Within one risk, the tenants take
/// turns entry by entry.
fn allocate(sections: &mut [&mut Section], budget: usize) {
    let mut left = budget;
    for pass in [true, false] {
        for risk in Risk::ALL {
            let mut cap = if pass && risk.removes_access() {
                budget * RISKY_SHARE_PERCENT / 100
            } else {
                usize::MAX
            };
            let mut open: Vec<bool> = sections.iter().map(|s| s.risk == risk).collect();
            while open.iter().any(|o| *o) {
                for (i, section) in sections.iter_mut().enumerate() {
                    if !open[i] {
                        continue;
                    }
                    let Some(entry) = section.entries.get(section.shown) else {
                        open[i] = false;
                        continue;
                    };
                    let cost = entry.text.len();
                    if cost > left || cost > cap {
                        open[i] = false;
                        continue;
                    }
                    left -= cost;
                    cap = cap.saturating_sub(cost);
                    section.shown += 1;
                }
            }
        }
    }
}

/// `2 users to disable, 1 group to delete`: the counts of one section.
fn section_words(risk: Risk, s: &Summary) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut push = |n: usize, singular: &str, plural: &str, verb: &str| {
        if n > 0 {
            parts.push(format!("{} {verb}", super::count(n, singular, plural)));
        }
    };
    match risk {
        Risk::Destroy => {
            push(s.users.disable, "user", "users", "to disable");
            push(s.users.delete, "user", "users", "to delete");
            push(s.groups.delete, "group", "groups", "to delete (permanent)");
        }
        Risk::RemoveMembers => {
            push(
                s.memberships.remove,
                "membership",
                "memberships",
                "to remove",
            );
        }
        Risk::Create => {
            push(s.users.create, "user", "users", "to create");
            push(s.groups.create, "group", "groups", "to create");
            push(s.memberships.add, "membership", "memberships", "to add");
        }
        Risk::Change => {
            push(s.users.adopt, "user", "users", "to adopt");
            push(s.users.update, "user", "users", "to update");
            push(s.users.rename, "user", "users", "to rename");
            push(s.groups.adopt, "group", "groups", "to adopt");
            push(s.groups.update, "group", "groups", "to update");
            push(s.groups.rename, "group", "groups", "to rename");
        }
    }
    parts.join(", ")
}

/// A table of counts: one row per kind of object, one column per kind of change.
fn counts_table(out: &mut String, s: &Summary, t: &TenantSummary) {
    let n = |v: usize| thousands(v);
    out.push_str(
        "| | + create / add | ! adopt | ! update | ! rename | - disable | - delete / remove | unmanaged |\n",
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

/// One block as diff lines: the text view's lines, without colors, with each change symbol
/// moved to the first column as the marker GitHub colors ([`diff_marker`]). The first block of
/// a section drops the blank line before it.
fn diff_block(block: &Block<'_>, first: bool) -> String {
    let mut plain = String::new();
    text::write_block(&mut plain, block, Styles::PLAIN);
    let plain = if first {
        plain.trim_start_matches('\n')
    } else {
        &plain
    };
    // A disable is shown `~` in the text view (an attribute changes), but it removes access:
    // its head line is marked as a removal.
    let mut head_removes = matches!(block, Block::User(c) if c.action == Action::Disable);
    let mut out = String::with_capacity(plain.len() + 1);
    for line in plain.lines() {
        let mut diff = to_diff_line(line);
        if head_removes && diff.starts_with('!') {
            diff.replace_range(..1, "-");
            head_removes = false;
        }
        out.push_str(&diff);
        out.push('\n');
    }
    out
}

/// The first-column marker for a text-view symbol: `~` becomes `!`, which GitHub's diff
/// highlighter colors as a change (it leaves `~` plain).
fn diff_marker(symbol: char) -> char {
    match symbol {
        '~' => '!',
        other => other,
    }
}

/// `      + member "x"` → `+       member "x"`: diff highlighting reads the first column, and
/// keeping the indentation after the symbol keeps the nesting readable.
fn to_diff_line(line: &str) -> String {
    let body = line.trim_start_matches(' ');
    let indent = line.len() - body.len();
    let mut chars = body.chars();
    match (chars.next(), chars.next()) {
        (Some(sym @ ('+' | '-' | '~')), Some(' ')) => {
            format!("{}{}{}", diff_marker(sym), " ".repeat(indent), &body[1..])
        }
        _ => line.to_owned(),
    }
}

/// A code fence longer than any run of backticks inside the entries (names may hold
/// backticks).
fn fence_for<'e>(entries: impl Iterator<Item = &'e Entry>) -> String {
    let longest = entries
        .flat_map(|e| e.text.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

// ---- a failed plan

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

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn symbols_move_to_the_first_column_as_markers_github_colors() {
        assert_eq!(to_diff_line("  + user \"a\" {"), "+   user \"a\" {");
        assert_eq!(
            to_diff_line("      ~ department = \"A\" -> \"B\""),
            "!       department = \"A\" -> \"B\""
        );
        assert_eq!(to_diff_line("  - group \"g\""), "-   group \"g\"");
        assert_eq!(to_diff_line("    }"), "    }");
        assert_eq!(
            to_diff_line("  # t.user[\"a\"] will be created"),
            "  # t.user[\"a\"] will be created"
        );
        assert_eq!(to_diff_line("  -x"), "  -x");
    }

    #[test]
    fn fences_outgrow_backticks_in_names() {
        let entry = |text: &str| Entry {
            text: text.to_owned(),
            changes: 1,
            lines: 1,
        };
        assert_eq!(fence_for([entry("plain")].iter()), "```");
        assert_eq!(fence_for([entry("a ```` b")].iter()), "`````");
        assert_eq!(code("a`b"), "`` a`b ``");
    }

    #[test]
    fn context_from_github_actions_variables() {
        let vars = [
            ("GITHUB_REPOSITORY", "acme/people"),
            ("GITHUB_SERVER_URL", "https://github.example.com"),
            ("GITHUB_SHA", "merge0000000000000000000000000000000000"),
            ("ZSC_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_RUN_ID", "42"),
            ("ZSC_PLAN_TIME", ""),
        ];
        let context = Context::from_vars(|n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        });
        assert_eq!(
            context,
            Context {
                sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
                commit_url: Some(
                    "https://github.example.com/acme/people/commit/0123456789abcdef0123456789abcdef01234567"
                        .into()
                ),
                run_url: Some("https://github.example.com/acme/people/actions/runs/42".into()),
                time: None,
            }
        );
        let context = context.at("2026-11-30T14:05:09Z");
        assert_eq!(
            context.line().unwrap(),
            "Commit [`0123456789ab`](https://github.example.com/acme/people/commit/0123456789abcdef0123456789abcdef01234567) · \
             [CI run](https://github.example.com/acme/people/actions/runs/42) (full plan in its log) · 2026-11-30 14:05 UTC"
        );
    }

    #[test]
    fn context_from_gitlab_ci_variables() {
        let vars = [
            ("GITLAB_CI", "true"),
            ("CI_COMMIT_SHA", "89abcdef0123456789abcdef0123456789abcdef"),
            ("CI_PROJECT_URL", "https://gitlab.example.com/acme/people"),
            (
                "CI_PIPELINE_URL",
                "https://gitlab.example.com/acme/people/-/pipelines/7",
            ),
            ("CI_PIPELINE_CREATED_AT", "2026-11-30T14:05:09Z"),
        ];
        let context = Context::from_vars(|n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        })
        .at("2030-01-01T00:00:00Z");
        assert_eq!(
            context.run_url.as_deref(),
            Some("https://gitlab.example.com/acme/people/-/pipelines/7")
        );
        assert_eq!(
            context.commit_url.as_deref(),
            Some("https://gitlab.example.com/acme/people/-/commit/89abcdef0123456789abcdef0123456789abcdef")
        );
        assert_eq!(context.time.as_deref(), Some("2026-11-30T14:05:09Z"));
        assert_eq!(Context::from_vars(|_| None), Context::default());
        assert_eq!(Context::default().line(), None);
    }

    #[test]
    fn errors_are_cut_at_a_line_and_lose_their_control_characters() {
        assert_eq!(cut_at_line("a\nb\nc", 3), ("a", true));
        assert_eq!(cut_at_line("abc", 3), ("abc", false));
        assert_eq!(escape_controls("a\u{1b}[2Jb\r\n"), "a\\u{1b}[2Jb\\u{d}\n");
    }
}
