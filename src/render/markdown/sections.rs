//! The changes of each tenant as sections by risk, and how the comment's budget is spent on
//! them.

use std::fmt::Write;

use crate::plan::{Action, Change, Summary, TenantSummary};

use super::super::text::{self, Block};
use super::super::{thousands, Styles};
use super::{Budgeted, ObjectKind, FOLD_LINES, MEMBERS_PER_BLOCK, RISKY_SHARE_PERCENT};

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
pub(super) struct Entry {
    pub(super) text: String,
    /// Plan changes it shows.
    pub(super) changes: usize,
    pub(super) lines: usize,
}

/// One tenant's changes of one risk.
pub(super) struct Section {
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

    pub(super) fn shown_lines(&self) -> usize {
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

    pub(super) fn write(&self, w: &mut Budgeted, fold: bool) {
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
pub(super) struct TenantPart {
    pub(super) head: String,
    pub(super) sections: Vec<Section>,
    pub(super) changes: usize,
}

impl TenantPart {
    pub(super) fn new(tenant: &TenantSummary, refreshed: bool, changes: &[&Change]) -> TenantPart {
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

    pub(super) fn fixed_len(&self) -> usize {
        self.head.len()
            + self
                .sections
                .iter()
                .map(Section::wrapper_len)
                .sum::<usize>()
    }

    pub(super) fn write(&self, w: &mut Budgeted, fold: bool) {
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
pub(super) fn allocate(sections: &mut [&mut Section], budget: usize) {
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
            parts.push(format!(
                "{} {verb}",
                super::super::count(n, singular, plural)
            ));
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
    // A targeted refresh listed nothing: it cannot tell what zsc does not manage.
    let unmanaged = |v: usize| {
        if t.read.is_some() {
            "not listed".to_owned()
        } else {
            thousands(v)
        }
    };
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
        unmanaged(t.unmanaged_users)
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
        unmanaged(t.unmanaged_groups)
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
pub(super) fn to_diff_line(line: &str) -> String {
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
pub(super) fn fence_for<'e>(entries: impl Iterator<Item = &'e Entry>) -> String {
    let longest = entries
        .flat_map(|e| e.text.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}
