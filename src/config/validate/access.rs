//! The parts of users and groups that go beyond lists: membership entries that may carry an
//! `until:`, the rules of `members_from:`, and `exclude:`/`include_groups:` lists.

use super::super::check::{did_you_mean, Ctx};
use super::super::raw::{At, Node, Spot};
use crate::model::rules::{Condition, Rule, Until};

/// One entry of a group's `members:` or a user's `groups:`: a name, or a map with the name and
/// an `until:`.
pub(super) struct Entry {
    pub name: At<String>,
    pub until: Option<Until>,
}

/// `members:` (`name_key` `user`) or `groups:` (`group`): names, or `{ user: ..., until: ... }`.
/// Wrong entries are reported and skipped.
pub(super) fn entries(cx: &mut Ctx, key: &str, name_key: &str, node: At<Node>) -> Vec<Entry> {
    let items = match node.value {
        Node::Seq(items) => items,
        Node::Null => return Vec::new(),
        Node::Str(_) => {
            cx.error(
                node.at,
                format!("`{key}` must be a list, found a string (write `[...]` around it)"),
            );
            return Vec::new();
        }
        ref other => {
            let found = other.kind();
            cx.error(node.at, format!("`{key}` must be a list, found {found}"));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item.value {
            Node::Str(value) => out.push(Entry {
                name: At { at: item.at, value },
                until: None,
            }),
            Node::Map(fields) => {
                if let Some(entry) = entry_map(cx, key, name_key, item.at, fields) {
                    out.push(entry);
                }
            }
            ref other => {
                let found = other.kind();
                cx.error(
                    item.at,
                    format!(
                        "each entry of `{key}` must be a name or `{{ {name_key}: NAME, until: \
                         DATE }}`, found {found}"
                    ),
                );
            }
        }
    }
    out
}

fn entry_map(
    cx: &mut Ctx,
    key: &str,
    name_key: &str,
    at: Spot,
    fields: Vec<(At<Node>, At<Node>)>,
) -> Option<Entry> {
    let mut name = None;
    let mut until = None;
    let mut ok = true;
    for (k, v) in fields {
        match &k.value {
            Node::Str(s) if s == name_key => match v.value {
                Node::Str(value) => name = Some(At { at: v.at, value }),
                ref other => {
                    ok = false;
                    let found = other.kind();
                    cx.error(
                        v.at,
                        format!("`{name_key}` must be a string, found {found}"),
                    );
                }
            },
            Node::Str(s) if s == "until" => match self::until(cx, v) {
                Some(u) => until = Some(u),
                None => ok = false,
            },
            other => {
                ok = false;
                let text = match other {
                    Node::Str(s) => s.clone(),
                    other => other.kind().to_owned(),
                };
                cx.unknown_key(
                    &At {
                        at: k.at,
                        value: text,
                    },
                    &format!("an entry of `{key}`"),
                    &[name_key, "until"],
                );
            }
        }
    }
    match name {
        Some(name) if ok => Some(Entry { name, until }),
        Some(_) => None,
        None => {
            cx.error(at, format!("an entry of `{key}` has no `{name_key}`"));
            None
        }
    }
}

/// An `until:` value: a date or an RFC 3339 time.
pub(super) fn until(cx: &mut Ctx, node: At<Node>) -> Option<Until> {
    match node.value {
        Node::Str(text) => match Until::parse(&text) {
            Ok(until) => Some(until),
            Err(message) => {
                cx.error(node.at, format!("`until`: {message}"));
                None
            }
        },
        ref other => {
            let found = other.kind();
            cx.error(
                node.at,
                format!("`until` must be a date (`2027-03-31`) or an RFC 3339 time, found {found}"),
            );
            None
        }
    }
}

/// `members_from:`: a list of rules, each a map from attribute to a value or a list of values.
pub(super) fn rules(cx: &mut Ctx, node: At<Node>, tenants: &[String]) -> Vec<Rule> {
    let items = match node.value {
        Node::Seq(items) => items,
        Node::Null => return Vec::new(),
        ref other => {
            let found = other.kind();
            cx.error(
                node.at,
                format!(
                    "`members_from` must be a list of rules (`- {{ department: Finance }}`), \
                     found {found}"
                ),
            );
            return Vec::new();
        }
    };
    let attributes = Rule::attributes();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let fields = match item.value {
            Node::Map(fields) => fields,
            ref other => {
                let found = other.kind();
                cx.error(
                    item.at,
                    format!(
                        "each rule of `members_from` must be a map of attributes \
                         (`{{ department: Finance }}`), found {found}"
                    ),
                );
                continue;
            }
        };
        if fields.is_empty() {
            cx.error(
                item.at,
                "an empty rule would match every user; say what it matches (`{ active: true }` \
                 matches every active user)",
            );
            continue;
        }
        let mut rule = Rule {
            conditions: Vec::with_capacity(fields.len()),
        };
        let mut ok = true;
        for (k, v) in fields {
            let attribute = match k.value {
                Node::Str(s) => s,
                other => other.kind().to_owned(),
            };
            let Some(&known) = attributes.iter().find(|a| **a == attribute) else {
                ok = false;
                let hint = did_you_mean(&attribute, attributes.iter().copied())
                    .map(|m| format!("; did you mean `{m}`?"))
                    .unwrap_or_default();
                cx.error(
                    k.at,
                    format!(
                        "unknown attribute `{attribute}` in a rule (a rule tests {}){hint}",
                        attributes
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                continue;
            };
            if rule.conditions.iter().any(|c| c.attribute == known) {
                ok = false;
                cx.error(
                    k.at,
                    format!("`{known}` appears twice in one rule (give a list of values instead)"),
                );
                continue;
            }
            match values(cx, known, v, tenants) {
                Some(values) => rule.conditions.push(Condition {
                    attribute: known.to_owned(),
                    values,
                }),
                None => ok = false,
            }
        }
        if ok {
            out.push(rule);
        }
    }
    out
}

/// The values of one condition: a scalar or a non-empty list of them.
fn values(
    cx: &mut Ctx,
    attribute: &str,
    node: At<Node>,
    tenants: &[String],
) -> Option<Vec<String>> {
    let at = node.at;
    let items = match node.value {
        Node::Seq(items) if items.is_empty() => {
            cx.error(
                at,
                format!("`{attribute}` lists no value: the rule could match no one"),
            );
            return None;
        }
        Node::Seq(items) => items,
        scalar => vec![At { at, value: scalar }],
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        let text = match (attribute, item.value) {
            ("active", Node::Bool(b)) => b.to_string(),
            ("active", other) => {
                ok = false;
                let found = other.kind();
                cx.error(
                    item.at,
                    format!("`active` in a rule must be `true` or `false`, found {found}"),
                );
                continue;
            }
            (_, Node::Str(s)) => s,
            (_, Node::Int(n)) => n.to_string(),
            (_, Node::UInt(n)) => n.to_string(),
            (_, other) => {
                ok = false;
                let found = other.kind();
                cx.error(
                    item.at,
                    format!("`{attribute}` in a rule must be a string or a list of strings, found {found}"),
                );
                continue;
            }
        };
        if attribute == "tenants" && !tenants.contains(&text) {
            ok = false;
            cx.error(
                item.at,
                format!(
                    "unknown tenant `{text}` in a rule ({})",
                    super::declared_list(tenants)
                ),
            );
            continue;
        }
        out.push(text);
    }
    ok.then_some(out)
}
