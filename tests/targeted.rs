//! Targeted refresh (`--refresh=changed`, `refresh: changed`): it reads only what a plan can
//! touch, falls back to a full read when it cannot vouch for the rest, and never concludes
//! that an object is gone, changed or unmanaged from what it did not read.

use serde_json::Value;
use zsc::dialect::Dialect;

use crate::harness::{Env, TOKEN_ENV};

/// Four users in two groups, applied; the emulator's request log cleared.
fn applied() -> Env {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(4, 2));
    env.zsc(&["apply", "--auto-approve"]).success();
    env.emulator().clear_request_log();
    env
}

fn requests(env: &Env) -> Vec<String> {
    env.emulator()
        .request_log()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn state(env: &Env) -> Value {
    serde_json::from_str(&std::fs::read_to_string(env.path(".zsc/state.json")).unwrap()).unwrap()
}

fn write_state(env: &Env, state: &Value) {
    std::fs::write(env.path(".zsc/state.json"), state.to_string()).unwrap();
}

#[test]
fn a_no_change_plan_reads_two_counts_and_says_what_it_did_not_check() {
    let env = applied();
    let full = state(&env)["tenants"]["t"]["full_refresh"].clone();
    assert_eq!(full["users"], 4, "{full}");
    assert_eq!(full["groups"], 2, "{full}");
    let at = full["at"].as_str().unwrap().to_owned();
    env.zsc(&["plan", "--refresh=changed"])
        .success()
        .stdout_has("No changes.")
        .stdout_has(&format!(
            "t: read 0 users and 0 groups this plan can touch, and counted 4 users and 2 groups, \
             as many as at the last full refresh ({at}); drift on other objects not checked since"
        ));
    let mut log = requests(&env);
    log.sort();
    assert_eq!(
        log,
        [
            "GET /Groups?startIndex=1&count=1&excludedAttributes=members",
            "GET /Users?startIndex=1&count=1&excludedAttributes=groups",
        ]
    );
    let plan: Value = serde_json::from_str(
        &env.zsc(&["plan", "--refresh=changed", "--format", "json"])
            .success()
            .stdout,
    )
    .unwrap();
    let tenant = &plan["tenants"][0];
    assert_eq!(tenant["read"]["users_read"], 0);
    assert_eq!(tenant["read"]["last_full_refresh"], at);
    assert_eq!(tenant["live_users"], 4);
    assert_eq!(tenant["unmanaged_users"], 0, "not counted");
}

#[test]
fn a_plan_reads_what_it_changes_and_nothing_else() {
    let env = applied();
    let yaml = Env::people(4, 2).replace("display_name: User 1\n", "display_name: User One\n");
    env.config(&format!(
        "{yaml}  - name: Team 9\n    members: [user0@example.com]\n"
    ));
    env.zsc(&["plan", "--refresh=changed"])
        .success()
        .stdout_has("t: read 2 users and 1 group this plan can touch")
        .stdout_has("~ display_name = \"User 1\" -> \"User One\"")
        .stdout_has("1 group to create");
    // The changed user by id, the new group by name, and the user it adds (to be sure it is
    // there): nothing else but the two counts.
    let (one, zero) = (
        env.user_id("user1@example.com"),
        env.user_id("user0@example.com"),
    );
    let mut log = requests(&env);
    log.sort();
    let mut expected = vec![
        "GET /Groups?filter=displayName%20eq%20%22Team%209%22".to_owned(),
        "GET /Groups?startIndex=1&count=1&excludedAttributes=members".to_owned(),
        "GET /Users?startIndex=1&count=1&excludedAttributes=groups".to_owned(),
        format!("GET /Users/{one}"),
        format!("GET /Users/{zero}"),
    ];
    expected.sort();
    assert_eq!(log, expected);
}

#[test]
fn counts_that_disagree_with_state_mean_a_full_read() {
    let env = applied();
    env.seed_user("outsider@example.com", "Made elsewhere");
    let run = env
        .zsc(&["plan", "--refresh=changed"])
        .success()
        .stdout_has("t: refreshed 5 users, 2 groups (1 user and 0 groups not managed by zsc")
        .stdout_has(
            "`t`: read in full, not only what this plan can touch: the server counts 5 users, \
             more than at its last full read",
        );
    assert!(
        !run.stdout.contains("this plan can touch,"),
        "{}",
        run.stdout
    );
    assert!(
        requests(&env).iter().any(|r| r.contains("count=1000")),
        "a full listing: {:?}",
        requests(&env)
    );
}

#[test]
fn a_last_full_read_older_than_max_refresh_age_means_a_full_read() {
    let env = applied();
    let mut s = state(&env);
    s["tenants"]["t"]["full_refresh"]["at"] = "2020-01-01T00:00:00Z".into();
    write_state(&env, &s);
    env.zsc(&["plan", "--refresh=changed"])
        .success()
        .stdout_has("t: refreshed 4 users, 2 groups")
        .stdout_has("its last full read (2020-01-01T00:00:00Z) is ")
        .stdout_has("old, more than `max_refresh_age` (1d)");

    // A tenant's own `max_refresh_age` counts, and a fresh state with no full read yet too.
    let env = applied();
    let mut s = state(&env);
    let an_hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    s["tenants"]["t"]["full_refresh"]["at"] = an_hour_ago
        .round(jiff::Unit::Second)
        .unwrap()
        .to_string()
        .into();
    write_state(&env, &s);
    let yaml = std::fs::read_to_string(env.path("zsc.yaml"))
        .unwrap()
        .replace(
            &format!("token: {{ env: {TOKEN_ENV} }}\n"),
            &format!(
                "token: {{ env: {TOKEN_ENV} }}\n    refresh: changed\n    max_refresh_age: 30m\n"
            ),
        );
    env.write("zsc.yaml", &yaml);
    env.zsc(&["plan"])
        .success()
        .stdout_has("more than `max_refresh_age` (30m)");
    s["tenants"]["t"]
        .as_object_mut()
        .unwrap()
        .remove("full_refresh");
    write_state(&env, &s);
    env.zsc(&["plan"])
        .success()
        .stdout_has("state records no full read of this tenant yet");
}

#[test]
fn what_was_not_read_is_never_concluded_gone_changed_or_unmanaged() {
    let env = applied();
    // Outside zsc: a managed user deleted, another created (so the count still agrees), and a
    // managed user's display name changed. None of them is something the plan touches.
    let gone = env.user_id("user0@example.com");
    assert_eq!(env.scim("DELETE", &format!("/Users/{gone}"), None).0, 204);
    env.seed_user("outsider@example.com", "Made elsewhere");
    let changed = env.user_id("user1@example.com");
    env.patch("Users", &changed, "displayName", "Changed elsewhere".into());

    let run = env
        .zsc(&["plan", "--refresh=changed"])
        .success()
        .stdout_has("No changes.")
        .stdout_has("counted 4 users and 2 groups");
    for said in ["gone", "not managed", "outside zsc", "Changed elsewhere"] {
        assert!(!run.stdout.contains(said), "{said}: {}", run.stdout);
    }
    let plan: Value = serde_json::from_str(
        &env.zsc(&["plan", "--refresh=changed", "--format", "json"])
            .success()
            .stdout,
    )
    .unwrap();
    let tenant = &plan["tenants"][0];
    assert!(tenant.get("gone").is_none(), "{tenant}");
    assert_eq!(tenant["unmanaged_users"], 0);
    assert_eq!(plan["changes"].as_array().unwrap().len(), 0);

    // Once the plan touches the deleted user, it reads it, and only then knows it is gone.
    let yaml = Env::people(4, 2).replace("display_name: User 0\n", "display_name: Zero\n");
    env.config(&yaml);
    env.zsc(&["plan", "--refresh=changed"])
        .success()
        // By id (gone), then by name (before creating it), and its group.
        .stdout_has("t: read 2 users and 1 group this plan can touch")
        .stdout_has("# t.user[\"user0@example.com\"] will be created")
        .stdout_has(&format!("(id `{gone}`) is gone live"));

    // A full read sees everything.
    env.zsc(&["plan", "--refresh=full"])
        .success()
        .stdout_has("(1 user and 0 groups not managed by zsc")
        .stdout_has("~ display_name = \"Changed elsewhere\" -> \"User 1\"");
}

/// A record that no longer says what the server holds, with a fingerprint that still matches
/// (as if the record had been edited): the plan would change an object it did not read, so it
/// reads it first, and plans from what it read.
#[test]
fn a_change_to_an_object_not_read_is_read_before_it_is_planned() {
    let env = applied();
    let mut s = state(&env);
    let group = &mut s["tenants"]["t"]["groups"]["team 0"];
    let members = group["members"].as_array_mut().unwrap();
    let dropped = members.remove(0);
    let state_now: zsc::state::State = serde_json::from_value(s.clone()).unwrap();
    let config = zsc::config::load_with(
        &env.path("zsc.yaml"),
        &zsc::config::LoadOptions {
            check_tokens: false,
            ..Default::default()
        },
    )
    .unwrap();
    let desired = config.desired["t"]
        .groups
        .iter()
        .find(|g| g.name == "Team 0")
        .unwrap();
    let record = &state_now.tenants["t"].groups["team 0"];
    let fp = zsc::plan::targeted::group_fingerprint(desired, record);
    s["tenants"]["t"]["reconciled"]["groups"]["team 0"] = fp.into();
    write_state(&env, &s);
    assert!(dropped.is_string());

    env.zsc(&["plan", "--refresh=changed"])
        .success()
        .stdout_has("No changes.")
        .stdout_has("t: read 1 user and 1 group this plan can touch");
}

#[test]
fn a_tenant_may_plan_targeted_by_default_while_apply_reads_everything() {
    let env = applied();
    let yaml = std::fs::read_to_string(env.path("zsc.yaml"))
        .unwrap()
        .replace(
            &format!("token: {{ env: {TOKEN_ENV} }}\n"),
            &format!("token: {{ env: {TOKEN_ENV} }}\n    refresh: changed\n"),
        );
    env.write("zsc.yaml", &yaml);
    env.zsc(&["plan"])
        .success()
        .stdout_has("this plan can touch");
    env.zsc(&["plan", "--refresh=full"])
        .success()
        .stdout_has("t: refreshed 4 users, 2 groups");
    env.zsc(&["apply", "--auto-approve"])
        .success()
        .stdout_has("t: refreshed 4 users, 2 groups");
    env.zsc(&["validate"]).success();
    env.write(
        "zsc.yaml",
        &yaml.replace("refresh: changed", "refresh: sometimes"),
    );
    env.zsc(&["validate"])
        .code(1)
        .stderr_has("`refresh` must be `full` or `changed`, found `sometimes`");
}
