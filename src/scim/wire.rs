//! SCIM 2.0 JSON as it travels (RFC 7643 resources, RFC 7644 messages), shared by the client and
//! the emulator, and the mapping between it and [`crate::model`].
//!
//! Parsing is tolerant where real servers differ: `active` may be a boolean or the string
//! "true"/"false" (ZPA), ids and statuses may be numbers or strings, unknown attributes are
//! ignored. Serialising always produces the RFC form; the emulator bends it per dialect.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::model::{LiveGroup, LiveUser, UserAttrs};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A SCIM User resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireUser {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(default)]
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<WireName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<WireEmail>,
    #[serde(
        default,
        deserialize_with = "opt_flexible_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// ZIA carries department at the top level as well as in the enterprise extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(
        rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enterprise: Option<WireEnterprise>,
    /// The user's groups, as servers list them (read-only in SCIM). zsc reads memberships from
    /// the groups, and the emulator rebuilds this from its groups, so it is written but never
    /// parsed: on a 100,000-user listing that saves a million small allocations.
    #[serde(default, skip_deserializing, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<WireMember>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<WireMeta>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WireEmail {
    #[serde(default)]
    pub value: String,
    #[serde(
        default,
        deserialize_with = "opt_flexible_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub primary: Option<bool>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireEnterprise {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// A member of a group (or a group of a user): a reference by id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WireMember {
    #[serde(default, deserialize_with = "string_or_number")]
    pub value: String,
    /// Written (the userName, as Zscaler's examples send it) but never parsed: zsc and the
    /// emulator identify members by `value` alone, and a million-member listing would
    /// otherwise allocate a million unused strings.
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(
        rename = "$ref",
        default,
        skip_deserializing,
        skip_serializing_if = "Option::is_none"
    )]
    pub reference: Option<String>,
}

/// A SCIM Group resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireGroup {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(default)]
    pub display_name: String,
    /// `None` when the server left members out (ZPA lists, `excludedAttributes=members`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<WireMember>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<WireMeta>,
}

/// `urn:ietf:params:scim:api:messages:2.0:ListResponse`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(
        default,
        deserialize_with = "opt_u64_flexible",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_results: Option<u64>,
    #[serde(
        default,
        deserialize_with = "opt_u64_flexible",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_index: Option<u64>,
    #[serde(
        default,
        deserialize_with = "opt_u64_flexible",
        skip_serializing_if = "Option::is_none"
    )]
    pub items_per_page: Option<u64>,
    #[serde(rename = "Resources", default = "Vec::new")]
    pub resources: Vec<T>,
}

/// `urn:ietf:params:scim:api:messages:2.0:Error`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimErrorBody {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ScimErrorBody {
    pub fn new(status: u16, scim_type: Option<&str>, detail: impl Into<String>) -> Self {
        ScimErrorBody {
            schemas: vec![ERROR_SCHEMA.to_owned()],
            status: Some(status.to_string()),
            scim_type: scim_type.map(str::to_owned),
            detail: Some(detail.into()),
        }
    }
}

/// `urn:ietf:params:scim:api:messages:2.0:PatchOp`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PatchRequest {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(rename = "Operations", alias = "operations", default)]
    pub operations: Vec<PatchOperation>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchRequest {
    pub fn new(operations: Vec<PatchOperation>) -> Self {
        PatchRequest {
            schemas: vec![PATCH_SCHEMA.to_owned()],
            operations,
        }
    }

    /// Add members, in the seed connector guide's form:
    /// `{"op":"add","value":{"members":[{"display":..,"value":..}]}}`.
    pub fn add_members(members: &[WireMember]) -> PatchOperation {
        PatchOperation {
            op: "add".to_owned(),
            path: None,
            value: Some(serde_json::json!({ "members": members })),
        }
    }

    /// Remove one member, in the seed connector guide's form:
    /// `{"op":"remove","path":"members[value eq \"id\"]"}`.
    pub fn remove_member(id: &str) -> PatchOperation {
        PatchOperation {
            op: "remove".to_owned(),
            path: Some(format!("members[value eq \"{}\"]", escape_filter_value(id))),
            value: None,
        }
    }
}

/// Escape a string for use inside a double-quoted SCIM filter value.
pub fn escape_filter_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

impl WireUser {
    /// The request body for creating a user. `department` goes in the enterprise extension,
    /// and also at the top level where the dialect documents that (`department_top_level`,
    /// ZIA): nothing is sent outside the schemas the body declares.
    pub fn from_model(
        user_name: &str,
        active: bool,
        attrs: &UserAttrs,
        department_top_level: bool,
    ) -> WireUser {
        let attrs = attrs.without_empty();
        let name = if attrs.given_name.is_some() || attrs.family_name.is_some() {
            Some(WireName {
                given_name: attrs.given_name.clone(),
                family_name: attrs.family_name.clone(),
                formatted: None,
            })
        } else {
            None
        };
        let mut schemas = vec![USER_SCHEMA.to_owned()];
        let enterprise = attrs.department.as_ref().map(|department| {
            schemas.push(ENTERPRISE_SCHEMA.to_owned());
            WireEnterprise {
                department: Some(department.clone()),
                ..WireEnterprise::default()
            }
        });
        WireUser {
            schemas,
            id: None,
            user_name: user_name.to_owned(),
            name,
            display_name: attrs.display_name.clone(),
            emails: attrs
                .email
                .iter()
                .map(|email| WireEmail {
                    value: email.clone(),
                    primary: Some(true),
                    kind: Some("work".to_owned()),
                })
                .collect(),
            active: Some(active),
            external_id: attrs.external_id.clone(),
            department: attrs.department.clone().filter(|_| department_top_level),
            enterprise,
            groups: Vec::new(),
            meta: None,
        }
    }

    /// The managed attributes this resource holds.
    pub fn attrs(&self) -> UserAttrs {
        self.clone().into_attrs()
    }

    /// The managed attributes, moved out (a listing converts 100,000 of these).
    pub fn into_attrs(self) -> UserAttrs {
        let WireUser {
            name,
            display_name,
            emails,
            external_id,
            department,
            enterprise,
            ..
        } = self;
        let (given_name, family_name) =
            name.map_or((None, None), |n| (n.given_name, n.family_name));
        let managed = managed_email(
            emails
                .iter()
                .map(|e| (e.primary == Some(true), e.kind.as_deref())),
        );
        let email = managed
            .and_then(|i| emails.into_iter().nth(i))
            .map(|e| e.value);
        UserAttrs {
            display_name,
            given_name,
            family_name,
            email,
            department: enterprise.and_then(|e| e.department).or(department),
            external_id,
        }
    }

    /// Convert to the model; a resource without an id is a protocol error.
    pub fn into_live(mut self) -> Result<LiveUser, String> {
        let user_name = std::mem::take(&mut self.user_name);
        let id = self
            .id
            .take()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| format!("user `{user_name}` has no id"))?;
        if user_name.is_empty() {
            return Err(format!("user `{id}` has no userName"));
        }
        Ok(LiveUser {
            id,
            user_name,
            // RFC 7643 §4.1.1: absent `active` means the server does not track it; treat as
            // active, as every Zscaler example that omits it does.
            active: self.active.unwrap_or(true),
            attrs: self.into_attrs(),
        })
    }
}

impl WireGroup {
    /// Convert to the model; members are ids. `None` members become an empty list: callers
    /// that know the server omits members fetch each group separately.
    pub fn into_live(self) -> Result<LiveGroup, String> {
        let id = self
            .id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| format!("group `{}` has no id", self.display_name))?;
        if self.display_name.is_empty() {
            return Err(format!("group `{id}` has no displayName"));
        }
        Ok(LiveGroup {
            id,
            name: self.display_name,
            members: self
                .members
                .unwrap_or_default()
                .into_iter()
                .map(|m| m.value)
                .collect(),
        })
    }
}

/// Which of a user's emails zsc manages, given each one's `primary` flag and `type`: the
/// primary one, else the work one, else the first without a type. An email typed `home` or
/// `other` and not primary is the person's own: zsc neither reads nor replaces it, so that
/// clearing the managed email never makes another one managed (and cleared in turn).
pub fn managed_email<'a>(
    emails: impl Iterator<Item = (bool, Option<&'a str>)> + Clone,
) -> Option<usize> {
    let all: Vec<(bool, Option<&str>)> = emails.collect();
    all.iter()
        .position(|(primary, _)| *primary)
        .or_else(|| {
            all.iter()
                .position(|(_, kind)| kind.is_some_and(|k| k.eq_ignore_ascii_case("work")))
        })
        .or_else(|| all.iter().position(|(_, kind)| kind.is_none()))
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_string_or_number(d)?.unwrap_or_default())
}

// The flexible fields below are read with visitors rather than through `serde_json::Value`: a
// 100,000-user listing has hundreds of thousands of them, and a `Value` costs an extra
// allocation and a dispatch each.

/// What a scalar visitor accepted; each field's visitor says which kinds it takes.
enum Scalar<'a> {
    Str(std::borrow::Cow<'a, str>),
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Null,
}

/// Accepts any scalar; `.0` is what the field expects, for serde's "invalid type" message.
struct ScalarVisitor(&'static str);

impl<'de> serde::de::Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.0)
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(v.to_owned().into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(v.into()))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::I64(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// Read a scalar (or null); an object or array is an error naming what was `expected`.
fn scalar<'de, D: Deserializer<'de>>(
    d: D,
    expected: &'static str,
) -> Result<Scalar<'de>, D::Error> {
    d.deserialize_option(ScalarVisitor(expected))
}

impl std::fmt::Display for Scalar<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Scalar::Str(s) => write!(f, "{:?}", s),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::U64(n) => write!(f, "{n}"),
            Scalar::I64(n) => write!(f, "{n}"),
            Scalar::F64(n) => write!(f, "{n}"),
            Scalar::Null => f.write_str("null"),
        }
    }
}

fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match scalar(d, "a string or a number")? {
        Scalar::Null => Ok(None),
        Scalar::Str(s) => Ok(Some(s.into_owned())),
        Scalar::U64(n) => Ok(Some(n.to_string())),
        Scalar::I64(n) => Ok(Some(n.to_string())),
        // As serde_json writes it (1.0, 1e20), which is what the id was on the wire.
        Scalar::F64(n) => Ok(Some(
            serde_json::Number::from_f64(n).map_or_else(|| n.to_string(), |n| n.to_string()),
        )),
        other @ Scalar::Bool(_) => Err(serde::de::Error::custom(format!(
            "expected a string or a number, found {other}"
        ))),
    }
}

fn opt_flexible_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match scalar(d, "a boolean")? {
        Scalar::Null => Ok(None),
        Scalar::Bool(b) => Ok(Some(b)),
        Scalar::Str(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Scalar::Str(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        other => Err(serde::de::Error::custom(format!(
            "expected a boolean, found {other}"
        ))),
    }
}

fn opt_u64_flexible<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match scalar(d, "a count")? {
        Scalar::Null => Ok(None),
        Scalar::U64(n) => Ok(Some(n)),
        Scalar::Str(s) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected a count, found `{s}`"))),
        other => Err(serde::de::Error::custom(format!(
            "expected a count, found {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zpa_string_booleans_and_numeric_ids_parse() {
        let body = r#"{"id": 290277, "userName": "a@example.com", "active": "false",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Ops"}}"#;
        let user: WireUser = serde_json::from_str(body).unwrap();
        let live = user.into_live().unwrap();
        assert_eq!(live.id, "290277");
        assert!(!live.active);
        assert_eq!(live.attrs.department.as_deref(), Some("Ops"));
    }

    #[test]
    fn flexible_fields_take_scalars_and_refuse_the_rest() {
        let id = |json: &str| {
            serde_json::from_str::<WireMember>(&format!(r#"{{"value": {json}}}"#))
                .map(|m| m.value)
                .map_err(|e| e.to_string())
        };
        assert_eq!(id(r#""abc""#).as_deref(), Ok("abc"));
        assert_eq!(id("290277").as_deref(), Ok("290277"));
        assert_eq!(id("-7").as_deref(), Ok("-7"));
        assert_eq!(id("1.0").as_deref(), Ok("1.0"));
        assert_eq!(id("null").as_deref(), Ok(""));
        assert!(id("true")
            .unwrap_err()
            .contains("expected a string or a number"));
        assert!(id("{}").unwrap_err().contains("a string or a number"));
        let active = |json: &str| {
            serde_json::from_str::<WireUser>(&format!(r#"{{"active": {json}}}"#))
                .map(|u| u.active)
                .map_err(|e| e.to_string())
        };
        assert_eq!(active(r#""FALSE""#), Ok(Some(false)));
        assert_eq!(active("true"), Ok(Some(true)));
        assert_eq!(active("null"), Ok(None));
        assert!(active(r#""yes""#)
            .unwrap_err()
            .contains("expected a boolean"));
        assert!(active("[]").unwrap_err().contains("a boolean"));
        let total = |json: &str| {
            serde_json::from_str::<ListResponse<WireUser>>(&format!(
                r#"{{"totalResults": {json}}}"#
            ))
            .map(|l| l.total_results)
            .map_err(|e| e.to_string())
        };
        assert_eq!(total(r#""12""#), Ok(Some(12)));
        assert!(total("-1").unwrap_err().contains("expected a count"));
        assert!(total("1.5").unwrap_err().contains("expected a count"));
    }

    #[test]
    fn list_response_tolerates_string_counts_and_missing_resources() {
        let body = r#"{"totalResults": "0", "itemsPerPage": 10}"#;
        let list: ListResponse<WireUser> = serde_json::from_str(body).unwrap();
        assert_eq!(list.total_results, Some(0));
        assert!(list.resources.is_empty());
    }

    #[test]
    fn round_trips_model_attributes() {
        let attrs = UserAttrs {
            display_name: Some("Janet Smith".into()),
            given_name: Some("Janet".into()),
            family_name: Some("Smith".into()),
            email: Some("jsmith@example.com".into()),
            department: Some("Finance".into()),
            external_id: Some("E1".into()),
        };
        let wire = WireUser::from_model("jsmith@example.com", true, &attrs, false);
        let json = serde_json::to_string(&wire).unwrap();
        let back: WireUser = serde_json::from_str(&json).unwrap();
        assert_eq!(back.attrs(), attrs);
    }

    #[test]
    fn member_patches_are_the_forms_the_dialect_table_states() {
        for dialect in [
            crate::dialect::Dialect::Scim,
            crate::dialect::Dialect::Zia,
            crate::dialect::Dialect::Zpa,
        ] {
            let forms = &dialect.spec().member_patch;
            let add = PatchRequest::add_members(&[WireMember {
                value: "42".into(),
                display: Some("a@example.com".into()),
                reference: None,
            }]);
            let want: Value = serde_json::from_str(
                &forms
                    .add
                    .replace("{id}", "42")
                    .replace("{userName}", "a@example.com"),
            )
            .unwrap();
            assert_eq!(serde_json::to_value(&add).unwrap(), want, "{dialect}");
            let remove = PatchRequest::remove_member("42");
            let want: Value = serde_json::from_str(&forms.remove.replace("{id}", "42")).unwrap();
            assert_eq!(serde_json::to_value(&remove).unwrap(), want, "{dialect}");
        }
    }

    #[test]
    fn remove_member_path_escapes_quotes() {
        let op = PatchRequest::remove_member("a\"b");
        assert_eq!(op.path.as_deref(), Some(r#"members[value eq "a\"b"]"#));
    }
}
