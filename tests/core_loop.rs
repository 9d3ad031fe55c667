//! The refresh → plan → apply loop against the emulator, through the real binary.

use zsc::dialect::Dialect;

use crate::harness::Env;

const TEAM: &str = "
users:
  - user_name: jsmith@example.com
    display_name: Janet Smith
    given_name: Janet
    family_name: Smith
    department: Finance
  - user_name: jdoe@example.com
    display_name: John Doe
groups:
  - name: Accounting
    members: [jsmith@example.com, jdoe@example.com]
  - name: Finance
    members: [jsmith@example.com]
";

fn applied(env: &Env) {
    env.zsc(&["apply", "--auto-approve"]).success();
}

#[test]
fn first_apply_creates_users_groups_and_memberships_then_plans_no_changes() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    env.zsc(&["plan"])
        .success()
        .stdout_has("# t.user[\"jsmith@example.com\"] will be created")
        .stdout_has("+ member \"jdoe@example.com\"")
        .stdout_has("Plan: 2 users to create, 0 to update, 0 to disable, 0 to delete; 2 groups to create; 3 memberships to add, 0 to remove.");
    env.zsc(&["apply", "--auto-approve"])
        .success()
        .stdout_has("Apply complete! 7 done, 0 failed, 0 skipped");
    assert_eq!(env.user_names(), ["jdoe@example.com", "jsmith@example.com"]);
    assert_eq!(
        env.members_of("Accounting"),
        ["jdoe@example.com", "jsmith@example.com"]
    );
    assert_eq!(env.members_of("Finance"), ["jsmith@example.com"]);
    let jsmith = env.live_user("jsmith@example.com").unwrap();
    let attrs = jsmith.attrs();
    assert_eq!(attrs.department.as_deref(), Some("Finance"));
    assert_eq!(attrs.given_name.as_deref(), Some("Janet"));

    env.zsc(&["plan"]).success().stdout_has("No changes.");
    env.zsc(&["plan", "--detailed-exitcode"]).code(0);
    // The state file is private.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(env.path(".zsc/state.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn existing_users_are_adopted_by_case_insensitive_user_name_not_duplicated() {
    let env = Env::with_emulator(Dialect::Scim);
    let id = env.seed_user("JSmith@Example.COM", "Janet Smith");
    env.seed_group("accounting", &[&id]);
    env.config(TEAM);
    env.zsc(&["plan"])
        .success()
        .stdout_has("will be adopted")
        .stdout_has("1 user to create, 1 to adopt");
    applied(&env);
    // Adopted and spelled as declared: a change of case is a rename like any other.
    assert_eq!(env.user_names(), ["jdoe@example.com", "jsmith@example.com"]);
    assert_eq!(env.group_names(), ["Accounting", "Finance"]);
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn attribute_change_is_an_update_in_place() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    applied(&env);
    env.config(&TEAM.replace(
        "display_name: Janet Smith",
        "display_name: Janet Smith-Jones",
    ));
    env.zsc(&["plan", "--detailed-exitcode"])
        .code(2)
        .stdout_has("~ display_name = \"Janet Smith\" -> \"Janet Smith-Jones\"")
        .stdout_has("1 to update");
    applied(&env);
    let user = env.live_user("jsmith@example.com").unwrap();
    assert_eq!(user.display_name.as_deref(), Some("Janet Smith-Jones"));
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn renamed_from_renames_the_group_keeping_its_id_and_members() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    applied(&env);
    let id_before = env.group_id("Finance");
    env.config(&TEAM.replace(
        "  - name: Finance\n",
        "  - name: Finance Ops\n    renamed_from: Finance\n",
    ));
    env.zsc(&["plan"])
        .success()
        .stdout_has("# t.group[\"Finance\"] will be renamed to \"Finance Ops\"")
        .stdout_lacks("will be deleted");
    applied(&env);
    assert_eq!(env.group_id("Finance Ops"), id_before);
    assert_eq!(env.members_of("Finance Ops"), ["jsmith@example.com"]);
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn membership_removed_from_yaml_is_removed_live() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    applied(&env);
    env.config(&TEAM.replace(
        "members: [jsmith@example.com, jdoe@example.com]",
        "members: [jsmith@example.com]",
    ));
    env.zsc(&["plan"])
        .success()
        .stdout_has("- member \"jdoe@example.com\"");
    applied(&env);
    assert_eq!(env.members_of("Accounting"), ["jsmith@example.com"]);
    assert_eq!(
        env.user_names().len(),
        2,
        "removing a membership keeps the user"
    );
}

#[test]
fn removed_user_is_disabled_by_default() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    applied(&env);
    let without_jdoe = TEAM
        .replace(
            "  - user_name: jdoe@example.com\n    display_name: John Doe\n",
            "",
        )
        .replace(", jdoe@example.com", "");
    env.config(&without_jdoe);
    env.zsc(&["plan"])
        .success()
        .stdout_has("# t.user[\"jdoe@example.com\"] will be disabled")
        .stdout_has("~ active = true -> false")
        .stdout_has("- member \"jdoe@example.com\"");
    applied(&env);
    let jdoe = env.live_user("jdoe@example.com").unwrap();
    assert_eq!(jdoe.active, Some(false));
    assert_eq!(env.members_of("Accounting"), ["jsmith@example.com"]);
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn removed_user_is_deleted_when_remove_user_action_is_delete() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    applied(&env);
    let without_jdoe = TEAM
        .replace(
            "  - user_name: jdoe@example.com\n    display_name: John Doe\n",
            "",
        )
        .replace(", jdoe@example.com", "");
    env.config(&format!(
        "defaults:\n  remove_user_action: delete\n{without_jdoe}"
    ));
    env.zsc(&["plan"])
        .success()
        .stdout_has("# t.user[\"jdoe@example.com\"] will be deleted");
    applied(&env);
    assert_eq!(env.user_names(), ["jsmith@example.com"]);
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn group_removed_from_yaml_is_deleted() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    applied(&env);
    env.config(&TEAM.replace("  - name: Finance\n    members: [jsmith@example.com]\n", ""));
    env.zsc(&["plan"])
        .success()
        .stdout_has("# t.group[\"Finance\"] will be deleted")
        .stdout_has("(group deletion is permanent)");
    applied(&env);
    assert_eq!(env.group_names(), ["Accounting"]);
}

#[test]
fn drift_made_on_the_tenant_is_planned_back() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    applied(&env);
    let jsmith = env.live_user("jsmith@example.com").unwrap();
    let accounting = env.live_group("Accounting").unwrap();
    let stranger = env.seed_user("stranger@example.com", "Not Ours");
    // Someone edits a name and the group's members by hand.
    let (status, _) = env.scim(
        "PATCH",
        &format!("/Users/{}", jsmith.id.as_ref().unwrap()),
        Some(
            serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"displayName": "J. Smith"}}]}),
        ),
    );
    assert_eq!(status, 200);
    let (status, _) = env.scim(
        "PATCH",
        &format!("/Groups/{}", accounting.id.as_ref().unwrap()),
        Some(
            serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "value": {"members": [{"value": stranger}]}}]}),
        ),
    );
    assert!(status == 200 || status == 204);
    env.zsc(&["plan"])
        .success()
        .stdout_has("~ display_name = \"J. Smith\" -> \"Janet Smith\"")
        .stdout_has("- member \"stranger@example.com\"")
        .stdout_has("(1 user and 0 groups not managed by zsc, left alone)");
    applied(&env);
    env.zsc(&["plan"]).success().stdout_has("No changes.");
    // The unmanaged user is still there, untouched.
    assert!(env
        .user_names()
        .contains(&"stranger@example.com".to_owned()));
}

#[test]
fn refresh_records_live_state_and_plan_without_refresh_uses_it() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    applied(&env);
    env.zsc(&["refresh"])
        .success()
        .stdout_has("t: refreshed 2 users, 2 groups");
    env.zsc(&["plan", "--refresh=false"])
        .success()
        .stdout_has("No changes.");
}

#[test]
fn apply_without_a_terminal_refuses_to_guess() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    env.zsc(&["apply"])
        .code(1)
        .stderr_has("refusing to apply without confirmation");
    assert!(
        env.user_names().is_empty(),
        "nothing may change without approval"
    );
}

#[test]
fn saved_plan_applies_exactly_and_a_stale_one_is_refused() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    env.zsc(&["plan", "-o", "plan.json"]).success();
    env.zsc(&["apply", "plan.json"])
        .success()
        .stdout_has("7 done");
    // The state moved on: the same file is now stale.
    env.zsc(&["apply", "plan.json"])
        .code(1)
        .stderr_has("is stale");
    // A config change after planning makes a plan stale too.
    env.zsc(&["plan", "-o", "plan2.json"]).success();
    env.config(&TEAM.replace("John Doe", "Johnny Doe"));
    env.zsc(&["apply", "plan2.json"])
        .code(1)
        .stderr_has("the configuration changed");
    let plan = std::fs::read_to_string(env.path("plan.json")).unwrap();
    assert!(!plan.contains(crate::harness::TOKEN));
}

#[test]
fn max_destroy_refuses_a_large_deprovision() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    applied(&env);
    env.config("defaults:\n  max_destroy: 1\n");
    env.zsc(&["plan"])
        .code(1)
        .stderr_has("more than `max_destroy` (1)")
        .stderr_has("--max-destroy 4");
    env.zsc(&["apply", "--auto-approve"]).code(1);
    assert_eq!(env.group_names().len(), 2, "nothing removed");
    env.zsc(&["apply", "--auto-approve", "--max-destroy", "4"])
        .code(1)
        .stderr_has("(100%), more than `max_destroy_percent` (25%)");
    assert_eq!(env.group_names().len(), 2, "nothing removed");
    env.zsc(&[
        "apply",
        "--auto-approve",
        "--max-destroy",
        "4",
        "--max-destroy-percent",
        "100",
    ])
    .success();
    assert!(env.group_names().is_empty());
}

#[test]
fn quickstart_example_runs_against_the_embedded_emulator() {
    let env = Env::new();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/zsc.yaml");
    std::fs::copy(&example, env.path("zsc.yaml")).unwrap();
    env.zsc(&["validate"]).success();
    env.zsc(&["plan"]).success().stdout_has("will be created");
    env.zsc(&["apply", "--auto-approve"])
        .success()
        .stdout_has("Apply complete!");
    env.zsc(&["plan"]).success().stdout_has("No changes.");
    assert!(env.path(".zsc/emulator/demo.json").exists());
}
