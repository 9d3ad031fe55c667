//! What writes carry, pure: PATCH operations by attribute path, and PUT bodies built from the
//! server's own representation with only the managed fields changed (see [`super::write`]).

use serde_json::{json, Map, Value};

use crate::model::USER_FIELDS;

use super::wire::{PatchOperation, WireMember, ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use super::write::{MemberRef, UserUpdate};

pub(super) fn wire_members(members: &[MemberRef]) -> Vec<WireMember> {
    members
        .iter()
        .map(|m| WireMember {
            value: m.id.clone(),
            display: Some(m.user_name.clone()),
            reference: None,
        })
        .collect()
}

pub(super) fn replace(path: &str, value: Value) -> PatchOperation {
    PatchOperation {
        op: "replace".to_owned(),
        path: Some(path.to_owned()),
        value: Some(value),
    }
}

pub(super) fn remove(path: &str) -> PatchOperation {
    PatchOperation {
        op: "remove".to_owned(),
        path: Some(path.to_owned()),
        value: None,
    }
}

/// The SCIM path of each managed attribute (the enterprise extension's, for `department`).
pub(super) fn attribute_path(field: &str) -> String {
    match field {
        "display_name" => "displayName".to_owned(),
        "given_name" => "name.givenName".to_owned(),
        "family_name" => "name.familyName".to_owned(),
        "external_id" => "externalId".to_owned(),
        "department" => format!("{ENTERPRISE_SCHEMA}:department"),
        "email" => "emails".to_owned(),
        other => other.to_owned(),
    }
}

/// The PATCH operations for `update`, one per changed attribute, each by its path.
/// `current_emails` is the user's `emails` as the server holds them (read only when the email
/// changes): the list is sent whole, with only the primary (or work) address changed.
pub(super) fn user_patch_ops(
    update: &UserUpdate<'_>,
    current_emails: &[Value],
    department_top_level: bool,
) -> Vec<PatchOperation> {
    let mut ops = Vec::new();
    if let Some(name) = update.user_name {
        ops.push(replace("userName", json!(name)));
    }
    if let Some(active) = update.active {
        ops.push(replace("active", Value::Bool(active)));
    }
    for f in USER_FIELDS {
        let (before, after) = ((f.get)(update.before), (f.get)(update.after));
        if before == after {
            continue;
        }
        let path = attribute_path(f.name);
        if f.name == "email" {
            let emails = emails_after(current_emails, after.as_deref());
            ops.push(if emails.is_empty() {
                remove(&path)
            } else {
                replace(&path, Value::Array(emails))
            });
            continue;
        }
        match after {
            Some(v) => ops.push(replace(&path, json!(v))),
            None => ops.push(remove(&path)),
        }
        if f.name == "department" && department_top_level {
            match after {
                Some(v) => ops.push(replace("department", json!(v))),
                None => ops.push(remove("department")),
            }
        }
    }
    ops
}

/// `emails` of a resource as the server wrote them.
pub(super) fn emails_of(resource: &Value) -> Vec<Value> {
    resource
        .get("emails")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Which email zsc manages, by the rule [`WireUser::into_attrs`] reads it with.
pub(super) fn managed_email(emails: &[Value]) -> Option<usize> {
    let flag = |e: &Value| match e.get("primary") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    super::wire::managed_email(
        emails
            .iter()
            .map(|e| (flag(e), e.get("type").and_then(Value::as_str))),
    )
}

/// The user's emails after zsc's email becomes `new`: the others kept as they are; with no
/// emails yet, one primary work address.
pub(super) fn emails_after(current: &[Value], new: Option<&str>) -> Vec<Value> {
    let mut emails = current.to_vec();
    match (managed_email(&emails), new) {
        (Some(i), Some(v)) => {
            if let Some(object) = emails[i].as_object_mut() {
                object.insert("value".into(), json!(v));
            }
        }
        (Some(i), None) => {
            emails.remove(i);
        }
        (None, Some(v)) => emails.push(json!({ "value": v, "primary": true, "type": "work" })),
        (None, None) => {}
    }
    emails
}

/// The PUT body for `update`: the server's `current` representation with only the managed
/// fields changed and the read-only ones (`meta`, `groups`) left out.
pub(super) fn user_put_body(
    current: Value,
    update: &UserUpdate<'_>,
    department_top_level: bool,
) -> Value {
    let mut user = match current {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    user.remove("meta");
    user.remove("groups");
    ensure_schema(&mut user, USER_SCHEMA);
    if let Some(name) = update.user_name {
        user.insert("userName".into(), json!(name));
    }
    if let Some(active) = update.active {
        user.insert("active".into(), Value::Bool(active));
    }
    for f in USER_FIELDS {
        let (before, after) = ((f.get)(update.before), (f.get)(update.after));
        if before == after {
            continue;
        }
        let value = after.as_deref().map(|v| json!(v));
        match f.name {
            "display_name" => set(&mut user, "displayName", value),
            "external_id" => set(&mut user, "externalId", value),
            "given_name" => set_in(&mut user, "name", "givenName", value),
            "family_name" => set_in(&mut user, "name", "familyName", value),
            "email" => {
                let emails =
                    emails_after(&emails_of(&Value::Object(user.clone())), after.as_deref());
                set(
                    &mut user,
                    "emails",
                    (!emails.is_empty()).then_some(Value::Array(emails)),
                );
            }
            "department" => {
                set_in(&mut user, ENTERPRISE_SCHEMA, "department", value.clone());
                if user.contains_key(ENTERPRISE_SCHEMA) {
                    ensure_schema(&mut user, ENTERPRISE_SCHEMA);
                }
                if department_top_level {
                    set(&mut user, "department", value);
                }
            }
            _ => {}
        }
    }
    Value::Object(user)
}

/// The PUT body for a group: the server's `current` representation, renamed to `name` if
/// given, with `remove` taken out of its members and `add` put in; `meta` left out.
pub(super) fn group_put_body(
    current: Value,
    id: &str,
    name: Option<&str>,
    add: &[MemberRef],
    remove: &[String],
) -> Value {
    let mut group = match current {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    group.remove("meta");
    ensure_schema(&mut group, GROUP_SCHEMA);
    group.insert("id".into(), json!(id));
    if let Some(name) = name {
        group.insert("displayName".into(), json!(name));
    }
    let members = members_after(&Value::Object(group.clone()), add, remove);
    group.insert("members".into(), Value::Array(members));
    Value::Object(group)
}

pub(super) fn ensure_schema(resource: &mut Map<String, Value>, schema: &str) {
    let schemas = resource
        .entry("schemas")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = schemas {
        if !list.iter().any(|s| s.as_str() == Some(schema)) {
            list.push(json!(schema));
        }
    }
}

/// Set or remove `key`.
pub(super) fn set(object: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            object.insert(key.to_owned(), v);
        }
        None => {
            object.remove(key);
        }
    }
}

/// Set or remove `key` inside the complex attribute `parent`, keeping its other
/// sub-attributes; an emptied parent is left out.
pub(super) fn set_in(
    object: &mut Map<String, Value>,
    parent: &str,
    key: &str,
    value: Option<Value>,
) {
    let mut inner = match object.remove(parent) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    };
    set(&mut inner, key, value);
    if !inner.is_empty() {
        object.insert(parent.to_owned(), Value::Object(inner));
    }
}

/// A group's members after a change: the current ones as the server wrote them, less
/// `remove`, plus those of `add` not already there.
pub(super) fn members_after(current: &Value, add: &[MemberRef], remove: &[String]) -> Vec<Value> {
    let id_of = |member: &Value| match member.get("value") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut members: Vec<Value> = current
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| id_of(m).is_none_or(|id| !remove.contains(&id)))
        .cloned()
        .collect();
    for m in wire_members(add) {
        if !members
            .iter()
            .any(|have| id_of(have).as_deref() == Some(m.value.as_str()))
        {
            members.push(serde_json::to_value(m).unwrap_or(Value::Null));
        }
    }
    members
}

#[cfg(test)]
#[path = "bodies_tests.rs"]
mod tests;
