//! The plan as text, in Terraform's visual language.

use std::collections::HashMap;
use std::fmt::Write;

use crate::model::USER_FIELDS;
use crate::plan::{Action, Change, ObjectKind, Plan, Summary, TenantSummary, Values};

use super::{count, thousands, Styles, Tone};

/// Render a whole plan: per tenant a header and the changes, then the summary line.
pub fn plan(plan: &Plan, styles: Styles) -> String {
    let mut out = String::new();
    for tenant in &plan.tenants {
        tenant_header(&mut out, tenant, plan.refreshed, styles);
    }
    for warning in &plan.warnings {
        let _ = writeln!(
            out,
            "\n{} {warning}",
            styles.paint(Tone::Warning, "Warning:")
        );
    }
    if plan.is_empty() {
        let _ = writeln!(
            out,
            "\n{} Live state matches the configuration.",
            styles.paint(Tone::Heading, "No changes.")
        );
        return out;
    }

    let mut by_tenant: Vec<(&str, Vec<&Change>)> = Vec::new();
    for change in &plan.changes {
        match by_tenant.last_mut() {
            Some((t, list)) if *t == change.tenant => list.push(change),
            _ => by_tenant.push((&change.tenant, vec![change])),
        }
    }
    for (_, changes) in &by_tenant {
        changes_block(&mut out, changes, styles);
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

fn tenant_header(out: &mut String, t: &TenantSummary, refreshed: bool, styles: Styles) {
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
    let _ = writeln!(out, "{}", styles.paint(Tone::Muted, &line));
}

/// The changes of one tenant: users, then groups with their membership changes folded in.
fn changes_block(out: &mut String, changes: &[&Change], styles: Styles) {
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
    for c in changes {
        match c.object {
            ObjectKind::User => user(out, c, styles),
            ObjectKind::Group => group(
                out,
                c,
                members.get(c.name.as_str()).map_or(&[][..], Vec::as_slice),
                styles,
            ),
            ObjectKind::Membership => {
                // The first membership change of a group with no group change renders the
                // group's membership block.
                if group_changes.contains_key(c.name.as_str()) {
                    continue;
                }
                if let Some(list) = members.remove(c.name.as_str()) {
                    membership_block(out, c, &list, styles);
                }
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
    if let Some(note) = &change.note {
        let _ = writeln!(
            out,
            "  {}",
            styles.paint(Tone::Muted, &format!("# ({note})"))
        );
    }
}

fn symbol(action: Action, styles: Styles) -> String {
    styles.paint(Styles::tone(action), action.symbol())
}

fn user(out: &mut String, c: &Change, styles: Styles) {
    let rows = attribute_rows(c.before.as_ref(), c.after.as_ref());
    let what = match c.action {
        Action::Create => "will be created".to_owned(),
        Action::Adopt if rows.is_empty() => {
            "will be adopted: it exists live and zsc will manage it".to_owned()
        }
        Action::Adopt => "will be adopted and updated in place".to_owned(),
        Action::Update => "will be updated in place".to_owned(),
        Action::Disable => "will be disabled".to_owned(),
        _ => "will be deleted".to_owned(),
    };
    comment(out, &format!("{} {what}", c.address), styles);
    note(out, c, styles);
    let head = format!("{} user {}", symbol(c.action, styles), quoted(&c.name));
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
    let what = match c.action {
        Action::Create => "will be created".to_owned(),
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
    let address = match (c.action, before_name) {
        (Action::Rename, Some(from)) => crate::plan::change::group_address(&c.tenant, from),
        _ => c.address.clone(),
    };
    comment(out, &format!("{address} {what}"), styles);
    note(out, c, styles);
    let head = match (c.action, before_name) {
        (Action::Rename, Some(from)) => format!(
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
        let _ = writeln!(
            out,
            "      {} member {}",
            symbol(m.action, styles),
            quoted(m.member.as_deref().unwrap_or("?"))
        );
    }
}

/// One attribute line inside a block.
struct Row {
    name: &'static str,
    action: Action,
    text: String,
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
    }
}

/// The attributes that differ between `before` and `after` (all set ones for a create).
fn attribute_rows(before: Option<&Values>, after: Option<&Values>) -> Vec<Row> {
    let empty = Values::default();
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    let creating = before.is_none();
    let mut fields: Vec<(&'static str, Option<String>, Option<String>)> = vec![
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
            (f.get)(&a.attrs).as_deref().map(quoted),
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
                text: if creating {
                    new
                } else {
                    format!("null -> {new}")
                },
            }),
            (Some(old), Some(new)) if old != new => Some(Row {
                name,
                action: Action::Update,
                text: format!("{old} -> {new}"),
            }),
            (Some(old), None) if after.is_some() && name != "name" => Some(Row {
                name,
                action: Action::Delete,
                text: format!("{old} -> null"),
            }),
            _ => None,
        })
        .collect()
}

/// A string as the plan shows it: double-quoted, JSON-escaped.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
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
