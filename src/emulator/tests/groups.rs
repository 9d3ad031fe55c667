use reqwest::Method;
use serde_json::json;

use super::Tenant;
use crate::dialect::Dialect;

#[tokio::test]
async fn groups_are_created_with_members_and_names_are_unique() {
    let t = Tenant::start(Dialect::Scim).await;
    let ann = t.user("ann@example.com").await;
    let bob = t.user("bob@example.com").await;
    let created = t
        .post("/Groups", json!({"displayName": "Accounting", "members": [{"value": ann, "display": "ann"}, {"value": bob}]}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["members"].as_array().unwrap().len(), 2);
    assert_eq!(created.body["members"][0]["display"], "ann@example.com");
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(t.members(id).await, vec![ann.clone(), bob.clone()]);
    let dup = t
        .post("/Groups", json!({"displayName": "ACCOUNTING"}))
        .await;
    assert_eq!((dup.status, dup.scim_type()), (409, Some("uniqueness")));
    let unknown = t
        .post(
            "/Groups",
            json!({"displayName": "Other", "members": [{"value": "no-such-user"}]}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.scim_type()),
        (400, Some("invalidValue"))
    );
    assert_eq!(
        t.get("/Groups").await.body["totalResults"],
        1,
        "a refused create leaves nothing"
    );
    // The user lists its groups (read-only attribute).
    let user = t.get(&format!("/Users/{ann}")).await.body;
    assert_eq!(user["groups"][0]["value"], id);
    assert_eq!(user["groups"][0]["display"], "Accounting");
}

#[tokio::test]
async fn member_patch_in_every_accepted_form() {
    let t = Tenant::start(Dialect::Scim).await;
    let ids: Vec<String> = create_users(&t, 5).await;
    let group = t.group("G", &[]).await;
    let path = format!("/Groups/{group}");

    // Seed connector guide's add.
    let add = t
        .patch(
            &path,
            json!([{"op": "add", "value": {"members": [{"value": ids[0], "display": "u0"}]}}]),
        )
        .await;
    assert_eq!((add.status, &add.body), (204, &serde_json::Value::Null));
    // Path form, with one already there (a no-op) and a number-free string id.
    let add = t.patch(&path, json!([{"op": "Add", "path": "members", "value": [{"value": ids[0]}, {"value": ids[1]}, {"value": ids[2]}]}])).await;
    assert_eq!(add.status, 204);
    assert_eq!(t.members(&group).await, ids[..3].to_vec());
    // Seed connector guide's remove, and a remove of a non-member (no-op).
    let remove = t
        .patch(&path, json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])},
                             {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[4])}]))
        .await;
    assert_eq!(remove.status, 204, "{}", remove.body);
    assert_eq!(t.members(&group).await, ids[1..3].to_vec());
    // Entra's remove with a value list.
    let remove = t
        .patch(
            &path,
            json!([{"op": "remove", "path": "members", "value": [{"value": ids[1]}]}]),
        )
        .await;
    assert_eq!(remove.status, 204);
    assert_eq!(t.members(&group).await, vec![ids[2].clone()]);
    // Replace.
    let replace = t.patch(&path, json!([{"op": "replace", "path": "members", "value": [{"value": ids[3]}, {"value": ids[4]}]}])).await;
    assert_eq!(replace.status, 204);
    assert_eq!(t.members(&group).await, ids[3..5].to_vec());
    // Asking for attributes gets the group back.
    let with_body = t
        .call(
            Method::PATCH,
            &format!("{path}?attributes=members"),
            Some(json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": ids[0]}]}]})),
        )
        .await;
    assert_eq!(with_body.status, 200);
    assert_eq!(with_body.body["members"].as_array().unwrap().len(), 3);
    // Users' groups follow.
    assert_eq!(
        t.get(&format!("/Users/{}", ids[2]))
            .await
            .body
            .get("groups"),
        None
    );
    assert_eq!(
        t.get(&format!("/Users/{}", ids[3])).await.body["groups"][0]["value"],
        group.as_str()
    );
    // Unknown member on add: refused, nothing changed.
    let bad = t.patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": ids[1]}]},
                                     {"op": "add", "path": "members", "value": [{"value": "ghost"}]}])).await;
    assert_eq!((bad.status, bad.scim_type()), (400, Some("invalidValue")));
    assert_eq!(t.members(&group).await.len(), 3);
    // Operations we do not support say so.
    for op in [
        json!({"op": "move", "path": "members"}),
        json!({"op": "replace", "path": "owner", "value": "x"}),
        json!({"op": "remove"}),
    ] {
        let answer = t.patch(&path, json!([op])).await;
        assert_eq!(answer.status, 400, "{op}");
        assert!(!answer.body["detail"].as_str().unwrap().is_empty());
    }
}

async fn create_users(t: &Tenant, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(t.user(&format!("u{i}@example.com")).await);
    }
    ids
}

#[tokio::test]
async fn groups_are_renamed_in_both_forms_and_conflicts_refused() {
    let t = Tenant::start(Dialect::Scim).await;
    let finance = t.group("Finance", &[]).await;
    t.group("Sales", &[]).await;
    let path = format!("/Groups/{finance}");
    assert_eq!(
        t.patch(
            &path,
            json!([{"op": "replace", "value": {"displayName": "Finance Ops"}}])
        )
        .await
        .status,
        204
    );
    assert_eq!(t.get(&path).await.body["displayName"], "Finance Ops");
    assert_eq!(
        t.patch(
            &path,
            json!([{"op": "replace", "path": "displayName", "value": "Finance 2"}])
        )
        .await
        .status,
        204
    );
    let found = t
        .get("/Groups?filter=displayName%20eq%20%22finance%202%22")
        .await;
    assert_eq!(found.body["Resources"][0]["id"], finance.as_str());
    assert_eq!(
        t.get("/Groups?filter=displayName%20eq%20%22Finance%20Ops%22")
            .await
            .body["totalResults"],
        0
    );
    let clash = t
        .patch(
            &path,
            json!([{"op": "replace", "path": "displayName", "value": "SALES"}]),
        )
        .await;
    assert_eq!((clash.status, clash.scim_type()), (409, Some("uniqueness")));
    let put = t
        .call(Method::PUT, &path, Some(json!({"displayName": "Finance"})))
        .await;
    assert_eq!(
        (put.status, put.body["displayName"].as_str()),
        (200, Some("Finance"))
    );
}

#[tokio::test]
async fn deleting_users_and_groups_keeps_references_consistent() {
    let t = Tenant::start(Dialect::Scim).await;
    let ann = t.user("ann@example.com").await;
    let bob = t.user("bob@example.com").await;
    let g1 = t.group("G1", &[&ann, &bob]).await;
    let g2 = t.group("G2", &[&ann]).await;
    assert_eq!(t.delete(&format!("/Users/{ann}")).await.status, 204);
    assert_eq!(t.members(&g1).await, vec![bob.clone()]);
    assert!(t.members(&g2).await.is_empty());
    let listed = t.get("/Groups").await.body;
    assert_eq!(
        listed["Resources"][0]["members"].as_array().unwrap().len(),
        1
    );
    assert_eq!(t.delete(&format!("/Groups/{g1}")).await.status, 204);
    assert_eq!(t.get(&format!("/Groups/{g1}")).await.status, 404);
    assert_eq!(
        t.get(&format!("/Users/{bob}")).await.body.get("groups"),
        None
    );
}

#[tokio::test]
async fn group_lists_can_exclude_members() {
    let t = Tenant::start(Dialect::Scim).await;
    let ann = t.user("ann@example.com").await;
    t.group("G", &[&ann]).await;
    let listed = t.get("/Groups").await.body;
    assert_eq!(listed["Resources"][0]["members"][0]["value"], ann.as_str());
    let excluded = t.get("/Groups?excludedAttributes=members").await.body;
    assert!(excluded["Resources"][0].get("members").is_none());
}

#[tokio::test]
async fn seeded_dangling_members_are_served_and_removable() {
    let t = Tenant::start(Dialect::Scim).await;
    let mut data = super::many_users(1);
    data.users[0].id = Some("u-1".into());
    data.groups
        .push(super::group_data("G", &["u-1", "gone-user"]));
    t.handle.replace_data(data);
    let group = t.get("/Groups").await.body["Resources"][0].clone();
    let id = group["id"].as_str().unwrap();
    assert_eq!(
        t.members(id).await,
        vec!["u-1".to_owned(), "gone-user".to_owned()]
    );
    let removed = t
        .patch(
            &format!("/Groups/{id}"),
            json!([{"op": "remove", "path": "members[value eq \"gone-user\"]"}]),
        )
        .await;
    assert_eq!(removed.status, 204);
    assert_eq!(t.members(id).await, vec!["u-1".to_owned()]);
}

/// Groups render members from an entry each user keeps; a rename through PUT or PATCH must
/// show in every group at once, with the name escaped as JSON.
#[tokio::test]
async fn members_show_a_renamed_user_at_once() {
    let t = Tenant::start(Dialect::Scim).await;
    let ann = t.user("ann@example.com").await;
    let group = t.group("G", &[&ann]).await;
    let display = |body: &serde_json::Value| body["members"][0]["display"].clone();
    assert_eq!(
        display(&t.get(&format!("/Groups/{group}")).await.body),
        "ann@example.com"
    );

    let renamed = t
        .call(
            Method::PUT,
            &format!("/Users/{ann}"),
            Some(json!({"userName": "ann.\"quoted\"@example.com"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let listed = t.get("/Groups").await.body;
    assert_eq!(
        display(&listed["Resources"][0]),
        "ann.\"quoted\"@example.com"
    );
    assert_eq!(listed["Resources"][0]["members"][0]["value"], ann.as_str());

    let patched = t
        .patch(
            &format!("/Users/{ann}"),
            json!([{"op": "replace", "path": "userName", "value": "anna@example.com"}]),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        display(&t.get(&format!("/Groups/{group}")).await.body),
        "anna@example.com"
    );
}
