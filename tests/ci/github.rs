//! `examples/github-actions/zsc.yml`, run: the pull-request plan posted as a comment and
//! updated in place, posted also when the plan fails, against the base branch's state; the
//! apply after merge committing the state, and failing when the push cannot land.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::forge::{self, Flavor, NUMBER, OWNER_REPO};
use super::runner::{load_yaml, GitHub, JobRun, Outcome, Uses};
use super::workspace::{git, CONFIG};
use super::{root, Ci, FORGE_TOKEN};

fn workflow() -> Value {
    load_yaml(&root().join("examples/github-actions/zsc.yml"))
}

enum Event {
    /// A pull request from `head` into main.
    PullRequest { head: &'static str },
    /// A push to main.
    Push,
}

impl Ci {
    /// Run `job` of the example in `workspace` (a checkout) for `event`.
    fn github(&self, workspace: &Path, event: Event, job: &str, secrets: Value) -> JobRun {
        let sha = git(workspace, &["rev-parse", "HEAD"]);
        let (github, mut env) = match event {
            Event::PullRequest { head } => (
                json!({
                    "event_name": "pull_request",
                    "event": {"pull_request": {
                        "number": NUMBER,
                        "head": {"sha": sha, "ref": head, "repo": {"full_name": OWNER_REPO}},
                        "base": {"ref": "main"},
                    }},
                    "ref": format!("refs/pull/{NUMBER}/merge"),
                    "base_ref": "main",
                    "head_ref": head,
                }),
                self.base_env(),
            ),
            Event::Push => (
                json!({"event_name": "push", "event": {}, "ref": "refs/heads/main", "base_ref": "", "head_ref": ""}),
                self.base_env(),
            ),
        };
        let mut github = github;
        for (k, v) in [
            ("repository", OWNER_REPO.to_owned()),
            ("sha", sha.clone()),
            ("token", FORGE_TOKEN.to_owned()),
            ("server_url", "https://github.com".to_owned()),
            ("api_url", self.forge.api_url.clone()),
            ("run_id", "4242".to_owned()),
        ] {
            github[k] = json!(v);
        }
        for (k, v) in [
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_API_URL", self.forge.api_url.clone()),
            ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
            ("GITHUB_REPOSITORY", OWNER_REPO.to_owned()),
            ("GITHUB_SHA", sha),
            ("GITHUB_REF", github["ref"].as_str().unwrap().to_owned()),
            (
                "GITHUB_BASE_REF",
                github["base_ref"].as_str().unwrap().to_owned(),
            ),
            (
                "GITHUB_HEAD_REF",
                github["head_ref"].as_str().unwrap().to_owned(),
            ),
            (
                "GITHUB_EVENT_NAME",
                github["event_name"].as_str().unwrap().to_owned(),
            ),
            ("GITHUB_RUN_ID", "4242".to_owned()),
            ("GITHUB_WORKSPACE", workspace.display().to_string()),
            ("RUNNER_OS", "Linux".to_owned()),
            (
                "RUNNER_TEMP",
                self.home().join("runner-temp").display().to_string(),
            ),
        ] {
            env.insert(k.to_owned(), v);
        }
        let zsc = self.zsc.clone();
        let uses = move |action: &str, with: &Map<String, Value>| -> Uses {
            match action.split_once('@').map(|(name, _)| name) {
                Some("actions/checkout") => {
                    // The test checked the workspace out; the apply job asks for main.
                    if let Some(r) = with.get("ref") {
                        assert_eq!(r, "main");
                    }
                    Uses::Done
                }
                Some("actions/upload-artifact") => Uses::Done,
                Some(name) if name.ends_with("/zsc") => {
                    check_install_inputs(with);
                    Uses::OnPath(zsc.clone())
                }
                _ => panic!("the example uses {action}, which this test does not know"),
            }
        };
        let runner = GitHub {
            github,
            secrets,
            matrix: json!({}),
            needs: json!({}),
            env,
            path: vec![self.tools.clone()],
            workspace,
            uses: &uses,
        };
        runner.run_job(&workflow(), job)
    }
}

/// The install step passes what zsc's action declares, and names the release this source is.
fn check_install_inputs(with: &Map<String, Value>) {
    let action = load_yaml(&root().join("action.yml"));
    let declared = action["inputs"].as_object().unwrap();
    for key in with.keys() {
        assert!(declared.contains_key(key), "the action has no input {key}");
    }
    for (key, spec) in declared {
        if spec["required"] == json!(true) {
            assert!(with.contains_key(key), "the action needs {key}");
        }
    }
    assert_eq!(
        with["version"],
        env!("CARGO_PKG_VERSION"),
        "the example installs another release than this source's version"
    );
}

/// Config of the pull request: bob leaves, dan joins.
fn people_change() -> String {
    CONFIG
        .replace(
            "  - user_name: bob@example.com\n    display_name: Bob\n",
            "  - user_name: dan@example.com\n    display_name: Dan\n",
        )
        .replace(
            "[ann@example.com, bob@example.com, cid@example.com]",
            "[ann@example.com, cid@example.com, dan@example.com]",
        )
}

fn no_secrets() -> Value {
    json!({})
}

#[test]
fn github_pull_request_plan_is_commented_from_the_base_state_then_updated_in_place() {
    let ci = Ci::new(Flavor::GitHub, CONFIG, forge::noisy_thread(120));
    // The branch is cut before the first apply: it carries no state.
    ci.repo.commit(
        "people",
        "bob leaves, dan joins",
        &[("zsc.yaml", &people_change())],
    );
    let main = ci.repo.checkout("apply", "main");
    ci.github(&main, Event::Push, "apply", no_secrets())
        .assert_success();
    assert!(ci.repo.show("main", ".zsc/state.json").is_some());

    let pr = ci.repo.checkout("pr-1", "people");
    assert!(!pr.join(".zsc/state.json").exists());
    let run = ci.github(
        &pr,
        Event::PullRequest { head: "people" },
        "plan",
        no_secrets(),
    );
    run.assert_success();
    assert!(
        !ci.github(
            &pr,
            Event::PullRequest { head: "people" },
            "apply",
            no_secrets()
        )
        .ran
    );
    assert_eq!(
        run.step("Fail the check when the plan failed").outcome,
        Outcome::Skipped
    );
    let comment = Ci::read(&pr, "comment.md");
    // Main's state says zsc manages bob: he is disabled. From the branch's (none), he would be
    // left alone.
    assert!(
        comment.contains("# demo.user[\"bob@example.com\"] will be disabled"),
        "{comment}"
    );
    assert!(
        comment.starts_with("**zsc plan:** 1 user to create"),
        "{comment}"
    );
    let calls = ci.forge.call_lines();
    let list = format!("/repos/{OWNER_REPO}/issues/{NUMBER}/comments");
    assert_eq!(
        calls,
        [
            format!("GET {list}?per_page=100&page=1 200"),
            format!("GET {list}?per_page=100&page=2 200"),
            format!("GET {list}?per_page=100&page=3 200"),
            format!("POST {list} 201"),
        ],
        "{}",
        run.log()
    );
    let posted = ci.forge.bot_notes();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].body, comment.trim_end_matches('\n'));

    // A second push: the same comment is updated, found on the second page.
    ci.repo.commit(
        "people",
        "ann's full name",
        &[(
            "zsc.yaml",
            &people_change().replace("display_name: Ann", "display_name: Ann Lee"),
        )],
    );
    ci.forge.clear_calls();
    let pr = ci.repo.checkout("pr-2", "people");
    ci.github(
        &pr,
        Event::PullRequest { head: "people" },
        "plan",
        no_secrets(),
    )
    .assert_success();
    let id = posted[0].id;
    assert_eq!(
        ci.forge.call_lines(),
        [
            format!("GET {list}?per_page=100&page=1 200"),
            format!("GET {list}?per_page=100&page=2 200"),
            format!("PATCH /repos/{OWNER_REPO}/issues/comments/{id} 200"),
        ]
    );
    let posted = ci.forge.bot_notes();
    assert_eq!(posted.len(), 1);
    assert!(
        posted[0].body.contains("\"Ann\" -> \"Ann Lee\""),
        "{}",
        posted[0].body
    );
    assert_eq!(ci.forge.notes().len(), 124, "no other comment was touched");
}

#[test]
fn github_plan_that_fails_is_commented_with_its_error_and_fails_the_check() {
    let ci = Ci::new(Flavor::GitHub, CONFIG, forge::noisy_thread(0));
    let main = ci.repo.checkout("apply", "main");
    ci.github(&main, Event::Push, "apply", no_secrets())
        .assert_success();
    let server = crate::harness::Env::with_emulator(zsc::dialect::Dialect::Scim);
    let unauthorized = format!(
        "tenants:\n  zia-prod:\n    kind: scim\n    url: {}\n    token: {{ env: ZSC_ZIA_PROD_TOKEN }}\nusers:\n  - user_name: ann@example.com\n",
        server.base_url()
    );
    let cases: [(&str, String, &[&str]); 3] = [
        (
            "a guard trips",
            CONFIG.replace("max_destroy: 5", "max_destroy: 1").replace(
                "  - user_name: bob@example.com\n    display_name: Bob\n  - user_name: cid@example.com\n    display_name: Cid\n",
                "",
            ).replace(", bob@example.com, cid@example.com]", "]"),
            &[
                "**zsc plan failed:**",
                "the limit is 1 (1 over)",
                "## The refused plan",
                "# demo.user[\"cid@example.com\"] will be disabled",
            ],
        ),
        (
            "the YAML is wrong",
            CONFIG.replace("display_name: Ann", "dispaly_name: Ann"),
            &["**zsc plan failed:**", "unknown key `dispaly_name`", "zsc.yaml:10:5"],
        ),
        (
            "the server answers 401",
            unauthorized,
            &["**zsc plan failed:**", "401"],
        ),
    ];
    for (i, (what, config, needles)) in cases.iter().enumerate() {
        let branch = format!("broken-{i}");
        ci.repo.commit(&branch, what, &[("zsc.yaml", config)]);
        let pr = ci.repo.checkout(&branch, &branch);
        let run = ci.github(
            &pr,
            Event::PullRequest { head: "people" },
            "plan",
            json!({"ZSC_ZIA_PROD_TOKEN": "not-the-token"}),
        );
        run.assert_failure();
        assert_eq!(run.step("Plan").outcome, Outcome::Success, "{what}");
        assert_eq!(
            run.step("Comment on the pull request").outcome,
            Outcome::Success,
            "{what}: {}",
            run.log()
        );
        assert_eq!(
            run.step("Fail the check when the plan failed").outcome,
            Outcome::Failure,
            "{what}"
        );
        let posted = ci.forge.bot_notes();
        assert_eq!(posted.len(), 1, "{what}: one comment, updated");
        for needle in *needles {
            assert!(
                posted[0].body.contains(needle),
                "{what}: no {needle:?} in\n{}",
                posted[0].body
            );
        }
        assert!(
            posted[0].body.ends_with("<!-- zsc-plan -->"),
            "{what}:\n{}",
            posted[0].body
        );
        assert!(
            !posted[0].body.contains("not-the-token"),
            "{what}: the token leaked"
        );
    }
}

#[test]
fn github_apply_commits_the_state_to_main_and_fails_when_the_push_cannot_land() {
    let ci = Ci::new(Flavor::GitHub, CONFIG, vec![]);
    let main = ci.repo.checkout("apply-1", "main");
    // Another commit lands on main while the job runs: the state is rebased onto it.
    ci.repo.commit("main", "docs", &[("README.md", "people\n")]);
    let run = ci.github(&main, Event::Push, "apply", no_secrets());
    run.assert_success();
    assert_eq!(run.step("Apply").outcome, Outcome::Success);
    let log = ci.repo.log();
    assert!(
        log[0].starts_with("zsc: state after applying ") && log[0].ends_with(" [skip ci]"),
        "{log:?}"
    );
    assert_eq!(log[1], "docs");
    assert!(!ci.github(&main, Event::Push, "plan", no_secrets()).ran);

    // Nothing to do: no apply, no commit.
    let main = ci.repo.checkout("apply-2", "main");
    let run = ci.github(&main, Event::Push, "apply", no_secrets());
    run.assert_success();
    assert_eq!(run.step("Apply").outcome, Outcome::Skipped);
    assert!(run
        .step("Commit the state to main")
        .stdout
        .contains("state unchanged"));
    assert_eq!(ci.repo.log().len(), log.len());

    // The state cannot be pushed: the apply happened, and the job says the state did not land.
    ci.repo
        .commit("main", "bob leaves", &[("zsc.yaml", &people_change())]);
    ci.repo.refuse_pushes();
    let main = ci.repo.checkout("apply-3", "main");
    let run = ci.github(&main, Event::Push, "apply", no_secrets());
    run.assert_failure();
    assert_eq!(run.step("Apply").outcome, Outcome::Success);
    let commit = run.step("Commit the state to main");
    assert_eq!(commit.outcome, Outcome::Failure);
    assert!(
        commit.stderr.contains("could not push the state"),
        "{}",
        run.log()
    );
    assert!(ci
        .repo
        .tenant_users()
        .contains(&("bob@example.com".to_owned(), false)));
}
