//! The discovery documents (RFC 7643 §5-7): `/ServiceProviderConfig`, `/Schemas`,
//! `/ResourceTypes`. They answer without a token, as Zscaler's do (zia/scim-api-examples).
//!
//! Static descriptions of what the emulator supports; they change nothing.

use serde_json::{json, Value};

use crate::dialect::DialectSpec;
use crate::scim::wire::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, LIST_SCHEMA, USER_SCHEMA};

const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// `page_size_cap`: a fault's lower page cap, which the document then states as maxResults;
/// `patch_supported`: false under the `no_patch` fault.
pub(crate) fn service_provider_config(
    spec: &DialectSpec,
    base_url: &str,
    page_size_cap: Option<usize>,
    patch_supported: bool,
) -> Value {
    let max_results = page_size_cap.map_or(spec.max_page_size, |c| c.min(spec.max_page_size));
    json!({
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": patch_supported},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token generated in the admin portal",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base_url}/ServiceProviderConfig")}
    })
}

pub(crate) fn resource_types(base_url: &str) -> Value {
    let types = [user_resource_type(base_url), group_resource_type(base_url)];
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": types.len(),
        "startIndex": 1,
        "itemsPerPage": types.len(),
        "Resources": types,
    })
}

pub(crate) fn resource_type(name: &str, base_url: &str) -> Option<Value> {
    match name {
        "User" => Some(user_resource_type(base_url)),
        "Group" => Some(group_resource_type(base_url)),
        _ => None,
    }
}

fn user_resource_type(base_url: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "User",
        "name": "User",
        "endpoint": "/Users",
        "description": "User Account",
        "schema": USER_SCHEMA,
        "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
        "meta": {"resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/User")}
    })
}

fn group_resource_type(base_url: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": "Group",
        "name": "Group",
        "endpoint": "/Groups",
        "description": "Group",
        "schema": GROUP_SCHEMA,
        "meta": {"resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/Group")}
    })
}

pub(crate) fn schemas(base_url: &str) -> Value {
    let all = [
        user_schema(base_url),
        group_schema(base_url),
        enterprise_schema(base_url),
    ];
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": all.len(),
        "startIndex": 1,
        "itemsPerPage": all.len(),
        "Resources": all,
    })
}

pub(crate) fn schema(id: &str, base_url: &str) -> Option<Value> {
    match id {
        USER_SCHEMA => Some(user_schema(base_url)),
        GROUP_SCHEMA => Some(group_schema(base_url)),
        ENTERPRISE_SCHEMA => Some(enterprise_schema(base_url)),
        _ => None,
    }
}

/// One attribute definition (RFC 7643 §7).
fn attr(
    name: &str,
    kind: &str,
    multi: bool,
    required: bool,
    mutability: &str,
    uniqueness: &str,
) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": multi,
        "required": required,
        "caseExact": false,
        "mutability": mutability,
        "returned": "default",
        "uniqueness": uniqueness,
    })
}

fn with_sub(mut attribute: Value, sub: Vec<Value>) -> Value {
    if let Value::Object(object) = &mut attribute {
        object.insert("subAttributes".to_owned(), Value::Array(sub));
    }
    attribute
}

fn schema_doc(id: &str, name: &str, attributes: Vec<Value>, base_url: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "attributes": attributes,
        "meta": {"resourceType": "Schema", "location": format!("{base_url}/Schemas/{id}")}
    })
}

fn user_schema(base_url: &str) -> Value {
    let name = with_sub(
        attr("name", "complex", false, false, "readWrite", "none"),
        vec![
            attr("formatted", "string", false, false, "readWrite", "none"),
            attr("givenName", "string", false, false, "readWrite", "none"),
            attr("familyName", "string", false, false, "readWrite", "none"),
        ],
    );
    let emails = with_sub(
        attr("emails", "complex", true, false, "readWrite", "none"),
        vec![
            attr("value", "string", false, false, "readWrite", "none"),
            attr("type", "string", false, false, "readWrite", "none"),
            attr("primary", "boolean", false, false, "readWrite", "none"),
        ],
    );
    let groups = with_sub(
        attr("groups", "complex", true, false, "readOnly", "none"),
        vec![
            attr("value", "string", false, false, "readOnly", "none"),
            attr("display", "string", false, false, "readOnly", "none"),
            attr("$ref", "reference", false, false, "readOnly", "none"),
        ],
    );
    schema_doc(
        USER_SCHEMA,
        "User",
        vec![
            attr("userName", "string", false, true, "readWrite", "server"),
            name,
            attr("displayName", "string", false, false, "readWrite", "none"),
            emails,
            attr("active", "boolean", false, false, "readWrite", "none"),
            attr("externalId", "string", false, false, "readWrite", "none"),
            groups,
        ],
        base_url,
    )
}

fn group_schema(base_url: &str) -> Value {
    let members = with_sub(
        attr("members", "complex", true, false, "readWrite", "none"),
        vec![
            attr("value", "string", false, false, "immutable", "none"),
            attr("display", "string", false, false, "readOnly", "none"),
        ],
    );
    schema_doc(
        GROUP_SCHEMA,
        "Group",
        vec![
            attr("displayName", "string", false, true, "readWrite", "server"),
            members,
            attr("externalId", "string", false, false, "readWrite", "none"),
        ],
        base_url,
    )
}

fn enterprise_schema(base_url: &str) -> Value {
    schema_doc(
        ENTERPRISE_SCHEMA,
        "EnterpriseUser",
        ["department", "costCenter", "division", "organization"]
            .into_iter()
            .map(|name| attr(name, "string", false, false, "readWrite", "none"))
            .collect(),
        base_url,
    )
}
