//! The SCIM filter forms the emulator understands: `<attribute> eq <value>` (RFC 7644
//! §3.4.2.2), as Zscaler documents for userName, externalId, id and displayName, and
//! `meta.lastModified gt <time>`, which ZIA documents for users.
//!
//! It parses; it does not look anything up. Any other operator, `and`/`or`, or trailing text is
//! an error the caller answers with 400 `invalidFilter`.

use serde_json::Value;

/// A parsed `attr eq "value"` filter. `attr` is lowercased (attribute names are
/// case-insensitive, RFC 7643 §2.1); `value` is kept as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EqFilter {
    pub attr: String,
    pub value: String,
    /// `gt` rather than `eq` (only on `meta.lastModified`).
    pub greater: bool,
}

/// Parse `attr eq value`, where value is a JSON string, number or boolean (RFC 7644's
/// compValue). The error says what was wrong, for the SCIM error's detail.
pub(crate) fn parse_eq(filter: &str) -> Result<EqFilter, String> {
    let filter = filter.trim();
    let (attr, rest) = filter
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("filter `{filter}` is not of the form `attribute eq \"value\"`"))?;
    let rest = rest.trim_start();
    let (op, value) = rest
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("filter `{filter}` is not of the form `attribute eq \"value\"`"))?;
    let greater = op.eq_ignore_ascii_case("gt");
    if greater && !attr.eq_ignore_ascii_case("meta.lastModified") {
        return Err(format!(
            "filter operator `{op}` is supported on `meta.lastModified` only"
        ));
    }
    if !greater && !op.eq_ignore_ascii_case("eq") {
        return Err(format!(
            "filter operator `{op}` is not supported; only `eq` (and `meta.lastModified gt`) is"
        ));
    }
    if attr.is_empty()
        || !attr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '$' | '-'))
    {
        return Err(format!("`{attr}` is not an attribute name"));
    }
    let value = match serde_json::from_str::<Value>(value.trim()) {
        Ok(Value::String(s)) => s,
        Ok(Value::Number(n)) => n.to_string(),
        Ok(Value::Bool(b)) => b.to_string(),
        _ => {
            return Err(format!(
                "filter `{filter}` is not supported: expected one comparison `attribute eq \"value\"` with a quoted value (no `and`, `or` or other operators)"
            ))
        }
    };
    Ok(EqFilter {
        attr: attr.to_ascii_lowercase(),
        value,
        greater,
    })
}

/// Parse a value-path selector such as `members[value eq "id"]` or `emails[type eq "work"]`:
/// the attribute before the bracket (lowercased) and the filter inside it.
pub(crate) fn parse_value_path(path: &str) -> Option<(String, EqFilter, &str)> {
    let open = path.find('[')?;
    let close = path.rfind(']')?;
    if close < open {
        return None;
    }
    let attr = path[..open].trim().to_ascii_lowercase();
    let inner = parse_eq(&path[open + 1..close]).ok()?;
    Some((attr, inner, &path[close + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_values_with_escapes() {
        let f = parse_eq(r#"userName eq "a\"b@example.com""#).unwrap();
        assert_eq!(f.attr, "username");
        assert_eq!(f.value, "a\"b@example.com");
    }

    #[test]
    fn operator_and_attribute_are_case_insensitive() {
        let f = parse_eq(r#"externalID EQ "x""#).unwrap();
        assert_eq!(f.attr, "externalid");
        assert_eq!(f.value, "x");
    }

    #[test]
    fn numbers_are_accepted_as_values() {
        assert_eq!(parse_eq("id eq 290277").unwrap().value, "290277");
    }

    #[test]
    fn refuses_other_forms() {
        assert!(parse_eq(r#"userName co "a""#).is_err());
        assert!(parse_eq(r#"userName eq "a" and id eq "b""#).is_err());
        assert!(parse_eq("userName").is_err());
        assert!(parse_eq(r#"userName eq a"#).is_err());
        assert!(parse_eq(r#"userName gt "a""#).is_err());
        assert!(parse_eq(r#"meta.lastModified ge "2020-01-01""#).is_err());
    }

    #[test]
    fn last_modified_may_be_compared_greater() {
        let f = parse_eq(r#"meta.lastModified gt "2020-01-01T00:00:00Z""#).unwrap();
        assert!(f.greater);
        assert_eq!(f.attr, "meta.lastmodified");
        assert!(!parse_eq(r#"userName eq "a""#).unwrap().greater);
    }

    #[test]
    fn value_paths() {
        let (attr, f, rest) = parse_value_path(r#"members[value eq "42"]"#).unwrap();
        assert_eq!(
            (attr.as_str(), f.attr.as_str(), f.value.as_str(), rest),
            ("members", "value", "42", "")
        );
        let (attr, f, rest) = parse_value_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(
            (attr.as_str(), f.value.as_str(), rest),
            ("emails", "work", ".value")
        );
        assert!(parse_value_path("members").is_none());
    }
}
