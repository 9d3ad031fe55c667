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
