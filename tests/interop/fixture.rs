//! One scenario's world: a scim2-server, a directory for zsc, and the users and groups seeded
//! on the server that zsc must never touch.

use serde_json::{json, Value};

use super::server::{Patch, Scim2Server};
use super::{ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA};
use crate::harness::Env;

/// One scenario: a scim2-server, a directory for zsc, and the objects seeded on the server
/// that zsc must never touch.
pub(super) struct Interop {
    pub(super) env: Env,
    pub(super) server: Scim2Server,
    /// `/Users/{id}` or `/Groups/{id}` of each unmanaged object, with its JSON when seeded.
    pub(super) outsiders: Vec<(String, Value)>,
}

impl Interop {
    /// A server with two unmanaged users (one rich in attributes, one disabled) and two
    /// unmanaged groups. `None`: skip (see `server.rs`).
    pub(super) fn start(patch: Patch) -> Option<Interop> {
        let env = Env::new();
        let server = Scim2Server::start(&env, patch)?;
        let mut it = Interop {
            env,
            server,
            outsiders: Vec::new(),
        };
        let one = it.create(
            "/Users",
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "userName": "outsider1@example.com",
                "displayName": "Outsider One",
                "name": {"givenName": "Outsider", "familyName": "One"},
                "title": "Contractor",
                "emails": [{"value": "outsider1@example.com", "type": "work", "primary": true}],
                "phoneNumbers": [{"value": "+1 555 0199", "type": "mobile"}],
                "externalId": "X-1",
                ENTERPRISE: {"department": "Legal", "employeeNumber": "77"}
            }),
        );
        let two = it.create(
            "/Users",
            json!({
                "schemas": [USER_SCHEMA],
                "userName": "outsider2@example.com",
                "active": false
            }),
        );
        let crew = it.create(
            "/Groups",
            json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": "Outsiders",
                "externalId": "XG-1",
                "members": [{"value": id(&one)}, {"value": id(&two)}]
            }),
        );
        let empty = it.create(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Empty Outside"}),
        );
        for (resource, body) in [
            ("Users", one),
            ("Users", two),
            ("Groups", crew),
            ("Groups", empty),
        ] {
            let path = format!("/{resource}/{}", id(&body));
            let now = it.get(&path);
            it.outsiders.push((path, now));
        }
        Some(it)
    }

    pub(super) fn scim(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.env.scim_at(&self.server.base_url, method, path, body)
    }

    /// POST a resource directly on the server; returns what it answered.
    pub(super) fn create(&self, path: &str, body: Value) -> Value {
        let (status, created) = self.scim("POST", path, Some(body));
        assert_eq!(status, 201, "POST {path}: {created}");
        created
    }

    pub(super) fn get(&self, path: &str) -> Value {
        let (status, body) = self.scim("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Replace a resource directly on the server (as an admin would; works with PATCH off).
    pub(super) fn put(&self, path: &str, body: Value) {
        let (status, answer) = self.scim("PUT", path, Some(body));
        assert_eq!(status, 200, "PUT {path}: {answer}");
    }

    /// Every resource of a type, in one page; the page must be the whole listing.
    pub(super) fn list(&self, resource: &str) -> Vec<Value> {
        let body = self.get(&format!("/{resource}?startIndex=1&count=1000"));
        let items = body["Resources"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            body["totalResults"].as_u64(),
            Some(items.len() as u64),
            "one page holds every {resource}"
        );
        items
    }

    pub(super) fn user(&self, user_name: &str) -> Value {
        let key = user_name.to_lowercase();
        self.list("Users")
            .into_iter()
            .find(|u| u["userName"].as_str().map(str::to_lowercase) == Some(key.clone()))
            .unwrap_or_else(|| panic!("no user {user_name} on the server"))
    }

    pub(super) fn group(&self, name: &str) -> Value {
        self.list("Groups")
            .into_iter()
            .find(|g| g["displayName"] == name)
            .unwrap_or_else(|| panic!("no group {name} on the server"))
    }
}

pub(super) fn id(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {resource}"))
        .to_owned()
}

/// A resource without what changes on every write (`meta.lastModified`, `meta.version`), with
/// its emails in a stable order.
pub(super) fn normalised(resource: &Value) -> Value {
    let mut v = resource.clone();
    if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("lastModified");
        meta.remove("version");
    }
    if let Some(emails) = v.get_mut("emails").and_then(Value::as_array_mut) {
        emails.sort_by_key(Value::to_string);
    }
    v
}
