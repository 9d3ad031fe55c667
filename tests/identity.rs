//! An object's identity is its id, and the plan is what happens (issue 21): regression tests
//! through the binary, each for a way the planner once changed or deleted an object zsc does not
//! manage, or said one thing while the apply did another.

use serde_json::json;
use zsc::dialect::Dialect;

use crate::harness::Env;

const SMITH: &str = "
users:
  - user_name: j.smith@example.com
    display_name: Janet Smith
    external_id: E1
";

#[test]
fn a_managed_user_renamed_outside_is_renamed_back_not_created_again() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(SMITH);
    env.zsc(&["apply", "--auto-approve"]).success();
    let id = env.user_id("j.smith@example.com");
    env.patch("Users", &id, "userName", json!("j.smith.2019@example.com"));

    env.zsc(&["plan"])
        .success()
        .stdout_has("# t.user[\"j.smith@example.com\"] will be renamed to \"j.smith@example.com\"")
        .stdout_has("renamed outside zsc: `j.smith@example.com` -> `j.smith.2019@example.com`; zsc renames it back")
        .stdout_has("~ user \"j.smith.2019@example.com\" -> \"j.smith@example.com\"")
        .stdout_has("0 users to create");
    env.zsc(&["apply", "--auto-approve"]).success();
    assert_eq!(env.user_id("j.smith@example.com"), id, "the same account");
    assert_eq!(env.user_names(), ["j.smith@example.com"]);
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn a_managed_user_renamed_outside_whose_old_name_was_taken_is_refused_then_removed_by_id() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(SMITH);
    env.zsc(&["apply", "--auto-approve"]).success();
    let ours = env.user_id("j.smith@example.com");
    env.patch(
        "Users",
        &ours,
        "userName",
        json!("j.smith.2019@example.com"),
    );
    let theirs = env.seed_user("j.smith@example.com", "Someone Else");

    // Still declared: zsc cannot rename its user back, and will not take the other one.
    env.zsc(&["plan"])
        .code(1)
        .stdout_has(&format!(
            "Error: t.user[\"j.smith@example.com\"]: cannot rename user `j.smith.2019@example.com` (id `{ours}`) to `j.smith@example.com`: live user `{theirs}` already holds that name"
        ))
        .stderr_has("nothing was changed");
    env.zsc(&["apply", "--auto-approve"]).code(1);

    // Removed from the YAML: the account zsc created is disabled, by its id; the new one is
    // left alone.
    env.config("defaults:\n  max_destroy_percent: 100\nusers: []\n");
    env.zsc(&["plan"])
        .success()
        .stdout_has("# t.user[\"j.smith@example.com\"] will be disabled")
        .stdout_has(&format!(
            "renamed outside zsc to `j.smith.2019@example.com`; zsc acts on id `{ours}`"
        ))
        .stdout_has("(1 user and 0 groups not managed by zsc, left alone)");
    env.zsc(&["apply", "--auto-approve"]).success();
    let data = env.data();
    let active = |id: &str| {
        data.users
            .iter()
            .find(|u| u.id.as_deref() == Some(id))
            .and_then(|u| u.active)
    };
    assert_eq!(active(&ours), Some(false), "zsc's account is disabled");
    assert_eq!(active(&theirs), Some(true), "the other one is untouched");
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn deleting_a_managed_group_renamed_outside_deletes_it_by_id_not_the_new_one_with_its_name() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(
        "
users:
  - user_name: a@example.com
groups:
  - name: Ops
    members: [a@example.com]
",
    );
    env.zsc(&["apply", "--auto-approve"]).success();
    let ours = env.group_id("Ops");
    env.patch("Groups", &ours, "displayName", json!("Ops-archive"));
    let theirs = env.seed_group("Ops", &[]);

    env.config("defaults:\n  max_destroy_percent: 100\nusers:\n  - user_name: a@example.com\n");
    env.zsc(&["plan"])
        .success()
        .stdout_has("# t.group[\"Ops\"] will be deleted")
        .stdout_has(&format!(
            "renamed outside zsc to `Ops-archive`; zsc acts on id `{ours}`"
        ))
        .stdout_has("(0 users and 1 group not managed by zsc, left alone)");
    env.zsc(&["apply", "--auto-approve"]).success();
    assert_eq!(env.group_names(), ["Ops"]);
    assert_eq!(env.group_id("Ops"), theirs, "the unmanaged group survives");
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn on_zpa_a_declared_active_false_is_planned_as_the_delete_it_is_and_guarded() {
    let env = Env::with_emulator(Dialect::Zpa);
    env.config("users:\n  - user_name: a@example.com\n  - user_name: b@example.com\n");
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config(
        "defaults:\n  max_destroy: 0\n  max_destroy_percent: 100\nusers:\n  - user_name: a@example.com\n    active: false\n  - user_name: b@example.com\n",
    );
    env.zsc(&["plan"])
        .code(1)
        .stdout_has("# t.user[\"a@example.com\"] will be deleted")
        .stdout_has("`active: false` on ZPA deletes the user")
        .stdout_has("1 to delete")
        .stderr_has("more than `max_destroy` (0)");
    env.zsc(&["apply", "--auto-approve", "--max-destroy", "1"])
        .success();
    assert_eq!(env.user_names(), ["b@example.com"]);
    // Deleted, and not created again.
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn renamed_from_onto_a_name_another_group_holds_is_refused_naming_both_ids() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("groups:\n  - name: Old\n");
    env.zsc(&["apply", "--auto-approve"]).success();
    let ours = env.group_id("Old");
    let theirs = env.seed_group("New", &[]);
    env.config("groups:\n  - name: New\n    renamed_from: Old\n");
    env.zsc(&["plan"])
        .code(1)
        .stdout_has(&format!(
            "cannot rename group `Old` (id `{ours}`) to `New`: live group `{theirs}` already holds that name"
        ));
    env.zsc(&["apply", "--auto-approve"]).code(1);
    assert_eq!(env.group_names(), ["New", "Old"], "nothing changed");
}

#[test]
fn renamed_from_naming_an_unmanaged_group_is_an_adoption_and_a_typo_is_said() {
    let env = Env::with_emulator(Dialect::Scim);
    let legacy = env.seed_group("Legacy", &[]);
    env.config(
        "groups:\n  - name: Current\n    renamed_from: Legacy\n  - name: Fresh\n    renamed_from: Nope\n",
    );
    env.zsc(&["plan"])
        .success()
        .stdout_has("# t.group[\"Current\"] will be adopted and renamed to \"Current\"")
        .stdout_has(&format!(
            "`renamed_from: Legacy` names a group zsc does not manage (id `{legacy}`): it is adopted and renamed"
        ))
        .stdout_has("# t.group[\"Fresh\"] will be created")
        .stdout_has("`renamed_from: Nope` names no group zsc manages or that exists live; it is created");
    env.zsc(&["apply", "--auto-approve"]).success();
    assert_eq!(env.group_id("Current"), legacy);
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn a_saved_create_that_meets_an_existing_object_brings_it_to_exactly_the_plan() {
    let env = Env::with_emulator(Dialect::Scim);
    let people = "
users:
  - user_name: a@example.com
  - user_name: b@example.com
";
    env.config(people);
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config(&format!(
        "{people}  - user_name: c@example.com\n    display_name: C\n    department: \"\"\ngroups:\n  - name: G\n    members: [a@example.com]\n"
    ));
    env.zsc(&["plan", "-o", "plan.json"]).success();

    // Meanwhile someone creates both by hand, differently.
    let b = env.user_id("b@example.com");
    env.seed_group("G", &[&b]);
    let (status, body) = env.scim(
        "POST",
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": "c@example.com",
            "displayName": "Someone",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}
        })),
    );
    assert_eq!(status, 201, "{body}");

    env.zsc(&["apply", "plan.json"])
        .success()
        .stdout_has("Apply complete!");
    assert_eq!(
        env.members_of("G"),
        ["a@example.com"],
        "members are authoritative"
    );
    let c = env.live_user("c@example.com").unwrap();
    assert_eq!(c.display_name.as_deref(), Some("C"));
    assert_eq!(c.attrs().department, None, "the declared clear is applied");
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn two_tenants_on_one_server_are_refused_at_validate() {
    let env = Env::with_emulator(Dialect::Scim);
    let url = env.base_url();
    env.write(
        "zsc.yaml",
        &format!(
            "tenants:\n  a:\n    kind: scim\n    url: {url}\n    token: {{ env: ZSC_TEST_TOKEN }}\n  b:\n    kind: scim\n    url: {url}/\n    token: {{ env: ZSC_TEST_TOKEN }}\n"
        ),
    );
    env.zsc(&["validate"])
        .code(1)
        .stderr_has("tenants `a` and `b` point at the same server");
}

#[test]
fn names_compare_in_nfc_so_a_decomposed_spelling_adopts_the_precomposed_user() {
    let env = Env::with_emulator(Dialect::Scim);
    env.seed_user("jos\u{e9}@example.com", "José");
    env.config("users:\n  - user_name: \"jose\u{301}@example.com\"\n");
    env.zsc(&["plan"])
        .success()
        .stdout_has("will be adopted")
        .stdout_has("0 users to create");
    env.zsc(&["apply", "--auto-approve"]).success();
    assert_eq!(env.user_names(), ["jos\u{e9}@example.com"]);
    env.zsc(&["plan"]).success().stdout_has("No changes.");

    env.config("users:\n  - user_name: \"jose\u{301}@example.com\"\n  - user_name: \"jos\u{e9}@example.com\"\n");
    env.zsc(&["validate"]).code(1).stderr_has("duplicate user");
}

#[test]
fn invisible_characters_in_declared_names_and_blank_values_are_refused() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(
        "users:\n  - user_name: \"a\u{200b}@example.com\"\n  - user_name: b@example.com\n    display_name: \"   \"\n  - user_name: c@example.com\n    department: ~\n",
    );
    env.zsc(&["validate"])
        .code(1)
        .stderr_has("contains U+200B (zero-width space), which names must not hold")
        .stderr_has("`display_name` is only white space; give `\"\"` to clear it")
        .stderr_has("`department` is null; leave it out to leave the live value alone, or give `\"\"` to clear it");
}

#[test]
fn control_characters_in_live_names_are_escaped_in_every_view() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users:\n  - user_name: a@example.com\ngroups:\n  - name: G\n    members: [a@example.com]\n");
    env.zsc(&["apply", "--auto-approve"]).success();
    let evil = env.seed_user("evil\u{1b}[2J\r\n@example.com", "Evil");
    let group = env.group_id("G");
    let (status, body) = env.scim(
        "PATCH",
        &format!("/Groups/{group}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "value": {"members": [{"value": evil}]}}]
        })),
    );
    assert!(status < 300, "{body}");
    for format in ["text", "markdown"] {
        let run = env
            .zsc(&["plan", "--format", format])
            .success()
            .stdout_has("evil\\u{1b}[2J\\u{d}\\u{a}@example.com");
        assert!(!run.stdout.contains('\u{1b}'), "a raw escape in {format}");
        assert!(!run.stdout.contains('\r'), "a raw CR in {format}");
    }
    let run = env.zsc(&["apply", "--auto-approve"]).success();
    assert!(!run.stdout.contains('\u{1b}') && !run.stderr.contains('\u{1b}'));
    assert_eq!(env.members_of("G"), ["a@example.com"]);
}

#[test]
fn renamed_from_on_a_user_keeps_its_id_and_a_case_change_is_applied() {
    let env = Env::with_emulator(Dialect::Zia);
    env.config("users:\n  - user_name: jane.doe@example.com\n    external_id: E7\ngroups:\n  - name: G\n    members: [jane.doe@example.com]\n");
    env.zsc(&["apply", "--auto-approve"]).success();
    let id = env.user_id("jane.doe@example.com");

    // Without renamed_from: a delete and a create, with a note linking them.
    env.config("users:\n  - user_name: jane.smith@example.com\n    external_id: E7\ngroups:\n  - name: G\n    members: [jane.smith@example.com]\n");
    env.zsc(&["plan"])
        .code(1)
        .stdout_has("`jane.doe@example.com` is removed with the same external_id: if this is a rename, declare `renamed_from: jane.doe@example.com`");

    env.config("users:\n  - user_name: jane.smith@example.com\n    renamed_from: jane.doe@example.com\n    external_id: E7\ngroups:\n  - name: G\n    members: [jane.smith@example.com]\n");
    env.zsc(&["plan"])
        .success()
        .stdout_has(
            "# t.user[\"jane.smith@example.com\"] will be renamed to \"jane.smith@example.com\"",
        )
        .stdout_has("~ user \"jane.doe@example.com\" -> \"jane.smith@example.com\"")
        .stdout_has("1 to rename");
    env.zsc(&["apply", "--auto-approve"]).success();
    assert_eq!(env.user_id("jane.smith@example.com"), id);
    assert_eq!(env.members_of("G"), ["jane.smith@example.com"]);
    env.zsc(&["plan"]).success().stdout_has("No changes.");

    env.config("users:\n  - user_name: Jane.Smith@example.com\n    external_id: E7\ngroups:\n  - name: G\n    members: [Jane.Smith@example.com]\n");
    env.zsc(&["plan"])
        .success()
        .stdout_has("changes only the case of `jane.smith@example.com`");
    env.zsc(&["apply", "--auto-approve"]).success();
    assert_eq!(env.user_id("Jane.Smith@example.com"), id);
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn values_changed_outside_zsc_or_not_kept_are_marked_in_every_view() {
    let env = Env::with_emulator(Dialect::Scim);
    // Adopted as it is: zsc writes nothing, so a later change is someone else's.
    env.seed_user("a@example.com", "Ann");
    env.config("users:\n  - user_name: a@example.com\n    display_name: Ann\n  - user_name: b@example.com\n    display_name: Bob\n");
    env.zsc(&["apply", "--auto-approve"]).success();
    let a = env.user_id("a@example.com");
    let b = env.user_id("b@example.com");
    env.patch("Users", &a, "displayName", json!("Ann (contractor)"));
    env.patch("Users", &b, "displayName", json!("Robert"));

    env.zsc(&["plan"])
        .success()
        .stdout_has("# display_name changed outside zsc since the last apply (state had \"Ann\")")
        .stdout_has("# the server did not keep the display_name zsc wrote on ");
    env.zsc(&["plan", "--format", "markdown"])
        .success()
        .stdout_has("display_name changed outside zsc since the last apply");
    let json = env.zsc(&["plan", "--format", "json"]).success();
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let drift: Vec<serde_json::Value> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["drift"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(drift.len(), 2, "{}", json.stdout);
    assert!(drift.iter().any(|d| d["attribute"] == "display_name"
        && d["recorded"] == "Ann"
        && d.get("written_at").is_none()));
    assert!(drift
        .iter()
        .any(|d| d["recorded"] == "Bob" && d["written_at"].is_string()));
}

#[test]
fn a_member_added_outside_zsc_is_marked_when_removed() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users:\n  - user_name: a@example.com\ngroups:\n  - name: G\n    members: [a@example.com]\n");
    env.zsc(&["apply", "--auto-approve"]).success();
    let outsider = env.seed_user("x@example.com", "X");
    let g = env.group_id("G");
    let (status, _) = env.scim(
        "PATCH",
        &format!("/Groups/{g}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "value": {"members": [{"value": outsider}]}}]
        })),
    );
    assert!(status < 300);
    env.zsc(&["plan"])
        .success()
        .stdout_has("- member \"x@example.com\"  # added outside zsc since the last apply");
}

#[test]
fn a_case_only_renamed_from_explains_itself() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("groups:\n  - name: ops\n");
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config("groups:\n  - name: Ops\n    renamed_from: ops\n");
    env.zsc(&["validate"]).success();
    env.zsc(&["plan"])
        .success()
        .stdout_has("changes only the case of `ops`")
        .stdout_lacks("renamed from itself");
    env.zsc(&["apply", "--auto-approve"]).success();
    assert_eq!(env.group_names(), ["Ops"]);
}

#[test]
fn a_target_on_a_groups_old_name_brings_its_membership_changes() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users:\n  - user_name: a@example.com\n  - user_name: b@example.com\ngroups:\n  - name: Old\n    members: [a@example.com]\n");
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config("users:\n  - user_name: a@example.com\n  - user_name: b@example.com\ngroups:\n  - name: New\n    renamed_from: Old\n    members: [a@example.com, b@example.com]\n");
    env.zsc(&["plan", "--target", "t.group[\"Old\"]"])
        .success()
        .stdout_has("will be renamed to \"New\"")
        .stdout_has("+ member \"b@example.com\"");
}

#[test]
fn a_saved_plan_keeps_the_guard_limits_it_was_made_with() {
    let env = Env::with_emulator(Dialect::Scim);
    let defaults = "defaults:\n  max_destroy: 0\n  max_destroy_percent: 100\n";
    env.config(&format!(
        "{defaults}users:\n  - user_name: a@example.com\n  - user_name: b@example.com\n"
    ));
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config(&format!("{defaults}users:\n  - user_name: a@example.com\n"));
    env.zsc(&["plan", "-o", "plan.json"])
        .code(1)
        .stderr_has("`--max-destroy 1`");
    env.zsc(&["plan", "-o", "plan.json", "--max-destroy", "1"])
        .success();
    env.zsc(&["apply", "plan.json"]).success();
    assert_eq!(
        env.live_user("b@example.com").and_then(|u| u.active),
        Some(false)
    );
}

#[test]
fn a_group_losing_its_only_member_is_called_out() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users:\n  - user_name: a@example.com\ngroups:\n  - name: Solo\n    members: [a@example.com]\n");
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config("users:\n  - user_name: a@example.com\ngroups:\n  - name: Solo\n    members: []\n");
    env.zsc(&["plan"])
        .success()
        .stdout_has("Warning: group `Solo` in `t` loses 1 of its 1 members (100%)");
}

#[test]
fn a_failed_batched_member_patch_names_each_members_own_error() {
    let env = Env::with_emulator(Dialect::Scim);
    let people = "users:\n  - user_name: a@example.com\n  - user_name: b@example.com\n  - user_name: c@example.com\n";
    env.config(&format!(
        "{people}groups:\n  - name: G\n    members: [a@example.com]\n"
    ));
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config(&format!(
        "{people}groups:\n  - name: G\n    members: [a@example.com, b@example.com, c@example.com]\n"
    ));
    env.zsc(&["plan", "-o", "plan.json"]).success();
    // c goes away behind the saved plan's back: adding it is refused, b's addition is not.
    let c = env.user_id("c@example.com");
    let (status, _) = env.scim("DELETE", &format!("/Users/{c}"), None);
    assert_eq!(status, 204);
    let run = env.zsc(&["apply", "plan.json"]).code(1);
    let failures: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Not applied:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(failures.len(), 1, "{}", run.stdout);
    assert!(
        failures[0].contains("t.membership[\"G\"][\"c@example.com\"]"),
        "{}",
        run.stdout
    );
    assert_eq!(env.members_of("G"), ["a@example.com", "b@example.com"]);
}
