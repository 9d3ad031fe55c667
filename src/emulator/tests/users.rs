use reqwest::Method;
use serde_json::json;

use super::{many_users, Tenant, TOKEN};
use crate::dialect::Dialect;
use crate::scim::wire::{ENTERPRISE_SCHEMA, ERROR_SCHEMA};

#[tokio::test]
async fn users_need_the_token_and_discovery_does_not() {
    let t = Tenant::start(Dialect::Scim).await;
    for auth in [None, Some("Bearer wrong-token"), Some("Basic dGVzdA==")] {
        let mut request = t.client.get(t.url("/Users"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let answer = super::answer(request.send().await.unwrap()).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.body["schemas"][0], ERROR_SCHEMA);
        assert_eq!(answer.header("content-type"), Some("application/scim+json"));
    }
    let lower_scheme = t
        .client
        .get(t.url("/Groups"))
        .header("authorization", format!("bearer {TOKEN}"));
    assert_eq!(lower_scheme.send().await.unwrap().status(), 200);
    for path in [
        "/ServiceProviderConfig",
        "/Schemas",
        "/ResourceTypes",
        "/ResourceTypes/User",
    ] {
        let answer = super::answer(t.client.get(t.url(path)).send().await.unwrap()).await;
        assert_eq!(answer.status, 200, "{path}");
    }
    let spc = t.get("/ServiceProviderConfig").await.body;
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], false);
    assert_eq!(spc["etag"]["supported"], false);
    assert_eq!(spc["filter"]["maxResults"], 1000);
    // Discovery is not counted.
    assert_eq!(t.handle.stats().requests, 4);
}

#[tokio::test]
async fn user_crud() {
    let t = Tenant::start(Dialect::Scim).await;
    let created = t
        .post(
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "jsmith@example.com", "displayName": "Janet Smith",
                "name": {"givenName": "Janet", "familyName": "Smith"},
                "emails": [{"value": "jsmith@example.com", "primary": true, "type": "work"}],
                "externalId": "E1", "active": true,
                ENTERPRISE_SCHEMA: {"department": "Finance"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_eq!(
        created.header("location"),
        Some(t.url(&format!("/Users/{id}")).as_str())
    );
    assert_eq!(created.body["meta"]["resourceType"], "User");
    assert_eq!(created.body[ENTERPRISE_SCHEMA]["department"], "Finance");
    assert!(created.body.get("department").is_none());

    let got = t.get(&format!("/Users/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["displayName"], "Janet Smith");
    assert_eq!(got.body["active"], true);

    let put = t
        .call(
            Method::PUT,
            &format!("/Users/{id}"),
            Some(json!({"userName": "jsmith@example.com", "displayName": "Janet Smith-Jones"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["displayName"], "Janet Smith-Jones");
    assert!(
        put.body.get("externalId").is_none(),
        "PUT replaces every attribute"
    );
    assert_eq!(put.body["active"], true, "active defaults to true");

    let patched = t
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "replace", "path": "active", "value": false},
                {"op": "add", "path": format!("{ENTERPRISE_SCHEMA}:department"), "value": "Ops"},
                {"op": "replace", "value": {"name": {"givenName": "Jan"}, "externalId": "E2"}},
                {"op": "replace", "path": "userName", "value": "jan@example.com"}
            ]),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["name"]["givenName"], "Jan");
    assert_eq!(patched.body["externalId"], "E2");
    assert_eq!(patched.body["userName"], "jan@example.com");
    assert_eq!(patched.body[ENTERPRISE_SCHEMA]["department"], "Ops");

    assert_eq!(t.delete(&format!("/Users/{id}")).await.status, 204);
    let gone = t.get(&format!("/Users/{id}")).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.body["status"], "404");
    assert_eq!(t.delete(&format!("/Users/{id}")).await.status, 404);
}

#[tokio::test]
async fn duplicate_user_names_conflict_case_insensitively() {
    let t = Tenant::start(Dialect::Scim).await;
    let first = t.user("Ann@Example.com").await;
    let again = t
        .post("/Users", json!({"userName": "ann@example.COM"}))
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.scim_type(), Some("uniqueness"));
    // Renaming another user onto the name conflicts too; renaming to itself does not.
    let other = t.user("bob@example.com").await;
    let clash = t
        .patch(
            &format!("/Users/{other}"),
            json!([{"op": "replace", "path": "userName", "value": "ANN@example.com"}]),
        )
        .await;
    assert_eq!(clash.status, 409);
    let same = t
        .patch(
            &format!("/Users/{first}"),
            json!([{"op": "replace", "path": "userName", "value": "ann@example.com"}]),
        )
        .await;
    assert_eq!(same.status, 200);
}

#[tokio::test]
async fn user_filters() {
    let t = Tenant::start(Dialect::Scim).await;
    let ann = t.user("ann@example.com").await;
    t.post(
        "/Users",
        json!({"userName": "bob@example.com", "externalId": "X-1"}),
    )
    .await;
    let by_name = t
        .get("/Users?filter=userName%20eq%20%22ANN@example.com%22")
        .await;
    assert_eq!(by_name.body["totalResults"], 1);
    assert_eq!(by_name.body["Resources"][0]["id"], ann.as_str());
    let by_external = t.get("/Users?filter=externalId%20eq%20%22X-1%22").await;
    assert_eq!(
        by_external.body["Resources"][0]["userName"],
        "bob@example.com"
    );
    let by_id = t.get(&format!("/Users?filter=id%20eq%20%22{ann}%22")).await;
    assert_eq!(by_id.body["totalResults"], 1);
    let none = t
        .get("/Users?filter=userName%20eq%20%22nobody@example.com%22")
        .await;
    assert_eq!(
        (none.status, none.body["totalResults"].as_u64()),
        (200, Some(0))
    );
    for bad in [
        "displayName%20eq%20%22x%22",
        "userName%20sw%20%22a%22",
        "userName%20eq%20%22a%22%20and%20id%20eq%20%22b%22",
    ] {
        let answer = t.get(&format!("/Users?filter={bad}")).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert_eq!(answer.scim_type(), Some("invalidFilter"));
    }
}

#[tokio::test]
async fn paging_follows_the_dialect_caps() {
    for (dialect, seeded, default_page, max_page) in [
        (Dialect::Scim, 1_050, 100, 1000),
        (Dialect::Zia, 1_050, 100, 1000),
        (Dialect::Zpa, 150, 10, 100),
    ] {
        let t = Tenant::start(dialect).await;
        t.handle.replace_data(many_users(seeded));
        let first = t.get("/Users").await;
        assert_eq!(first.body["totalResults"], seeded as u64);
        assert_eq!(first.body["startIndex"], 1);
        assert_eq!(
            first.body["Resources"].as_array().unwrap().len(),
            default_page,
            "{dialect}"
        );
        let big = t.get("/Users?count=5000").await;
        assert_eq!(
            big.body["Resources"].as_array().unwrap().len(),
            max_page,
            "{dialect}"
        );
        let tail = t
            .get(&format!("/Users?startIndex={}&count=100", seeded - 4))
            .await;
        assert_eq!(tail.body["Resources"].as_array().unwrap().len(), 5);
        assert_eq!(
            tail.body["Resources"][0]["userName"],
            format!("user{}@example.com", seeded - 5)
        );
        let past = t.get(&format!("/Users?startIndex={}", seeded + 10)).await;
        assert_eq!(past.body["Resources"].as_array().unwrap().len(), 0);
        assert_eq!(past.body["totalResults"], seeded as u64);
    }
}

#[tokio::test]
async fn paging_is_stable_across_deletes_and_visits_everyone_once() {
    let t = Tenant::start(Dialect::Scim).await;
    t.handle.replace_data(many_users(30));
    let victim = t
        .get("/Users?filter=userName%20eq%20%22user3@example.com%22")
        .await
        .body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(t.delete(&format!("/Users/{victim}")).await.status, 204);
    let mut seen = Vec::new();
    let mut start = 1;
    for _ in 0..10 {
        let page = t
            .get(&format!("/Users?startIndex={start}&count=7"))
            .await
            .body;
        let items = page["Resources"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        assert_eq!(page["itemsPerPage"], items.len());
        seen.extend(
            items
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_owned()),
        );
        start += items.len();
    }
    let expected: Vec<String> = (0..30)
        .filter(|i| *i != 3)
        .map(|i| format!("user{i}@example.com"))
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn bodies_are_checked_and_json_patch_content_type_is_accepted() {
    let t = Tenant::start(Dialect::Scim).await;
    let malformed = t
        .client
        .post(t.url("/Users"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .body("{\"userName\": ")
        .send()
        .await
        .unwrap();
    let malformed = super::answer(malformed).await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.scim_type(), Some("invalidSyntax"));
    assert!(malformed.body["detail"].as_str().unwrap().contains("EOF"));
    let text = t
        .client
        .post(t.url("/Users"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    let id = t.user("a@example.com").await;
    let patch = t
        .client
        .patch(t.url(&format!("/Users/{id}")))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json-patch+json")
        .body(
            json!({"Operations": [{"op": "Replace", "path": "displayName", "value": "A"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);
    let unsupported = t
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "nickName", "value": "x"}]),
        )
        .await;
    assert_eq!(unsupported.status, 400);
    assert!(unsupported.body["detail"]
        .as_str()
        .unwrap()
        .contains("nickName"));
    let missing_name = t.post("/Users", json!({"displayName": "No Name"})).await;
    assert_eq!(missing_name.status, 400);
}

#[tokio::test]
async fn attributes_and_excluded_attributes_shape_answers() {
    let t = Tenant::start(Dialect::Scim).await;
    let ann = t
        .post("/Users", json!({"userName": "ann@example.com", "displayName": "Ann", "name": {"givenName": "Ann"}}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.group("G", &[&ann]).await;
    let full = t.get(&format!("/Users/{ann}")).await.body;
    assert!(full.get("groups").is_some());
    let lean = t.get("/Users?excludedAttributes=groups").await.body;
    assert!(lean["Resources"][0].get("groups").is_none());
    assert_eq!(lean["Resources"][0]["displayName"], "Ann");
    let only = t
        .get(&format!("/Users/{ann}?attributes=userName,name.givenName"))
        .await
        .body;
    let mut keys: Vec<&str> = only
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["id", "name", "schemas", "userName"]);
}
