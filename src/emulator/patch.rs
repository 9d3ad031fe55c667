//! SCIM PATCH (RFC 7644 §3.5.2) as the emulator supports it: applying operations to a user, and
//! turning a group's operations into typed [`GroupChange`]s.
//!
//! Pure: no store, no lookups, no dialect rules. Whether a member id exists, a name is taken or a
//! user is in too many groups is the store's business. Anything not understood is an error that
//! names the operation, never silently ignored (except `groups` on a user, which RFC 7643 makes
//! read-only and ZPA documents as ignored).

use serde_json::{Map, Value};

use crate::scim::wire::{
    PatchOperation, WireEmail, WireEnterprise, WireName, WireUser, ENTERPRISE_SCHEMA,
};

use super::error::ApiError;
use super::filter::parse_value_path;

/// A PATCH operation's verb. Entra sends them capitalised ("Replace"), so they compare
/// case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

fn parse_op(op: &PatchOperation) -> Result<Op, ApiError> {
    match op.op.to_ascii_lowercase().as_str() {
        "add" => Ok(Op::Add),
        "replace" => Ok(Op::Replace),
        "remove" => Ok(Op::Remove),
        other => Err(ApiError::invalid_syntax(format!(
            "PATCH op `{other}` is not supported; expected `add`, `replace` or `remove`"
        ))),
    }
}

/// What a `replace` without a `path` does to a multi-valued attribute (`emails`, a group's
/// `members`) in its value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum PathlessReplace {
    /// Replaces the list (RFC 7644 §3.5.2.3).
    #[default]
    Replaces,
    /// Appends to the list: a real server's bug (`Faults::append_on_multi_replace`). A
    /// `replace` with a `path` still replaces.
    Appends,
}

/// Apply `ops` in order to `user`. The caller validates the result (userName, uniqueness).
pub(crate) fn apply_user_patch(
    user: &mut WireUser,
    ops: &[PatchOperation],
    pathless: PathlessReplace,
) -> Result<(), ApiError> {
    if ops.is_empty() {
        return Err(ApiError::invalid_value("PATCH request has no Operations"));
    }
    for op in ops {
        let kind = parse_op(op)?;
        match op.path.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(path) => apply_user_path(user, kind, path, op.value.as_ref())?,
            None => {
                if kind == Op::Remove {
                    return Err(ApiError::bad_request(
                        "noTarget",
                        "a `remove` operation needs a `path`",
                    ));
                }
                let object = op
                    .value
                    .as_ref()
                    .and_then(Value::as_object)
                    .ok_or_else(|| {
                        ApiError::invalid_value(format!(
                            "`{}` without a path needs an object of attributes as its value",
                            op.op
                        ))
                    })?;
                if kind == Op::Replace && pathless == PathlessReplace::Appends {
                    let (emails, rest) = take_emails(object);
                    if let Some(emails) = emails {
                        user.emails.extend(parse_emails(Some(emails))?);
                    }
                    apply_user_object(user, kind, "", &rest)?;
                } else {
                    apply_user_object(user, kind, "", object)?;
                }
            }
        }
    }
    Ok(())
}

/// A pathless value's `emails` (in any case), and the rest of it.
fn take_emails(object: &Map<String, Value>) -> (Option<&Value>, Map<String, Value>) {
    let mut emails = None;
    let mut rest = Map::new();
    for (key, value) in object {
        if key.eq_ignore_ascii_case("emails") {
            emails = Some(value);
        } else {
            rest.insert(key.clone(), value.clone());
        }
    }
    (emails, rest)
}

/// The paths of the `remove` operations in `ops`: what a store keeping attributes beside the
/// typed user must forget with them (removing `name` removes `name.middleName` too).
pub(crate) fn removed_paths(ops: &[PatchOperation]) -> impl Iterator<Item = &str> {
    ops.iter()
        .filter(|op| matches!(parse_op(op), Ok(Op::Remove)))
        .filter_map(|op| op.path.as_deref())
        .map(str::trim)
}

/// Apply an object of attributes; `prefix` is the path of the object (`""`, `"name."`, or the
/// enterprise URN followed by `:`).
fn apply_user_object(
    user: &mut WireUser,
    kind: Op,
    prefix: &str,
    object: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (key, value) in object {
        let lower = key.to_ascii_lowercase();
        if prefix.is_empty() && matches!(lower.as_str(), "schemas" | "id" | "meta" | "groups") {
            // Read-only or envelope attributes some clients echo back: nothing to change.
            continue;
        }
        let path = format!("{prefix}{key}");
        match value {
            Value::Object(inner) if lower == "name" && prefix.is_empty() => {
                apply_user_object(user, kind, "name.", inner)?
            }
            Value::Object(inner) if lower == ENTERPRISE_SCHEMA.to_ascii_lowercase() => {
                apply_user_object(user, kind, &format!("{ENTERPRISE_SCHEMA}:"), inner)?
            }
            _ => apply_user_path(user, kind, &path, Some(value))?,
        }
    }
    Ok(())
}

fn apply_user_path(
    user: &mut WireUser,
    kind: Op,
    path: &str,
    value: Option<&Value>,
) -> Result<(), ApiError> {
    let lower = path.to_ascii_lowercase();
    let enterprise_prefix = format!("{}:", ENTERPRISE_SCHEMA.to_ascii_lowercase());
    if let Some(attr) = lower.strip_prefix(&enterprise_prefix) {
        let field = enterprise_field(user, attr).ok_or_else(|| unsupported_user_path(path))?;
        return set_string(field, kind, path, value);
    }
    if lower == ENTERPRISE_SCHEMA.to_ascii_lowercase() {
        return match (kind, value) {
            (Op::Remove, _) => {
                user.enterprise = None;
                Ok(())
            }
            (_, Some(Value::Object(object))) => {
                apply_user_object(user, kind, &format!("{ENTERPRISE_SCHEMA}:"), object)
            }
            _ => Err(ApiError::invalid_value(format!(
                "`{path}` needs an object value"
            ))),
        };
    }
    if lower.starts_with("emails[") {
        return apply_email_selector(user, kind, path, value);
    }
    match lower.as_str() {
        "username" => {
            let mut name = Some(std::mem::take(&mut user.user_name));
            set_string(&mut name, kind, path, value)?;
            user.user_name = name.unwrap_or_default();
            Ok(())
        }
        "displayname" => set_string(&mut user.display_name, kind, path, value),
        "externalid" => set_string(&mut user.external_id, kind, path, value),
        "department" => set_string(enterprise_department(user), kind, path, value),
        "name.givenname" => set_string(&mut name_mut(user).given_name, kind, path, value),
        "name.familyname" => set_string(&mut name_mut(user).family_name, kind, path, value),
        "name.formatted" => set_string(&mut name_mut(user).formatted, kind, path, value),
        "name" => match (kind, value) {
            (Op::Remove, _) => {
                user.name = None;
                Ok(())
            }
            (_, Some(Value::Object(object))) => apply_user_object(user, kind, "name.", object),
            _ => Err(ApiError::invalid_value("`name` needs an object value")),
        },
        "active" => {
            user.active = match (kind, value) {
                (Op::Remove, _) => None,
                (_, Some(value)) => Some(parse_bool(value).ok_or_else(|| {
                    ApiError::invalid_value(format!("`active` must be a boolean, not {value}"))
                })?),
                (_, None) => return Err(missing_value(path)),
            };
            Ok(())
        }
        "emails" => apply_emails(user, kind, value),
        // RFC 7643 §4.1.2: `groups` is read-only; ZPA documents ignoring it on user requests.
        "groups" => Ok(()),
        _ => Err(unsupported_user_path(path)),
    }
}

fn unsupported_user_path(path: &str) -> ApiError {
    ApiError::invalid_path(format!(
        "PATCH path `{path}` is not supported on users; supported: userName, displayName, active, externalId, name.givenName, name.familyName, name.formatted, emails, emails[type eq \"work\"].value, department, {ENTERPRISE_SCHEMA}:department"
    ))
}

fn missing_value(path: &str) -> ApiError {
    ApiError::invalid_value(format!("operation on `{path}` needs a value"))
}

fn name_mut(user: &mut WireUser) -> &mut WireName {
    user.name.get_or_insert_with(WireName::default)
}

fn enterprise_department(user: &mut WireUser) -> &mut Option<String> {
    &mut user
        .enterprise
        .get_or_insert_with(WireEnterprise::default)
        .department
}

fn enterprise_field<'a>(user: &'a mut WireUser, attr: &str) -> Option<&'a mut Option<String>> {
    let enterprise = user.enterprise.get_or_insert_with(WireEnterprise::default);
    match attr {
        "department" => Some(&mut enterprise.department),
        "costcenter" => Some(&mut enterprise.cost_center),
        "division" => Some(&mut enterprise.division),
        "organization" => Some(&mut enterprise.organization),
        _ => None,
    }
}

fn set_string(
    field: &mut Option<String>,
    kind: Op,
    path: &str,
    value: Option<&Value>,
) -> Result<(), ApiError> {
    *field = match (kind, value) {
        (Op::Remove, _) | (_, Some(Value::Null)) => None,
        (_, Some(Value::String(s))) => Some(s.clone()),
        (_, Some(other)) => {
            return Err(ApiError::invalid_value(format!(
                "`{path}` must be a string, not {other}"
            )))
        }
        (_, None) => return Err(missing_value(path)),
    };
    Ok(())
}

/// A boolean, or the strings "true"/"false" in any case (Entra sends "False").
pub(crate) fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn parse_emails(value: Option<&Value>) -> Result<Vec<WireEmail>, ApiError> {
    let value = value.ok_or_else(|| missing_value("emails"))?;
    let list = match value {
        Value::Array(items) => items.clone(),
        Value::Object(_) => vec![value.clone()],
        other => {
            return Err(ApiError::invalid_value(format!(
                "`emails` must be a list of emails, not {other}"
            )))
        }
    };
    list.into_iter()
        .map(|item| {
            serde_json::from_value::<WireEmail>(item).map_err(|e| {
                ApiError::invalid_value(format!("`emails` holds an invalid email: {e}"))
            })
        })
        .collect()
}

fn apply_emails(user: &mut WireUser, kind: Op, value: Option<&Value>) -> Result<(), ApiError> {
    match kind {
        Op::Replace => user.emails = parse_emails(value)?,
        Op::Add => {
            for email in parse_emails(value)? {
                match user
                    .emails
                    .iter_mut()
                    .find(|e| e.value.eq_ignore_ascii_case(&email.value))
                {
                    Some(existing) => *existing = email,
                    None => user.emails.push(email),
                }
            }
        }
        Op::Remove => match value {
            None | Some(Value::Null) => user.emails.clear(),
            Some(_) => {
                let gone = parse_emails(value)?;
                user.emails
                    .retain(|e| !gone.iter().any(|g| g.value.eq_ignore_ascii_case(&e.value)));
            }
        },
    }
    Ok(())
}

/// `emails[type eq "work"].value` (Entra's form), or `emails[type eq "work"]`.
fn apply_email_selector(
    user: &mut WireUser,
    kind: Op,
    path: &str,
    value: Option<&Value>,
) -> Result<(), ApiError> {
    let (_, filter, rest) = parse_value_path(path).ok_or_else(|| unsupported_user_path(path))?;
    let sub = rest.trim_start_matches('.').to_ascii_lowercase();
    if !matches!(filter.attr.as_str(), "type" | "value") || !matches!(sub.as_str(), "" | "value") {
        return Err(unsupported_user_path(path));
    }
    let selects = |e: &WireEmail| match filter.attr.as_str() {
        "type" => e
            .kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(&filter.value)),
        _ => e.value.eq_ignore_ascii_case(&filter.value),
    };
    if kind == Op::Remove {
        user.emails.retain(|e| !selects(e));
        return Ok(());
    }
    let new_value = match value {
        Some(Value::String(s)) if sub == "value" => s.clone(),
        Some(Value::Object(o)) if sub.is_empty() => match o.get("value") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(ApiError::invalid_value(format!(
                    "`{path}` needs an email with a `value`"
                )))
            }
        },
        _ => {
            return Err(ApiError::invalid_value(format!(
                "`{path}` needs a string value"
            )))
        }
    };
    match user.emails.iter_mut().find(|e| selects(e)) {
        Some(existing) => existing.value = new_value,
        None => {
            let primary = user.emails.is_empty();
            user.emails.push(WireEmail {
                value: new_value,
                primary: primary.then_some(true),
                kind: (filter.attr == "type").then(|| filter.value.clone()),
            })
        }
    }
    Ok(())
}

/// One change to a group, from a PATCH operation. Member ids are as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupChange {
    AddMembers(Vec<String>),
    RemoveMembers(Vec<String>),
    RemoveAllMembers,
    ReplaceMembers(Vec<String>),
    Rename(String),
    SetExternalId(Option<String>),
}

/// Turn a group's PATCH operations into changes, in order, or say which one is not supported.
pub(crate) fn parse_group_patch(
    ops: &[PatchOperation],
    pathless: PathlessReplace,
) -> Result<Vec<GroupChange>, ApiError> {
    if ops.is_empty() {
        return Err(ApiError::invalid_value("PATCH request has no Operations"));
    }
    let mut changes = Vec::new();
    for op in ops {
        let kind = parse_op(op)?;
        match op.path.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(path) => changes.push(group_path_change(kind, path, op.value.as_ref())?),
            None => {
                let object = match (kind, op.value.as_ref()) {
                    (Op::Remove, _) => {
                        return Err(ApiError::bad_request(
                            "noTarget",
                            "a `remove` operation needs a `path`",
                        ))
                    }
                    (_, Some(Value::Object(object))) => object,
                    _ => {
                        return Err(ApiError::invalid_value(format!(
                            "`{}` without a path needs an object of attributes as its value",
                            op.op
                        )))
                    }
                };
                for (key, value) in object {
                    if matches!(key.to_ascii_lowercase().as_str(), "schemas" | "id" | "meta") {
                        continue;
                    }
                    let appends = kind == Op::Replace
                        && pathless == PathlessReplace::Appends
                        && key.eq_ignore_ascii_case("members");
                    let kind = if appends { Op::Add } else { kind };
                    changes.push(group_path_change(kind, key, Some(value))?);
                }
            }
        }
    }
    Ok(changes)
}

fn group_path_change(kind: Op, path: &str, value: Option<&Value>) -> Result<GroupChange, ApiError> {
    let lower = path.to_ascii_lowercase();
    if let Some((attr, filter, rest)) = parse_value_path(path) {
        if attr == "members" && filter.attr == "value" && rest.is_empty() && kind == Op::Remove {
            return Ok(GroupChange::RemoveMembers(vec![filter.value]));
        }
        return Err(unsupported_group_op(kind, path));
    }
    match (lower.as_str(), kind) {
        ("members", Op::Add) => Ok(GroupChange::AddMembers(member_ids(
            value.ok_or_else(|| missing_value(path))?,
        )?)),
        ("members", Op::Replace) => Ok(GroupChange::ReplaceMembers(member_ids(
            value.ok_or_else(|| missing_value(path))?,
        )?)),
        ("members", Op::Remove) => match value {
            None | Some(Value::Null) => Ok(GroupChange::RemoveAllMembers),
            Some(value) => Ok(GroupChange::RemoveMembers(member_ids(value)?)),
        },
        ("displayname", Op::Add | Op::Replace) => match value {
            Some(Value::String(name)) => Ok(GroupChange::Rename(name.clone())),
            _ => Err(ApiError::invalid_value(
                "`displayName` needs a string value",
            )),
        },
        ("externalid", Op::Add | Op::Replace) => match value {
            Some(Value::String(id)) => Ok(GroupChange::SetExternalId(Some(id.clone()))),
            Some(Value::Null) => Ok(GroupChange::SetExternalId(None)),
            _ => Err(ApiError::invalid_value("`externalId` needs a string value")),
        },
        ("externalid", Op::Remove) => Ok(GroupChange::SetExternalId(None)),
        _ => Err(unsupported_group_op(kind, path)),
    }
}

fn unsupported_group_op(kind: Op, path: &str) -> ApiError {
    let verb = match kind {
        Op::Add => "add",
        Op::Replace => "replace",
        Op::Remove => "remove",
    };
    ApiError::invalid_path(format!(
        "PATCH `{verb}` on path `{path}` is not supported on groups; supported: add/replace/remove `members`, remove `members[value eq \"id\"]`, add/replace `displayName`, `externalId`"
    ))
}

/// The ids in a members value: a list of `{"value": id}` objects (or one such object).
fn member_ids(value: &Value) -> Result<Vec<String>, ApiError> {
    let items = match value {
        Value::Array(items) => items.as_slice(),
        Value::Object(_) => std::slice::from_ref(value),
        other => {
            return Err(ApiError::invalid_value(format!(
                "`members` must be a list of {{\"value\": id}}, not {other}"
            )))
        }
    };
    items
        .iter()
        .map(|item| match item.get("value") {
            Some(Value::String(id)) => Ok(id.clone()),
            Some(Value::Number(id)) => Ok(id.to_string()),
            _ => Err(ApiError::invalid_value(format!(
                "member {item} has no `value` id"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn op(op: &str, path: Option<&str>, value: Option<Value>) -> PatchOperation {
        PatchOperation {
            op: op.to_owned(),
            path: path.map(str::to_owned),
            value,
        }
    }

    #[test]
    fn user_paths_and_objects() {
        let mut user = WireUser {
            user_name: "a@example.com".into(),
            ..WireUser::default()
        };
        let ops = [
            op("Replace", Some("active"), Some(json!("False"))),
            op("replace", Some("name.givenName"), Some(json!("Ann"))),
            op(
                "add",
                Some(&format!("{ENTERPRISE_SCHEMA}:department")),
                Some(json!("Ops")),
            ),
            op(
                "replace",
                None,
                Some(json!({"displayName": "Ann A", "name": {"familyName": "A"},
                ENTERPRISE_SCHEMA: {"division": "D"}, "emails": [{"value": "x@example.com"}]})),
            ),
            op(
                "replace",
                Some(r#"emails[type eq "work"].value"#),
                Some(json!("w@example.com")),
            ),
        ];
        apply_user_patch(&mut user, &ops, PathlessReplace::Replaces).unwrap();
        assert_eq!(user.active, Some(false));
        let name = user.name.clone().unwrap();
        assert_eq!(
            (name.given_name.as_deref(), name.family_name.as_deref()),
            (Some("Ann"), Some("A"))
        );
        let ent = user.enterprise.clone().unwrap();
        assert_eq!(
            (ent.department.as_deref(), ent.division.as_deref()),
            (Some("Ops"), Some("D"))
        );
        assert_eq!(user.display_name.as_deref(), Some("Ann A"));
        assert_eq!(user.emails.len(), 2);
        let remove = [op("remove", Some("displayName"), None)];
        apply_user_patch(&mut user, &remove, PathlessReplace::Replaces).unwrap();
        assert_eq!(user.display_name, None);
    }

    #[test]
    fn user_errors_are_clear() {
        let mut user = WireUser::default();
        let mut refused = |op: PatchOperation| {
            apply_user_patch(&mut user, &[op], PathlessReplace::Replaces).unwrap_err()
        };
        let err = refused(op("replace", Some("nickName"), Some(json!("x"))));
        assert_eq!(err.scim_type, Some("invalidPath"));
        assert!(err.detail.contains("nickName"));
        let err = refused(op("move", Some("active"), None));
        assert_eq!(err.scim_type, Some("invalidSyntax"));
        let err = refused(op("replace", Some("active"), Some(json!(3))));
        assert_eq!(err.scim_type, Some("invalidValue"));
    }

    #[test]
    fn group_forms() {
        let ops = [
            op(
                "add",
                None,
                Some(json!({"members": [{"value": "1", "display": "a"}]})),
            ),
            op("Add", Some("members"), Some(json!([{"value": 2}]))),
            op("remove", Some(r#"members[value eq "3"]"#), None),
            op("remove", Some("members"), Some(json!([{"value": "4"}]))),
            op("replace", Some("members"), Some(json!([]))),
            op(
                "replace",
                None,
                Some(json!({"displayName": "New", "id": "ignored"})),
            ),
            op("replace", Some("displayName"), Some(json!("Newer"))),
            op("remove", Some("members"), None),
        ];
        assert_eq!(
            parse_group_patch(&ops, PathlessReplace::Replaces).unwrap(),
            vec![
                GroupChange::AddMembers(vec!["1".into()]),
                GroupChange::AddMembers(vec!["2".into()]),
                GroupChange::RemoveMembers(vec!["3".into()]),
                GroupChange::RemoveMembers(vec!["4".into()]),
                GroupChange::ReplaceMembers(vec![]),
                GroupChange::Rename("New".into()),
                GroupChange::Rename("Newer".into()),
                GroupChange::RemoveAllMembers,
            ]
        );
    }

    #[test]
    fn pathless_replace_may_append_multi_valued_attributes() {
        let mut user = WireUser {
            emails: vec![WireEmail {
                value: "a@x".into(),
                primary: Some(true),
                kind: None,
            }],
            ..WireUser::default()
        };
        let pathless = [op(
            "replace",
            None,
            Some(json!({"emails": [{"value": "b@x", "primary": true}], "displayName": "B"})),
        )];
        apply_user_patch(&mut user, &pathless, PathlessReplace::Appends).unwrap();
        assert_eq!(user.emails.len(), 2);
        assert_eq!(user.display_name.as_deref(), Some("B"));
        let with_path = [op(
            "replace",
            Some("emails"),
            Some(json!([{"value": "c@x"}])),
        )];
        apply_user_patch(&mut user, &with_path, PathlessReplace::Appends).unwrap();
        assert_eq!(user.emails.len(), 1);

        let members = [op(
            "replace",
            None,
            Some(json!({"members": [{"value": "1"}]})),
        )];
        assert_eq!(
            parse_group_patch(&members, PathlessReplace::Appends).unwrap(),
            vec![GroupChange::AddMembers(vec!["1".into()])]
        );
        assert_eq!(
            parse_group_patch(&members, PathlessReplace::Replaces).unwrap(),
            vec![GroupChange::ReplaceMembers(vec!["1".into()])]
        );
    }

    #[test]
    fn unsupported_group_ops_are_refused() {
        for bad in [
            op("add", Some(r#"members[value eq "3"]"#), None),
            op("replace", Some("owners"), Some(json!("x"))),
            op("remove", None, None),
            op("add", Some("members"), Some(json!("not a list"))),
        ] {
            assert!(parse_group_patch(&[bad], PathlessReplace::Replaces).is_err());
        }
    }
}
