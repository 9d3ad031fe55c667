//! `examples/github-actions/zsc.yml`, run against an S3 bucket on moto: the pull-request plan,
//! with the README's read-only role, reads the stored state (also while an apply holds the
//! lock), is posted as a comment and updated in place, and is posted also when the plan fails;
//! the apply after merge, with the write role, stores the state under the lock, waits for
//! another holder with `--lock-timeout`, and commits nothing back; the nightly job, alone on
//! the schedule, applies what expired and puts back what drifted, with a warning counting it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::forge::{self, Flavor, NUMBER, OWNER_REPO};
use super::moto::{BUCKET, REGION};
use super::runner::{load_yaml, GitHub, JobRun, Outcome, Uses};
use super::workspace::{config_with_an_expired_membership, git, CONFIG};
use super::{readme_policies, root, Ci, APPLY_ROLE, FORGE_TOKEN, PLAN_ROLE};

fn workflow() -> Value {
    load_yaml(&root().join("examples/github-actions/zsc.yml"))
}

/// The workflow's schedule (its one cron line).
fn schedule() -> String {
    let on = &workflow()["on"];
    let schedules = on["schedule"]
        .as_array()
        .expect("the workflow has a schedule");
    assert_eq!(schedules.len(), 1);
    schedules[0]["cron"]
        .as_str()
        .expect("a cron line")
        .to_owned()
}

/// The state's key in the bucket, as the workflow sets it.
fn state_key() -> String {
    workflow()["env"]["ZSC_BACKEND_KEY"]
        .as_str()
        .expect("the workflow sets ZSC_BACKEND_KEY")
        .to_owned()
}

/// The inputs `aws-actions/configure-aws-credentials@v4` declares.
const AWS_ACTION_INPUTS: &[&str] = &[
    "aws-region",
    "role-to-assume",
    "aws-access-key-id",
    "aws-secret-access-key",
    "aws-session-token",
    "web-identity-token-file",
    "role-chaining",
    "audience",
    "http-proxy",
    "mask-aws-account-id",
    "role-duration-seconds",
    "role-external-id",
    "role-session-name",
    "role-skip-session-tagging",
    "inline-session-policy",
    "managed-session-policies",
    "output-credentials",
    "unset-current-credentials",
    "disable-retry",
    "retry-max-attempts",
    "special-characters-workaround",
];

enum Event {
    /// A pull request from `head` into main.
    PullRequest { head: &'static str },
    /// A push to main.
    Push,
    /// The workflow's schedule (GitHub runs it on main).
    Schedule,
    /// Run by hand on main, with the `job` input.
    Dispatch { job: &'static str },
}

impl Ci {
    /// The repository's variables: the bucket, its region, and the two roles' ARNs.
    fn vars(&self) -> Value {
        let s3 = self.s3();
        json!({
            "ZSC_STATE_BUCKET": BUCKET,
            "ZSC_AWS_REGION": REGION,
            "ZSC_PLAN_ROLE": s3.role_arn(PLAN_ROLE),
            "ZSC_APPLY_ROLE": s3.role_arn(APPLY_ROLE),
        })
    }

    /// Run `job` of the example in `workspace` (a checkout) for `event`.
    fn github(&self, workspace: &Path, event: Event, job: &str, secrets: Value) -> JobRun {
        self.github_with(workspace, event, job, secrets, self.vars())
    }

    /// [`Ci::github`] with these repository variables.
    fn github_with(
        &self,
        workspace: &Path,
        event: Event,
        job: &str,
        secrets: Value,
        vars: Value,
    ) -> JobRun {
        let workflow = workflow();
        let spec = &workflow["jobs"][job];
        let uses_aws = spec["steps"].as_array().into_iter().flatten().any(|step| {
            step["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@"))
        });
        if uses_aws {
            // Without it GitHub gives the job no OIDC token, and the action fails.
            let permissions = spec.get("permissions").unwrap_or(&workflow["permissions"]);
            assert_eq!(
                permissions["id-token"], "write",
                "job {job} assumes an AWS role without `permissions: id-token: write`"
            );
        }
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
            Event::Schedule => (
                json!({"event_name": "schedule", "event": {"schedule": schedule()},
                    "ref": "refs/heads/main", "base_ref": "", "head_ref": ""}),
                self.base_env(),
            ),
            Event::Dispatch { job } => {
                let input = &workflow["on"]["workflow_dispatch"]["inputs"]["job"];
                assert!(
                    input["options"]
                        .as_array()
                        .is_some_and(|o| o.contains(&json!(job))),
                    "the workflow's `job` input has no option {job}: {input}"
                );
                (
                    json!({"event_name": "workflow_dispatch", "event": {"inputs": {"job": job}},
                        "ref": "refs/heads/main", "base_ref": "", "head_ref": ""}),
                    self.base_env(),
                )
            }
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
            // The one setting the workflow does not make: S3 is moto on 127.0.0.1, as the API
            // is the fake forge's. Nothing else of AWS is ever reached (no metadata service).
            ("ZSC_BACKEND_ENDPOINT", self.s3().moto.endpoint.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9".to_owned()),
        ] {
            env.insert(k.to_owned(), v);
        }
        let zsc = self.zsc.clone();
        let roles = self.s3().roles.clone();
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
                // GitHub's OIDC token exchanged for the role's temporary credentials, exported
                // as the action does.
                Some("aws-actions/configure-aws-credentials") => {
                    for key in with.keys() {
                        assert!(
                            AWS_ACTION_INPUTS.contains(&key.as_str()),
                            "configure-aws-credentials has no input {key}"
                        );
                    }
                    let region = with["aws-region"].as_str().expect("aws-region");
                    assert_eq!(region, REGION, "the region the variables give");
                    let role = with["role-to-assume"].as_str().expect("role-to-assume");
                    let mut exports: BTreeMap<String, String> = roles
                        .get(role)
                        .unwrap_or_else(|| panic!("the example assumes {role:?}, no role here"))
                        .clone();
                    exports.insert("AWS_REGION".into(), region.to_owned());
                    exports.insert("AWS_DEFAULT_REGION".into(), region.to_owned());
                    Uses::Exports(exports)
                }
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
            vars,
            matrix: json!({}),
            needs: json!({}),
            env,
            path: vec![self.tools.clone()],
            workspace,
            uses: &uses,
        };
        runner.run_job(&workflow, job)
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

/// A lock another run holds on the state, as zsc writes one.
fn holder(key: &str) -> Value {
    json!({"ID": "5e0c1d2a-7b3f-4c9e-8a1d-2f4b6c8d0e1f", "Operation": "zsc apply",
        "Info": "pid 4242", "Who": "ci@runner-7", "Version": "0.1.0",
        "Created": "2026-11-30T02:00:00Z", "Path": format!("s3://{BUCKET}/{key}")})
}

#[test]
fn github_pull_request_plan_reads_the_stored_state_and_is_commented_then_updated_in_place() {
    let Some(ci) = Ci::new(Flavor::GitHub, CONFIG, forge::noisy_thread(120)) else {
        return;
    };
    let moto = &ci.s3().moto;
    let key = state_key();
    let lock = format!("{key}.lock");
    // The branch is cut before the first apply.
    ci.repo.commit(
        "people",
        "bob leaves, dan joins",
        &[("zsc.yaml", &people_change())],
    );
    let main = ci.repo.checkout("apply", "main");
    ci.github(&main, Event::Push, "apply", no_secrets())
        .assert_success();
    let stored = moto
        .get(&key)
        .expect("the apply stored the state in the bucket");
    assert_eq!(moto.get(&lock), None, "the apply released its lock");
    assert_eq!(ci.repo.log(), ["zsc.yaml"], "nothing was committed back");

    let pr = ci.repo.checkout("pr-1", "people");
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
    // The stored state says zsc manages bob: he is disabled. Without it, he would be left
    // alone.
    assert!(
        comment.contains("# demo.user[\"bob@example.com\"] will be disabled"),
        "{comment}\n{}",
        run.log()
    );
    assert!(
        comment.starts_with("**zsc plan:** 1 user to create"),
        "{comment}"
    );
    // The plan, with the read-only role, wrote nothing and took no lock.
    assert_eq!(moto.get(&key), Some(stored.clone()));
    assert_eq!(moto.get(&lock), None);
    assert!(!pr.join(".zsc/state.json").exists(), "no local state");
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

    // A second push, while an apply holds the lock: the plan needs none, and the same comment
    // is updated, found on the second page.
    moto.put(&lock, holder(&key).to_string().as_bytes());
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
    assert_eq!(
        moto.get(&lock),
        Some(holder(&key).to_string().into_bytes()),
        "the other run's lock is untouched"
    );
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
    let Some(ci) = Ci::new(Flavor::GitHub, CONFIG, forge::noisy_thread(0)) else {
        return;
    };
    let main = ci.repo.checkout("apply", "main");
    ci.github(&main, Event::Push, "apply", no_secrets())
        .assert_success();
    let server = crate::harness::Env::with_emulator(zsc::dialect::Dialect::Scim);
    let unauthorized = format!(
        "tenants:\n  zia-prod:\n    kind: scim\n    url: {}\n    token: {{ env: ZSC_ZIA_PROD_TOKEN }}\nusers:\n  - user_name: ann@example.com\n",
        server.base_url()
    );
    let cases: [(&str, String, &[&str]); 4] = [
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
        (
            "the stored state is corrupt",
            people_change(),
            &["**zsc plan failed:**", "holds no valid state"],
        ),
    ];
    let moto = &ci.s3().moto;
    let key = state_key();
    let stored = moto.get(&key).expect("a stored state");
    for (i, (what, config, needles)) in cases.iter().enumerate() {
        let branch = format!("broken-{i}");
        ci.repo.commit(&branch, what, &[("zsc.yaml", config)]);
        let pr = ci.repo.checkout(&branch, &branch);
        if what.contains("corrupt") {
            moto.put(&key, b"{\"format_version\": 1, \"lineage\"");
        }
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
        if what.contains("corrupt") {
            assert_eq!(
                moto.get(&key).as_deref(),
                Some(&b"{\"format_version\": 1, \"lineage\""[..]),
                "a plan replaces nothing"
            );
            moto.put(&key, &stored);
        }
    }
}

#[test]
fn github_apply_stores_the_state_under_the_lock_and_waits_for_another_holder() {
    let Some(ci) = Ci::new(Flavor::GitHub, CONFIG, vec![]) else {
        return;
    };
    let moto = &ci.s3().moto;
    let key = state_key();
    let lock = format!("{key}.lock");
    let main = ci.repo.checkout("apply-1", "main");
    let run = ci.github(&main, Event::Push, "apply", no_secrets());
    run.assert_success();
    assert_eq!(
        run.step("AWS credentials to write and lock the state")
            .outcome,
        Outcome::Success
    );
    assert!(!ci.github(&main, Event::Push, "plan", no_secrets()).ran);
    assert!(moto.get(&key).is_some(), "the apply stored the state");
    assert_eq!(moto.get(&lock), None, "the apply released its lock");
    assert!(!main.join(".zsc/state.json").exists(), "no local state");
    assert_eq!(ci.repo.log(), ["zsc.yaml"], "nothing was committed back");
    assert_eq!(ci.repo.tenant_users().len(), 3);

    // Nothing to do.
    let main = ci.repo.checkout("apply-2", "main");
    let run = ci.github(&main, Event::Push, "apply", no_secrets());
    run.assert_success();
    assert!(
        run.step("Apply").stdout.contains("No changes."),
        "{}",
        run.log()
    );
    let first = moto.serial(&key).unwrap();

    // The plan role may not write: given it, the apply is refused by S3 before it changes
    // anything (the README's plan policy is what the plan job runs with).
    ci.repo
        .commit("main", "bob leaves", &[("zsc.yaml", &people_change())]);
    let main = ci.repo.checkout("apply-3", "main");
    let mut vars = ci.vars();
    vars["ZSC_APPLY_ROLE"] = vars["ZSC_PLAN_ROLE"].clone();
    let run = ci.github_with(&main, Event::Push, "apply", no_secrets(), vars);
    run.assert_failure();
    assert!(
        run.step("Apply").stderr.contains("AccessDenied"),
        "{}",
        run.log()
    );
    assert_eq!(moto.serial(&key), Some(first));
    assert!(ci
        .repo
        .tenant_users()
        .contains(&("bob@example.com".to_owned(), true)));

    // Another run holds the lock and lets it go a moment later: the apply waits for it
    // (--lock-timeout), then applies.
    moto.put(&lock, holder(&key).to_string().as_bytes());
    let main = ci.repo.checkout("apply-4", "main");
    let run = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(1500));
            moto.delete(&lock);
        });
        ci.github(&main, Event::Push, "apply", no_secrets())
    });
    run.assert_success();
    assert!(
        run.step("Apply")
            .stderr
            .contains("Waiting for the state lock, held by `zsc apply` by ci@runner-7"),
        "{}",
        run.log()
    );
    assert!(moto.serial(&key).unwrap() > first);
    assert_eq!(moto.get(&lock), None);
    assert!(ci
        .repo
        .tenant_users()
        .contains(&("bob@example.com".to_owned(), false)));
    assert_eq!(ci.repo.log().len(), 2, "nothing was committed back");
}

/// What the example and its README say about the state, checked where running the jobs cannot:
/// nothing is committed or pushed, each job that assumes a role may ask for GitHub's OIDC
/// token and no job may write the repository, and the README's trust policies admit the plan
/// role to pull requests and the apply role to the apply job's environment only.
#[test]
fn github_example_commits_nothing_and_its_roles_trust_only_their_jobs() {
    let workflow = workflow();
    let jobs = workflow["jobs"].as_object().unwrap();
    for (name, job) in jobs {
        assert_ne!(job["permissions"]["contents"], "write", "job {name}");
        for step in job["steps"].as_array().unwrap() {
            let run = step["run"].as_str().unwrap_or_default();
            for word in ["git commit", "git push", ".zsc/state.json"] {
                assert!(!run.contains(word), "job {name} runs {word}:\n{run}");
            }
        }
    }
    let apply = &workflow["jobs"]["apply"];
    let command = apply["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Apply")
        .and_then(|s| s["run"].as_str())
        .unwrap();
    assert_eq!(
        command.trim(),
        "zsc apply --auto-approve --lock-timeout 10m"
    );

    let readme = std::fs::read_to_string(root().join("examples/github-actions/README.md")).unwrap();
    let environment = apply["environment"].as_str().unwrap();
    // Every job that assumes the apply role (the apply and the nightly) runs where its trust
    // policy admits it, in the apply's queue.
    let mut writers = Vec::new();
    for (name, job) in jobs {
        let role = job["steps"].as_array().unwrap().iter().find_map(|s| {
            s["uses"]
                .as_str()
                .filter(|u| u.starts_with("aws-actions/configure-aws-credentials@"))
                .map(|_| s["with"]["role-to-assume"].as_str().unwrap())
        });
        if role == Some("${{ vars.ZSC_APPLY_ROLE }}") {
            writers.push(name.as_str());
            assert_eq!(job["environment"], environment, "job {name}");
            assert_eq!(job["concurrency"], apply["concurrency"], "job {name}");
        }
    }
    assert_eq!(writers, ["apply", "nightly"]);
    for subject in [
        "\"repo:acme/zsc-config:pull_request\"".to_owned(),
        format!("\"repo:acme/zsc-config:environment:{environment}\""),
    ] {
        assert!(
            readme.contains(&subject),
            "the README's trust policies name {subject}"
        );
    }
    // The permission policies the tests run with are the README's, for this bucket and key.
    let key = state_key();
    let policies = readme_policies();
    let plan = policies[0].to_string();
    let apply = policies[1].to_string();
    for needle in [
        format!("arn:aws:s3:::{BUCKET}/{key}"),
        format!("arn:aws:s3:::{BUCKET}\""),
    ] {
        assert!(
            plan.contains(&needle) && apply.contains(&needle),
            "{needle}"
        );
    }
    assert!(apply.contains(&format!("arn:aws:s3:::{BUCKET}/{key}.lock")));
    assert!(!plan.contains("s3:PutObject") && !plan.contains(".lock"));
}

/// What the workflow says about the nightly job, checked where running it cannot: it is
/// scheduled, applies the plan it saved under the lock's timeout, and keeps that plan.
#[test]
fn github_nightly_is_scheduled_and_applies_the_plan_it_reported() {
    let workflow = workflow();
    let cron = schedule();
    assert_eq!(cron.split_whitespace().count(), 5, "{cron}");
    let steps = workflow["jobs"]["nightly"]["steps"].as_array().unwrap();
    let step = |name: &str| {
        steps
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}"))
    };
    assert!(step("Plan")["run"]
        .as_str()
        .unwrap()
        .contains("zsc plan --detailed-exitcode -o nightly.json\n"));
    assert_eq!(
        step("Apply")["run"].as_str().unwrap().trim(),
        "zsc apply nightly.json --lock-timeout 10m"
    );
    assert_eq!(step("Keep the plan")["if"], "always()");
    let kept = step("Keep the plan")["with"]["path"].as_str().unwrap();
    assert_eq!(
        kept.split_whitespace().collect::<Vec<_>>(),
        ["nightly.json", "nightly.md"]
    );
}

#[test]
fn github_nightly_applies_what_expired_and_warns_of_the_drift_it_puts_back() {
    let Some(ci) = Ci::new(Flavor::GitHub, CONFIG, vec![]) else {
        return;
    };
    let moto = &ci.s3().moto;
    let key = state_key();
    let lock = format!("{key}.lock");
    let main = ci.repo.checkout("apply", "main");
    ci.github(&main, Event::Push, "apply", no_secrets())
        .assert_success();
    let everyone = ["ann@example.com", "bob@example.com", "cid@example.com"];
    assert_eq!(ci.repo.tenant_members("Staff"), everyone);
    // cid's access to Staff was given an end while that day was ahead (its apply then had
    // nothing to do, and is not run here: the day is past now). Overnight, an admin edits two
    // objects zsc manages in the portal.
    let config = config_with_an_expired_membership();
    ci.repo.commit(
        "main",
        "cid's access to Staff ends",
        &[("zsc.yaml", &config)],
    );
    ci.repo.edit_in_portal();
    let before = moto.serial(&key).unwrap();

    // On the schedule only the nightly job runs; it runs on nothing else but a dispatch that
    // asks for it.
    let main = ci.repo.checkout("nightly-1", "main");
    for job in ["plan", "apply"] {
        let run = ci.github(&main, Event::Schedule, job, no_secrets());
        assert!(!run.ran, "{job} ran on the schedule");
        let run = ci.github(&main, Event::Dispatch { job: "nightly" }, job, no_secrets());
        assert!(!run.ran, "{job} ran on a dispatch of the nightly");
    }
    for event in [
        Event::Push,
        Event::PullRequest { head: "main" },
        Event::Dispatch { job: "apply" },
    ] {
        assert!(!ci.github(&main, event, "nightly", no_secrets()).ran);
    }

    let run = ci.github(&main, Event::Schedule, "nightly", no_secrets());
    run.assert_success();
    assert_eq!(run.step("Apply").outcome, Outcome::Success, "{}", run.log());
    // The warning counts what the saved plan puts back: the changes with a drift list.
    let plan: Value = serde_json::from_str(&Ci::read(&main, "nightly.json")).unwrap();
    let drifted: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["drift"].as_array().is_some_and(|d| !d.is_empty()))
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        drifted,
        [
            r#"demo.user["ann@example.com"]"#,
            r#"demo.membership["Staff"]["bob@example.com"]"#
        ]
    );
    assert_eq!(
        run.annotations("warning"),
        [
            "2 objects were changed outside zsc since the last apply; the plan sets them back \
          to what the repository says (see the run's summary)"
        ],
        "{}",
        run.log()
    );
    // The run's summary is the saved plan as a comment shows it: the expiry, and the drift.
    let markdown = Ci::read(&main, "nightly.md");
    assert_eq!(run.summary.trim_end(), markdown.trim_end());
    let until = config
        .split("until: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    for needle in [
        "**zsc plan:** 0 users to create, 1 to update".to_owned(),
        format!("the membership was declared until {until}, which has passed"),
        r#"display_name = "Ann (portal)" -> "Ann""#.to_owned(),
        "the server did not keep this membership".to_owned(),
    ] {
        assert!(
            run.summary.contains(&needle),
            "no {needle:?} in\n{}",
            run.summary
        );
    }
    // Applied: cid is out of Staff, and the portal's edits are undone.
    assert_eq!(
        ci.repo.tenant_members("Staff"),
        ["ann@example.com", "bob@example.com"]
    );
    assert_eq!(
        ci.repo.tenant_display_name("ann@example.com").as_deref(),
        Some("Ann")
    );
    let after = moto.serial(&key).unwrap();
    assert!(after > before, "the nightly stored the state");
    assert_eq!(moto.get(&lock), None, "the nightly released its lock");
    assert!(!main.join(".zsc/state.json").exists(), "no local state");
    assert_eq!(ci.repo.log().len(), 2, "nothing was committed back");

    // The next night, run by hand: nothing to do, nothing to warn about, nothing applied.
    let main = ci.repo.checkout("nightly-2", "main");
    let run = ci.github(
        &main,
        Event::Dispatch { job: "nightly" },
        "nightly",
        no_secrets(),
    );
    run.assert_success();
    assert!(run.annotations("warning").is_empty(), "{}", run.log());
    assert_eq!(run.step("Apply").outcome, Outcome::Skipped);
    assert!(
        run.summary.starts_with("**zsc plan: no changes.**"),
        "{}",
        run.summary
    );
    assert_eq!(moto.serial(&key), Some(after));

    // A dispatch of the apply runs the apply, which agrees.
    let run = ci.github(
        &main,
        Event::Dispatch { job: "apply" },
        "apply",
        no_secrets(),
    );
    run.assert_success();
    assert!(
        run.step("Apply").stdout.contains("No changes."),
        "{}",
        run.log()
    );
}
