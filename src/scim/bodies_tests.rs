//! What writes send: PATCH operations by path, whole email lists, PUT bodies that start from
//! the server's representation.

use super::*;
use crate::model::UserAttrs;

fn attrs(display: Option<&str>, email: Option<&str>, department: Option<&str>) -> UserAttrs {
    UserAttrs {
        display_name: display.map(str::to_owned),
        email: email.map(str::to_owned),
        department: department.map(str::to_owned),
        ..UserAttrs::default()
    }
}

#[test]
fn patch_ops_name_each_changed_attribute_by_its_path() {
    let before = attrs(Some("A"), None, Some("X"));
    let after = attrs(Some("B"), None, None);
    let update = UserUpdate {
        user_name: Some("new@example.com"),
        before: &before,
        after: &after,
        active: Some(false),
    };
    let ops = user_patch_ops(&update, &[], false);
    let shown: Vec<(String, Option<String>, Option<Value>)> =
        ops.into_iter().map(|o| (o.op, o.path, o.value)).collect();
    assert_eq!(
        shown,
        vec![
            (
                "replace".into(),
                Some("userName".into()),
                Some(json!("new@example.com"))
            ),
            ("replace".into(), Some("active".into()), Some(json!(false))),
            (
                "replace".into(),
                Some("displayName".into()),
                Some(json!("B"))
            ),
            (
                "remove".into(),
                Some(format!("{ENTERPRISE_SCHEMA}:department")),
                None
            ),
        ]
    );
    // ZIA keeps a top-level copy of department too.
    let zia = user_patch_ops(&update, &[], true);
    assert!(zia
        .iter()
        .any(|o| o.op == "remove" && o.path.as_deref() == Some("department")));
}

#[test]
fn an_email_change_sends_the_whole_list_with_the_others_kept() {
    let current = vec![
        json!({"value": "home@example.org", "type": "home"}),
        json!({"value": "old@example.com", "type": "work", "primary": true, "display": "Work"}),
    ];
    let before = attrs(None, Some("old@example.com"), None);
    let after = attrs(None, Some("new@example.com"), None);
    let update = UserUpdate {
        user_name: None,
        before: &before,
        after: &after,
        active: None,
    };
    let ops = user_patch_ops(&update, &current, false);
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].path.as_deref(), Some("emails"));
    assert_eq!(
        ops[0].value,
        Some(json!([
            {"value": "home@example.org", "type": "home"},
            {"value": "new@example.com", "type": "work", "primary": true, "display": "Work"},
        ]))
    );
    // No email yet: one primary work address; cleared: only the managed one goes.
    assert_eq!(
        emails_after(&[], Some("a@example.com")),
        vec![json!({"value": "a@example.com", "primary": true, "type": "work"})]
    );
    assert_eq!(emails_after(&current, None), vec![current[0].clone()]);
}

#[test]
fn a_put_starts_from_the_server_representation_and_keeps_what_zsc_does_not_manage() {
    let current = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_SCHEMA],
        "id": "u1",
        "userName": "ann@example.com",
        "title": "Engineer",
        "nickName": "annie",
        "name": {"givenName": "Ann", "familyName": "Lee", "middleName": "Q"},
        "phoneNumbers": [{"value": "+1 555", "type": "work"}],
        "emails": [{"value": "ann@home.org", "type": "home"}, {"value": "ann@example.com", "primary": true}],
        ENTERPRISE_SCHEMA: {"employeeNumber": "42", "costCenter": "CC", "department": "Ops",
                            "manager": {"value": "m1"}},
        "groups": [{"value": "g1"}],
        "meta": {"resourceType": "User"},
    });
    let before = UserAttrs {
        given_name: Some("Ann".into()),
        email: Some("ann@example.com".into()),
        department: Some("Ops".into()),
        ..UserAttrs::default()
    };
    let after = UserAttrs {
        given_name: Some("Anne".into()),
        email: Some("anne@example.com".into()),
        department: None,
        ..UserAttrs::default()
    };
    let update = UserUpdate {
        user_name: None,
        before: &before,
        after: &after,
        active: Some(false),
    };
    let body = user_put_body(current, &update, false);
    assert_eq!(
        body,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_SCHEMA],
            "id": "u1",
            "userName": "ann@example.com",
            "active": false,
            "title": "Engineer",
            "nickName": "annie",
            "name": {"givenName": "Anne", "familyName": "Lee", "middleName": "Q"},
            "phoneNumbers": [{"value": "+1 555", "type": "work"}],
            "emails": [{"value": "ann@home.org", "type": "home"}, {"value": "anne@example.com", "primary": true}],
            ENTERPRISE_SCHEMA: {"employeeNumber": "42", "costCenter": "CC", "manager": {"value": "m1"}},
        })
    );
}

#[test]
fn a_group_put_keeps_the_members_that_stay_as_the_server_wrote_them() {
    let current = json!({"displayName": "G", "externalId": "E", "members": [
        {"value": "1", "display": "a@example.com", "$ref": "https://x/Users/1"},
        {"value": 2, "display": "b@example.com"},
    ], "meta": {"version": "W/1"}});
    let add = [
        MemberRef {
            id: "1".into(),
            user_name: "a@example.com".into(),
        },
        MemberRef {
            id: "3".into(),
            user_name: "c@example.com".into(),
        },
    ];
    let body = group_put_body(current, "g", Some("H"), &add, &["2".to_owned()]);
    assert_eq!(
        body,
        json!({
            "schemas": [GROUP_SCHEMA],
            "id": "g",
            "displayName": "H",
            "externalId": "E",
            "members": [
                {"value": "1", "display": "a@example.com", "$ref": "https://x/Users/1"},
                {"value": "3", "display": "c@example.com"},
            ],
        })
    );
}
