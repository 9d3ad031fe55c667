//! The `strict_schemas` switch: a POST or PUT body that carries an attribute outside the
//! schemas it declares is refused `400 invalidSyntax` `"Extra inputs are not permitted: <attr>"`,
//! as a schema-validating server (the Python `scim2-server`) refuses it.
//!
//! The resource type's core schema is always allowed; an extension's attributes only when its
//! URN is in the body's `schemas`, and for the enterprise User extension only the attributes
//! RFC 7643 §4.3 defines. A top-level `department` is not core, except in a dialect that
//! documents it there (ZIA). Looks at top-level attributes and the enterprise extension's only;
//! pure: the body in, a verdict out.

use serde_json::{Map, Value};

use crate::dialect::Dialect;

use super::error::ApiError;
use super::quirks::quirks;
use super::schema::{core_attributes, ResourceKind, ENTERPRISE_ATTRIBUTES, ENTERPRISE_KEY};

/// Refuse `body` when it carries attributes outside the schemas it declares, naming them all.
pub(crate) fn check_declared_schemas(
    kind: ResourceKind,
    dialect: Dialect,
    body: &Value,
) -> Result<(), ApiError> {
    let Some(body) = body.as_object() else {
        // Not an object: the typed resource's parse refuses it.
        return Ok(());
    };
    let declared = declared_schemas(body);
    let mut extra = Vec::new();
    for (key, value) in body {
        if is_core(kind, dialect, key) {
            continue;
        }
        if !declared
            .iter()
            .any(|schema| schema.eq_ignore_ascii_case(key))
        {
            extra.push(key.clone());
        } else if key.eq_ignore_ascii_case(ENTERPRISE_KEY) {
            extra.extend(undefined_enterprise_attributes(key, value));
        }
    }
    if extra.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid_syntax(format!(
        "Extra inputs are not permitted: {}",
        extra.join(", ")
    )))
}

/// The URNs in the body's `schemas`.
fn declared_schemas(body: &Map<String, Value>) -> Vec<&str> {
    body.iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("schemas"))
        .and_then(|(_, schemas)| schemas.as_array())
        .map(|schemas| schemas.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn is_core(kind: ResourceKind, dialect: Dialect, key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    core_attributes(kind).contains(&lower.as_str())
        || (kind == ResourceKind::User
            && lower == "department"
            && quirks(dialect).department_top_level)
}

/// The enterprise extension's attributes RFC 7643 §4.3 does not define, as `urn:...:name`.
fn undefined_enterprise_attributes(key: &str, value: &Value) -> Vec<String> {
    let Some(attributes) = value.as_object() else {
        return Vec::new();
    };
    attributes
        .keys()
        .filter(|name| !ENTERPRISE_ATTRIBUTES.contains(&name.to_ascii_lowercase().as_str()))
        .map(|name| format!("{key}:{name}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::wire::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};

    fn refused(kind: ResourceKind, dialect: Dialect, body: Value) -> Option<String> {
        check_declared_schemas(kind, dialect, &body)
            .err()
            .map(|e| e.detail)
    }

    #[test]
    fn core_attributes_pass_in_any_case() {
        let body = json!({"schemas": [USER_SCHEMA], "UserName": "a", "title": "T",
            "phoneNumbers": [], "x509Certificates": [], "ID": "1"});
        assert_eq!(refused(ResourceKind::User, Dialect::Scim, body), None);
    }

    #[test]
    fn department_is_core_only_in_zia() {
        let body = json!({"schemas": [USER_SCHEMA], "userName": "a", "department": "D"});
        assert_eq!(
            refused(ResourceKind::User, Dialect::Scim, body.clone()).as_deref(),
            Some("Extra inputs are not permitted: department")
        );
        assert!(refused(ResourceKind::User, Dialect::Zpa, body.clone()).is_some());
        assert_eq!(refused(ResourceKind::User, Dialect::Zia, body), None);
    }

    #[test]
    fn extensions_need_their_urn_declared_and_their_own_attributes() {
        let undeclared = json!({"schemas": [USER_SCHEMA], "userName": "a",
            ENTERPRISE_SCHEMA: {"department": "D"}});
        assert_eq!(
            refused(ResourceKind::User, Dialect::Scim, undeclared),
            Some(format!(
                "Extra inputs are not permitted: {ENTERPRISE_SCHEMA}"
            ))
        );
        let declared = json!({"schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA], "userName": "a",
            ENTERPRISE_SCHEMA: {"department": "D", "employeeNumber": "1", "manager": {"value": "m"},
                                "shoeSize": 9}});
        assert_eq!(
            refused(ResourceKind::User, Dialect::Scim, declared),
            Some(format!(
                "Extra inputs are not permitted: {ENTERPRISE_SCHEMA}:shoeSize"
            ))
        );
        let custom = json!({"schemas": [GROUP_SCHEMA, "urn:example:ext"], "displayName": "G",
            "urn:example:ext": {"anything": 1}});
        assert_eq!(refused(ResourceKind::Group, Dialect::Scim, custom), None);
        let group = json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "owner": "x",
            "description": "y"});
        assert_eq!(
            refused(ResourceKind::Group, Dialect::Scim, group).as_deref(),
            Some("Extra inputs are not permitted: description, owner")
        );
    }
}
