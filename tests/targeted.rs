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
    // there): nothing else but the two counts, and (once, since a name was looked up) whether
    // `displayName eq` finds a listed group's name spelled in the other case.
    let (one, zero) = (
        env.user_id("user1@example.com"),
        env.user_id("user0@example.com"),
    );
    let mut log = requests(&env);
    // The case question names whichever group the server lists first.
    let probe = "GET /Groups?filter=displayName%20eq%20%22tEAM%20";
    assert_eq!(
        log.iter().filter(|r| r.starts_with(probe)).count(),
        1,
        "{log:?}"
    );
    log.retain(|r| !r.starts_with(probe));
    log.sort();
    let mut expected = vec![
        "GET /Groups?filter=displayName%20eq%20%22Team%209%22".to_owned(),
        "GET /Groups?startIndex=1&count=1".to_owned(),
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

/// `body` with pages of one object: a full read of a small tenant costs more requests than
/// a few look-ups, so that a targeted read is worth making.
fn small_pages(body: &str) -> String {
    format!("    page_size: 1\n{body}")
}

/// The line a plan's summary starts with (`Plan: …`), to compare a targeted plan with a full one.
fn summary(stdout: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with("Plan:"))
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"))
        .to_owned()
}

/// Where `eq` tells case apart, a name it does not find may still be there in another spelling:
/// a targeted plan does not trust it, and reads in full (as the full plan, it adopts the group
/// spelled otherwise instead of creating a second one).
#[test]
fn names_looked_up_where_eq_tells_case_apart_mean_a_full_read() {
    let mut env = Env::new();
    env.start_emulator(
        Dialect::Scim,
        zsc::emulator::Faults {
            case_sensitive_filters: true,
            ..Default::default()
        },
    );
    // Made before the first apply, so that the counts at its full read include it.
    env.seed_group("TEAM 9", &[]);
    env.config(&small_pages(&Env::people(4, 2)));
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config(&small_pages(&format!(
        "{}  - name: Team 9\n    members: [user0@example.com]\n",
        Env::people(4, 2)
    )));
    let full = env.zsc(&["plan"]).success();
    let targeted = env
        .zsc(&["plan", "--refresh=changed"])
        .success()
        .stdout_has(
            "`t`: read in full, not only what this plan can touch: names cannot be looked up \
             one by one on this server",
        )
        .stdout_has("1 group to adopt");
    assert_eq!(summary(&targeted.stdout), summary(&full.stdout));
    env.zsc(&["apply", "--auto-approve", "--refresh=changed"])
        .success();
    assert_eq!(
        env.group_names()
            .iter()
            .filter(|n| n.eq_ignore_ascii_case("team 9"))
            .count(),
        1
    );
}

/// A rename's new name is looked up like a create's: an unmanaged group holding it is a
/// conflict in a targeted plan as in a full one, not a second group of the name.
#[test]
fn a_rename_looks_up_the_name_it_takes() {
    let mut env = Env::new();
    env.start_emulator(Dialect::Scim, zsc::emulator::Faults::default());
    env.seed_group("TEAM 9", &[]);
    env.config(&small_pages(&Env::people(4, 2)));
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config(&small_pages(&Env::people(4, 2).replace(
        "- name: Team 1\n",
        "- name: Team 9\n    renamed_from: Team 1\n",
    )));
    env.zsc(&["plan"])
        .code(1)
        .stdout_has("already holds that name");
    env.emulator().clear_request_log();
    env.zsc(&["plan", "--refresh=changed"])
        .code(1)
        .stdout_has("already holds that name")
        .stdout_lacks("read in full");
    assert!(
        requests(&env)
            .iter()
            .any(|r| r.contains("displayName%20eq%20%22Team%209%22")),
        "{:?}",
        requests(&env)
    );
}

/// A user deleted and made again outside zsc under a new id (the counts stay equal), then
/// renamed in the YAML with `renamed_from`: the old name is looked up, so the targeted plan
/// adopts the user made again as the full plan does.
#[test]
fn renamed_from_looks_up_the_old_name_when_its_record_is_gone() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&small_pages(&Env::people(4, 2)));
    env.zsc(&["apply", "--auto-approve"]).success();
    let id = env.user_id("user3@example.com");
    let (status, _) = env.scim("DELETE", &format!("/Users/{id}"), None);
    assert_eq!(status, 204);
    env.seed_user("user3@example.com", "User 3");
    env.config(&small_pages(
        &Env::people(4, 2)
            .replace(
                "  - user_name: user3@example.com\n",
                "  - user_name: user3.new@example.com\n    renamed_from: user3@example.com\n",
            )
            .replace("user3@example.com]", "user3.new@example.com]"),
    ));
    let full = env.zsc(&["plan"]).success();
    let targeted = env
        .zsc(&["plan", "--refresh=changed"])
        .success()
        .stdout_has("this plan can touch");
    assert_eq!(summary(&targeted.stdout), summary(&full.stdout));
    assert!(
        !summary(&full.stdout).contains("1 to create"),
        "{}",
        full.stdout
    );
}

/// Counts say nothing of a server never read: a tenant whose URL no longer is the one state
/// records is read in full.
#[test]
fn a_tenant_pointing_at_another_server_is_read_in_full() {
    let env = applied();
    let mut s = state(&env);
    s["tenants"]["t"]["server"] = "https://elsewhere.example.com/scim/v2".into();
    write_state(&env, &s);
    env.zsc(&["plan", "--refresh=changed"])
        .success()
        .stdout_has(
            "`t`: read in full, not only what this plan can touch: the configuration points at",
        );
}
