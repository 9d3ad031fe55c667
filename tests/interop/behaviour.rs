//! How scim2-server answers where SCIM servers differ, asserted so that a new version that
//! answers otherwise is noticed. The emulator must be able to imitate each of these.

use serde_json::{json, Value};

use super::fixture::{id, normalised, Interop};
use super::server::Patch;
use super::{ENTERPRISE, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA};

#[test]
fn scim2_server_behaviour() {
    let Some(it) = Interop::start(Patch::Supported) else {
        return;
    };
    // `/ServiceProviderConfig` needs no token; the other discovery endpoints do.
    let url = |p: &str| format!("{}{p}", it.server.base_url);
    let unauthenticated = |p: &str| -> u16 {
        it.env.rt.block_on(async {
            reqwest::get(url(p))
                .await
                .expect("request")
                .status()
                .as_u16()
        })
    };
    assert_eq!(unauthenticated("/ServiceProviderConfig"), 200);
    assert_eq!(unauthenticated("/ResourceTypes"), 401);
    assert_eq!(unauthenticated("/Schemas"), 401);
    assert_eq!(unauthenticated("/Users"), 401);

    // Attributes outside the schemas: 400, not ignored.
    let (status, body) = it.scim(
        "POST",
        "/Users",
        Some(json!({"schemas": [USER_SCHEMA], "userName": "k@example.com", "department": "X"})),
    );
    assert_eq!(
        (status, body["scimType"].as_str()),
        (400, Some("invalidSyntax")),
        "{body}"
    );

    // userName: unique case-insensitively (409 uniqueness); `eq` matches case-insensitively.
    let (status, body) = it.scim(
        "POST",
        "/Users",
        Some(json!({"schemas": [USER_SCHEMA], "userName": "OUTSIDER1@example.com"})),
    );
    assert_eq!(
        (status, body["scimType"].as_str()),
        (409, Some("uniqueness")),
        "{body}"
    );
    let found = it.get("/Users?filter=userName%20eq%20%22OUTSIDER1%40EXAMPLE.COM%22");
    assert_eq!(found["totalResults"], 1);
    // Filters beyond `eq` work: `co`, `and`.
    let found = it.get("/Users?filter=userName%20co%20%22outsider%22%20and%20active%20eq%20false");
    assert_eq!(found["totalResults"], 1, "{found}");

    // Group names: not unique, not even exactly; `eq` on displayName ignores case.
    for _ in 0..2 {
        it.create(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Twin"}),
        );
    }
    let found = it.get("/Groups?filter=displayName%20eq%20%22TWIN%22");
    assert_eq!(found["totalResults"], 2);

    // A group without members has no `members` key; users carry no `groups`.
    let empty = it.group("Empty Outside");
    assert!(empty.get("members").is_none(), "{empty}");
    let one = it.user("outsider1@example.com");
    assert!(one.get("groups").is_none(), "{one}");

    // Listings: sorted by id, paged by startIndex/count, totalResults the full count,
    // itemsPerPage what the page holds; a start past the end is an empty page.
    let page = it.get("/Users?startIndex=2&count=1");
    assert_eq!(
        (
            page["totalResults"].as_u64(),
            page["itemsPerPage"].as_u64(),
            page["startIndex"].as_u64()
        ),
        (Some(2), Some(1), Some(2))
    );
    let past = it.get("/Users?startIndex=9&count=5");
    assert_eq!(past["Resources"], json!([]));
    let ids: Vec<String> = it.list("Users").iter().map(id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "listed in id order");
    let excluded = it.get("/Users?excludedAttributes=groups");
    assert_eq!(
        excluded["totalResults"], 2,
        "excludedAttributes=groups is accepted"
    );

    // PATCH answers 204 with no body. A no-path `replace` merges complex attributes (`name`,
    // the enterprise extension) but replaces a multi-valued one (`emails`) whole.
    let rich = it.create(
        "/Users",
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userName": "probe@example.com",
            "name": {"givenName": "P", "middleName": "M"},
            "emails": [{"value": "w@example.com", "type": "work", "primary": true},
                       {"value": "h@example.com", "type": "home"}],
            ENTERPRISE: {"department": "D", "employeeNumber": "9"}
        }),
    );
    let path = format!("/Users/{}", id(&rich));
    let (status, body) = it.scim(
        "PATCH",
        &path,
        Some(
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {
                "name": {"givenName": "Q"},
                ENTERPRISE: {"department": "E"},
                "emails": [{"value": "w2@example.com", "type": "work", "primary": true}]
            }}]}),
        ),
    );
    assert_eq!((status, &body), (204, &Value::Null));
    let now = it.get(&path);
    assert_eq!(now["name"], json!({"givenName": "Q", "middleName": "M"}));
    assert_eq!(
        now[ENTERPRISE],
        json!({"department": "E", "employeeNumber": "9"})
    );
    assert_eq!(
        now["emails"],
        json!([{"value": "w2@example.com", "type": "work", "primary": true}])
    );
    // A filtered path replaces one value in place, or removes the values it selects.
    let (status, _) = it.scim(
        "PATCH",
        &path,
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "add", "path": "emails", "value": [{"value": "h@example.com", "type": "home"}]},
            {"op": "replace", "path": "emails[primary eq true].value", "value": "w3@example.com"}
        ]})),
    );
    assert_eq!(status, 204);
    assert_eq!(
        normalised(&it.get(&path))["emails"],
        normalised(&json!({"emails": [
            {"value": "h@example.com", "type": "home"},
            {"value": "w3@example.com", "type": "work", "primary": true}
        ]}))["emails"]
    );
    let (status, _) = it.scim(
        "PATCH",
        &path,
        Some(json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": "emails[type eq \"home\"]"}
        ]})),
    );
    assert_eq!(status, 204);
    assert_eq!(
        it.get(&path)["emails"],
        json!([{"value": "w3@example.com", "type": "work", "primary": true}])
    );

    // PUT replaces: what the body leaves out is cleared.
    let mut put = it.get(&path);
    put.as_object_mut().expect("object").remove("name");
    it.put(&path, put);
    assert!(it.get(&path).get("name").is_none());

    // Group members: adding one already there is a no-op; ids are not checked against users;
    // deleting a user leaves it in its groups.
    let group = it.create(
        "/Groups",
        json!({"schemas": [GROUP_SCHEMA], "displayName": "Refs",
               "members": [{"value": id(&rich)}]}),
    );
    let gpath = format!("/Groups/{}", id(&group));
    let add = |value: &str| {
        it.scim(
            "PATCH",
            &gpath,
            Some(json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "value": {"members": [{"value": value}]}}]})),
        )
        .0
    };
    assert_eq!(add(&id(&rich)), 204);
    assert_eq!(add("no-such-user"), 204);
    assert_eq!(it.scim("DELETE", &path, None).0, 204);
    let members = it.get(&gpath)["members"].clone();
    assert_eq!(
        members,
        json!([{"value": id(&rich)}, {"value": "no-such-user"}]),
        "no referential integrity"
    );
}
