//! The pull-request workflow through the real binary: exit codes, the markdown and JSON views,
//! saved plans, `--target`, the state commands, logging, color and the examples.

use std::path::{Path, PathBuf};

use zsc::dialect::Dialect;
use zsc::state::StateStore;

use crate::harness::{Env, TOKEN};

const TEAM: &str = "
users:
  - user_name: jsmith@example.com
    display_name: Janet Smith
    department: Finance
  - user_name: jdoe@example.com
    display_name: John Doe
  - user_name: old@example.com
    display_name: Old Timer
groups:
  - name: Accounting
    members: [jsmith@example.com, jdoe@example.com, old@example.com]
  - name: Finance
    members: [jsmith@example.com]
  - name: Legacy
";

/// TEAM after a pull request that touches everything: an update, a create, a removed user, a
/// rename, a deleted group, a membership added and one removed.
const TEAM_CHANGED: &str = "
defaults:
  max_destroy_percent: 100
users:
  - user_name: jsmith@example.com
    display_name: Janet Smith-Jones
    department: Finance
  - user_name: jdoe@example.com
    display_name: John Doe
  - user_name: new@example.com
    display_name: New Hire
groups:
  - name: Accounting
    members: [jsmith@example.com, new@example.com]
  - name: Finance Ops
    renamed_from: Finance
    members: [jsmith@example.com]
";

fn applied(env: &Env, body: &str) {
    env.config(body);
    env.zsc(&["apply", "--auto-approve"]).success();
}

/// A tenant managed as TEAM, configured as TEAM_CHANGED.
fn pull_request() -> Env {
    let env = Env::with_emulator(Dialect::Scim);
    applied(&env, TEAM);
    env.seed_user("stranger@example.com", "Not Ours");
    env.config(TEAM_CHANGED);
    env
}

#[test]
fn detailed_exitcode_is_0_without_changes_2_with_changes_and_1_on_error() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    env.zsc(&["plan", "--detailed-exitcode"])
        .code(2)
        .stdout_has("Plan: 3 users to create");
    env.zsc(&["apply", "--auto-approve"]).success();
    env.zsc(&["plan", "--detailed-exitcode"])
        .code(0)
        .stdout_has("No changes.");
    // Errors are 1, never 2, whatever else the plan would have said.
    env.config(&TEAM.replace("Old Timer", "Old"));
    env.zsc(&["plan", "--detailed-exitcode", "--target", "nope"])
        .code(1)
        .stderr_has("no tenant `nope`");
    env.zsc(&["plan", "--detailed-exitcode", "--max-destroy", "0"])
        .code(2);
    env.write("zsc.yaml", "tenants: {}\n");
    env.zsc(&["plan", "--detailed-exitcode"]).code(1);
}

#[test]
fn a_plan_that_trips_the_destroy_guard_exits_1_even_with_detailed_exitcode() {
    let env = Env::with_emulator(Dialect::Scim);
    applied(&env, TEAM);
    env.config("users: []\n");
    env.zsc(&["plan", "--detailed-exitcode", "--max-destroy", "1"])
        .code(1)
        .stderr_has("--max-destroy");
}

#[test]
fn markdown_plan_is_a_pr_comment() {
    let env = pull_request();
    let run = env
        .zsc(&["plan", "--format", "markdown"])
        .success()
        .stdout_has("> [!WARNING]")
        .stdout_has("| users | 1 | 0 | 1 | | 1 | 0 | 1 |")
        .stdout_has("```diff\n")
        .stdout_has("+       member \"new@example.com\"")
        .stdout_has("-   group \"Legacy\"")
        .stdout_has("<!-- zsc-plan -->")
        .stdout_lacks("\u{1b}[");
    assert!(
        run.stdout
            .starts_with("**zsc plan:** 1 user to create, 1 to update, 1 to disable"),
        "{}",
        run.stdout
    );
}

#[test]
fn json_plan_of_a_real_tenant_matches_the_documented_schema() {
    let env = pull_request();
    let run = env.zsc(&["plan", "--format", "json"]).success();
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/plan.schema.json")).expect("schema file"),
    )
    .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("valid JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&plan)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert_eq!(errors, Vec::<String>::new(), "{}", run.stdout);
    let actions: std::collections::BTreeSet<String> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["object"].as_str().unwrap(),
                c["action"].as_str().unwrap()
            )
        })
        .collect();
    for kind in [
        "user create",
        "user update",
        "user disable",
        "group rename",
        "group delete",
        "membership add",
        "membership remove",
    ] {
        assert!(actions.contains(kind), "no {kind} in {actions:?}");
    }
}

#[test]
fn show_renders_a_saved_plan_in_every_format() {
    let env = pull_request();
    let text = env.zsc(&["plan", "-o", "plan.json"]).success().stdout;
    let markdown = env.zsc(&["plan", "--format", "markdown"]).success().stdout;
    let saved = std::fs::read_to_string(env.path("plan.json")).unwrap();
    // `show` needs no configuration and no tenant.
    let elsewhere = tempfile::tempdir().unwrap();
    let plan_file = env.path("plan.json");
    let plan_file = plan_file.to_str().unwrap();
    let show = |format: &str| {
        env.zsc_in(elsewhere.path(), &["show", plan_file, "--format", format])
            .success()
            .stdout
    };
    assert_eq!(show("text"), text);
    assert_eq!(show("markdown"), markdown);
    assert_eq!(show("json"), saved);

    env.write("not-a-plan.json", "{\"hello\": 1}");
    env.zsc(&["show", "not-a-plan.json"])
        .code(1)
        .stderr_has("`not-a-plan.json` is not a zsc plan file");
    env.zsc(&["show", "missing.json"])
        .code(1)
        .stderr_has("cannot read the plan `missing.json`");
}

#[test]
fn target_limits_the_plan_and_a_bad_one_is_named() {
    let env = pull_request();
    env.zsc(&["plan", "--target", r#"t.user["JSMITH@example.com"]"#])
        .success()
        .stdout_has(r#"# t.user["jsmith@example.com"] will be updated in place"#)
        .stdout_has("Plan: 0 users to create, 1 to update, 0 to disable, 0 to delete; 0 groups to change; 0 memberships to add, 0 to remove.");
    env.zsc(&["plan", "--target", r#"t.group["Accounting"]"#])
        .success()
        .stdout_has("+ member \"new@example.com\"")
        .stdout_has("+ user \"new@example.com\"")
        .stdout_lacks("Legacy");
    env.zsc(&["plan", "--target", r#"t.group["Finance"]"#])
        .success()
        .stdout_has("will be renamed to \"Finance Ops\"");

    env.zsc(&["plan", "--target", "t.user[jsmith]"])
        .code(1)
        .stderr_has("--target: invalid address `t.user[jsmith]`: expected `[\"` at `[jsmith]`");
    env.zsc(&["plan", "--target", r#"prod.user["a@example.com"]"#])
        .code(1)
        .stderr_has(r#"--target `prod.user["a@example.com"]`: no tenant `prod` in the configuration (tenants: `t`)"#);
    env.zsc(&[
        "apply",
        "--auto-approve",
        "--target",
        r#"t.user["nobody@example.com"]"#,
    ])
    .code(1)
    .stderr_has(
        r#"no user `nobody@example.com` is declared for tenant `t` or managed in its state"#,
    );
}

#[test]
fn state_list_show_and_rm() {
    let env = Env::with_emulator(Dialect::Scim);
    applied(&env, TEAM);
    let serial = env.state_serial();
    env.zsc(&["state", "list"]).success().stdout_has(
        "t.user[\"jdoe@example.com\"]\nt.user[\"jsmith@example.com\"]\nt.user[\"old@example.com\"]\n\
         t.group[\"Accounting\"]\nt.group[\"Finance\"]\nt.group[\"Legacy\"]\n",
    );
    let user = env
        .zsc(&["state", "show", r#"t.user["JSmith@example.com"]"#])
        .success()
        .stdout;
    let id = env.user_id("jsmith@example.com");
    assert_eq!(
        user,
        format!(
            "# t.user[\"jsmith@example.com\"]\nuser \"jsmith@example.com\" {{\n    \
             id           = \"{id}\"\n    active       = true\n    \
             display_name = \"Janet Smith\"\n    department   = \"Finance\"\n}}\n"
        )
    );
    env.zsc(&["state", "show", r#"t.group["Accounting"]"#])
        .success()
        .stdout_has("    members = [\n        \"jdoe@example.com\",\n        \"jsmith@example.com\",\n        \"old@example.com\",\n    ]\n");
    env.zsc(&["state", "show", r#"t.group["Nope"]"#])
        .code(1)
        .stderr_has(r#"`t.group["Nope"]` is not managed"#);
    env.zsc(&["state", "show", "t.group"])
        .code(1)
        .stderr_has("invalid address `t.group`");

    // rm: the tenant is untouched, state forgets, the serial moves on.
    let before = env.data();
    env.zsc(&[
        "state",
        "rm",
        r#"t.user["old@example.com"]"#,
        r#"t.group["Legacy"]"#,
    ])
    .success()
    .stdout_has("Removed t.user[\"old@example.com\"]\nRemoved t.group[\"Legacy\"]\n");
    assert_eq!(env.data().users.len(), before.users.len());
    assert_eq!(env.group_names(), ["Accounting", "Finance", "Legacy"]);
    assert_eq!(env.state_serial(), serial + 1);
    let list = env.zsc(&["state", "list"]).success().stdout;
    assert!(
        !list.contains("old@example.com") && !list.contains("Legacy"),
        "{list}"
    );
    // The removed user's id stays in its managed groups' member lists, shown as an id.
    env.zsc(&["state", "show", r#"t.group["Accounting"]"#])
        .success()
        .stdout_has("member_ids = [");
    // Unmanaged now, and no longer declared: nothing to do for them.
    env.config(
        &TEAM
            .replace(
                "  - user_name: old@example.com\n    display_name: Old Timer\n",
                "",
            )
            .replace(", old@example.com]", "]")
            .replace("  - name: Legacy\n", ""),
    );
    env.zsc(&["plan"])
        .success()
        .stdout_has("0 to disable")
        .stdout_has("0 memberships to add, 1 to remove")
        .stdout_lacks("Legacy");

    // All or nothing: one unknown address and nothing is removed.
    env.zsc(&[
        "state",
        "rm",
        r#"t.user["jdoe@example.com"]"#,
        r#"t.user["ghost@example.com"]"#,
    ])
    .code(1)
    .stderr_has(r#"`t.user["ghost@example.com"]` is not managed"#);
    env.zsc(&["state", "list"])
        .success()
        .stdout_has("jdoe@example.com");
    env.zsc(&[
        "state",
        "rm",
        r#"t.membership["Accounting"]["jdoe@example.com"]"#,
    ])
    .code(1);
}

#[test]
fn state_unlock_names_the_holder_and_releases_with_force() {
    let env = Env::with_emulator(Dialect::Scim);
    applied(&env, TEAM);
    env.zsc(&["state", "unlock"])
        .success()
        .stdout_has("The state is not locked.");

    // A holder that still holds the lock: named, kept unless --force.
    let store = StateStore::new(env.path(".zsc/state.json"));
    let lock = store.lock("apply").expect("lock");
    let id = lock.info().id.clone();
    env.zsc(&["apply", "--auto-approve"])
        .code(1)
        .stderr_has(&id);
    env.zsc(&["state", "unlock"])
        .code(1)
        .stderr_has(&format!(
            "the state is locked by `zsc apply` (pid {}",
            std::process::id()
        ))
        .stderr_has("zsc state unlock --force");
    env.zsc(&["state", "unlock", "--force"])
        .success()
        .stdout_has(&format!(
            "Force-released the lock held by `zsc apply` (pid {}",
            std::process::id()
        ))
        .stdout_has(&id);
    env.zsc(&["plan"]).success();
    drop(lock);

    // A holder that died and left its record behind: released without --force.
    let leftover = r#"{"id":"dead-beef","pid":999999,"host":"ci-runner-7","command":"apply","created":"2025-01-31T09:15:02Z"}"#;
    env.write(".zsc/state.json.lock", leftover);
    env.zsc(&["state", "unlock"])
        .success()
        .stdout_has("Released the lock left by `zsc apply` (pid 999999 on ci-runner-7, since 2025-01-31T09:15:02Z, lock id dead-beef), which no longer holds it.");
    assert!(!env.path(".zsc/state.json.lock").exists());

    // Garbage in the lock file does not stop the unlock that clears it.
    env.write(".zsc/state.json.lock", "not json");
    env.zsc(&["plan"]).success();
    env.zsc(&["state", "unlock"]).success();
    assert!(!env.path(".zsc/state.json.lock").exists());
}

#[test]
fn verbose_logs_each_request_and_never_the_token() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    let quiet = env.zsc(&["plan"]).success();
    assert!(!quiet.stderr.contains("scim request"), "{}", quiet.stderr);
    let v = env.zsc(&["plan", "-v"]).success();
    assert!(v.stderr.contains("scim request"), "{}", v.stderr);
    for args in [&["plan", "-vv"][..], &["apply", "--auto-approve", "-vv"]] {
        let run = env.zsc(args).success();
        for needle in [
            "scim request",
            "method=GET",
            "path=\"/Users",
            "status=200",
            "ms=",
        ] {
            assert!(
                run.stderr.contains(needle),
                "{args:?}: no {needle:?} in\n{}",
                run.stderr
            );
        }
        if args[0] == "apply" {
            assert!(run.stderr.contains("method=POST"), "{}", run.stderr);
            assert!(run.stderr.contains("status=201"), "{}", run.stderr);
        }
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains(TOKEN), "token in output");
            assert!(
                !text.to_ascii_lowercase().contains("authorization"),
                "header in output"
            );
        }
    }
    // ZSC_LOG mirrors -vv.
    let run = env.zsc_with(env.dir.path(), &["plan"], |c| {
        c.env("ZSC_LOG", "debug");
    });
    assert!(run.stderr.contains("scim request"), "{}", run.stderr);
    assert!(!run.stderr.contains(TOKEN));
}

#[test]
fn color_is_forced_by_always_and_off_in_a_pipe_or_under_no_color() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(TEAM);
    let dir = env.dir.path();
    let colored = env.zsc_with(dir, &["plan", "--color", "always"], |c| {
        c.env_remove("NO_COLOR");
    });
    assert!(colored.success().stdout.contains("\u{1b}[32m+"));
    // `always` wins over NO_COLOR, as the flag is the more specific ask.
    let forced = env.zsc(&["plan", "--color", "always"]).success();
    assert!(forced.stdout.contains("\u{1b}["));
    for (what, run) in [
        (
            "a pipe",
            env.zsc_with(dir, &["plan"], |c| {
                c.env_remove("NO_COLOR");
            }),
        ),
        ("NO_COLOR", env.zsc(&["plan", "--color", "auto"])),
        ("--no-color", env.zsc(&["plan", "--no-color"])),
        ("never", env.zsc(&["plan", "--color", "never"])),
    ] {
        let run = run.success();
        assert!(
            !run.stdout.contains('\u{1b}') && !run.stderr.contains('\u{1b}'),
            "{what}: {run:?}"
        );
    }
}

/// The repository root (examples/, docs/).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Environment variables a config reads tokens from (`token: { env: NAME }`).
fn token_envs(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in walk(dir) {
        if entry.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&entry).unwrap();
            for part in text.split("env:").skip(1) {
                let name: String = part
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.push(name);
                }
            }
        }
    }
    names
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != ".zsc") {
                files.extend(walk(&path));
            }
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[test]
fn every_example_config_validates() {
    let examples = repo().join("examples");
    let mut configs = 0;
    for file in walk(&examples) {
        if file.file_name().is_some_and(|n| n == "zsc.yaml") {
            let dir = file.parent().unwrap();
            let envs = token_envs(dir);
            let env = Env::new();
            env.zsc_with(dir, &["-c", file.to_str().unwrap(), "validate"], |c| {
                for name in &envs {
                    c.env(name, "dummy-token-for-validate");
                }
            })
            .success()
            .stdout_has("is valid");
            configs += 1;
        }
    }
    assert!(configs >= 2, "found {configs} example configs");
}

#[test]
fn ci_examples_are_valid_yaml_and_run_the_pull_request_workflow() {
    let examples = repo().join("examples");
    for (file, needles) in [
        (
            "github-actions/zsc.yml",
            &[
                "--format markdown",
                "--detailed-exitcode",
                "concurrency",
                ".zsc/state.json",
            ][..],
        ),
        (
            "gitlab-ci/.gitlab-ci.yml",
            &[
                "--format markdown",
                "--detailed-exitcode",
                "resource_group",
                ".zsc/state.json",
            ],
        ),
    ] {
        let text = std::fs::read_to_string(examples.join(file)).expect(file);
        let parsed: Result<serde_json::Value, _> = serde_saphyr::from_str(&text);
        assert!(parsed.is_ok(), "{file}: {parsed:?}");
        for needle in needles {
            assert!(text.contains(needle), "{file} lacks {needle}");
        }
    }
}
