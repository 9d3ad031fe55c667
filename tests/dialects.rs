//! ZIA and ZPA through the real binary: the lifecycle per dialect, ZIA's admin-user refusal,
//! pacing under ZIA's documented rate limit, discovery, and one configuration driving a ZIA
//! and a ZPA tenant together.

use std::time::{Duration, Instant};

use serde_json::json;
use zsc::dialect::Dialect;
use zsc::emulator::{Discovery, EmulatorOptions, Faults};

use crate::harness::{emulator_options, Env, TOKEN_ENV};

fn tenant(name: &str, kind: Dialect, url: &str) -> String {
    format!("  {name}:\n    kind: {kind}\n    url: {url}\n    token: {{ env: {TOKEN_ENV} }}\n")
}

fn config(env: &Env, dialect: Dialect, body: &str) {
    let yaml = format!(
        "tenants:\n{}defaults:\n  max_destroy_percent: 100\n{body}",
        tenant("t", dialect, &env.base_url())
    );
    env.write("zsc.yaml", &yaml);
}

const V1: &str = "
users:
  - user_name: ann@example.com
    display_name: Ann Example
    department: Sales
  - user_name: bob@example.com
    display_name: Bob Example
  - user_name: adopted@example.com
    display_name: Adopted
groups:
  - name: Team
    members: [ann@example.com, bob@example.com]
  - name: Old Name
    members: [ann@example.com]
  - name: Scratch
";

/// ann renamed, bob removed (deprovisioned), Old Name renamed, Scratch deleted, Team's
/// members changed.
const V2: &str = "
users:
  - user_name: ann@example.com
    display_name: Ann Changed
    department: Sales
  - user_name: adopted@example.com
    display_name: Adopted
groups:
  - name: Team
    members: [ann@example.com, adopted@example.com]
  - name: New Name
    renamed_from: Old Name
    members: [ann@example.com]
";

fn lifecycle(dialect: Dialect) -> Env {
    let env = Env::with_emulator(dialect);
    env.seed_user("Adopted@Example.com", "Adopted");
    config(&env, dialect, V1);
    env.zsc(&["plan"])
        .success()
        .stdout_has("# t.user[\"ann@example.com\"] will be created")
        .stdout_has("# t.user[\"adopted@example.com\"] will be adopted")
        .stdout_has("2 users to create, 1 to adopt");
    env.zsc(&["apply", "--auto-approve"])
        .success()
        .stdout_has("Apply complete!");
    env.zsc(&["plan"]).success().stdout_has("No changes.");
    // Adopted, and spelled as declared.
    assert_eq!(
        env.user_names(),
        ["adopted@example.com", "ann@example.com", "bob@example.com"]
    );
    assert_eq!(
        env.members_of("Team"),
        ["ann@example.com", "bob@example.com"]
    );

    config(&env, dialect, V2);
    let plan = env
        .zsc(&["plan"])
        .success()
        .stdout_has("~ display_name = \"Ann Example\" -> \"Ann Changed\"")
        .stdout_has("# t.group[\"Old Name\"] will be renamed to \"New Name\"")
        .stdout_has("# t.group[\"Scratch\"] will be deleted")
        .stdout_has("+ member \"adopted@example.com\"")
        .stdout_has("- member \"bob@example.com\"");
    match dialect {
        Dialect::Zpa => {
            plan.stdout_has("# t.user[\"bob@example.com\"] will be deleted")
                .stdout_has("on ZPA `active: false` deletes the user");
        }
        _ => {
            plan.stdout_has("# t.user[\"bob@example.com\"] will be disabled");
        }
    }
    env.zsc(&["apply", "--auto-approve"])
        .success()
        .stdout_has("Apply complete!");
    env.zsc(&["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes.");
    assert_eq!(env.group_names(), ["New Name", "Team"]);
    assert_eq!(
        env.members_of("Team"),
        ["adopted@example.com", "ann@example.com"]
    );
    let data = env.data();
    let ann = data
        .users
        .iter()
        .find(|u| u.user_name == "ann@example.com")
        .unwrap();
    assert_eq!(ann.display_name.as_deref(), Some("Ann Changed"));
    let bob = data.users.iter().find(|u| u.user_name == "bob@example.com");
    match dialect {
        Dialect::Zpa => assert!(bob.is_none(), "ZPA deletes a deactivated user"),
        _ => assert_eq!(bob.expect("ZIA keeps bob").active, Some(false)),
    }
    env
}

#[test]
fn zia_lifecycle_create_adopt_update_rename_members_disable_delete() {
    lifecycle(Dialect::Zia);
}

#[test]
fn zpa_lifecycle_deprovision_is_a_delete_and_string_booleans_and_numeric_ids_are_handled() {
    let env = lifecycle(Dialect::Zpa);
    // What zsc just read back without complaint: `active` as a string, numeric ids among UUIDs.
    let (status, body) = env.scim("GET", "/Users?count=100", None);
    assert_eq!(status, 200);
    let users = body["Resources"].as_array().unwrap();
    assert!(users.iter().all(|u| u["active"].is_string()), "{body}");
    let (_, groups) = env.scim("GET", "/Groups", None);
    let ids: Vec<&str> = users
        .iter()
        .chain(groups["Resources"].as_array().unwrap())
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.iter().any(|id| id.bytes().all(|b| b.is_ascii_digit())),
        "{ids:?}"
    );
    assert!(ids.iter().any(|id| id.contains('-')), "{ids:?}");
    // ZPA lists omit members: zsc read each group by id.
    assert!(groups["Resources"][0].get("members").is_none());
}

#[test]
fn zia_admin_user_delete_fails_clearly_once_and_the_rest_completes() {
    let mut env = Env::new();
    let mut options = emulator_options(Dialect::Zia);
    options.admin_users = vec!["boss@example.com".to_owned()];
    env.emulator = Some(env.spawn_emulator(options));
    let people = "
users:
  - user_name: boss@example.com
  - user_name: worker@example.com
";
    let with_delete = |body: &str| format!("defaults:\n  remove_user_action: delete\n{body}");
    env.write(
        "zsc.yaml",
        &format!(
            "tenants:\n{}{}",
            tenant("t", Dialect::Zia, &env.base_url()),
            with_delete(people)
        ),
    );
    env.zsc(&["apply", "--auto-approve"]).success();
    env.write(
        "zsc.yaml",
        &format!(
            "tenants:\n{}{}\n  max_destroy_percent: 100\nusers: []\n",
            tenant("t", Dialect::Zia, &env.base_url()),
            with_delete("").trim_end()
        ),
    );
    let deletes_before = env
        .emulator()
        .stats()
        .by_route
        .get("DELETE /Users")
        .copied();
    env.zsc(&["apply", "--auto-approve"])
        .code(1)
        .stdout_has("t.user[\"boss@example.com\"]: DELETE /Users/")
        .stdout_has("409 Conflict: Admin user cannot be deleted")
        .stdout_has("linked to an admin account")
        .stdout_has("remove_user_action: disable")
        .stdout_has("1 done, 1 failed");
    assert_eq!(env.user_names(), ["boss@example.com"]);
    // One DELETE each: the refusal is not retried.
    let deletes = env.emulator().stats().by_route["DELETE /Users"];
    assert_eq!(deletes - deletes_before.unwrap_or(0), 2);
}

#[test]
fn zia_apply_paces_itself_under_the_documented_rate_limit() {
    let mut env = Env::new();
    env.start_emulator(
        Dialect::Zia,
        Faults {
            rate_limit: Some(5.0),
            ..Faults::default()
        },
    );
    config(&env, Dialect::Zia, &Env::people(20, 2));
    let started = Instant::now();
    env.zsc(&["apply", "--auto-approve"])
        .success()
        .stdout_has("20 users to create")
        .stdout_has("Apply complete!");
    let elapsed = started.elapsed();
    let stats = env.emulator().stats();
    assert_eq!(stats.throttled, 0, "{stats:?}");
    // 2 listings + 20 user creates + 2 group creates with their members inline.
    assert_eq!(stats.requests, 24, "{stats:?}");
    // 24 requests at 5 per second: about 4 seconds after the first second's burst.
    assert!(elapsed >= Duration::from_millis(3500), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn discovery_lowers_the_page_size_and_a_server_without_it_uses_the_dialect_defaults_saying_so() {
    let mut env = Env::new();
    env.start_emulator(
        Dialect::Zia,
        Faults {
            page_size_cap: Some(7),
            ..Faults::default()
        },
    );
    config(&env, Dialect::Zia, &Env::people(20, 0));
    env.zsc(&["apply", "--auto-approve"]).success();
    env.zsc(&["plan", "-v"])
        .success()
        .stdout_has("No changes.")
        .stderr_has("the server's maxResults is 7; the zia dialect assumes pages of up to 1000");

    env.set_faults(Faults {
        discovery: Discovery::Missing,
        ..Faults::default()
    });
    let run = env
        .zsc(&["plan", "-v"])
        .success()
        .stdout_has("No changes.")
        .stderr_has("capabilities: filter yes, PATCH yes, maxResults not stated; from the dialect's defaults (/ServiceProviderConfig answered 404)");
    assert!(
        !run.stderr.contains("the server's maxResults"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_server_without_patch_is_updated_with_put() {
    let mut env = Env::new();
    env.start_emulator(
        Dialect::Scim,
        Faults {
            discovery: Discovery::Custom(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
                "patch": {"supported": false},
                "filter": {"supported": true, "maxResults": 200}
            })),
            ..Faults::default()
        },
    );
    config(&env, Dialect::Scim, &Env::people(3, 1));
    env.zsc(&["apply", "--auto-approve"]).success();
    config(
        &env,
        Dialect::Scim,
        &Env::people(3, 1).replace("User 0", "User Zero").replace(
            "- name: Team 0\n    members: [user0@example.com, ",
            "- name: Team Zero\n    renamed_from: Team 0\n    members: [",
        ),
    );
    env.zsc(&["apply", "--auto-approve", "-v"])
        .success()
        .stderr_has("does not support PATCH");
    let stats = env.emulator().stats();
    assert!(!stats.by_method.contains_key("PATCH"), "{stats:?}");
    assert!(stats.by_route.contains_key("PUT /Groups"), "{stats:?}");
    assert!(stats.by_route.contains_key("PUT /Users"), "{stats:?}");
    assert_eq!(env.group_names(), ["Team Zero"]);
    assert_eq!(
        env.members_of("Team Zero"),
        ["user1@example.com", "user2@example.com"]
    );
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn zia_limits_are_caught_before_any_request() {
    let env = Env::with_emulator(Dialect::Zia);
    let groups: Vec<String> = (0..129).map(|i| format!("G{i}")).collect();
    let body = format!(
        "users:\n  - user_name: busy@example.com\n    groups: [{}]\n  - user_name: someone@other.org\ngroups:\n{}",
        groups.join(", "),
        groups
            .iter()
            .map(|g| format!("  - name: {g}\n"))
            .collect::<String>()
    );
    env.write(
        "zsc.yaml",
        &format!(
            "tenants:\n{}    allowed_domains: [example.com]\n{body}",
            tenant("t", Dialect::Zia, &env.base_url())
        ),
    );
    env.zsc(&["plan"])
        .code(1)
        .stderr_has(
            "user `busy@example.com` is in 129 groups on tenant `t`; ZIA allows at most 128",
        )
        .stderr_has("zsc.yaml:8:16")
        .stderr_has("user `someone@other.org` is not in a domain tenant `t` allows")
        .stderr_has("zsc.yaml:10:16");
    assert_eq!(env.emulator().stats().requests, 0);
}

#[test]
fn one_config_drives_a_zia_and_a_zpa_tenant_together() {
    let env = Env::with_emulator(Dialect::Zia);
    let zpa = env.spawn_emulator(EmulatorOptions::new(Dialect::Zpa, crate::harness::TOKEN));
    let yaml = format!(
        "tenants:\n{}{}users:
  - user_name: shared@example.com
    display_name: Shared
    given_name: Sha
  - user_name: web@example.com
    display_name: Web Only
    tenants: [zia]
  - user_name: app@example.com
    display_name: App Only
    given_name: Ap
    tenants: [zpa]
groups:
  - name: Everyone
    members: [shared@example.com, web@example.com, app@example.com]
  - name: App Team
    members: [app@example.com, shared@example.com]
    tenants: [zpa]
",
        tenant("zia", Dialect::Zia, &env.base_url()),
        tenant("zpa", Dialect::Zpa, &zpa.base_url()),
    );
    env.write("zsc.yaml", &yaml);
    env.zsc(&["plan"])
        .success()
        .stdout_has("# zia.user[\"shared@example.com\"] will be created")
        .stdout_has("# zpa.user[\"shared@example.com\"] will be created")
        .stdout_has("# zpa.group[\"App Team\"] will be created")
        .stdout_lacks("zia.group[\"App Team\"]")
        .stdout_lacks("zpa.user[\"web@example.com\"]")
        .stdout_has("zia: 2 users to create")
        .stdout_has("zpa: 2 users to create")
        .stdout_has("Plan: 4 users to create");
    env.zsc(&["apply", "--auto-approve"])
        .success()
        .stdout_has("Apply complete!");
    env.zsc(&["plan"]).success().stdout_has("No changes.");

    assert_eq!(env.user_names(), ["shared@example.com", "web@example.com"]);
    assert_eq!(
        env.members_of("Everyone"),
        ["shared@example.com", "web@example.com"]
    );
    let data = zpa.snapshot();
    let mut names: Vec<&str> = data.users.iter().map(|u| u.user_name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["app@example.com", "shared@example.com"]);
    let shared = data
        .users
        .iter()
        .find(|u| u.user_name == "shared@example.com")
        .unwrap();
    // ZPA keeps given_name; ZIA was never sent it.
    assert_eq!(
        shared.name.as_ref().and_then(|n| n.given_name.as_deref()),
        Some("Sha")
    );
    let zia_shared = env.live_user("shared@example.com").unwrap();
    assert!(zia_shared.name.is_none(), "{zia_shared:?}");
    let mut groups: Vec<&str> = data
        .groups
        .iter()
        .map(|g| g.display_name.as_str())
        .collect();
    groups.sort();
    assert_eq!(groups, ["App Team", "Everyone"]);
}
