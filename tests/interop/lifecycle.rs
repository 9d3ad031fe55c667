//! The lifecycle, steps 1 to 6, with and without PATCH: create, no-op, update and clear every
//! attribute, leave undeclared attributes alone, rename, change members, disable, deprovision,
//! delete a group, plan drift back, adopt after losing state, import into an empty plan.

use serde_json::json;

use super::desired::{Desired, Group, User};
use super::fixture::{id, Interop};
use super::server::Patch;
use crate::harness::{Env, TOKEN_ENV};

/// Steps 1 to 6 of the lifecycle: create, no-op, update and clear every attribute zsc
/// manages, leave undeclared attributes alone, rename, change
/// members, disable, deprovision by disabling and by deleting, delete a group, plan drift
/// back, adopt everything after losing state, import into an empty plan.
fn lifecycle(patch: Patch) {
    let Some(it) = Interop::start(patch) else {
        return;
    };
    let full = |n: &str, first: &str, last: &str, eid: &str| {
        let display = format!("{first} {last}");
        let email = format!(
            "{}.{}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        );
        User::new(
            n,
            &[
                ("display_name", &display),
                ("given_name", first),
                ("family_name", last),
                ("email", &email),
                ("department", "Engineering"),
                ("external_id", eid),
            ],
        )
    };
    let mut d = Desired::new(
        vec![
            full("ann@example.com", "Ann", "Archer", "E-1001"),
            full("bob@example.com", "Bob", "Baker", "E-1002"),
            full("cid@example.com", "Cid", "Carter", "E-1003"),
            User::new("dee@example.com", &[("display_name", "Dee Dale")]),
        ],
        vec![
            Group::new("Engineering", &["ann@example.com", "bob@example.com"]),
            Group::new("Finance", &["cid@example.com"]),
            Group::new(
                "Everyone",
                &[
                    "ann@example.com",
                    "bob@example.com",
                    "cid@example.com",
                    "dee@example.com",
                ],
            ),
            Group::new("Old Name", &["dee@example.com"]),
            Group::new("Doomed", &["bob@example.com"]),
        ],
    );

    // 1. First apply, 2. then nothing to do.
    it.plan_shows(
        &d,
        "1: first plan",
        &[
            "Plan: 4 users to create",
            "5 groups to create; 9 memberships to add",
        ],
    );
    it.converge(&d, "1: first apply");

    // 3. Updates of every attribute.
    {
        let ann = d.user("ann@example.com");
        ann.set("display_name", "Ann Archer-Bell");
        ann.set("given_name", "Anne");
        ann.set("family_name", "Archer-Bell");
        ann.set("email", "anne.archer-bell@example.com");
        ann.set("department", "Research");
        ann.set("external_id", "E-2001");
    }
    it.plan_shows(
        &d,
        "3: update every attribute",
        &[
            "\"Ann Archer\" -> \"Ann Archer-Bell\"",
            "\"ann.archer@example.com\" -> \"anne.archer-bell@example.com\"",
            "\"E-1001\" -> \"E-2001\"",
            "1 to update",
        ],
    );
    it.converge(&d, "3: update every attribute");

    // Clears with "".
    for attr in [
        "display_name",
        "given_name",
        "family_name",
        "email",
        "department",
        "external_id",
    ] {
        d.user("bob@example.com").set(attr, "");
    }
    it.converge(&d, "3: clear every attribute");

    // Attributes no longer declared are no longer managed: live values stay.
    d.user("ann@example.com").undeclare("external_id");
    d.user("ann@example.com").undeclare("given_name");
    it.write_config(&d);
    it.zsc("3: undeclare", &["plan", "--detailed-exitcode"], 0);
    it.converge(&d, "3: undeclare");

    // A group rename keeps the group (its id) and its members.
    let old_id = id(&it.group("Old Name"));
    {
        let g = d.group("Old Name");
        g.name = "New Name".to_owned();
        g.renamed_from = Some("Old Name".to_owned());
    }
    it.plan_shows(
        &d,
        "3: rename",
        &["# t.group[\"Old Name\"] will be renamed to \"New Name\""],
    );
    it.converge(&d, "3: rename");
    assert_eq!(
        id(&it.group("New Name")),
        old_id,
        "a rename keeps the group"
    );

    // Membership changes: one added, one removed.
    d.group("Engineering").members = vec!["ann@example.com".into(), "cid@example.com".into()];
    it.plan_shows(
        &d,
        "3: members",
        &[
            "+ member \"cid@example.com\"",
            "- member \"bob@example.com\"",
        ],
    );
    it.converge(&d, "3: members");

    // Disable.
    d.user("cid@example.com").active = false;
    it.plan_shows(&d, "3: disable", &["~ active = true -> false"]);
    it.converge(&d, "3: disable");

    // A user taken out of the YAML is disabled (remove_user_action: disable) ...
    d.remove_user("dee@example.com");
    it.plan_shows(
        &d,
        "3: remove a user (disable)",
        &[
            "# t.user[\"dee@example.com\"] will be disabled",
            "- member \"dee@example.com\"",
        ],
    );
    it.converge(&d, "3: remove a user (disable)");

    // ... or deleted (remove_user_action: delete), with the one disabled before.
    d.delete_removed_users();
    d.remove_user("bob@example.com");
    it.plan_shows(
        &d,
        "3: remove a user (delete)",
        &[
            "# t.user[\"bob@example.com\"] will be deleted",
            "# t.user[\"dee@example.com\"] will be deleted",
        ],
    );
    it.converge(&d, "3: remove a user (delete)");

    // A group taken out of the YAML is deleted.
    d.groups.retain(|g| g.name != "Doomed");
    it.plan_shows(
        &d,
        "3: remove a group",
        &["# t.group[\"Doomed\"] will be deleted"],
    );
    it.converge(&d, "3: remove a group");

    // 4. Drift made on the server: a managed attribute, and an outsider in a managed group.
    let ann = it.user("ann@example.com");
    let mut drifted = ann.clone();
    drifted["displayName"] = json!("Drifted By Hand");
    it.put(&format!("/Users/{}", id(&ann)), drifted);
    let engineering = it.group("Engineering");
    let mut crowded = engineering.clone();
    let outsider = id(&it.user("outsider1@example.com"));
    crowded["members"]
        .as_array_mut()
        .expect("members")
        .push(json!({"value": outsider}));
    it.put(&format!("/Groups/{}", id(&engineering)), crowded);
    it.plan_shows(
        &d,
        "4: drift",
        &[
            "\"Drifted By Hand\" -> \"Ann Archer-Bell\"",
            "- member \"outsider1@example.com\"",
        ],
    );
    it.converge(&d, "4: drift");

    // 5. Lost state: everything is adopted, nothing created twice, nothing deprovisioned.
    std::fs::remove_file(it.env.path(".zsc/state.json")).expect("remove the state");
    it.write_config(&d);
    let plan = it.zsc("5: lost state", &["plan"], 0);
    assert!(
        plan.stdout.contains("Plan: 0 users to create, 2 to adopt")
            && plan.stdout.contains("4 groups to adopt;"),
        "5: lost state: {}",
        plan.stdout
    );
    for needle in ["will be created", "will be deleted", "will be disabled"] {
        assert!(
            !plan.stdout.contains(needle),
            "5: lost state: {}",
            plan.stdout
        );
    }
    it.converge(&d, "5: lost state");

    // 6. `zsc import` into a directory of its own: the next plan is empty, nothing changes.
    let before = it.everything();
    let other = Env::new();
    let tenant = format!(
        "tenants:\n  t:\n    kind: scim\n    url: {}\n    token: {{ env: {TOKEN_ENV} }}\n",
        it.server.base_url
    );
    other.write("zsc.yaml", &tenant);
    let run = other.zsc(&["import"]).success();
    assert!(
        run.stdout
            .contains("Imported 4 users and 6 groups from tenant `t` into imported/t.yaml."),
        "6: import: {}",
        run.stdout
    );
    other.write("zsc.yaml", &format!("{tenant}include: [imported/*.yaml]\n"));
    other
        .zsc(&["import", "--force"])
        .success()
        .stdout_has("Recorded them in state");
    other
        .zsc(&["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes.");
    assert_eq!(it.everything(), before, "6: import changed the server");
    it.assert_live(&d, "6: import");
}

#[test]
fn lifecycle_with_patch() {
    lifecycle(Patch::Supported);
}

#[test]
fn lifecycle_without_patch() {
    lifecycle(Patch::Unsupported);
}
