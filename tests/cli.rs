//! The command line a Terraform user expects (issue 16): validate without secrets, in JSON and
//! as GitHub annotations; progress while reading; Terraform's single-dash habits refused; and
//! the small things (show, version, did-you-mean, word diffs, counts in words).

use zsc::dialect::Dialect;
use zsc::emulator::Faults;

use crate::harness::{Env, TOKEN_ENV};

#[test]
fn validate_needs_no_secret_but_commands_that_connect_do() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users:\n  - user_name: a@example.com\n");
    let unset = |c: &mut std::process::Command| {
        c.env_remove(TOKEN_ENV);
    };
    env.zsc_with(env.dir.path(), &["validate"], unset)
        .success()
        .stdout_has("zsc.yaml is valid: 1 user");
    env.zsc_with(env.dir.path(), &["plan"], unset)
        .code(1)
        .stderr_has(TOKEN_ENV);
}

#[test]
fn validate_as_json_and_as_github_annotations() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users:\n  - user_name: a@example.com\n    dispaly_name: A\n");
    let run = env.zsc(&["validate", "--format", "json"]).code(1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    let problem = &doc["problems"][0];
    assert_eq!(problem["file"], "zsc.yaml");
    assert_eq!(
        (problem["line"].as_u64(), problem["column"].as_u64()),
        (Some(8), Some(5))
    );
    assert!(problem["message"]
        .as_str()
        .unwrap()
        .contains("did you mean `display_name`?"));

    env.zsc_with(env.dir.path(), &["validate"], |c| {
        c.env("GITHUB_ACTIONS", "true");
    })
    .code(1)
    .stderr_has("::error file=zsc.yaml,line=8,col=5::unknown key `dispaly_name` in user");

    env.config("users:\n  - user_name: a@example.com\n");
    let run = env.zsc(&["validate", "--format", "json"]).success();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (doc["valid"].as_bool(), doc["users"].as_u64()),
        (Some(true), Some(1))
    );
}

#[test]
fn an_undeclared_member_suggests_the_declared_name() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users:\n  - user_name: janet.smith@example.com\ngroups:\n  - name: G\n    members: [janet.smtih@example.com]\n");
    env.zsc(&["validate"])
        .code(1)
        .stderr_has("member `janet.smtih@example.com` of group `G` is not a declared user; did you mean `janet.smith@example.com`?");
}

#[test]
fn terraform_single_dash_flags_are_refused_not_misread() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users: []\n");
    env.zsc(&["plan", "-out=plan.json"])
        .code(1)
        .stderr_has("`-out=plan.json` is Terraform's spelling; zsc spells it `--out=plan.json`");
    assert!(!env.path("ut=plan.json").exists());
    env.zsc(&["apply", "-auto-approve"])
        .code(1)
        .stderr_has("zsc spells it `--auto-approve`");
}

#[test]
fn a_refresh_says_how_far_it_has_got_every_interval_without_a_terminal() {
    let mut env = Env::new();
    env.start_emulator(
        Dialect::Zpa,
        Faults {
            latency_ms: 20,
            ..Faults::default()
        },
    );
    env.config(&Env::people(30, 30));
    env.zsc(&["apply", "--auto-approve"]).success();
    // ZPA reads each group by id for its members: 30 more requests to wait for.
    env.zsc_with(env.dir.path(), &["plan"], |c| {
        c.env("ZSC_PROGRESS_EVERY_MS", "50");
    })
    .success()
    .stderr_has("reading: t: ")
    .stderr_has("of 30 group members");
}

#[test]
fn apply_plans_from_state_alone_with_refresh_false() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users:\n  - user_name: a@example.com\n    display_name: A\n");
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config("users:\n  - user_name: a@example.com\n    display_name: B\n");
    let stats_before = env.emulator().stats().by_route.get("GET /Users").copied();
    env.zsc(&["apply", "--auto-approve", "--refresh=false"])
        .success()
        .stdout_has("from state: 1 user")
        .stdout_has("~ display_name = \"A\" -> \"B\"");
    assert_eq!(
        env.emulator().stats().by_route.get("GET /Users").copied(),
        stats_before,
        "nothing was listed"
    );
    assert_eq!(
        env.live_user("a@example.com")
            .unwrap()
            .display_name
            .as_deref(),
        Some("B")
    );
}

#[test]
fn show_without_a_plan_summarises_the_state_and_version_prints_the_version() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users:\n  - user_name: a@example.com\ngroups:\n  - name: G\n");
    env.zsc(&["show"])
        .success()
        .stdout_has("zsc manages nothing yet.");
    env.zsc(&["apply", "--auto-approve"]).success();
    env.zsc(&["show"])
        .success()
        .stdout_has("serial 1.")
        .stdout_has("t: 1 user, 1 group on http://127.0.0.1:");
    env.zsc(&["version"])
        .success()
        .stdout_has(&format!("zsc {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_long_value_changed_in_place_shows_which_words_changed() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(
        "users:\n  - user_name: a@example.com\n    department: Finance and Operations EMEA\n",
    );
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config(
        "users:\n  - user_name: a@example.com\n    department: Finance and Operations APAC\n",
    );
    env.zsc(&["plan"])
        .success()
        .stdout_has("# words: Finance and Operations [-EMEA-]{+APAC+}");
}

#[test]
fn the_apply_summary_says_what_was_done_in_the_plans_words() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users:\n  - user_name: a@example.com\n  - user_name: b@example.com\ngroups:\n  - name: G\n    members: [a@example.com, b@example.com]\n");
    env.zsc(&["apply", "--auto-approve", "--color", "always"])
        .success()
        .stdout_has(": 2 users created, 1 group created, 2 memberships added.")
        // --color always does not turn CI's per-change lines into a bar.
        .stderr_has("created t.user[\"a@example.com\"]");
}

#[test]
fn progress_lines_count_with_thousands_separators() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(1_100, 0));
    env.zsc_with(env.dir.path(), &["apply", "--auto-approve"], |c| {
        c.env("ZSC_PROGRESS_EVERY_MS", "1");
    })
    .success()
    .stderr_has("/1,100 changes finished, 0 failed, ");
}

#[test]
fn help_keeps_global_options_apart_and_lists_dialects() {
    let env = Env::new();
    env.zsc(&["plan", "--help"])
        .success()
        .stdout_has("Global options:")
        .stdout_has("--max-destroy-percent");
    env.zsc(&["emulator", "--help"])
        .success()
        .stdout_has("zia")
        .stdout_has("Zscaler Private Access");
}
