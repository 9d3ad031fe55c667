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
