//! Guardrails, second pass (issue 20): a tenant that lost what zsc manages, a tenant whose
//! configuration points at another server, and state kept for tenants the configuration no
//! longer declares.

use zsc::dialect::Dialect;
use zsc::emulator::EmulatorData;

use crate::harness::{emulator_options, Env, TOKEN_ENV};

const TEAM: &str = "users:
  - user_name: a@example.com
  - user_name: b@example.com
  - user_name: c@example.com
  - user_name: d@example.com
groups:
  - name: Staff
    members: [a@example.com, b@example.com]
";

#[test]
fn an_emptied_tenant_at_the_same_url_is_refused_with_the_counts_and_the_flag() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    env.zsc(&["apply", "--auto-approve"]).success();
    // The server is replaced by an empty one at the same URL (a restore from an old backup).
    env.emulator().replace_data(EmulatorData::default());

    env.zsc(&["plan"])
        .code(1)
        .stdout_has("Warning: 4 of the 4 users and 1 of the 1 groups zsc manages in `t` are gone live: deleted outside zsc, or this is another tenant (`a@example.com`")
        .stderr_has("5 of the 5 objects zsc manages in `t` are gone live (100%")
        .stderr_has("`--max-destroy-percent 100`");
    let json = env.zsc(&["plan", "--format", "json"]).code(1);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(plan["tenants"][0]["gone"]["users"], 4);
    assert_eq!(plan["tenants"][0]["gone"]["groups"], 1);
    env.zsc(&["plan", "--format", "markdown"])
        .code(1)
        .stdout_has("4 of the 4 users and 1 of the 1 groups zsc manages in `t` are gone live");

    // Neither apply nor refresh forgets them.
    env.zsc(&["apply", "--auto-approve"]).code(1);
    env.zsc(&["refresh"]).code(1).stderr_has("are gone live");
    assert!(env.data().users.is_empty(), "nothing was created");
    env.zsc(&["plan"]).code(1);

    // Allowed for one run: everything is created again, and then all is quiet.
    env.zsc(&["apply", "--auto-approve", "--max-destroy-percent", "100"])
        .success();
    assert_eq!(env.data().users.len(), 4);
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn a_moderate_loss_is_planned_as_creates_with_the_warning_on_top() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    env.zsc(&["apply", "--auto-approve"]).success();
    let c = env.user_id("c@example.com");
    let (status, _) = env.scim("DELETE", &format!("/Users/{c}"), None);
    assert_eq!(status, 204);
    let run = env.zsc(&["plan"]).success().stdout_has("1 user to create");
    let warning = run
        .stdout
        .find("Warning: 1 of the 4 users zsc manages in `t` are gone live")
        .expect("the warning");
    let create = run.stdout.find("will be created").unwrap();
    assert!(warning < create, "the news comes first:\n{}", run.stdout);
}

#[test]
fn a_renamed_tenant_key_with_renamed_from_keeps_its_ids_and_plans_no_change() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    env.zsc(&["apply", "--auto-approve"]).success();
    let ids_before = env.data();
    let renamed = |extra: &str| {
        format!(
            "tenants:\n  prod:\n    kind: scim\n    url: {}\n    token: {{ env: {TOKEN_ENV} }}\n{extra}{TEAM}",
            env.base_url()
        )
    };

    // Without renamed_from: the old key is reported on every plan; nothing happens to it.
    env.write("zsc.yaml", &renamed(""));
    env.zsc(&["plan"])
        .success()
        .stdout_has("state holds `t` (4 users, 1 group) which the configuration no longer declares; nothing will be changed there")
        .stdout_has("`renamed_from: t`")
        .stdout_has("`zsc state rm t`");

    // With it: the records move, ids kept, and the plan is empty.
    env.write("zsc.yaml", &renamed("    renamed_from: t\n"));
    env.zsc(&["plan"])
        .success()
        .stdout_has("tenant `t` is renamed to `prod`: 4 users and 1 group zsc manages move with it")
        .stdout_has("No changes.");
    env.zsc(&["apply", "--auto-approve"]).success();
    env.zsc(&["state", "list"])
        .success()
        .stdout_has("prod.user[\"a@example.com\"]")
        .stdout_lacks("t.user[");
    assert_eq!(env.data(), ids_before, "the tenant is untouched");
    env.zsc(&["plan"])
        .success()
        .stdout_has("No changes.")
        .stdout_lacks("renamed");
}

#[test]
fn a_changed_url_is_shown_and_with_objects_gone_it_needs_the_flag() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    env.zsc(&["apply", "--auto-approve"]).success();
    let old = env.base_url();
    // Another server, holding a copy of the same objects: the URL change is news, not a stop.
    let other = env.spawn_emulator(emulator_options(Dialect::Scim));
    other.replace_data(env.data());
    let pointing_at = |url: &str| {
        format!("tenants:\n  t:\n    kind: scim\n    url: {url}\n    token: {{ env: {TOKEN_ENV} }}\n{TEAM}")
    };
    env.write("zsc.yaml", &pointing_at(&other.base_url()));
    let shown = |url: &str| {
        let u = url::Url::parse(url).unwrap();
        format!("http://127.0.0.1:{}{}", u.port().unwrap(), u.path())
    };
    env.zsc(&["plan"])
        .success()
        .stdout_has(&format!(
            "Warning: tenant `t` was last applied to `{}`; the configuration now points at `{}`",
            shown(&old),
            shown(&other.base_url())
        ))
        .stdout_has("No changes.");

    // An empty server at a new URL: maybe another organisation's tenant.
    let empty = env.spawn_emulator(emulator_options(Dialect::Scim));
    env.write(
        "zsc.yaml",
        &format!(
            "defaults:\n  max_destroy_percent: 100\n{}",
            pointing_at(&empty.base_url())
        ),
    );
    env.zsc(&["plan"])
        .code(1)
        .stderr_has("`t` was last applied to")
        .stderr_has("this may be another organisation's tenant")
        .stderr_has("`--allow-moved-tenant`");
    env.zsc(&["apply", "--auto-approve"]).code(1);
    assert!(
        empty.snapshot().users.is_empty(),
        "nothing was created there"
    );
    env.zsc(&["apply", "--auto-approve", "--allow-moved-tenant"])
        .success();
    assert_eq!(empty.snapshot().users.len(), 4);
    env.zsc(&["plan"])
        .success()
        .stdout_has("No changes.")
        .stdout_lacks("last applied to");
}
