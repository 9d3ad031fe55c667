use reqwest::Method;
use serde_json::json;

use super::{many_users, Tenant, TOKEN};
use crate::dialect::Dialect;
use crate::emulator::{base_path, EmulatorOptions};
use crate::scim::wire::ENTERPRISE_SCHEMA;

#[tokio::test]
async fn base_paths_are_the_documented_shapes() {
    assert_eq!(base_path(Dialect::Scim), "/scim/v2");
    assert_eq!(base_path(Dialect::Zia), "/8651360/48097/scim");
    assert_eq!(base_path(Dialect::Zpa), "/scim/1/72058300560048147/v2");
    let t = Tenant::start(Dialect::Zia).await;
    assert_eq!(
        t.handle.base_url(),
        format!("http://{}/8651360/48097/scim", t.handle.addr())
    );
    let wrong = t
        .client
        .get(t.root_url("/scim/v2/Users"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
}

#[tokio::test]
async fn zpa_quirks() {
    let t = Tenant::start(Dialect::Zpa).await;
    let ids = [
        t.user("a@example.com").await,
        t.user("b@example.com").await,
        t.user("c@example.com").await,
    ];
    // Mixed ids: numeric strings and UUIDs in one tenant.
    assert!(ids.iter().any(|id| id.parse::<u64>().is_ok()));
    assert!(ids.iter().any(|id| uuid::Uuid::parse_str(id).is_ok()));
    let user = t.get(&format!("/Users/{}", ids[0])).await.body;
    assert_eq!(user["active"], "true");
    assert_eq!(user["userType"], "ZPA User");
    // itemsPerPage echoes the page size asked for, not the number returned.
    let list = t.get("/Users").await.body;
    assert_eq!(
        (list["totalResults"].as_u64(), list["itemsPerPage"].as_u64()),
        (Some(3), Some(10))
    );
    // Group lists omit members; a GET by id has them.
    let group = t.group("G", &[&ids[0], &ids[1]]).await;
    let listed = t.get("/Groups").await.body;
    assert!(listed["Resources"][0].get("members").is_none());
    assert_eq!(t.members(&group).await.len(), 2);
    // Groups sent with a user are ignored.
    let with_groups = t
        .post(
            "/Users",
            json!({"userName": "d@example.com", "groups": [{"value": group}]}),
        )
        .await;
    assert_eq!(with_groups.status, 201);
    assert_eq!(t.members(&group).await.len(), 2);
    // active:false deletes, through PATCH and through PUT, and leaves the groups.
    let patched = t
        .patch(
            &format!("/Users/{}", ids[0]),
            json!([{"op": "replace", "path": "active", "value": "false"}]),
        )
        .await;
    assert_eq!(
        (patched.status, patched.body["active"].as_str()),
        (200, Some("false"))
    );
    assert_eq!(t.get(&format!("/Users/{}", ids[0])).await.status, 404);
    assert_eq!(t.members(&group).await, vec![ids[1].clone()]);
    let put = t
        .call(
            Method::PUT,
            &format!("/Users/{}", ids[1]),
            Some(json!({"userName": "b@example.com", "active": false})),
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(t.get(&format!("/Users/{}", ids[1])).await.status, 404);
    assert_eq!(t.get("/Users").await.body["totalResults"], 2);
}

fn zia_options() -> EmulatorOptions {
    EmulatorOptions {
        domains: vec!["safemarch.com".into()],
        admin_users: vec!["Admin@safemarch.com".into()],
        ..EmulatorOptions::new(Dialect::Zia, TOKEN)
    }
}

#[tokio::test]
async fn zia_quirks() {
    let t = Tenant::with(zia_options()).await;
    let refused = t
        .post("/Users", json!({"userName": "test@example.com"}))
        .await;
    assert_eq!(refused.status, 400);
    assert!(refused.body["detail"]
        .as_str()
        .unwrap()
        .contains("not registered"));
    let user = t
        .post(
            "/Users",
            json!({"userName": "test@SafeMarch.com", "department": "Finance"}),
        )
        .await;
    assert_eq!(user.status, 201, "{}", user.body);
    let id = user.body["id"].as_str().unwrap().to_owned();
    assert!(id.parse::<u64>().is_ok(), "ZIA ids are numeric strings");
    assert_eq!(user.body["department"], "Finance");
    assert_eq!(user.body[ENTERPRISE_SCHEMA]["department"], "Finance");
    assert_eq!(user.body["active"], true);
    let moved = t
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "userName", "value": "test@elsewhere.org"}]),
        )
        .await;
    assert_eq!(moved.status, 400);

    let admin = t.user("admin@safemarch.com").await;
    let refused = t.delete(&format!("/Users/{admin}")).await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.body["detail"], "Admin user cannot be deleted");
    assert_eq!(t.get(&format!("/Users/{admin}")).await.status, 200);
    // Group PATCH answers 204.
    let g = t.group("G", &[]).await;
    assert_eq!(
        t.patch(
            &format!("/Groups/{g}"),
            json!([{"op": "add", "path": "members", "value": [{"value": id}]}])
        )
        .await
        .status,
        204
    );
}

#[tokio::test]
async fn zia_refuses_a_129th_group() {
    let t = Tenant::with(zia_options()).await;
    let mut data = many_users(0);
    data.users.push(crate::scim::wire::WireUser {
        id: Some("7".into()),
        user_name: "u@safemarch.com".into(),
        ..Default::default()
    });
    data.groups = (0..128)
        .map(|i| super::group_data(&format!("G{i}"), &["7"]))
        .collect();
    data.groups.push(super::group_data("Extra", &[]));
    t.handle.replace_data(data);
    let extra = t
        .get("/Groups?filter=displayName%20eq%20%22Extra%22")
        .await
        .body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = t
        .patch(
            &format!("/Groups/{extra}"),
            json!([{"op": "add", "path": "members", "value": [{"value": "7"}]}]),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.body["detail"].as_str().unwrap().contains("128"),
        "{}",
        refused.body
    );
    let refused = t
        .post(
            "/Groups",
            json!({"displayName": "Another", "members": [{"value": "7"}]}),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(t.members(&extra).await.is_empty());
    // Re-adding to a group it is already in is a no-op, not a 129th group.
    let g0 = t
        .get("/Groups?filter=displayName%20eq%20%22G0%22")
        .await
        .body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        t.patch(
            &format!("/Groups/{g0}"),
            json!([{"op": "add", "path": "members", "value": [{"value": "7"}]}])
        )
        .await
        .status,
        204
    );
    assert_eq!(
        t.get("/Users/7").await.body["groups"]
            .as_array()
            .unwrap()
            .len(),
        128
    );
}
