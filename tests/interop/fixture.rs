//! One scenario's world: a scim2-server, a directory for zsc, the users and groups seeded on
//! the server that zsc must never touch, and the checks that read the server directly.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::desired::Desired;
use super::server::{Patch, Scim2Server};
use super::{ATTRS, ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA};
use crate::harness::{Env, Run};

/// One scenario: a scim2-server, a directory for zsc, and the objects seeded on the server
/// that zsc must never touch.
pub(super) struct Interop {
    pub(super) env: Env,
    pub(super) server: Scim2Server,
    pub(super) patch: Patch,
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
            patch,
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

    pub(super) fn write_config(&self, desired: &Desired) {
        self.env
            .write("zsc.yaml", &desired.yaml(&self.server.base_url));
    }

    /// Run zsc; on an unexpected exit code, fail with its output and the server's log.
    #[track_caller]
    pub(super) fn zsc(&self, step: &str, args: &[&str], code: i32) -> Run {
        let run = self.env.zsc(args);
        assert_eq!(
            run.code,
            code,
            "{step}: `zsc {}` exited {} (expected {code})\nstdout:\n{}\nstderr:\n{}\nscim2-server \
             log (end):\n{}",
            args.join(" "),
            run.code,
            run.stdout,
            run.stderr,
            self.server.log_tail(15)
        );
        run
    }

    /// Plan `desired`: it must have changes and show each of `expected`.
    #[track_caller]
    pub(super) fn plan_shows(&self, desired: &Desired, step: &str, expected: &[&str]) -> Run {
        self.write_config(desired);
        let run = self.zsc(step, &["plan", "--detailed-exitcode"], 2);
        for needle in expected {
            assert!(
                run.stdout.contains(needle),
                "{step}: the plan lacks {needle:?}:\n{}",
                run.stdout
            );
        }
        run
    }

    /// Apply `desired`, check the server holds exactly it, and that a second plan is empty.
    #[track_caller]
    pub(super) fn converge(&self, desired: &Desired, step: &str) {
        self.write_config(desired);
        self.zsc(step, &["apply", "--auto-approve"], 0);
        self.assert_live(desired, step);
        let again = self.zsc(
            &format!("{step} (second plan)"),
            &["plan", "--detailed-exitcode"],
            0,
        );
        assert!(
            again.stdout.contains("No changes."),
            "{step}: {}",
            again.stdout
        );
    }

    /// The outsiders are exactly as seeded.
    #[track_caller]
    pub(super) fn assert_outsiders_untouched(&self, step: &str) {
        for (path, seeded) in &self.outsiders {
            let (status, now) = self.scim("GET", path, None);
            assert_eq!(status, 200, "{step}: unmanaged {path} is gone: {now}");
            assert_same(&now, seeded, &format!("{step}: unmanaged {path}"));
        }
    }

    /// The server holds exactly `desired`, the outsiders untouched, nothing twice.
    #[track_caller]
    pub(super) fn assert_live(&self, desired: &Desired, step: &str) {
        let outsider_ids: BTreeSet<&str> = self
            .outsiders
            .iter()
            .filter_map(|(path, _)| path.rsplit('/').next())
            .collect();
        let users = self.list("Users");
        let groups = self.list("Groups");
        let user_name_of: BTreeMap<&str, &str> = users
            .iter()
            .map(|u| {
                (
                    u["id"].as_str().unwrap_or(""),
                    u["userName"].as_str().unwrap_or(""),
                )
            })
            .collect();
        let ours: Vec<&Value> = users
            .iter()
            .filter(|u| !outsider_ids.contains(u["id"].as_str().unwrap_or("")))
            .collect();
        let mut live_names: Vec<String> = ours
            .iter()
            .map(|u| u["userName"].as_str().unwrap_or("").to_lowercase())
            .collect();
        live_names.sort();
        let mut want_names: Vec<String> = desired
            .users
            .iter()
            .chain(&desired.disabled)
            .map(|u| u.name.to_lowercase())
            .collect();
        want_names.sort();
        assert_eq!(live_names, want_names, "{step}: the users on the server");
        for want in desired.users.iter().chain(&desired.disabled) {
            let live = ours
                .iter()
                .find(|u| {
                    u["userName"].as_str().map(str::to_lowercase) == Some(want.name.to_lowercase())
                })
                .expect("listed");
            assert_eq!(
                live["active"].as_bool().unwrap_or(true),
                want.active,
                "{step}: {}.active in {live:#}",
                want.name
            );
            for attr in ATTRS {
                assert_eq!(
                    live_attr(live, attr).as_deref(),
                    want.live.get(attr).map(String::as_str),
                    "{step}: {}.{attr} in {live:#}",
                    want.name
                );
            }
            assert!(
                live.get("department").is_none(),
                "{step}: {} has a top-level `department`, which the core User schema does not \
                 have: {live:#}",
                want.name
            );
        }

        let ours: Vec<&Value> = groups
            .iter()
            .filter(|g| !outsider_ids.contains(g["id"].as_str().unwrap_or("")))
            .collect();
        let mut live_names: Vec<&str> = ours
            .iter()
            .map(|g| g["displayName"].as_str().unwrap_or(""))
            .collect();
        live_names.sort();
        let mut want_names: Vec<&str> = desired.groups.iter().map(|g| g.name.as_str()).collect();
        want_names.sort();
        assert_eq!(live_names, want_names, "{step}: the groups on the server");
        for want in &desired.groups {
            let live = ours
                .iter()
                .find(|g| g["displayName"] == want.name.as_str())
                .expect("listed");
            let mut members: Vec<String> = live["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    let id = m["value"].as_str().unwrap_or("");
                    user_name_of
                        .get(id)
                        .map_or_else(|| format!("<no user {id}>"), |n| n.to_lowercase())
                })
                .collect();
            members.sort();
            let mut expected: Vec<String> = want.members.iter().map(|m| m.to_lowercase()).collect();
            expected.sort();
            assert_eq!(members, expected, "{step}: members of {}", want.name);
        }
        self.assert_outsiders_untouched(step);
        if self.patch == Patch::Unsupported {
            assert_eq!(
                self.server.requests("PATCH"),
                0,
                "{step}: zsc sent PATCH to a server whose /ServiceProviderConfig says it has none"
            );
        }
    }

    /// Every user and group on the server, by path, normalised.
    pub(super) fn everything(&self) -> BTreeMap<String, Value> {
        let mut all = BTreeMap::new();
        for resource in ["Users", "Groups"] {
            for item in self.list(resource) {
                all.insert(format!("/{resource}/{}", id(&item)), normalised(&item));
            }
        }
        all
    }
}

pub(super) fn id(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {resource}"))
        .to_owned()
}

/// A managed attribute as the server holds it (`email`: the primary email's value).
fn live_attr(user: &Value, attr: &str) -> Option<String> {
    let value = match attr {
        "display_name" => &user["displayName"],
        "given_name" => &user["name"]["givenName"],
        "family_name" => &user["name"]["familyName"],
        "email" => {
            let emails = user["emails"].as_array().cloned().unwrap_or_default();
            let primary: Vec<&Value> = emails.iter().filter(|e| e["primary"] == true).collect();
            assert!(primary.len() <= 1, "more than one primary email: {user:#}");
            let chosen = match primary.as_slice() {
                [one] => Some(*one),
                _ if emails.len() == 1 => emails.first(),
                _ => None,
            };
            return chosen.and_then(|e| e["value"].as_str()).map(str::to_owned);
        }
        "department" => &user[ENTERPRISE]["department"],
        "external_id" => &user["externalId"],
        other => panic!("unknown attribute {other}"),
    };
    value.as_str().map(str::to_owned)
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

#[track_caller]
pub(super) fn assert_same(actual: &Value, expected: &Value, what: &str) {
    let (a, e) = (normalised(actual), normalised(expected));
    if a == e {
        return;
    }
    let empty = serde_json::Map::new();
    let (ao, eo) = (
        a.as_object().unwrap_or(&empty),
        e.as_object().unwrap_or(&empty),
    );
    let differing: BTreeSet<&String> = ao
        .keys()
        .chain(eo.keys())
        .filter(|k| ao.get(*k) != eo.get(*k))
        .collect();
    panic!("{what} changed at {differing:?}\nexpected:\n{e:#}\nactual:\n{a:#}");
}
