//! The release workflow, the install action and the container build, as far as this machine
//! allows: no other architecture's toolchain and no container engine here. The release
//! workflow's packaging, checksum and notes steps run for real on this machine's binary (the
//! static one `.ci/run` builds with the workflow's settings, `ZSC_RELEASE_BIN`, or else the
//! test binary), the result is served as a fake release on 127.0.0.1, and the action installs
//! from it, refusing an archive whose checksum does not match. The container build is checked
//! for what can be checked without building: the context it is sent, and that its stages and
//! paths agree with the workflow's.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::runner::{load_yaml, GitHub, JobRun, Outcome, Uses};
use super::workspace::git;
use super::{root, tools};

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The target install.sh picks on this machine.
const TARGET: &str = if cfg!(target_arch = "aarch64") {
    "aarch64-unknown-linux-musl"
} else {
    "x86_64-unknown-linux-musl"
};

fn release_workflow() -> Value {
    load_yaml(&root().join(".github/workflows/release.yml"))
}

/// The binary a release of this machine's architecture holds: the one `.ci/run` built with the
/// release workflow's settings, else the test binary.
fn release_binary() -> PathBuf {
    match std::env::var_os("ZSC_RELEASE_BIN") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_zsc")),
    }
}

/// A runner for the release workflow's jobs (or a test workflow) in `workspace`.
fn runner<'a>(
    workspace: &'a Path,
    temp: &Path,
    path: Vec<PathBuf>,
    uses: &'a dyn Fn(&str, &Map<String, Value>) -> Uses,
) -> GitHub<'a> {
    let mut env = std::collections::BTreeMap::new();
    for (k, v) in [
        ("CI", "true".to_owned()),
        ("HOME", temp.join("home").display().to_string()),
        (
            "RUNNER_TEMP",
            temp.join("runner-temp").display().to_string(),
        ),
        ("GITHUB_WORKSPACE", workspace.display().to_string()),
    ] {
        env.insert(k.to_owned(), v);
    }
    for dir in ["home", "runner-temp"] {
        std::fs::create_dir_all(temp.join(dir)).unwrap();
    }
    GitHub {
        github: json!({
            "repository": "acme/zsc",
            "ref_name": format!("v{VERSION}"),
            "ref": format!("refs/tags/v{VERSION}"),
            "event_name": "push",
        }),
        secrets: json!({}),
        vars: json!({}),
        matrix: json!({"target": TARGET, "runner": "ubuntu-24.04", "platform": "linux-amd64"}),
        needs: json!({"check": {"outputs": {"version": VERSION}}}),
        env,
        path,
        workspace,
        uses,
    }
}

fn no_actions(action: &str, _: &Map<String, Value>) -> Uses {
    panic!("the release steps under test use no action ({action})")
}

/// A workspace as the build job's checkout after its build: the files it packages, and the
/// binary where `cargo build --release --target TARGET` leaves it.
fn built_workspace(dir: &Path) -> PathBuf {
    let ws = dir.join("ws");
    std::fs::create_dir_all(ws.join(format!("target/{TARGET}/release"))).unwrap();
    for file in ["README.md", "LICENSE", "CHANGELOG.md", "Cargo.toml"] {
        std::fs::copy(root().join(file), ws.join(file)).unwrap();
    }
    std::fs::copy(
        release_binary(),
        ws.join(format!("target/{TARGET}/release/zsc")),
    )
    .unwrap();
    git(&ws, &["init", "-q"]);
    git(&ws, &["add", "README.md"]);
    git(&ws, &["commit", "-q", "-m", "release"]);
    ws
}

/// The release as the workflow publishes it: package (build job) and checksums (release job).
fn packaged(dir: &Path) -> PathBuf {
    let ws = built_workspace(dir);
    let mut tools_list = tools::CI_IMAGE.to_vec();
    tools_list.extend(tools::RUNNER_EXTRAS);
    let bin = tools::bin_dir(dir, &tools_list);
    let workflow = release_workflow();
    let build = runner(&ws, dir, vec![bin.clone()], &no_actions);
    let run = build.run_steps(&workflow, "build", Some(&["Package"]));
    run.assert_success();
    if std::env::var_os("ZSC_RELEASE_STATIC").is_some() {
        // The static binary .ci/run built: the workflow's own check that it is static and runs.
        let run = build.run_steps(
            &workflow,
            "build",
            Some(&["Check the binary is static and runs"]),
        );
        run.assert_success();
    }
    let release = runner(&ws, dir, vec![bin], &no_actions);
    let run = release.run_steps(&workflow, "release", Some(&["Checksums"]));
    run.assert_success();
    ws.join("dist")
}

/// A fake GitHub releases host on 127.0.0.1 serving `dist/`: downloads redirect to another
/// path, as github.com's do.
struct Releases {
    _rt: tokio::runtime::Runtime,
    /// `http://127.0.0.1:PORT/acme/zsc/releases/download`
    url: String,
}

impl Releases {
    fn serve(dist: &Path) -> Releases {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dist = Arc::new(dist.to_owned());
        let app = axum::Router::new().fallback(move |uri: Uri| {
            let dist = dist.clone();
            async move { serve_file(&dist, &uri) }
        });
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(async move { axum::serve(listener, app).await });
        Releases {
            _rt: rt,
            url: format!("http://127.0.0.1:{port}/acme/zsc/releases/download"),
        }
    }
}

fn serve_file(dist: &Path, uri: &Uri) -> Response {
    let prefix = format!("/acme/zsc/releases/download/v{VERSION}/");
    if let Some(name) = uri.path().strip_prefix(&prefix) {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, format!("/objects/{name}"))],
        )
            .into_response();
    }
    if let Some(name) = uri.path().strip_prefix("/objects/") {
        if !name.contains('/') {
            if let Ok(bytes) = std::fs::read(dist.join(name)) {
                return (StatusCode::OK, bytes).into_response();
            }
        }
    }
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// Run zsc's action (`uses: ./`) with `inputs`, then a step that uses `zsc`, on a runner with a
/// fresh temp directory.
fn install(dir: &Path, inputs: Value) -> JobRun {
    let bin = tools::bin_dir(&dir.join("tools"), tools::CI_IMAGE);
    let workflow = json!({"jobs": {"install": {"steps": [
        {"name": "Install zsc", "id": "zsc", "uses": "./", "with": inputs},
        {
            "name": "Use it",
            "shell": "bash",
            "env": {"INSTALLED": "${{ steps.zsc.outputs.path }}"},
            "run": "zsc --version\necho \"installed: $INSTALLED\"",
        },
    ]}}});
    let ws = dir.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let uses = |action: &str, _: &Map<String, Value>| {
        assert_eq!(action, "./");
        Uses::Composite(root())
    };
    runner(&ws, dir, vec![bin], &uses).run_job(&workflow, "install")
}

#[test]
fn the_action_installs_a_packaged_release_and_refuses_one_whose_checksum_differs() {
    let dir = tempfile::tempdir().unwrap();
    let dist = packaged(dir.path());
    let archive = format!("zsc-{VERSION}-{TARGET}.tar.gz");
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert!(sums.ends_with(&format!("  {archive}\n")), "{sums}");
    let listed = sums.split_whitespace().next().unwrap().to_owned();
    let releases = Releases::serve(&dist);
    let inputs = |extra: Value| {
        let mut v = json!({"version": VERSION, "download-url": releases.url});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };

    let run_dir = dir.path().join("run-1");
    let run = install(&run_dir, inputs(json!({})));
    run.assert_success();
    let used = run.step("Use it");
    assert!(
        used.stdout.contains(&format!("zsc {VERSION}")),
        "{}",
        run.log()
    );
    let installed = run_dir.join("runner-temp/zsc/bin/zsc");
    assert!(used
        .stdout
        .contains(&format!("installed: {}", installed.display())));
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(release_binary()).unwrap(),
        "the installed zsc is the packaged one"
    );

    // Pinned to the right checksum: installs; to another: refused.
    let run = install(&dir.path().join("run-2"), inputs(json!({"sha256": listed})));
    run.assert_success();
    let wrong = "0".repeat(64);
    let run_dir = dir.path().join("run-3");
    let run = install(&run_dir, inputs(json!({"sha256": wrong})));
    run.assert_failure();
    assert!(run.log().contains("checksum mismatch"), "{}", run.log());
    assert!(!run_dir.join("runner-temp/zsc/bin/zsc").exists());
    assert_eq!(run.step("Use it").outcome, Outcome::Skipped);

    // An archive changed after SHA256SUMS was made: refused, nothing installed.
    let path = dist.join(&archive);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let run_dir = dir.path().join("run-4");
    let run = install(&run_dir, inputs(json!({})));
    run.assert_failure();
    assert!(
        run.log()
            .contains(&format!("checksum mismatch for {archive}")),
        "{}",
        run.log()
    );
    assert!(!run_dir.join("runner-temp/zsc/bin/zsc").exists());

    // A release that does not exist: a clear error.
    let run = install(
        &dir.path().join("run-5"),
        inputs(json!({"version": "9.9.9"})),
    );
    run.assert_failure();
    assert!(run.log().contains("could not download"), "{}", run.log());
}

#[test]
fn the_release_needs_its_version_in_the_tag_cargo_toml_and_the_changelog() {
    let dir = tempfile::tempdir().unwrap();
    let ws = built_workspace(dir.path());
    let bin = tools::bin_dir(dir.path(), tools::CI_IMAGE);
    let workflow = release_workflow();
    let check = runner(&ws, dir.path(), vec![bin.clone()], &no_actions);
    check
        .run_steps(&workflow, "check", Some(&["Version"]))
        .assert_success();

    // CHANGELOG.md as committed has only `Unreleased`: a release of VERSION is refused until
    // its section exists.
    let run = check.run_steps(&workflow, "check", Some(&["Version", "Release notes"]));
    run.assert_failure();
    assert!(run
        .log()
        .contains(&format!("CHANGELOG.md has no section ## [{VERSION}]")));

    let changelog = std::fs::read_to_string(root().join("CHANGELOG.md")).unwrap();
    let released = changelog.replacen(
        "## [Unreleased]",
        &format!("## [Unreleased]\n\n## [{VERSION}] - 2026-12-01"),
        1,
    ) + "\n## [0.0.1] - 2026-01-01\n\n- Older.\n";
    std::fs::write(ws.join("CHANGELOG.md"), released).unwrap();
    check
        .run_steps(&workflow, "check", Some(&["Version", "Release notes"]))
        .assert_success();
    let notes = std::fs::read_to_string(ws.join("notes.md")).unwrap();
    assert!(notes.trim_start().starts_with("### Added"), "{notes}");
    assert!(notes.contains("Refresh, plan and apply"), "{notes}");
    assert!(!notes.contains("Older."), "{notes}");

    // Another tag than Cargo.toml's version is refused.
    let mut other = runner(&ws, dir.path(), vec![bin], &no_actions);
    other.github["ref_name"] = json!("v9.9.9");
    let run = other.run_steps(&workflow, "check", Some(&["Version"]));
    run.assert_failure();
    assert!(
        run.log().contains("Cargo.toml's version is"),
        "{}",
        run.log()
    );
}

/// The release workflow's build command and settings, the ones `.ci/run` and the Dockerfile
/// use: what CI builds and runs is what a release ships.
#[test]
fn ci_and_the_dockerfile_build_as_the_release_workflow_does() {
    let workflow = release_workflow();
    assert_eq!(workflow["env"]["CARGO_PROFILE_RELEASE_STRIP"], "debuginfo");
    let steps = workflow["jobs"]["build"]["steps"].as_array().unwrap();
    let build = steps
        .iter()
        .find(|s| s["name"] == "Build")
        .expect("a Build step");
    assert_eq!(
        build["run"],
        "cargo build --release --locked --target \"$TARGET\""
    );
    let ci = std::fs::read_to_string(root().join(".ci/release-check")).unwrap();
    assert!(ci.contains("CARGO_PROFILE_RELEASE_STRIP=debuginfo"));
    assert!(ci.contains("cargo build --release --locked --target \"$release_target\""));
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo"));
    assert!(dockerfile.contains("RUN cargo build --release --locked"));

    // The image job builds the Dockerfile's stages from the binaries the build job left.
    let stages: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("FROM "))
        .filter_map(|l| l.split(" AS ").nth(1))
        .collect();
    for step in workflow["jobs"]["image"]["steps"].as_array().unwrap() {
        if let Some(target) = step["with"]["target"].as_str() {
            assert!(stages.contains(&target), "no stage {target} in {stages:?}");
            assert_eq!(step["with"]["build-args"], "ZSC_BINARY=prebuilt");
        }
    }
    assert!(dockerfile.contains("COPY dist/docker/linux-${TARGETARCH}/zsc /out/zsc"));
    for include in workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .unwrap()
    {
        let platform = include["platform"].as_str().unwrap();
        assert!(["linux-amd64", "linux-arm64"].contains(&platform));
    }
}

/// Whether `.dockerignore` leaves `path` (relative, `/`-separated) out of the build context:
/// the last pattern matching it or a directory above it decides, `!` letting it back in.
fn docker_ignores(patterns: &[String], path: &str) -> bool {
    let mut ignored = false;
    let parts: Vec<&str> = path.split('/').collect();
    for pattern in patterns {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern.as_str()),
        };
        let glob = glob::Pattern::new(pattern.trim_end_matches('/')).unwrap();
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..glob::MatchOptions::default()
        };
        let matches = (1..=parts.len()).any(|n| glob.matches_with(&parts[..n].join("/"), options));
        if matches {
            ignored = !negated;
        }
    }
    ignored
}

#[test]
fn the_docker_context_holds_what_the_build_needs_and_nothing_local() {
    let patterns: Vec<String> = std::fs::read_to_string(root().join(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    for (path, ignored) in [
        ("target/debug/zsc", true),
        (".git/HEAD", true),
        ("examples/quickstart/.zsc/state.json", true),
        ("dist/zsc-0.1.0-x86_64-unknown-linux-musl.tar.gz", true),
        ("dist/docker/linux-amd64/zsc", false),
        ("Cargo.lock", false),
        ("src/main.rs", false),
        ("tests/lib.rs", false),
    ] {
        assert_eq!(docker_ignores(&patterns, path), ignored, "{path}");
    }
    // The context as `docker build .` would send it from a clean checkout: Cargo can read the
    // manifest of the package it is to build (its targets, the lock file) from it alone.
    let files = git(&root(), &["ls-files"]);
    let context = tempfile::tempdir().unwrap();
    let mut sent = 0;
    for file in files.lines().filter(|f| !docker_ignores(&patterns, f)) {
        let to = context.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        if std::fs::copy(root().join(file), &to).is_ok() {
            sent += 1;
        }
    }
    assert!(sent > 50, "{sent} files");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--locked",
            "--format-version",
            "1",
        ])
        .current_dir(context.path())
        .env("CARGO_TARGET_DIR", context.path().join("target"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata in the docker context: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each example says in one place which zsc it runs, and it is this source's version.
#[test]
fn each_example_names_its_zsc_release_once() {
    let github = std::fs::read_to_string(root().join("examples/github-actions/zsc.yml")).unwrap();
    assert_eq!(
        github.matches("uses: your-org/zsc@").count(),
        1,
        "one install step"
    );
    assert_eq!(
        github.matches("*install-zsc").count(),
        2,
        "reused by the apply and nightly jobs"
    );
    assert_eq!(github.matches(&format!("version: {VERSION}\n")).count(), 1);
    let gitlab = std::fs::read_to_string(root().join("examples/gitlab-ci/.gitlab-ci.yml")).unwrap();
    assert_eq!(
        gitlab.matches(VERSION).count(),
        1,
        "only ZSC_IMAGE names the release"
    );
    let parsed = load_yaml(&root().join("examples/github-actions/zsc.yml"));
    let install = |job: &str| {
        parsed["jobs"][job]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "Install zsc")
            .cloned()
            .unwrap_or_else(|| panic!("no install step in {job}"))
    };
    assert_eq!(install("plan"), install("apply"));
    assert_eq!(install("plan"), install("nightly"));
}
