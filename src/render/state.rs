//! The state file's content for `zsc state list` and `zsc state show`.
//!
//! Pure: returns strings; the CLI decides where they go.

use std::collections::HashMap;
use std::fmt::Write;

use crate::model::USER_FIELDS;
use crate::plan::change::{group_address, user_address};
use crate::state::{ManagedGroup, ManagedUser, State, TenantState};

/// Every managed object's address, one per line: per tenant (by name) its users, then its
/// groups, each by case-folded name.
pub fn list(state: &State) -> String {
    let mut out = String::new();
    for (tenant, t) in &state.tenants {
        for u in t.users.values() {
            let _ = writeln!(out, "{}", user_address(tenant, &u.user_name));
        }
        for g in t.groups.values() {
            let _ = writeln!(out, "{}", group_address(tenant, &g.name));
        }
    }
    out
}

/// A managed user as zsc last saw or wrote it.
pub fn user(tenant: &str, u: &ManagedUser) -> String {
    let mut rows: Vec<(&str, String)> =
        vec![("id", quoted(&u.id)), ("active", u.active.to_string())];
    for f in USER_FIELDS {
        if let Some(v) = (f.get)(&u.attrs) {
            rows.push((f.name, quoted(v)));
        }
    }
    if u.protect {
        rows.push(("protect", "true".to_owned()));
    }
    let mut out = format!(
        "# {}\nuser {} {{\n",
        user_address(tenant, &u.user_name),
        quoted(&u.user_name)
    );
    write_rows(&mut out, &rows);
    out.push_str("}\n");
    out
}

/// A managed group with its members as userNames where a managed user has the id, and as ids
/// otherwise.
pub fn group(tenant: &str, g: &ManagedGroup, t: &TenantState) -> String {
    let names: HashMap<&str, &str> = t
        .users
        .values()
        .map(|u| (u.id.as_str(), u.user_name.as_str()))
        .collect();
    let mut rows: Vec<(&str, String)> = vec![("id", quoted(&g.id))];
    if g.protect {
        rows.push(("protect", "true".to_owned()));
    }
    let mut known: Vec<&str> = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    for id in &g.members {
        match names.get(id.as_str()) {
            Some(name) => known.push(name),
            None => unknown.push(id),
        }
    }
    known.sort_by_key(|n| crate::model::folded(n).into_owned());
    unknown.sort_unstable();
    let mut out = format!(
        "# {}\ngroup {} {{\n",
        group_address(tenant, &g.name),
        quoted(&g.name)
    );
    write_rows(&mut out, &rows);
    list_row(&mut out, "members", &known);
    if !unknown.is_empty() {
        out.push_str("    # member ids no managed user has (users zsc does not manage):\n");
        list_row(&mut out, "member_ids", &unknown);
    }
    out.push_str("}\n");
    out
}

fn write_rows(out: &mut String, rows: &[(&str, String)]) {
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (name, value) in rows {
        let _ = writeln!(out, "    {name:width$} = {value}");
    }
}

fn list_row(out: &mut String, name: &str, items: &[&str]) {
    if items.is_empty() {
        let _ = writeln!(out, "    {name} = []");
        return;
    }
    let _ = writeln!(out, "    {name} = [");
    for item in items {
        let _ = writeln!(out, "        {},", quoted(item));
    }
    out.push_str("    ]\n");
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// `zsc show` without a plan: where the state is, its lineage and serial, and per tenant what
/// zsc manages there and on which server.
pub fn summary(state: &State, store: &str) -> String {
    let mut out = format!(
        "State in {store}: lineage {}, serial {}.\n",
        state.lineage, state.serial
    );
    if state.tenants.is_empty() {
        out.push_str("zsc manages nothing yet.\n");
        return out;
    }
    for (tenant, t) in &state.tenants {
        let _ = write!(
            out,
            "{tenant}: {}, {}",
            super::count(t.users.len(), "user", "users"),
            super::count(t.groups.len(), "group", "groups")
        );
        if let Some(server) = &t.server {
            let _ = write!(out, " on {server}");
        }
        out.push('\n');
    }
    out
}
