//! The switches that make the emulator behave like a server that differs from it (each a field
//! of `Faults`, each off by default): every one is shown off, then on, over HTTP.

use serde_json::{json, Value};

use super::{Tenant, TOKEN};
use crate::dialect::Dialect;
use crate::emulator::{EmulatorOptions, Faults};

async fn tenant_with(dialect: Dialect, faults: Faults) -> Tenant {
    Tenant::with(EmulatorOptions {
        faults,
        ..EmulatorOptions::new(dialect, TOKEN)
    })
    .await
}

/// The ids an `eq` filter finds, e.g. `found(&t, "/Groups", "displayName", "G")`.
async fn found(t: &Tenant, resource: &str, attr: &str, value: &str) -> Vec<String> {
    let filter = format!("{attr} eq \"{value}\"");
    let url = format!("{resource}?filter={}", url_escape(&filter));
    let answer = t.get(&url).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    ids(&answer.body)
}

fn url_escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The ids of a list answer's resources, in order.
fn ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| item["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

// ---- duplicate names

#[tokio::test]
async fn duplicate_group_names_are_accepted_and_all_found_when_switched_on() {
    let t = Tenant::start(Dialect::Scim).await;
    let first = t.group("Finance", &[]).await;
    let dup = t.post("/Groups", json!({"displayName": "FINANCE"})).await;
    assert_eq!((dup.status, dup.scim_type()), (409, Some("uniqueness")));

    t.handle.set_faults(Faults {
        duplicate_group_names: true,
        ..Faults::default()
    });
    let second = t.group("FINANCE", &[]).await;
    let other = t.group("Other", &[]).await;
    let renamed = t
        .patch(
            &format!("/Groups/{other}"),
            json!([{"op": "replace", "path": "displayName", "value": "finance"}]),
        )
        .await;
    assert_eq!(renamed.status, 204, "{}", renamed.body);
    assert_eq!(
        found(&t, "/Groups", "displayName", "Finance").await,
        vec![first.clone(), second.clone(), other.clone()]
    );
    // Deleting one leaves the others findable.
    assert_eq!(t.delete(&format!("/Groups/{second}")).await.status, 204);
    assert_eq!(
        found(&t, "/Groups", "displayName", "finance").await,
        vec![first, other]
    );
}

#[tokio::test]
async fn duplicate_user_names_follow_faults_put_over_http_and_survive_replace_data() {
    let t = Tenant::start(Dialect::Scim).await;
    let put = t
        .client
        .put(t.root_url("/_emulator/faults"))
        .body(json!({"duplicate_user_names": true}).to_string())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let first = t.user("ann@example.com").await;
    let second = t.user("ANN@example.com").await;
    assert_eq!(
        found(&t, "/Users", "userName", "ann@example.com").await,
        vec![first, second]
    );
    // Seeded data may hold duplicates while the switch is on.
    t.handle.replace_data(super::many_users(2));
    t.user("USER0@example.com").await;
    assert_eq!(t.get("/Users").await.body["totalResults"], 3);
}

// ---- case-sensitive filters

#[tokio::test]
async fn name_filters_compare_case_sensitively_when_switched_on() {
    let t = Tenant::start(Dialect::Zia).await;
    let ann = t.user("Ann@example.com").await;
    let group = t.group("Finance", &[]).await;
    assert_eq!(
        found(&t, "/Users", "userName", "ann@example.com").await,
        vec![ann.clone()]
    );
    assert_eq!(
        found(&t, "/Groups", "displayName", "FINANCE").await,
        vec![group.clone()]
    );

    t.handle.set_faults(Faults {
        case_sensitive_filters: true,
        ..Faults::default()
    });
    assert!(found(&t, "/Users", "userName", "ann@example.com")
        .await
        .is_empty());
    assert!(found(&t, "/Groups", "displayName", "FINANCE")
        .await
        .is_empty());
    assert_eq!(
        found(&t, "/Users", "userName", "Ann@example.com").await,
        vec![ann]
    );
    assert_eq!(
        found(&t, "/Groups", "displayName", "Finance").await,
        vec![group]
    );
    // Uniqueness still folds case.
    let dup = t
        .post("/Users", json!({"userName": "ANN@example.com"}))
        .await;
    assert_eq!(dup.status, 409);
}

// ---- no PATCH

#[tokio::test]
async fn no_patch_says_so_in_discovery_and_refuses_every_patch() {
    let t = Tenant::start(Dialect::Scim).await;
    let ann = t.user("ann@example.com").await;
    let group = t.group("G", &[]).await;
    assert_eq!(
        t.get("/ServiceProviderConfig").await.body["patch"]["supported"],
        true
    );

    t.handle.set_faults(Faults {
        no_patch: true,
        ..Faults::default()
    });
    assert_eq!(
        t.get("/ServiceProviderConfig").await.body["patch"]["supported"],
        false
    );
    let user = t
        .patch(
            &format!("/Users/{ann}"),
            json!([{"op": "replace", "path": "displayName", "value": "Ann"}]),
        )
        .await;
    let members = t
        .patch(
            &format!("/Groups/{group}"),
            json!([{"op": "add", "path": "members", "value": [{"value": ann}]}]),
        )
        .await;
    for refused in [&user, &members] {
        assert_eq!(refused.status, 501);
        assert_eq!(refused.body["schemas"][0], crate::scim::wire::ERROR_SCHEMA);
        assert_eq!(refused.body["status"], "501");
    }
    assert!(t.members(&group).await.is_empty(), "nothing changed");
    assert!(t
        .get(&format!("/Users/{ann}"))
        .await
        .body
        .get("displayName")
        .is_none());
    // PUT still works.
    let put = t
        .call(
            reqwest::Method::PUT,
            &format!("/Groups/{group}"),
            Some(json!({"displayName": "G", "members": [{"value": ann}]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
}

// ---- discovery behind the token

#[tokio::test]
async fn discovery_needs_the_token_when_switched_on() {
    let paths = [
        "/ServiceProviderConfig",
        "/Schemas",
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
        "/ResourceTypes",
        "/ResourceTypes/Group",
    ];
    let t = tenant_with(
        Dialect::Zia,
        Faults {
            discovery_needs_token: true,
            ..Faults::default()
        },
    )
    .await;
    for path in paths {
        let anonymous = super::answer(t.client.get(t.url(path)).send().await.unwrap()).await;
        assert_eq!(anonymous.status, 401, "{path}");
        assert_eq!(
            anonymous.body["schemas"][0],
            crate::scim::wire::ERROR_SCHEMA
        );
        assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
        assert_eq!(t.get(path).await.status, 200, "{path} with the token");
    }
    t.handle.set_faults(Faults::default());
    for path in paths {
        let anonymous = t.client.get(t.url(path)).send().await.unwrap();
        assert_eq!(anonymous.status(), 200, "{path} is open by default");
    }
}

// ---- hidden objects

/// 20 users, every 5th hidden from listings: 4 hidden (slots 4, 9, 14, 19).
async fn tenant_hiding_every_fifth(lookups_miss_omitted: bool) -> Tenant {
    let t = Tenant::start(Dialect::Scim).await;
    t.handle.replace_data(super::many_users(20));
    t.handle.set_faults(Faults {
        omit_from_lists: Some(5),
        lookups_miss_omitted,
        ..Faults::default()
    });
    t
}

/// The userNames an unfiltered read lists, however often it is read, and the ids behind them.
async fn listed(t: &Tenant) -> Vec<(String, String)> {
    let list = t.get("/Users?count=100").await.body;
    assert_eq!(list["totalResults"], 20, "the hidden are still counted");
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["userName"].as_str().unwrap().to_owned(),
                u["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn lookups_miss_exactly_the_objects_listings_hide_when_switched_on() {
    let hidden = ["user4", "user9", "user14", "user19"].map(|u| format!("{u}@example.com"));
    // Off: the hidden users are found by lookup.
    let t = tenant_hiding_every_fifth(false).await;
    assert_eq!(listed(&t).await.len(), 16);
    for name in &hidden {
        assert_eq!(
            found(&t, "/Users", "userName", name).await.len(),
            1,
            "{name}"
        );
    }

    let t = tenant_hiding_every_fifth(true).await;
    let listed = listed(&t).await;
    assert_eq!(listed.len(), 16);
    assert!(listed.iter().all(|(name, _)| !hidden.contains(name)));
    for name in &hidden {
        assert!(
            found(&t, "/Users", "userName", name).await.is_empty(),
            "{name}"
        );
    }
    for (name, id) in &listed {
        assert_eq!(
            found(&t, "/Users", "userName", name).await,
            vec![id.clone()]
        );
        assert_eq!(found(&t, "/Users", "id", id).await, vec![id.clone()]);
        assert_eq!(t.get(&format!("/Users/{id}")).await.status, 200);
    }
    // A hidden user is not found by id either, though it exists: its name is taken.
    let hidden_id = t.handle.snapshot().users[4].id.clone().unwrap();
    assert_eq!(t.get(&format!("/Users/{hidden_id}")).await.status, 404);
    assert!(found(&t, "/Users", "id", &hidden_id).await.is_empty());
    let again = t.post("/Users", json!({"userName": hidden[0]})).await;
    assert_eq!(again.status, 409);
}

#[tokio::test]
async fn failing_lookups_also_fail_get_by_id() {
    let t = Tenant::start(Dialect::Scim).await;
    let ann = t.user("ann@example.com").await;
    let group = t.group("G", &[]).await;
    t.handle.set_faults(Faults {
        failing_lookups: true,
        ..Faults::default()
    });
    assert!(found(&t, "/Users", "userName", "ann@example.com")
        .await
        .is_empty());
    assert_eq!(t.get(&format!("/Users/{ann}")).await.status, 404);
    assert_eq!(t.get(&format!("/Groups/{group}")).await.status, 404);
    assert_eq!(ids(&t.get("/Users").await.body), vec![ann]);
}

// ---- attributes the emulator does not model, and PUT

const ENTERPRISE: &str = crate::scim::wire::ENTERPRISE_SCHEMA;

/// A user with attributes of every kind the store keeps without modelling.
fn rich_user() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": "ann@example.com",
        "displayName": "Ann",
        "externalId": "E-1",
        "title": "Controller",
        "nickName": "Annie",
        "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
        "addresses": [{"locality": "Oslo", "primary": true}],
        "name": {"givenName": "Ann", "middleName": "Q"},
        ENTERPRISE: {"department": "Finance", "employeeNumber": "701", "costCenter": "CC-4",
                     "manager": {"value": "boss-id"}}
    })
}

fn assert_rich_extras(user: &Value) {
    assert_eq!(user["title"], "Controller", "{user}");
    assert_eq!(user["nickName"], "Annie");
    assert_eq!(user["phoneNumbers"][0]["value"], "+1 555 0100");
    assert_eq!(user["addresses"][0]["locality"], "Oslo");
    assert_eq!(user["name"], json!({"givenName": "Ann", "middleName": "Q"}));
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "701");
    assert_eq!(user[ENTERPRISE]["costCenter"], "CC-4");
    assert_eq!(user[ENTERPRISE]["department"], "Finance");
    assert_eq!(user[ENTERPRISE]["manager"]["value"], "boss-id");
}

async fn put(t: &Tenant, path: &str, body: Value) -> super::Answer {
    t.call(reqwest::Method::PUT, path, Some(body)).await
}

#[tokio::test]
async fn unmodelled_user_attributes_are_kept_listed_and_left_by_patch() {
    let t = Tenant::start(Dialect::Scim).await;
    let created = t.post("/Users", rich_user()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_rich_extras(&created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_rich_extras(&t.get(&format!("/Users/{id}")).await.body);
    assert_rich_extras(&t.get("/Users").await.body["Resources"][0]);
    let lean = t
        .get(&format!("/Users/{id}?attributes=userName"))
        .await
        .body;
    assert!(
        lean.get("title").is_none() && lean.get("name").is_none(),
        "{lean}"
    );
    let without = t
        .get(&format!("/Users/{id}?excludedAttributes=phoneNumbers"))
        .await
        .body;
    assert!(without.get("phoneNumbers").is_none() && without["title"] == "Controller");

    let patched = t
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "displayName", "value": "Ann A"},
                   {"op": "replace", "path": "name.givenName", "value": "Ann"}]),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_rich_extras(&patched.body);
    // Removing a container removes what is kept inside it.
    let removed = t
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "remove", "path": "name"}]),
        )
        .await;
    assert!(removed.body.get("name").is_none(), "{}", removed.body);
    assert_eq!(removed.body["title"], "Controller");
}

#[tokio::test]
async fn put_keeps_omitted_unmodelled_attributes_unless_put_clears_omitted() {
    let t = Tenant::start(Dialect::Scim).await;
    let id = t.post("/Users", rich_user()).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/Users/{id}");
    // Default: modelled attributes a PUT omits are cleared (as before), the others stay; what
    // the PUT sends replaces.
    let put_default = put(
        &t,
        &path,
        json!({"userName": "ann@example.com", "title": "CFO", "nickName": null,
               ENTERPRISE: {"department": "Finance"}}),
    )
    .await;
    assert_eq!(put_default.status, 200, "{}", put_default.body);
    let user = &put_default.body;
    assert!(user.get("externalId").is_none() && user.get("displayName").is_none());
    assert_eq!(user["title"], "CFO");
    assert!(user.get("nickName").is_none(), "null clears: {user}");
    assert_eq!(user["phoneNumbers"][0]["value"], "+1 555 0100");
    assert_eq!(user["name"]["middleName"], "Q");
    assert_eq!(user[ENTERPRISE]["employeeNumber"], "701");

    t.handle.set_faults(Faults {
        put_clears_omitted: true,
        ..Faults::default()
    });
    let cleared = put(
        &t,
        &path,
        json!({"userName": "ann@example.com", "phoneNumbers": [{"value": "+47 1"}]}),
    )
    .await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    let mut keys: Vec<&str> = cleared
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "active",
            "id",
            "meta",
            "phoneNumbers",
            "schemas",
            "userName"
        ]
    );
    assert_eq!(
        t.get(&path).await.body["phoneNumbers"],
        json!([{"value": "+47 1"}])
    );
}

#[tokio::test]
async fn groups_keep_unmodelled_attributes_the_same_way() {
    let t = Tenant::start(Dialect::Scim).await;
    let created = t
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "urn:example:ext"],
                   "displayName": "G", "externalId": "X", "urn:example:ext": {"owner": "ann"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["urn:example:ext"]["owner"], "ann");
    let path = format!("/Groups/{}", created.body["id"].as_str().unwrap());
    let put_default = put(&t, &path, json!({"displayName": "G"})).await;
    assert!(
        put_default.body.get("externalId").is_none(),
        "modelled: cleared as before"
    );
    assert_eq!(put_default.body["urn:example:ext"]["owner"], "ann");
    assert_eq!(
        t.get("/Groups").await.body["Resources"][0]["urn:example:ext"]["owner"],
        "ann"
    );

    t.handle.set_faults(Faults {
        put_clears_omitted: true,
        ..Faults::default()
    });
    let cleared = put(&t, &path, json!({"displayName": "G"})).await;
    assert!(
        cleared.body.get("urn:example:ext").is_none(),
        "{}",
        cleared.body
    );
}

#[tokio::test]
async fn unmodelled_attributes_survive_a_restart_but_not_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenant.json");
    let options = || EmulatorOptions {
        data_file: Some(path.clone()),
        ..EmulatorOptions::new(Dialect::Zia, TOKEN)
    };
    let t = Tenant::with(options()).await;
    let id = t.post("/Users", rich_user()).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.handle.shutdown().await.unwrap();
    let t = Tenant::with(options()).await;
    assert_rich_extras(&t.get(&format!("/Users/{id}")).await.body);
    let snapshot = serde_json::to_value(&t.handle.snapshot().users[0]).unwrap();
    assert!(snapshot.get("title").is_none());
}

// ---- strict schemas

const USER_SCHEMA: &str = crate::scim::wire::USER_SCHEMA;

#[tokio::test]
async fn strict_schemas_refuse_attributes_outside_the_declared_schemas() {
    let t = Tenant::start(Dialect::Scim).await;
    let top_level = json!({"schemas": [USER_SCHEMA], "userName": "a@example.com",
                           "department": "Finance"});
    let lenient = t.post("/Users", top_level.clone()).await;
    assert_eq!(lenient.status, 201, "off: accepted as today");
    assert_eq!(lenient.body[ENTERPRISE]["department"], "Finance");
    let id = lenient.body["id"].as_str().unwrap().to_owned();

    t.handle.set_faults(Faults {
        strict_schemas: true,
        ..Faults::default()
    });
    let mut second = top_level.clone();
    second["userName"] = json!("b@example.com");
    let refused = t.post("/Users", second).await;
    assert_eq!(
        (refused.status, refused.scim_type()),
        (400, Some("invalidSyntax"))
    );
    assert_eq!(
        refused.body["detail"],
        "Extra inputs are not permitted: department"
    );
    let refused_put = put(&t, &format!("/Users/{id}"), top_level).await;
    assert_eq!(refused_put.status, 400);
    assert_eq!(
        t.get("/Users").await.body["totalResults"],
        1,
        "nothing was created"
    );

    let undeclared = t
        .post(
            "/Users",
            json!({"schemas": [USER_SCHEMA], "userName": "c@example.com",
                               ENTERPRISE: {"department": "Finance"}}),
        )
        .await;
    assert_eq!(undeclared.status, 400);
    assert_eq!(
        undeclared.body["detail"],
        format!("Extra inputs are not permitted: {ENTERPRISE}")
    );
    // Core attributes, and the enterprise extension when declared, are fine.
    let accepted = t.post("/Users", rich_user()).await;
    assert_eq!(accepted.status, 201, "{}", accepted.body);
    let group = t
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                "displayName": "G", "description": "d"}),
        )
        .await;
    assert_eq!(
        group.body["detail"],
        "Extra inputs are not permitted: description"
    );
    // PATCH bodies are not schema-checked.
    let patched = t
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "department", "value": "Ops"}]),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
}

#[tokio::test]
async fn strict_schemas_accept_zia_top_level_department() {
    let t = tenant_with(
        Dialect::Zia,
        Faults {
            strict_schemas: true,
            ..Faults::default()
        },
    )
    .await;
    let created = t
        .post(
            "/Users",
            json!({"schemas": [USER_SCHEMA], "userName": "a@example.com",
                               "department": "Finance"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["department"], "Finance");
}

// ---- replace without a path appends

#[tokio::test]
async fn pathless_replace_appends_multi_valued_attributes_when_switched_on() {
    let t = Tenant::start(Dialect::Scim).await;
    let ann = t
        .post(
            "/Users",
            json!({"userName": "ann@example.com",
                               "emails": [{"value": "old@example.com", "primary": true}]}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = t.user("bob@example.com").await;
    let group = t.group("G", &[&ann]).await;
    let new_email = json!([{"op": "replace",
        "value": {"emails": [{"value": "new@example.com", "primary": true}]}}]);
    let new_members = json!([{"op": "replace", "value": {"members": [{"value": bob}]}}]);

    let replaced = t.patch(&format!("/Users/{ann}"), new_email).await;
    assert_eq!(
        replaced.body["emails"].as_array().unwrap().len(),
        1,
        "off: replaced"
    );
    t.patch(&format!("/Groups/{group}"), new_members).await;
    assert_eq!(t.members(&group).await, vec![bob.clone()]);

    t.handle.set_faults(Faults {
        append_on_multi_replace: true,
        ..Faults::default()
    });
    let appended = t
        .patch(
            &format!("/Users/{ann}"),
            json!([{"op": "replace",
                "value": {"emails": [{"value": "other@example.com", "primary": true}]}}]),
        )
        .await;
    assert_eq!(appended.status, 200, "{}", appended.body);
    let primaries: Vec<&Value> = appended.body["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["primary"] == true)
        .collect();
    assert_eq!(primaries.len(), 2, "two primary emails: {}", appended.body);
    let with_path = t
        .patch(
            &format!("/Users/{ann}"),
            json!([{"op": "replace", "path": "emails",
                "value": [{"value": "only@example.com", "primary": true}]}]),
        )
        .await;
    assert_eq!(
        with_path.body["emails"],
        json!([{"value": "only@example.com", "primary": true}])
    );
    let members = json!([{"op": "replace", "value": {"members": [{"value": ann}]}}]);
    t.patch(&format!("/Groups/{group}"), members).await;
    assert_eq!(t.members(&group).await, vec![bob, ann]);
}

// ---- the request log

#[tokio::test]
async fn the_request_log_holds_users_and_groups_requests_with_write_bodies() {
    use crate::emulator::LoggedRequest;
    let t = Tenant::start(Dialect::Zpa).await;
    let ann = t.user("ann@example.com").await;
    let group = t.group("G", &[]).await;
    let add = json!([{"op": "add", "path": "members", "value": [{"value": ann}]}]);
    t.patch(&format!("/Groups/{group}"), add.clone()).await;
    t.get("/Users?filter=userName%20eq%20%22ann@example.com%22")
        .await;
    t.get("/ServiceProviderConfig").await; // discovery: not logged
    t.client.get(t.url("/Groups")).send().await.unwrap(); // no token: logged, 401
    t.delete(&format!("/Users/{ann}")).await;

    let log = t.handle.request_log();
    let summary: Vec<(&str, &str, u16)> = log
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str(), r.status))
        .collect();
    let group_path = format!("/Groups/{group}");
    let ann_path = format!("/Users/{ann}");
    assert_eq!(
        summary,
        [
            ("POST", "/Users", 201),
            ("POST", "/Groups", 201),
            ("PATCH", group_path.as_str(), 204),
            (
                "GET",
                "/Users?filter=userName%20eq%20%22ann@example.com%22",
                200
            ),
            ("GET", "/Groups", 401),
            ("DELETE", ann_path.as_str(), 204),
        ]
    );
    assert_eq!(
        log[0].body,
        Some(json!({"userName": "ann@example.com", "active": true}))
    );
    assert_eq!(log[2].body.as_ref().unwrap()["Operations"], add);
    assert!(log[3].body.is_none() && log[5].body.is_none());

    let served: Vec<LoggedRequest> = t
        .client
        .get(t.root_url("/_emulator/log"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, log);
    assert!(!serde_json::to_string(&served).unwrap().contains(TOKEN));
    let reset = t
        .client
        .post(t.root_url("/_emulator/log/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert!(t.handle.request_log().is_empty());
    t.get("/Users").await;
    t.handle.clear_request_log();
    assert!(t.handle.request_log().is_empty());
}

#[tokio::test]
async fn the_request_log_records_refused_and_dropped_requests_with_their_status() {
    let t = Tenant::start(Dialect::Scim).await;
    t.handle.set_faults(Faults {
        throttle_rate: 1.0,
        ..Faults::default()
    });
    t.post("/Users", json!({"userName": "a@example.com"})).await;
    t.handle.set_faults(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    let dropped = t
        .client
        .post(t.url("/Users"))
        .bearer_auth(TOKEN)
        .body(json!({"userName": "b@example.com"}).to_string())
        .send()
        .await;
    assert!(match dropped {
        Err(_) => true,
        Ok(response) => response.text().await.is_err(),
    });
    let log = t.handle.request_log();
    assert_eq!(log.len(), 2);
    assert_eq!((log[0].status, log[1].status), (429, 201));
    assert_eq!(log[0].body, Some(json!({"userName": "a@example.com"})));
    assert_eq!(log[1].body, Some(json!({"userName": "b@example.com"})));
}
