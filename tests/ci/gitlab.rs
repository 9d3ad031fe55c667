//! `examples/gitlab-ci/.gitlab-ci.yml`, run against GitLab's managed Terraform state (the
//! backend tests' server on GitLab's rules, behind the fake forge's API, with the job token):
//! the merge-request plan reads the stored state (also while an apply holds the lock), is
//! posted as a note and updated in place, and is posted also when the plan fails; the apply
//! stores the state under the lock, waits for another holder with `--lock-timeout`, and commits
//! nothing back; the nightly job, alone in a schedule's pipeline, applies what expired and puts
//! back what drifted, passing with warnings when something had.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::forge::{self, Flavor, NUMBER, PROJECT_ID};
use super::http_server::JOB_TOKEN;
use super::runner::{load_yaml, GitLab, JobRun};
use super::workspace::{config_with_an_expired_membership, git, CONFIG};
use super::{root, tools, Ci, FORGE_TOKEN};

fn pipeline() -> Value {
    load_yaml(&root().join("examples/gitlab-ci/.gitlab-ci.yml"))
}

enum Source {
    MergeRequest,
    Push,
    /// A pipeline schedule on the default branch.
    Schedule,
}

impl Ci {
    /// Run `job` of the example in `workspace` (a checkout), in a pipeline from `source`.
    fn gitlab(&self, workspace: &Path, source: Source, job: &str) -> JobRun {
        let file = pipeline();
        // The jobs run in the image the file names: zsc's `-ci` image, whose tools are
        // tools::CI_IMAGE and zsc.
        let image = file["default"]["image"].as_str().expect("a default image");
        assert_eq!(image, "$ZSC_IMAGE");
        let image = file["variables"]["ZSC_IMAGE"].as_str().unwrap();
        assert!(
            image.ends_with(&format!(":{}-ci", env!("CARGO_PKG_VERSION"))),
            "{image}: the `-ci` image of this source's version"
        );
        let sha = git(workspace, &["rev-parse", "HEAD"]);
        let mut vars: BTreeMap<String, String> = self.base_env();
        for (k, v) in [
            ("GITLAB_CI", "true"),
            ("CI_API_V4_URL", self.forge.api_url.as_str()),
            ("CI_PROJECT_ID", PROJECT_ID),
            ("CI_PROJECT_PATH", "acme/people"),
            ("CI_PROJECT_URL", "https://gitlab.test/acme/people"),
            ("CI_SERVER_HOST", "gitlab.test"),
            ("CI_SERVER_FQDN", "gitlab.test"),
            ("CI_SERVER_PROTOCOL", "https"),
            ("CI_DEFAULT_BRANCH", "main"),
            ("CI_COMMIT_SHA", sha.as_str()),
            ("CI_COMMIT_SHORT_SHA", &sha[..8]),
            (
                "CI_PIPELINE_URL",
                "https://gitlab.test/acme/people/-/pipelines/99",
            ),
            ("CI_JOB_URL", "https://gitlab.test/acme/people/-/jobs/990"),
            ("ZSC_GITLAB_TOKEN", FORGE_TOKEN),
            // The job token GitLab gives every job, which its Terraform state API accepts.
            ("CI_JOB_TOKEN", JOB_TOKEN),
        ] {
            vars.insert(k.to_owned(), v.to_owned());
        }
        match source {
            Source::MergeRequest => {
                vars.insert("CI_PIPELINE_SOURCE".into(), "merge_request_event".into());
                vars.insert("CI_MERGE_REQUEST_IID".into(), NUMBER.to_string());
                vars.insert("CI_MERGE_REQUEST_TARGET_BRANCH_NAME".into(), "main".into());
            }
            Source::Push => {
                vars.insert("CI_PIPELINE_SOURCE".into(), "push".into());
                vars.insert("CI_COMMIT_BRANCH".into(), "main".into());
            }
            Source::Schedule => {
                vars.insert("CI_PIPELINE_SOURCE".into(), "schedule".into());
                vars.insert("CI_COMMIT_BRANCH".into(), "main".into());
            }
        }
        let runner = GitLab {
            variables: vars,
            path: vec![self.tools.clone(), self.zsc.clone()],
            workspace,
        };
        let run = runner.run_job(&file, job);
        assert!(
            !run.log().contains(JOB_TOKEN),
            "the job token is in the job's output:\n{}",
            run.log()
        );
        run
    }
}

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

/// A lock another run holds on the state, as zsc writes one.
fn holder() -> Value {
    json!({"ID": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "Operation": "zsc apply",
        "Info": "pid 4242", "Who": "ci@runner-7", "Version": "0.1.0",
        "Created": "2026-11-30T02:00:00Z", "Path": "zsc"})
}

#[test]
fn gitlab_merge_request_plan_reads_the_stored_state_and_is_a_note_then_updated() {
    let ci = Ci::new(Flavor::GitLab, CONFIG, forge::noisy_thread(110)).unwrap();
    let state = ci.gitlab_state();
    // The branch is cut before the first apply.
    ci.repo.commit(
        "people",
        "bob leaves, dan joins",
        &[("zsc.yaml", &people_change())],
    );
    let main = ci.repo.checkout("apply", "main");
    ci.gitlab(&main, Source::Push, "apply").assert_success();
    let serial = state
        .serial()
        .expect("the apply stored the state in GitLab");
    assert!(state.held().lock.is_none(), "the apply released its lock");
    assert_eq!(ci.repo.log(), ["zsc.yaml"], "nothing was committed back");

    let mr = ci.repo.checkout("mr-1", "people");
    assert!(!ci.gitlab(&mr, Source::MergeRequest, "apply").ran);
    let locks = state.count("POST", "/lock");
    let run = ci.gitlab(&mr, Source::MergeRequest, "plan");
    run.assert_success();
    let comment = Ci::read(&mr, "comment.md");
    // The stored state says zsc manages bob: he is disabled. Without it, he would be left
    // alone.
    assert!(
        comment.contains("# demo.user[\"bob@example.com\"] will be disabled"),
        "{comment}\n{}",
        run.log()
    );
    // The plan read the state with the job token, took no lock and wrote nothing.
    assert_eq!(state.count("POST", "/lock"), locks);
    assert_eq!(state.serial(), Some(serial));
    assert!(!mr.join(".zsc/state.json").exists(), "no local state");
    let list = format!("/api/v4/projects/{PROJECT_ID}/merge_requests/{NUMBER}/notes");
    assert_eq!(
        ci.forge.call_lines(),
        [
            format!("GET {list}?per_page=100&page=1&sort=asc 200"),
            format!("GET {list}?per_page=100&page=2&sort=asc 200"),
            format!("GET {list}?per_page=100&page=3&sort=asc 200"),
            format!("POST {list} 201"),
        ],
        "{}",
        run.log()
    );
    let notes = ci.forge.bot_notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].body, comment.trim_end_matches('\n'));

    // A second push, while an apply holds the lock: the plan needs none, and the same note is
    // updated.
    state.lock_as(holder());
    ci.repo.commit(
        "people",
        "ann's full name",
        &[(
            "zsc.yaml",
            &people_change().replace("display_name: Ann", "display_name: Ann Lee"),
        )],
    );
    ci.forge.clear_calls();
    let mr = ci.repo.checkout("mr-2", "people");
    ci.gitlab(&mr, Source::MergeRequest, "plan")
        .assert_success();
    assert_eq!(
        state.held().lock,
        Some(holder()),
        "the other run's lock is untouched"
    );
    let id = notes[0].id;
    assert_eq!(
        ci.forge.call_lines(),
        [
            format!("GET {list}?per_page=100&page=1&sort=asc 200"),
            format!("GET {list}?per_page=100&page=2&sort=asc 200"),
            format!("PUT {list}/{id} 200"),
        ]
    );
    let notes = ci.forge.bot_notes();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].body.contains("\"Ann\" -> \"Ann Lee\""),
        "{}",
        notes[0].body
    );
}

#[test]
fn gitlab_plan_that_fails_is_a_note_with_its_error_and_fails_the_job() {
    let ci = Ci::new(Flavor::GitLab, CONFIG, vec![]).unwrap();
    let main = ci.repo.checkout("apply", "main");
    ci.gitlab(&main, Source::Push, "apply").assert_success();
    let state = ci.gitlab_state();
    let stored = state.held().state.clone();
    let guard = CONFIG
        .replace("max_destroy: 5", "max_destroy: 1")
        .replace(
            "  - user_name: bob@example.com\n    display_name: Bob\n  - user_name: cid@example.com\n    display_name: Cid\n",
            "",
        )
        .replace(", bob@example.com, cid@example.com]", "]");
    let corrupt = b"{\"format_version\": 1, \"lineage\": ".to_vec();
    for (i, (config, needles)) in [
        (
            guard,
            &[
                "**zsc plan failed:**",
                "the limit is 1 (1 over)",
                "## The refused plan",
            ][..],
        ),
        (
            CONFIG.replace("kind: emulator", "kind: emulater"),
            &["**zsc plan failed:**", "unknown tenant kind `emulater`"],
        ),
        (
            people_change(),
            &["**zsc plan failed:**", "holds no valid state"],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let branch = format!("broken-{i}");
        ci.repo.commit(&branch, "broken", &[("zsc.yaml", &config)]);
        let mr = ci.repo.checkout(&branch, &branch);
        if i == 2 {
            state.held().state = Some(corrupt.clone());
        }
        let run = ci.gitlab(&mr, Source::MergeRequest, "plan");
        run.assert_failure();
        assert!(run.step("script").stdout.contains("added a note") || i > 0);
        let notes = ci.forge.bot_notes();
        assert_eq!(notes.len(), 1, "one note, updated");
        for needle in needles {
            assert!(
                notes[0].body.contains(needle),
                "no {needle:?} in\n{}\n{}",
                notes[0].body,
                run.log()
            );
        }
    }
    assert_eq!(state.held().state, Some(corrupt), "a plan replaces nothing");
    state.held().state = stored;
}

#[test]
fn gitlab_apply_stores_the_state_under_the_lock_and_waits_for_another_holder() {
    let ci = Ci::new(Flavor::GitLab, CONFIG, vec![]).unwrap();
    let state = ci.gitlab_state();
    let main = ci.repo.checkout("apply-1", "main");
    ci.gitlab(&main, Source::Push, "apply").assert_success();
    assert!(!ci.gitlab(&main, Source::Push, "plan").ran);
    assert!(
        state.serial().is_some(),
        "the apply stored the state in GitLab"
    );
    assert!(state.held().lock.is_none(), "the apply released its lock");
    assert_eq!(state.count("POST", "/lock"), 1);
    assert_eq!(state.count("DELETE", "/lock"), 1);
    assert!(!main.join(".zsc/state.json").exists(), "no local state");
    assert_eq!(ci.repo.log(), ["zsc.yaml"], "nothing was committed back");
    assert_eq!(ci.repo.tenant_users().len(), 3);

    // Nothing to do.
    let main = ci.repo.checkout("apply-2", "main");
    let run = ci.gitlab(&main, Source::Push, "apply");
    run.assert_success();
    assert!(
        run.step("script").stdout.contains("No changes."),
        "{}",
        run.log()
    );
    let first = state.serial().unwrap();

    // A merge request is merged while another run holds the lock, which it lets go a moment
    // later: the apply waits for it (--lock-timeout), then applies.
    ci.repo
        .commit("people", "bob leaves", &[("zsc.yaml", &people_change())]);
    ci.repo.merge("people");
    state.lock_as(holder());
    let held = state.held.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        held.lock().unwrap().lock = None;
    });
    let main = ci.repo.checkout("apply-3", "main");
    let run = ci.gitlab(&main, Source::Push, "apply");
    releaser.join().unwrap();
    run.assert_success();
    assert!(
        run.step("script")
            .stderr
            .contains("Waiting for the state lock, held by `zsc apply` by ci@runner-7"),
        "{}",
        run.log()
    );
    assert!(state.serial().unwrap() > first);
    assert!(state.held().lock.is_none());
    assert!(ci
        .repo
        .tenant_users()
        .contains(&("bob@example.com".to_owned(), false)));
    let versions: Vec<u64> = state.held().versions.keys().copied().collect();
    assert_eq!(
        versions.last(),
        state.serial().as_ref(),
        "GitLab keeps each version"
    );
    assert_eq!(ci.repo.log().len(), 3, "nothing was committed back");
}

/// What the example says about the state, checked where running the jobs cannot: nothing is
/// committed or pushed, and the apply waits for a held lock.
#[test]
fn gitlab_example_commits_nothing() {
    let file = pipeline();
    for (name, job) in file.as_object().unwrap() {
        let mut lines = Vec::new();
        for key in ["before_script", "script", "after_script"] {
            lines.extend(super::runner::flatten(&job[key]));
        }
        for line in &lines {
            for word in ["git commit", "git push", ".zsc/state.json"] {
                assert!(!line.contains(word), "job {name} runs {word}:\n{line}");
            }
        }
    }
    let script = super::runner::flatten(&file["apply"]["script"]);
    assert!(
        script.contains(&"zsc apply --auto-approve --lock-timeout 10m".to_owned()),
        "{script:?}"
    );
}

#[test]
fn gitlab_nightly_applies_what_expired_and_passes_with_warnings_on_drift() {
    let file = pipeline();
    let nightly = &file["nightly"];
    assert_eq!(nightly["resource_group"], file["apply"]["resource_group"]);
    assert_eq!(nightly["environment"], file["apply"]["environment"]);
    assert_eq!(nightly["allow_failure"], json!({"exit_codes": [3]}));
    assert_eq!(nightly["artifacts"]["when"], "always");
    assert_eq!(
        nightly["artifacts"]["paths"],
        json!(["nightly.json", "nightly.md"])
    );
    let script = super::runner::flatten(&nightly["script"]);
    assert_eq!(
        script[0],
        super::runner::flatten(&file["apply"]["script"])[0],
        "the nightly applies the tip of the default branch, as the apply does"
    );
    assert!(script.contains(
        &"if [ \"$code\" -eq 2 ]; then zsc apply nightly.json --lock-timeout 10m; fi".to_owned()
    ));

    let ci = Ci::new(Flavor::GitLab, CONFIG, vec![]).unwrap();
    let state = ci.gitlab_state();
    let main = ci.repo.checkout("apply", "main");
    ci.gitlab(&main, Source::Push, "apply").assert_success();
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
    let before = state.serial().unwrap();
    let locks = state.count("POST", "/lock");

    // In a schedule's pipeline only the nightly job runs, and it runs in no other.
    let main = ci.repo.checkout("nightly-1", "main");
    for job in ["plan", "apply"] {
        assert!(!ci.gitlab(&main, Source::Schedule, job).ran, "{job}");
    }
    for source in [Source::Push, Source::MergeRequest] {
        assert!(!ci.gitlab(&main, source, "nightly").ran);
    }

    let run = ci.gitlab(&main, Source::Schedule, "nightly");
    run.assert_allowed_failure();
    let log = run.log();
    assert!(log.contains("[exit 3]"), "{log}");
    assert!(
        log.contains(
            "zsc drift: 2 objects were changed outside zsc since the last apply; the plan sets \
             them back to what the repository says (above, and nightly.md)"
        ),
        "{log}"
    );
    // The log has the text plan, the artifacts the saved plan and its markdown.
    let until = config
        .split("until: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let expiry = format!("the membership was declared until {until}, which has passed");
    assert!(log.contains(&expiry), "{log}");
    let plan: Value = serde_json::from_str(&Ci::read(&main, "nightly.json")).unwrap();
    assert_eq!(
        plan["summary"]["memberships"],
        json!({"add": 1, "remove": 1})
    );
    let markdown = Ci::read(&main, "nightly.md");
    assert!(markdown.contains(&expiry), "{markdown}");
    assert!(
        markdown.contains(r#"display_name = "Ann (portal)" -> "Ann""#),
        "{markdown}"
    );
    assert!(log.contains("Apply complete!"), "{log}");
    // Applied: cid is out of Staff, and the portal's edits are undone.
    assert_eq!(
        ci.repo.tenant_members("Staff"),
        ["ann@example.com", "bob@example.com"]
    );
    assert_eq!(
        ci.repo.tenant_display_name("ann@example.com").as_deref(),
        Some("Ann")
    );
    let after = state.serial().unwrap();
    assert!(after > before, "the nightly stored the state");
    assert!(state.held().lock.is_none(), "the nightly released its lock");
    assert_eq!(state.count("POST", "/lock"), locks + 1);
    assert!(!main.join(".zsc/state.json").exists(), "no local state");
    assert_eq!(ci.repo.log().len(), 2, "nothing was committed back");

    // The next night: nothing to do, nothing to report, no lock taken; the job passes.
    let main = ci.repo.checkout("nightly-2", "main");
    let run = ci.gitlab(&main, Source::Schedule, "nightly");
    run.assert_success();
    assert!(!run.log().contains("zsc drift"), "{}", run.log());
    assert!(
        Ci::read(&main, "nightly.md").starts_with("**zsc plan: no changes.**"),
        "{}",
        run.log()
    );
    assert_eq!(state.serial(), Some(after));
    assert_eq!(state.count("POST", "/lock"), locks + 1);
}

/// The shell the examples run: every GitHub `run:` block and GitLab script line.
fn example_scripts() -> Vec<String> {
    let mut scripts = Vec::new();
    let github = load_yaml(&root().join("examples/github-actions/zsc.yml"));
    for job in github["jobs"].as_object().unwrap().values() {
        for step in job["steps"].as_array().unwrap() {
            if let Some(run) = step["run"].as_str() {
                scripts.push(run.to_owned());
            }
            if let Some(uses) = step["uses"].as_str() {
                assert!(
                    !uses.contains("github-script"),
                    "a script outside the shell: {uses}"
                );
            }
        }
    }
    fn lines(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|i| lines(i, out)),
            _ => {}
        }
    }
    let gitlab = pipeline();
    for job in gitlab.as_object().unwrap().values() {
        for key in ["before_script", "script", "after_script"] {
            lines(&job[key], &mut scripts);
        }
    }
    scripts
}

#[test]
fn the_examples_need_only_what_their_images_have() {
    // jq and python are on many machines, and on neither image (nor rust:1-bookworm, for jq):
    // the jobs run with a PATH without them, and no script names them.
    for missing in ["jq", "python3", "python", "cargo"] {
        assert!(!tools::CI_IMAGE.contains(&missing));
    }
    let scripts = example_scripts();
    assert!(scripts.len() > 10);
    for script in &scripts {
        for word in script.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
            assert!(
                !["jq", "python", "python3", "cargo", "node"].contains(&word),
                "a script calls {word}:\n{script}"
            );
        }
    }
}
