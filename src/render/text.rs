//! The plan as text, in Terraform's visual language.

use std::collections::HashMap;
use std::fmt::Write;

use crate::model::USER_FIELDS;
use crate::plan::{Action, Change, Drift, ObjectKind, Plan, Summary, TenantSummary, Values};

use super::{count, thousands, Styles, Tone};

/// Render a whole plan: per tenant a header and the changes, then the summary line.
pub fn plan(plan: &Plan, styles: Styles) -> String {
    let mut out = String::new();
    for tenant in &plan.tenants {
        let _ = writeln!(
            out,
            "{}",
            styles.paint(Tone::Muted, &tenant_line(tenant, plan.refreshed))
        );
    }
    for conflict in &plan.conflicts {
        let _ = writeln!(
            out,
            "\n{} {}: {}",
            styles.paint(Tone::Error, "Error:"),
            conflict.address,
            conflict.message
        );
    }
    if let Some(at) = &plan.as_of {
        let _ = writeln!(
            out,
            "{}",
            styles.paint(Tone::Muted, &format!("Planned as of {at} (--at)."))
        );
    }
    if plan.skipped_removals > 0 {
        let _ = writeln!(
            out,
            "\n{} {}",
            styles.paint(Tone::Warning, "Warning:"),
            skipped_words(plan.skipped_removals)
        );
    }
    for warning in &plan.warnings {
        let _ = writeln!(
            out,
            "\n{} {warning}",
            styles.paint(Tone::Warning, "Warning:")
        );
    }
    if !plan.expiring.is_empty() {
        let _ = writeln!(out, "\n{}", styles.paint(Tone::Heading, "Expiring soon:"));
        for e in &plan.expiring {
            let _ = writeln!(out, "  {}", expiring_words(e));
        }
    }
    if plan.is_empty() {
        let _ = writeln!(
            out,
            "\n{} Live state matches the configuration.",
            styles.paint(Tone::Heading, "No changes.")
        );
        return out;
    }

    let by_tenant = by_tenant(plan);
    for (_, changes) in &by_tenant {
        for block in blocks(changes) {
            write_block(&mut out, &block, styles);
        }
    }
    if plan.tenants.len() > 1 {
        out.push('\n');
        for (tenant, changes) in &by_tenant {
            let summary = Summary::of(changes.iter().copied());
            let _ = writeln!(out, "{tenant}: {}", summary_words(&summary));
        }
    }
    let _ = writeln!(
        out,
        "\n{} {}",
        styles.paint(Tone::Heading, "Plan:"),
        summary_words(&plan.summary)
    );
    out
}

/// What `--skip-removals` left out, in words.
pub(super) fn skipped_words(n: usize) -> String {
    format!(
        "--skip-removals: {} left out of this plan (disables, deletes, member removals and \
         what waits for them); a plan without the flag makes them",
        count(n, "change", "changes")
    )
}

/// `demo: "ann@example.com" in group "Contractors" until 2027-03-31`.
pub(super) fn expiring_words(e: &crate::plan::Expiring) -> String {
    match &e.group {
        Some(group) => format!(
            "{}: {} in group {} until {}",
            e.tenant,
            quoted(&e.user),
            quoted(group),
            e.until
        ),
        None => format!("{}: user {} until {}", e.tenant, quoted(&e.user), e.until),
    }
}

/// The plan's changes grouped by tenant, in plan order (the planner keeps a tenant's changes
/// together).
pub(super) fn by_tenant(plan: &Plan) -> Vec<(&str, Vec<&Change>)> {
    let mut by_tenant: Vec<(&str, Vec<&Change>)> = Vec::new();
    for change in &plan.changes {
        match by_tenant.last_mut() {
            Some((t, list)) if *t == change.tenant => list.push(change),
            _ => by_tenant.push((&change.tenant, vec![change])),
        }
    }
    by_tenant
}

/// `zia-prod: refreshed 1,204 users, 87 groups (… not managed by zsc, left alone)`.
pub(super) fn tenant_line(t: &TenantSummary, refreshed: bool) -> String {
    if let Some(read) = &t.read {
        return targeted_line(t, read);
    }
    let verb = if refreshed {
        "refreshed"
    } else {
        "from state:"
    };
    let mut line = format!(
        "{}: {verb} {}, {}",
        t.name,
        count(t.live_users, "user", "users"),
        count(t.live_groups, "group", "groups")
    );
    if t.unmanaged_users + t.unmanaged_groups > 0 {
        let _ = write!(
            line,
            " ({} and {} not managed by zsc, left alone)",
            count(t.unmanaged_users, "user", "users"),
            count(t.unmanaged_groups, "group", "groups")
        );
    }
    line
}

/// What a targeted refresh read, and what it did not: `zia-prod: read 2 users and 1 group
/// this plan can touch, and counted 1,000,000 users and 100,000 groups, as many as at the last
/// full refresh (2026-11-30T10:00:00Z); drift on other objects not checked since (5 requests)`.
fn targeted_line(t: &TenantSummary, read: &crate::plan::targeted::TargetedRead) -> String {
    format!(
        "{}: read {} and {} this plan can touch, and counted {} and {}, as many as at the last \
         full refresh ({}); drift on other objects not checked since ({})",
        t.name,
        count(read.users_read, "user", "users"),
        count(read.groups_read, "group", "groups"),
        count(t.live_users, "user", "users"),
        count(t.live_groups, "group", "groups"),
        read.last_full_refresh,
        count(read.requests as usize, "request", "requests"),
    )
}

/// One entry of a plan as shown: the unit both the text and the markdown views lay out.
pub(super) enum Block<'a> {
    /// A user change.
    User(&'a Change),
    /// A group change with the membership changes of that group folded in.
    Group {
        change: &'a Change,
        members: Vec<&'a Change>,
    },
    /// The membership changes of a group that does not itself change.
    Members(Vec<&'a Change>),
}

impl Block<'_> {
    /// How many plan changes this block shows.
    pub(super) fn len(&self) -> usize {
        match self {
            Block::User(_) => 1,
            Block::Group { members, .. } => 1 + members.len(),
            Block::Members(members) => members.len(),
        }
    }
}

/// The blocks of one tenant's changes, in plan order: users, then groups with their membership
/// changes folded in, then the membership changes of groups that do not change themselves.
pub(super) fn blocks<'a>(changes: &[&'a Change]) -> Vec<Block<'a>> {
    let mut members: HashMap<&str, Vec<&Change>> = HashMap::new();
    let mut group_changes: HashMap<&str, &Change> = HashMap::new();
    for c in changes {
        match c.object {
            ObjectKind::Membership => members.entry(c.name.as_str()).or_default().push(c),
            ObjectKind::Group => {
                group_changes.insert(c.name.as_str(), c);
            }
            ObjectKind::User => {}
        }
    }
    let mut out = Vec::new();
    for c in changes {
        match c.object {
            ObjectKind::User => out.push(Block::User(c)),
            ObjectKind::Group => out.push(Block::Group {
                change: c,
                members: members.get(c.name.as_str()).cloned().unwrap_or_default(),
            }),
            ObjectKind::Membership => {
                // The first membership change of a group with no group change renders the
                // group's membership block.
                if group_changes.contains_key(c.name.as_str()) {
                    continue;
                }
                if let Some(list) = members.remove(c.name.as_str()) {
                    out.push(Block::Members(list));
                }
            }
        }
    }
    out
}

/// One block as text: a blank line, the `# address will …` comment, then the object.
pub(super) fn write_block(out: &mut String, block: &Block<'_>, styles: Styles) {
    match block {
        Block::User(c) => user(out, c, styles),
        Block::Group { change, members } => group(out, change, members, styles),
        Block::Members(members) => {
            if let Some(first) = members.first() {
                membership_block(out, first, members, styles);
            }
        }
    }
}

fn comment(out: &mut String, text: &str, styles: Styles) {
    let _ = writeln!(
        out,
        "\n  {}",
        styles.paint(Tone::Heading, &format!("# {text}"))
    );
}

fn note(out: &mut String, change: &Change, styles: Styles) {
    for reason in &change.reasons {
        let _ = writeln!(
            out,
            "  {}",
            styles.paint(Tone::Muted, &format!("# ({reason})"))
        );
    }
    if let Some(note) = &change.note {
        let _ = writeln!(
            out,
            "  {}",
            styles.paint(Tone::Muted, &format!("# ({note})"))
        );
    }
    for drift in &change.drift {
        let _ = writeln!(
            out,
            "  {}",
            styles.paint(
                Tone::Warning,
                &format!("# {}", drift_words(drift, change.action))
            )
        );
    }
}

/// What a drift means, in words: `department changed outside zsc since the last apply (state
/// had "Ops")`, or that the server did not keep what zsc wrote.
pub(super) fn drift_words(drift: &Drift, action: Action) -> String {
    if drift.attribute == "member" {
        return match (action, &drift.written_at) {
            (Action::Add, Some(at)) => {
                format!("the server did not keep this membership, which zsc wrote on {at}")
            }
            (Action::Add, None) => "removed outside zsc since the last apply".to_owned(),
            _ => "added outside zsc since the last apply".to_owned(),
        };
    }
    let had = match &drift.recorded {
        Some(v) => format!("state had {}", quoted(v)),
        None => "state had no value".to_owned(),
    };
    match &drift.written_at {
        Some(at) => format!(
            "the server did not keep the {} zsc wrote on {at} ({had})",
            drift.attribute
        ),
        None => format!(
            "{} changed outside zsc since the last apply ({had})",
            drift.attribute
        ),
    }
}

fn symbol(action: Action, styles: Styles) -> String {
    styles.paint(Styles::tone(action), action.symbol())
}

fn user(out: &mut String, c: &Change, styles: Styles) {
    // A new userName shows in the head (`"old" -> "new"`), not as a row.
    let rows: Vec<Row> = attribute_rows(c.before.as_ref(), c.after.as_ref())
        .into_iter()
        .filter(|r| r.name != "user_name")
        .collect();
    let before_name = c.before.as_ref().and_then(|b| b.user_name.as_deref());
    let after_name = c.after.as_ref().and_then(|a| a.user_name.as_deref());
    let renamed_from = before_name.filter(|b| after_name.is_some_and(|a| a != *b));
    let what = match c.action {
        Action::Create => "will be created".to_owned(),
        Action::Adopt if rows.is_empty() => {
            "will be adopted: it exists live and zsc will manage it".to_owned()
        }
        Action::Adopt => "will be adopted and updated in place".to_owned(),
        Action::Update => "will be updated in place".to_owned(),
        Action::Rename => format!("will be renamed to {}", quoted(&c.name)),
        Action::Disable => "will be disabled".to_owned(),
        _ => "will be deleted".to_owned(),
    };
    comment(out, &format!("{} {what}", c.address), styles);
    note(out, c, styles);
    let head = match renamed_from {
        Some(from) => format!(
            "{} user {} -> {}",
            symbol(c.action, styles),
            quoted(from),
            quoted(&c.name)
        ),
        None => format!(
            "{} user {}",
            symbol(c.action, styles),
            quoted(after_name.unwrap_or(&c.name))
        ),
    };
    if c.action == Action::Delete || rows.is_empty() {
        let _ = writeln!(out, "  {head}");
        return;
    }
    let _ = writeln!(out, "  {head} {{");
    write_rows(out, &rows, styles);
    let _ = writeln!(out, "    }}");
}

fn group(out: &mut String, c: &Change, members: &[&Change], styles: Styles) {
    let before_name = c.before.as_ref().and_then(|b| b.name.as_deref());
    let after_name = c.after.as_ref().and_then(|a| a.name.as_deref());
    let what = match c.action {
        Action::Create => "will be created".to_owned(),
        Action::Adopt if before_name.is_some_and(|b| after_name.is_some_and(|a| a != b)) => {
            format!("will be adopted and renamed to {}", quoted(&c.name))
        }
        Action::Adopt => "will be adopted: it exists live and zsc will manage it".to_owned(),
        Action::Rename => format!(
            "will be renamed to {}",
            quoted(
                c.after
                    .as_ref()
                    .and_then(|a| a.name.as_deref())
                    .unwrap_or(&c.name)
            )
        ),
        Action::Update => "will be updated in place".to_owned(),
        _ => "will be deleted".to_owned(),
    };
    let renamed_from = before_name.filter(|b| after_name.is_some_and(|a| a != *b));
    let address = match (c.action, renamed_from) {
        (Action::Rename, Some(from)) => crate::plan::change::group_address(&c.tenant, from),
        _ => c.address.clone(),
    };
    comment(out, &format!("{address} {what}"), styles);
    note(out, c, styles);
    let head = match renamed_from {
        Some(from) => format!(
            "{} group {} -> {}",
            symbol(c.action, styles),
            quoted(from),
            quoted(&c.name)
        ),
        _ => format!("{} group {}", symbol(c.action, styles), quoted(&c.name)),
    };
    let rows: Vec<Row> = attribute_rows(c.before.as_ref(), c.after.as_ref())
        .into_iter()
        .filter(|r| r.name != "name")
        .collect();
    if c.action == Action::Delete || (rows.is_empty() && members.is_empty()) {
        let _ = writeln!(out, "  {head}");
        return;
    }
    let _ = writeln!(out, "  {head} {{");
    write_rows(out, &rows, styles);
    member_rows(out, members, styles);
    let _ = writeln!(out, "    }}");
}

fn membership_block(out: &mut String, first: &Change, members: &[&Change], styles: Styles) {
    let address = crate::plan::change::group_address(&first.tenant, &first.name);
    comment(out, &format!("{address} membership will change"), styles);
    let _ = writeln!(
        out,
        "  {} group {} {{",
        styles.paint(Tone::Change, "~"),
        quoted(&first.name)
    );
    member_rows(out, members, styles);
    let _ = writeln!(out, "    }}");
}

fn member_rows(out: &mut String, members: &[&Change], styles: Styles) {
    for m in members {
        let drift = m
            .drift
            .first()
            .map(|d| styles.paint(Tone::Warning, &format!("  # {}", drift_words(d, m.action))))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "      {} member {}{drift}",
            symbol(m.action, styles),
            quoted(m.member.as_deref().unwrap_or("?"))
        );
        for reason in &m.reasons {
            let _ = writeln!(
                out,
                "          {}",
                styles.paint(Tone::Muted, &format!("# {reason}"))
            );
        }
    }
}

/// One attribute line inside a block.
struct Row {
    name: &'static str,
    action: Action,
    text: String,
    /// For a long value changed in place, the old and new values, to show which words changed.
    words: Option<(String, String)>,
}

fn write_rows(out: &mut String, rows: &[Row], styles: Styles) {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in rows {
        let _ = writeln!(
            out,
            "      {} {:width$} = {}",
            symbol(r.action, styles),
            r.name,
            r.text
        );
        if let Some((old, new)) = &r.words {
            let _ = writeln!(
                out,
                "        {} {}",
                styles.paint(Tone::Muted, "# words:"),
                word_diff(old, new, styles)
            );
        }
    }
}

/// Values this long (in characters, or words) get the words that changed shown under their
/// row: in `"Finance and Operations EMEA" -> "Finance and Operations APAC"` the change is easy
/// to miss.
const WORD_DIFF_CHARS: usize = 24;
const WORD_DIFF_WORDS: usize = 3;

fn worth_a_word_diff(old: &str, new: &str) -> bool {
    let long = |s: &str| {
        s.chars().count() >= WORD_DIFF_CHARS || s.split_whitespace().count() >= WORD_DIFF_WORDS
    };
    long(old) || long(new)
}

/// `Finance and Operations [-EMEA-]{+APAC+}`: the words that stayed as they are, the removed
/// ones in `[-…-]` and the added ones in `{+…+}` (red and green when colored), as
/// `git diff --word-diff` shows them.
fn word_diff(old: &str, new: &str, styles: Styles) -> String {
    let diff = similar::TextDiff::from_words(old, new);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let text = crate::model::printable(change.value()).into_owned();
        match change.tag() {
            similar::ChangeTag::Equal => out.push_str(&text),
            similar::ChangeTag::Delete => {
                out.push_str(&styles.paint(Tone::Destroy, &format!("[-{text}-]")))
            }
            similar::ChangeTag::Insert => {
                out.push_str(&styles.paint(Tone::Create, &format!("{{+{text}+}}")))
            }
        }
    }
    out
}

/// The attributes that differ between `before` and `after` (all set ones for a create).
fn attribute_rows(before: Option<&Values>, after: Option<&Values>) -> Vec<Row> {
    let empty = Values::default();
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    let creating = before.is_none();
    let mut fields: Vec<(&'static str, Option<String>, Option<String>)> = vec![
        (
            "user_name",
            b.user_name.as_deref().map(quoted),
            a.user_name.as_deref().filter(|_| !creating).map(quoted),
        ),
        (
            "name",
            b.name.as_deref().map(quoted),
            a.name.as_deref().map(quoted),
        ),
        (
            "active",
            b.active.map(|v| v.to_string()),
            a.active.map(|v| v.to_string()),
        ),
    ];
    for f in USER_FIELDS {
        fields.push((
            f.name,
            (f.get)(&b.attrs).as_deref().map(quoted),
            // An empty planned value clears; on a create there is nothing to clear.
            (f.get)(&a.attrs)
                .as_deref()
                .filter(|v| !(creating && v.is_empty()))
                .map(quoted),
        ));
    }
    // `protect` is only worth a line when it is or becomes true.
    let (bp, ap) = (b.protect.unwrap_or(false), a.protect.unwrap_or(false));
    if bp || ap {
        fields.push((
            "protect",
            (!creating).then(|| bp.to_string()),
            Some(ap.to_string()),
        ));
    }
    fields
        .into_iter()
        .filter_map(|(name, old, new)| match (old, new) {
            (None, Some(new)) => Some(Row {
                name,
                action: Action::Create,
                words: None,
                text: if creating {
                    new
                } else {
                    format!("null -> {new}")
                },
            }),
            (Some(old), Some(new)) if old != new => Some(Row {
                name,
                action: Action::Update,
                words: raw(name, b, a).filter(|(o, n)| worth_a_word_diff(o, n)),
                text: format!("{old} -> {new}"),
            }),
            (Some(old), None) if after.is_some() && name != "name" && name != "user_name" => {
                Some(Row {
                    name,
                    action: Action::Delete,
                    words: None,
                    text: format!("{old} -> null"),
                })
            }
            _ => None,
        })
        .collect()
}

/// The unquoted old and new value of user attribute `name`, for the word diff.
fn raw(name: &str, before: &Values, after: &Values) -> Option<(String, String)> {
    let field = USER_FIELDS.iter().find(|f| f.name == name)?;
    Some((
        (field.get)(&before.attrs).clone()?,
        (field.get)(&after.attrs).clone()?,
    ))
}

/// A string as the plan shows it: double-quoted, with `"` and `\\` escaped and control and
/// invisible characters written `\\u{..}`, as in addresses: a name or value read from a server
/// cannot rewrite the terminal or the CI log it is shown in.
pub(super) fn quoted(s: &str) -> String {
    crate::plan::change::quote(s)
}

/// `1 user to create, 0 to update, ...; 1 group to rename; 1 membership to add, 1 to remove.`
pub fn summary_words(s: &Summary) -> String {
    let mut users = vec![format!(
        "{} to create",
        count(s.users.create, "user", "users")
    )];
    if s.users.adopt > 0 {
        users.push(format!("{} to adopt", thousands(s.users.adopt)));
    }
    users.push(format!("{} to update", thousands(s.users.update)));
    if s.users.rename > 0 {
        users.push(format!("{} to rename", thousands(s.users.rename)));
    }
    users.push(format!("{} to disable", thousands(s.users.disable)));
    users.push(format!("{} to delete", thousands(s.users.delete)));

    let g = &s.groups;
    let parts: Vec<(usize, &str)> = [
        (g.create, "create"),
        (g.adopt, "adopt"),
        (g.update, "update"),
        (g.rename, "rename"),
        (g.delete, "delete"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .collect();
    let groups = if parts.is_empty() {
        "0 groups to change".to_owned()
    } else {
        parts
            .iter()
            .enumerate()
            .map(|(i, (n, verb))| match i {
                0 => format!("{} to {verb}", count(*n, "group", "groups")),
                _ => format!("{} to {verb}", thousands(*n)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let memberships = format!(
        "{} to add, {} to remove",
        count(s.memberships.add, "membership", "memberships"),
        thousands(s.memberships.remove)
    );
    format!("{}; {groups}; {memberships}.", users.join(", "))
}
