//! `examples/gitlab-ci/.gitlab-ci.yml`, run: the merge-request plan posted as a note and
//! updated in place, posted also when the plan fails, against the default branch's state; the
//! apply pushing the state in its script, so that a refused push fails the job.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::forge::{self, Flavor, NUMBER, PROJECT_ID};
use super::runner::{load_yaml, GitLab, JobRun, Outcome};
use super::workspace::{git, CONFIG};
use super::{root, tools, Ci, FORGE_TOKEN, PUSH_TOKEN};

fn pipeline() -> Value {
    load_yaml(&root().join("examples/gitlab-ci/.gitlab-ci.yml"))
}

enum Source {
    MergeRequest,
    Push,
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
        // The push URL the example builds reaches origin.
        let config = self.home().join("gitconfig");
        std::fs::write(
            &config,
            format!(
                "[url \"{}\"]\n\tinsteadOf = https://oauth2:{PUSH_TOKEN}@gitlab.test/acme/people.git\n",
                self.repo.origin.display()
            ),
        )
        .unwrap();
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
            ("ZSC_PUSH_TOKEN", PUSH_TOKEN),
            ("GIT_CONFIG_GLOBAL", config.to_str().unwrap()),
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
        }
        let runner = GitLab {
            variables: vars,
            path: vec![self.tools.clone(), self.zsc.clone()],
            workspace,
        };
        runner.run_job(&file, job)
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

#[test]
fn gitlab_merge_request_plan_is_a_note_from_the_default_branch_state_then_updated() {
    let ci = Ci::new(Flavor::GitLab, CONFIG, forge::noisy_thread(110));
    ci.repo.commit(
        "people",
        "bob leaves, dan joins",
        &[("zsc.yaml", &people_change())],
    );
    let main = ci.repo.checkout("apply", "main");
    ci.gitlab(&main, Source::Push, "apply").assert_success();
    assert!(ci.repo.show("main", ".zsc/state.json").is_some());

    let mr = ci.repo.checkout("mr-1", "people");
    assert!(!ci.gitlab(&mr, Source::MergeRequest, "apply").ran);
    let run = ci.gitlab(&mr, Source::MergeRequest, "plan");
    run.assert_success();
    let comment = Ci::read(&mr, "comment.md");
    assert!(
        comment.contains("# demo.user[\"bob@example.com\"] will be disabled"),
        "{comment}\n{}",
        run.log()
    );
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
    let ci = Ci::new(Flavor::GitLab, CONFIG, vec![]);
    let main = ci.repo.checkout("apply", "main");
    ci.gitlab(&main, Source::Push, "apply").assert_success();
    let guard = CONFIG
        .replace("max_destroy: 5", "max_destroy: 1")
        .replace(
            "  - user_name: bob@example.com\n    display_name: Bob\n  - user_name: cid@example.com\n    display_name: Cid\n",
            "",
        )
        .replace(", bob@example.com, cid@example.com]", "]");
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
    ]
    .into_iter()
    .enumerate()
    {
        let branch = format!("broken-{i}");
        ci.repo.commit(&branch, "broken", &[("zsc.yaml", &config)]);
        let mr = ci.repo.checkout(&branch, &branch);
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
}

#[test]
fn gitlab_apply_pushes_the_state_in_its_script_so_a_refused_push_fails_the_job() {
    let ci = Ci::new(Flavor::GitLab, CONFIG, vec![]);
    let main = ci.repo.checkout("apply-1", "main");
    let run = ci.gitlab(&main, Source::Push, "apply");
    run.assert_success();
    assert!(!ci.gitlab(&main, Source::Push, "plan").ran);
    let log = ci.repo.log();
    assert!(log[0].starts_with("zsc: state after applying "), "{log:?}");
    assert_eq!(
        run.step("after_script").outcome,
        Outcome::Success,
        "after a success, after_script does nothing"
    );

    // A merge request is merged, and main is protected against the push.
    ci.repo
        .commit("people", "bob leaves", &[("zsc.yaml", &people_change())]);
    ci.repo.merge("people");
    ci.repo.refuse_pushes();
    let main = ci.repo.checkout("apply-2", "main");
    let run = ci.gitlab(&main, Source::Push, "apply");
    run.assert_failure();
    let script = run.step("script");
    assert!(
        script.stderr.contains("could not push the state to main"),
        "{}",
        run.log()
    );
    // The apply happened; after_script tried once more, and said so.
    assert!(ci
        .repo
        .tenant_users()
        .contains(&("bob@example.com".to_owned(), false)));
    assert!(run
        .step("after_script")
        .stderr
        .contains("could not push the state"));
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
