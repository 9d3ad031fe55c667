//! What zsc must leave alone or get right on a strict server, one defect-prone behaviour per
//! scenario: `department` (the enterprise extension's), attributes and emails zsc does not
//! manage, a group's own attributes, and group names that only differ in case.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::desired::{Desired, Group, User};
use super::fixture::{assert_same, id, Interop};
use super::server::Patch;
use super::{ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA};

/// The first apply of users declaring every attribute zsc manages, `department` included,
/// then an empty plan.
fn every_attribute(patch: Patch) {
    let Some(it) = Interop::start(patch) else {
        return;
    };
    let d = Desired::new(
        vec![User::new(
            "eve@example.com",
            &[
                ("display_name", "Eve Evans"),
                ("given_name", "Eve"),
                ("family_name", "Evans"),
                ("email", "eve.evans@example.com"),
                ("department", "Finance"),
                ("external_id", "E-3001"),
            ],
        )],
        vec![Group::new("Finance", &["eve@example.com"])],
    );
    it.converge(&d, "1: first apply with every attribute");
}

#[test]
fn every_attribute_with_patch() {
    every_attribute(Patch::Supported);
}

#[test]
fn every_attribute_without_patch() {
    every_attribute(Patch::Unsupported);
}

/// `department` (the enterprise extension's) set on an existing user, changed, cleared.
fn department(patch: Patch) {
    let Some(it) = Interop::start(patch) else {
        return;
    };
    let mut d = Desired::new(
        vec![User::new(
            "dan@example.com",
            &[("display_name", "Dan Dunn")],
        )],
        vec![],
    );
    it.converge(&d, "1: create without a department");
    d.user("dan@example.com").set("department", "Sales");
    it.plan_shows(&d, "2: set a department", &["department", "-> \"Sales\""]);
    it.converge(&d, "2: set a department");
    d.user("dan@example.com").set("department", "Marketing");
    it.converge(&d, "3: change the department");
    d.user("dan@example.com").set("department", "");
    it.converge(&d, "4: clear the department");
}

#[test]
fn department_with_patch() {
    department(Patch::Supported);
}

#[test]
fn department_without_patch() {
    department(Patch::Unsupported);
}

/// Step 7: a user made on the server with attributes zsc does not manage is declared, adopted,
/// then updated (display_name, then email): everything else survives, the home email too.
fn unmanaged_attributes_survive(patch: Patch) {
    let Some(it) = Interop::start(patch) else {
        return;
    };
    let boss = id(&it.user("outsider1@example.com"));
    let rich = it.create(
        "/Users",
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE],
            "userName": "rich@example.com",
            "active": true,
            "displayName": "Rich Roe",
            "name": {"givenName": "Rich", "familyName": "Roe", "middleName": "Q",
                     "formatted": "Rich Q Roe"},
            "nickName": "Richie",
            "title": "Staff Engineer",
            "emails": [
                {"value": "rich@example.com", "type": "work", "primary": true},
                {"value": "rich@home.example", "type": "home"}
            ],
            "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
            "addresses": [{"streetAddress": "1 Main St", "locality": "Springfield",
                           "type": "work"}],
            "externalId": "R-1",
            ENTERPRISE: {"employeeNumber": "1001", "costCenter": "CC-7",
                         "manager": {"value": boss}}
        }),
    );
    let path = format!("/Users/{}", id(&rich));
    let mut expected = it.get(&path);
    let mut d = Desired::new(
        vec![User::new(
            "rich@example.com",
            &[
                ("display_name", "Rich Roe"),
                ("given_name", "Rich"),
                ("family_name", "Roe"),
                ("email", "rich@example.com"),
                ("external_id", "R-1"),
            ],
        )],
        vec![Group::new("Staff", &["rich@example.com"])],
    );

    it.plan_shows(
        &d,
        "7: adopt",
        &["# t.user[\"rich@example.com\"] will be adopted"],
    );
    it.converge(&d, "7: adopt");
    assert_same(&it.get(&path), &expected, "7: adopt: the adopted user");

    d.user("rich@example.com")
        .set("display_name", "Richard Roe");
    it.converge(&d, "7: change display_name");
    expected["displayName"] = json!("Richard Roe");
    assert_same(
        &it.get(&path),
        &expected,
        "7: change display_name: the user",
    );

    d.user("rich@example.com")
        .set("email", "richard.roe@example.com");
    it.converge(&d, "7: change email");
    expected["emails"][0]["value"] = json!("richard.roe@example.com");
    assert_same(&it.get(&path), &expected, "7: change email: the user");
}

#[test]
fn unmanaged_attributes_survive_with_patch() {
    unmanaged_attributes_survive(Patch::Supported);
}

#[test]
fn unmanaged_attributes_survive_without_patch() {
    unmanaged_attributes_survive(Patch::Unsupported);
}

/// `email: ""` clears the email zsc manages (the primary one), not the user's other emails;
/// then the plan is empty.
fn clearing_email_keeps_other_emails(patch: Patch) {
    let Some(it) = Interop::start(patch) else {
        return;
    };
    let fay = it.create(
        "/Users",
        json!({
            "schemas": [USER_SCHEMA],
            "userName": "fay@example.com",
            "displayName": "Fay Fox",
            "emails": [
                {"value": "fay.fox@example.com", "type": "work", "primary": true},
                {"value": "fay@home.example", "type": "home"}
            ]
        }),
    );
    let path = format!("/Users/{}", id(&fay));
    let mut d = Desired::new(
        vec![User::new("fay@example.com", &[("display_name", "Fay Fox")])
            .holds("email", "fay.fox@example.com")],
        vec![],
    );
    it.converge(&d, "1: adopt");
    d.user("fay@example.com").set("email", "");
    it.write_config(&d);
    it.zsc("2: clear the email", &["apply", "--auto-approve"], 0);
    let live = it.get(&path);
    assert_eq!(
        live["emails"],
        json!([{"value": "fay@home.example", "type": "home"}]),
        "2: clearing the managed (primary) email keeps the home email: {live:#}"
    );
    it.zsc(
        "2: clear the email (second plan)",
        &["plan", "--detailed-exitcode"],
        0,
    );
    it.assert_outsiders_untouched("2: clear the email");
}

#[test]
fn clearing_email_keeps_other_emails_with_patch() {
    clearing_email_keeps_other_emails(Patch::Supported);
}

#[test]
fn clearing_email_keeps_other_emails_without_patch() {
    clearing_email_keeps_other_emails(Patch::Unsupported);
}

/// A group made on the server with an `externalId` (an attribute zsc does not manage) is
/// adopted, gains a member and is renamed: its externalId survives.
fn group_attributes_survive(patch: Patch) {
    let Some(it) = Interop::start(patch) else {
        return;
    };
    let gail = it.create(
        "/Users",
        json!({"schemas": [USER_SCHEMA], "userName": "gail@example.com", "displayName": "Gail"}),
    );
    let ops = it.create(
        "/Groups",
        json!({
            "schemas": [GROUP_SCHEMA],
            "displayName": "Ops Team",
            "externalId": "G-77",
            "members": [{"value": id(&gail), "display": "gail@example.com"}]
        }),
    );
    let path = format!("/Groups/{}", id(&ops));
    let mut d = Desired::new(
        vec![
            User::new("gail@example.com", &[("display_name", "Gail")]),
            User::new("hal@example.com", &[("display_name", "Hal")]),
        ],
        vec![Group::new("Ops Team", &["gail@example.com"])],
    );
    it.converge(&d, "1: adopt");
    d.group("Ops Team").members.push("hal@example.com".into());
    it.converge(&d, "2: add a member");
    let live = it.get(&path);
    assert_eq!(live["externalId"], "G-77", "2: add a member: {live:#}");
    let g = d.group("Ops Team");
    g.name = "Operations".into();
    g.renamed_from = Some("Ops Team".into());
    it.converge(&d, "3: rename");
    let live = it.get(&path);
    assert_eq!(live["externalId"], "G-77", "3: rename: {live:#}");
}

#[test]
fn group_attributes_survive_with_patch() {
    group_attributes_survive(Patch::Supported);
}

#[test]
fn group_attributes_survive_without_patch() {
    group_attributes_survive(Patch::Unsupported);
}

/// scim2-server, as RFC 7643 allows, keeps two groups whose names differ only in case. DESIGN:
/// "two live objects sharing a folded name are an ambiguity the plan reports, adopting
/// neither" and "a plan never changes an object it counts as unmanaged".
#[test]
fn duplicate_group_names_are_an_ambiguity() {
    let Some(it) = Interop::start(Patch::Supported) else {
        return;
    };
    let ivy = it.create(
        "/Users",
        json!({"schemas": [USER_SCHEMA], "userName": "ivy@example.com", "displayName": "Ivy"}),
    );
    for name in ["Support", "support"] {
        it.create(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": name,
                   "members": [{"value": id(&ivy)}]}),
        );
    }
    let before = it.everything();
    let d = Desired::new(
        vec![
            User::new("ivy@example.com", &[("display_name", "Ivy")]),
            User::new("jon@example.com", &[("display_name", "Jon")]),
        ],
        vec![Group::new("Support", &["jon@example.com"])],
    );
    it.write_config(&d);
    let run = it.env.zsc(&["apply", "--auto-approve"]);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.to_lowercase().contains("ambiguous"),
        "the plan must report the two live groups named `Support` (exit {}):\n{said}",
        run.code
    );
    let after = it.everything();
    let groups = |all: &BTreeMap<String, Value>| -> BTreeMap<String, Value> {
        all.iter()
            .filter(|(path, _)| path.starts_with("/Groups/"))
            .map(|(p, v)| (p.clone(), v.clone()))
            .collect()
    };
    assert_eq!(
        groups(&after),
        groups(&before),
        "neither group may be adopted or changed"
    );
}
