//! The fault matrix's remaining cells, crash consistency over a run of 500+ changes, and
//! secrets: through the real binary against the emulator on 127.0.0.1.
//!
//! After every scenario the same checks run ([`Env::assert_consistent`]): every id that state
//! (with its journal replayed) records exists live under that name, nothing is duplicated, and
//! a plan against the fault-free emulator creates exactly the desired users that do not exist.
//! The figures printed with `eprintln!` (see them with `--nocapture`) are the ones quoted in
//! docs/reliability.md.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use zsc::dialect::Dialect;
use zsc::emulator::{Faults, Stats};
use zsc::state::StateStore;

use crate::harness::{emulator_options, finish, signal, Env, Run, TOKEN, TOKEN_ENV};

fn faults(f: impl FnOnce(&mut Faults)) -> Faults {
    let mut faults = Faults {
        seed: 11,
        ..Faults::default()
    };
    f(&mut faults);
    faults
}

fn report(scenario: &str, stats: &Stats) {
    eprintln!(
        "reliability: {scenario}: {} requests, {} 5xx injected, {} throttled, {} dropped, {} \
         corrupted, {} slowed; status counts {:?}",
        stats.requests,
        stats.errors_injected,
        stats.throttled,
        stats.dropped,
        stats.corrupted,
        stats.slowed,
        stats.by_status
    );
}

/// Desired userNames of [`Env::people`]`(n, _)`.
fn people_names(n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("user{i}@example.com")).collect()
}

impl Env {
    /// Apply with these extra environment variables; returns the run without judging it.
    fn apply_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        self.zsc_with(self.dir.path(), args, |c| {
            for (k, v) in vars {
                c.env(k, v);
            }
        })
    }

    /// The checks every scenario ends with, against the emulator as it is now (faults are
    /// turned off first):
    /// - the state file (journal replayed) loads, and each user and group it records exists
    ///   live with that id and name: state never records a change that did not happen;
    /// - no duplicate users or groups;
    /// - a plan creates exactly the desired users that are not live, and nothing it plans to
    ///   create exists.
    #[track_caller]
    fn assert_consistent(&self, desired_users: &BTreeSet<String>) {
        self.set_faults(Faults::default());
        self.assert_no_duplicates();
        let data = self.data();
        let live_users: HashMap<String, String> = data
            .users
            .iter()
            .map(|u| (u.id.clone().unwrap_or_default(), u.user_name.to_lowercase()))
            .collect();
        let live_groups: HashMap<String, String> = data
            .groups
            .iter()
            .map(|g| {
                (
                    g.id.clone().unwrap_or_default(),
                    g.display_name.to_lowercase(),
                )
            })
            .collect();
        let store = StateStore::new(self.path(".zsc/state.json"));
        let loaded = store.load().expect("state (with its journal) loads");
        for tenant in loaded.state.tenants.values() {
            for user in tenant.users.values() {
                assert_eq!(
                    live_users.get(&user.id),
                    Some(&user.user_name.to_lowercase()),
                    "state records user {} with id {}, which is not live",
                    user.user_name,
                    user.id
                );
            }
            for group in tenant.groups.values() {
                assert_eq!(
                    live_groups.get(&group.id),
                    Some(&group.name.to_lowercase()),
                    "state records group {} with id {}, which is not live",
                    group.name,
                    group.id
                );
            }
        }
        let plan = self.zsc(&["plan", "--format", "json"]).success();
        let plan: Value = serde_json::from_str(&plan.stdout).expect("json plan");
        let creates: BTreeSet<String> = plan["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter(|c| c["object"] == "user" && c["action"] == "create")
            .map(|c| c["name"].as_str().expect("name").to_lowercase())
            .collect();
        let live_names: BTreeSet<String> = live_users.values().cloned().collect();
        let missing: BTreeSet<String> = desired_users
            .iter()
            .map(|n| n.to_lowercase())
            .filter(|n| !live_names.contains(n))
            .collect();
        assert_eq!(
            creates, missing,
            "the plan creates exactly the desired users that are not live"
        );
    }

    /// Apply to convergence without faults and check the result.
    #[track_caller]
    fn converge(&self, desired_users: &BTreeSet<String>) {
        self.set_faults(Faults::default());
        self.zsc(&["apply", "--auto-approve"]).success();
        self.zsc(&["plan"]).success().stdout_has("No changes.");
        self.assert_consistent(desired_users);
        assert_eq!(self.data().users.len(), desired_users.len());
    }
}

// ---- fault matrix --------------------------------------------------------------------------

/// Answers slower than the client's timeout: the change was made but the answer never came in
/// time. Reads are retried; a create is looked up before being sent again, so it is adopted,
/// not duplicated.
#[test]
fn answers_slower_than_the_client_timeout_are_retried_or_adopted_and_apply_converges() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(40, 4));
    env.set_faults(faults(|f| {
        f.slow_rate = 0.15;
        f.slow_ms = 1_500;
    }));
    let run = env
        .apply_with(
            &["apply", "--auto-approve", "--parallelism", "8"],
            &[("ZSC_HTTP_TIMEOUT_MS", "400")],
        )
        .success()
        .stdout_has("84 done, 0 failed");
    let stats = env.emulator().stats();
    report("slow answers (timeout 400 ms, 15% held 1.5 s)", &stats);
    let adopted = run.stderr.matches("adopted (it already existed)").count();
    eprintln!(
        "reliability: slow answers: 84 changes applied, {adopted} creates adopted after a timeout"
    );
    assert!(stats.slowed > 0 && adopted > 0, "{stats:?}\n{}", run.stderr);
    env.assert_consistent(&people_names(40));
    env.converge(&people_names(40));
}

/// A server that never answers in time: the client gives up after its bounded retries with an
/// error that names the request and says it timed out (tested through the library, with two
/// attempts, so it takes a second rather than the default backoff's half minute); the binary
/// then converges once the server is fast again.
#[test]
fn a_server_slower_than_the_timeout_on_every_request_fails_clearly() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(3, 0));
    env.set_faults(faults(|f| f.latency_ms = 1_000));
    let mut options = zsc::scim::ClientOptions::new(
        env.base_url(),
        zsc::secret::Secret::new(TOKEN),
        Dialect::Scim,
    );
    options.timeout = Duration::from_millis(100);
    options.backoff.max_attempts = 2;
    let client = zsc::scim::ScimClient::new(options).unwrap();
    let started = Instant::now();
    let error = env
        .rt
        .block_on(client.read_tenant(&zsc::scim::Expected::default()))
        .expect_err("every request times out");
    let text = error.to_string();
    eprintln!(
        "reliability: every request slower than the timeout: failed clearly in {:?}: {text}",
        started.elapsed()
    );
    assert!(
        text.contains("timed out") && text.contains("GET http://127.0.0.1:"),
        "{text}"
    );
    assert!(!text.contains(TOKEN));
    assert!(!env.path(".zsc/state.json").exists());
    env.converge(&people_names(3));
}

/// 2xx answers with truncated or garbled JSON (the change was made): each run either converges
/// or fails with an "invalid JSON" error; state never records what it could not read, and the
/// next runs adopt what was made.
#[test]
fn truncated_and_malformed_json_answers_fail_clearly_and_lose_nothing() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(60, 4));
    // (answers corrupted, runs that converged under corruption); counters are cumulative.
    let mut stats_total = (0, 0);
    for round in 0..4u64 {
        env.set_faults(faults(|f| {
            f.corrupt_rate = 0.08;
            f.seed = 100 + round;
        }));
        let run = env.zsc(&["apply", "--auto-approve", "--parallelism", "4"]);
        stats_total.0 = env.emulator().stats().corrupted;
        if run.code != 0 {
            assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
            let text = format!("{}{}", run.stdout, run.stderr);
            assert!(
                text.contains("invalid JSON") || text.contains("unexpected response"),
                "a corrupted answer is named as such:\n{text}"
            );
        } else {
            stats_total.1 += 1;
        }
        env.assert_consistent(&people_names(60));
    }
    eprintln!(
        "reliability: corrupted JSON: {} answers corrupted over 4 runs ({} runs converged \
         under corruption)",
        stats_total.0, stats_total.1
    );
    assert!(stats_total.0 > 0);
    env.converge(&people_names(60));
}

/// Pages that repeat (objects inserted at the front while zsc pages, so every later page
/// starts earlier and the last objects are never listed) and pages that shrink (objects left
/// out while totalResults counts them): zsc notices the shortfall, looks the rest up, and
/// adopts rather than creating anything twice.
#[test]
fn pages_that_repeat_or_shrink_while_paging_never_cause_duplicates() {
    let env = Env::with_emulator(Dialect::Scim);
    // Everything already exists live, created by someone else: a correct run adopts it all.
    for i in 0..70 {
        env.seed_user(&format!("user{i}@example.com"), &format!("User {i}"));
    }
    env.config(&Env::people(70, 0));
    for (name, fault) in [
        (
            "repeating pages (shift 3, pages of 10)",
            faults(|f| {
                f.page_size_cap = Some(10);
                f.shift_pages = Some(3);
            }),
        ),
        (
            "shrinking pages (every 7th left out, pages of 10)",
            faults(|f| {
                f.page_size_cap = Some(10);
                f.omit_from_lists = Some(7);
            }),
        ),
    ] {
        env.set_faults(fault);
        let plan = env.zsc(&["plan", "--format", "json"]).success();
        let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
        let creates = plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["action"] == "create")
            .count();
        assert_eq!(creates, 0, "{name}: nothing is created again");
        let stats = env.emulator().stats();
        report(name, &stats);
    }
    env.zsc(&["apply", "--auto-approve"]).success();
    env.assert_consistent(&people_names(70));
    assert_eq!(env.data().users.len(), 70);
    env.converge(&people_names(70));
}

/// The tenant changes between `plan -o` and `apply FILE`: a user the plan updates is deleted,
/// a user it creates appears, a group it changes the members of is deleted, and a group it
/// renames is renamed by someone else. Apply either succeeds or fails naming what went wrong;
/// state keeps only what happened; the next plan and apply converge.
#[test]
fn a_tenant_changed_between_plan_and_apply_converges_on_the_next_run() {
    let env = Env::with_emulator(Dialect::Scim);
    let v1 = "users:\n\
        - user_name: a@example.com\n    display_name: A\n\
        - user_name: b@example.com\n    display_name: B\n\
        - user_name: c@example.com\n    display_name: C\n\
        groups:\n\
        - name: G\n    members: [a@example.com]\n\
        - name: H\n    members: [b@example.com]\n\
        - name: Old\n    members: []\n"
        .replace("\n-", "\n  -");
    env.config(&v1);
    env.zsc(&["apply", "--auto-approve"]).success();
    let v2 = "users:\n\
        - user_name: a@example.com\n    display_name: A two\n\
        - user_name: b@example.com\n    display_name: B\n\
        - user_name: c@example.com\n    display_name: C two\n\
        - user_name: d@example.com\n    display_name: D\n\
        groups:\n\
        - name: G\n    members: [a@example.com, b@example.com, d@example.com]\n\
        - name: H\n    members: [c@example.com]\n\
        - name: New\n    renamed_from: Old\n    members: [d@example.com]\n"
        .replace("\n-", "\n  -");
    env.config(&v2);
    env.zsc(&["plan", "-o", "plan.json"]).success();
    // Someone else acts on the tenant in between.
    let data = env.data();
    let id_of_user = |n: &str| {
        data.users
            .iter()
            .find(|u| u.user_name == n)
            .and_then(|u| u.id.clone())
            .unwrap()
    };
    let id_of_group = |n: &str| {
        data.groups
            .iter()
            .find(|g| g.display_name == n)
            .and_then(|g| g.id.clone())
            .unwrap()
    };
    let (s, _) = env.scim(
        "DELETE",
        &format!("/Users/{}", id_of_user("a@example.com")),
        None,
    );
    assert_eq!(s, 204);
    env.seed_user("d@example.com", "D by hand");
    let (s, _) = env.scim("DELETE", &format!("/Groups/{}", id_of_group("H")), None);
    assert_eq!(s, 204);
    let (s, _) = env.scim(
        "PATCH",
        &format!("/Groups/{}", id_of_group("Old")),
        Some(serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Renamed by hand"}]
        })),
    );
    assert!(s == 200 || s == 204, "{s}");
    let run = env.zsc(&["apply", "plan.json"]);
    eprintln!(
        "reliability: tenant changed between plan and apply: apply exited {}; its report:\n{}",
        run.code, run.stdout
    );
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    if run.code == 1 {
        let text = format!("{}{}", run.stdout, run.stderr);
        assert!(
            text.contains("404") || text.contains("not found") || text.contains("Not Found"),
            "the failure names what is gone:\n{text}"
        );
    }
    let desired = BTreeSet::from(
        [
            "a@example.com",
            "b@example.com",
            "c@example.com",
            "d@example.com",
        ]
        .map(String::from),
    );
    // State records what apply saw succeed, and not what failed: a's update met a deleted user.
    let state = StateStore::new(env.path(".zsc/state.json"))
        .load()
        .unwrap()
        .state;
    let user = |n: &str| {
        state.tenants["t"]
            .users
            .values()
            .find(|u| u.user_name == n)
            .cloned()
    };
    let c = user("c@example.com").expect("c in state");
    assert_eq!(c.attrs.display_name.as_deref(), Some("C two"));
    // The update of a met 404: state forgets a (it is gone) rather than record the update.
    assert!(user("a@example.com").is_none_or(|a| a.attrs.display_name.as_deref() != Some("A two")));
    assert!(env
        .data()
        .users
        .iter()
        .all(|u| u.user_name != "a@example.com"));
    // Bounded: a second run may still find work the first could not foresee.
    let mut runs = 0;
    for _ in 0..3 {
        runs += 1;
        let run = env.zsc(&["apply", "--auto-approve"]);
        if run.code == 0 && env.zsc(&["plan"]).stdout.contains("No changes.") {
            break;
        }
    }
    env.zsc(&["plan"]).success().stdout_has("No changes.");
    eprintln!(
        "reliability: tenant changed between plan and apply: converged after {runs} more apply"
    );
    env.assert_consistent(&desired);
    assert_eq!(
        env.members_of("G"),
        ["a@example.com", "b@example.com", "d@example.com"]
    );
    assert_eq!(env.members_of("H"), ["c@example.com"]);
    assert_eq!(env.members_of("New"), ["d@example.com"]);
}

// ---- crash consistency ---------------------------------------------------------------------

/// kill -9 at many points of an apply of 510 changes (500 users, 10 groups with their
/// members). After each kill: the state file is valid JSON of the right format, the state with
/// its journal replayed records only ids that exist live under that name (no journal entry is
/// lost: every user the dead run made is in state or adopted by the next plan, never created
/// again), and nothing is duplicated. `ZSC_CRASH_KILLS` raises the number of kills (default 6).
#[test]
fn kill_9_during_an_apply_of_500_changes_loses_and_duplicates_nothing() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(500, 10));
    let desired = people_names(500);
    let kills: usize = std::env::var("ZSC_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let started = Instant::now();
    let mut killed = 0;
    let mut max_replayed = 0;
    // After each kill: (users live, users in state with the journal replayed, journal entries).
    let mut progress = Vec::new();
    let mut completed = 0;
    // Bounded: each round either lands a kill or completes an apply, which starts a new cycle
    // on an empty tenant and state so that any number of kills can be asked for.
    for round in 0..kills * 3 {
        if killed >= kills {
            break;
        }
        env.set_faults(faults(|f| f.latency_ms = 8));
        let child = env.spawn(&["apply", "--auto-approve", "--parallelism", "4"]);
        // Kill at a different moment each round: while refreshing, creating, or recording.
        std::thread::sleep(Duration::from_millis(200 + 131 * (round as u64 % 9)));
        signal(&child, "KILL");
        let run = finish(child);
        if run.code == 0 {
            completed += 1;
            env.converge(&desired);
            env.emulator()
                .replace_data(zsc::emulator::EmulatorData::default());
            std::fs::remove_dir_all(env.path(".zsc")).unwrap();
            continue;
        }
        assert_eq!(run.code, -1, "killed by a signal: {}", run.stderr);
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains(TOKEN),
            "{}",
            run.stderr
        );
        killed += 1;
        let state = env.path(".zsc/state.json");
        if state.exists() {
            let v: Value =
                serde_json::from_slice(&std::fs::read(&state).unwrap()).expect("valid JSON");
            assert_eq!(v["format_version"], 1);
        }
        let journal = env.path(".zsc/state.json.journal");
        if journal.exists() {
            let text = std::fs::read(&journal).unwrap();
            assert!(!contains(&text, TOKEN.as_bytes()), "token in the journal");
        }
        let loaded = StateStore::new(&state).load().expect("state loads");
        max_replayed = max_replayed.max(loaded.replayed);
        let recorded: usize = loaded.state.tenants.values().map(|t| t.users.len()).sum();
        progress.push((env.data().users.len(), recorded, loaded.replayed));
        env.assert_consistent(&desired);
    }
    eprintln!(
        "reliability: kill -9: {killed} kills survived during applies of 510 changes \
         ({completed} cycles completed between them; largest journal replayed: {max_replayed} entries) in {:?}; after each kill (users \
         live, users recorded, journal entries replayed): {progress:?}",
        started.elapsed()
    );
    assert!(
        killed >= 2.min(kills),
        "only {killed} kills landed mid-apply"
    );
    env.converge(&desired);
    assert_eq!(env.data().groups.len(), 10);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---- secrets -------------------------------------------------------------------------------

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The token reaches no output at any verbosity, no log file, no state, backup, journal, lock
/// or plan file, and not the emulator's data file; those files are 0600.
#[test]
fn the_token_reaches_no_output_log_or_file_and_the_files_are_private() {
    let mut env = Env::new();
    let data_file = env.path("emulator-data.json");
    let mut options = emulator_options(Dialect::Scim);
    options.data_file = Some(data_file.clone());
    let handle = env.spawn_emulator(options);
    env.emulator = Some(handle);
    env.config(&Env::people(30, 3));
    let log = env.path("zsc.log");
    let mut outputs = Vec::new();
    for (args, vars) in [
        (vec!["-vv", "plan", "-o", "plan.json"], vec![]),
        (vec!["plan"], vec![("ZSC_LOG", "trace")]),
        (
            vec!["-vv", "apply", "plan.json"],
            vec![("ZSC_LOG_PATH", log.to_str().unwrap())],
        ),
        (vec!["refresh"], vec![("ZSC_LOG", "trace")]),
    ] {
        let run = env.apply_with(&args, &vars);
        assert!(run.code == 0, "{args:?}: {}", run.stderr);
        outputs.push(run.stdout + &run.stderr);
    }
    // A second save keeps the first as the backup.
    env.config(&Env::people(31, 3));
    let run = env.apply_with(&["-vv", "apply", "--auto-approve"], &[("ZSC_LOG", "trace")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    outputs.push(run.stdout + &run.stderr);
    // A run killed mid-apply leaves a journal and a lock file behind to inspect.
    env.config(&Env::people(300, 3));
    env.set_faults(faults(|f| f.latency_ms = 20));
    let child = env.spawn(&["apply", "--auto-approve", "--parallelism", "2"]);
    let journal = env.path(".zsc/state.json.journal");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !journal.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "KILL");
    finish(child);
    assert!(journal.exists(), "a killed apply leaves its journal");

    let trace_bytes: usize = outputs.iter().map(String::len).sum();
    for text in &outputs {
        assert!(!text.contains(TOKEN), "token in output");
    }
    assert!(
        outputs[1].contains("TRACE") || outputs[1].contains("DEBUG"),
        "trace logging was on"
    );
    let mut files = vec![
        env.path(".zsc/state.json"),
        env.path(".zsc/state.json.backup"),
        journal.clone(),
        env.path(".zsc/state.json.lock"),
        env.path("plan.json"),
        log.clone(),
        data_file.clone(),
    ];
    files.retain(|f| f.exists());
    assert!(files.len() >= 6, "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !contains(&bytes, TOKEN.as_bytes()),
            "token in {}",
            file.display()
        );
    }
    for private in [
        ".zsc/state.json",
        ".zsc/state.json.backup",
        ".zsc/state.json.journal",
        ".zsc/state.json.lock",
        "plan.json",
    ] {
        let path = env.path(private);
        assert!(path.exists(), "{private} exists");
        assert_eq!(mode(&path), 0o600, "{private} is not 0600");
    }
    eprintln!(
        "reliability: secrets: {} bytes of output at -vv and ZSC_LOG=trace, {} files \
         searched, token found 0 times",
        trace_bytes,
        files.len()
    );
}

/// `http://` is refused for anything but loopback, through the binary, before any request.
#[test]
fn plain_http_is_refused_except_for_loopback() {
    let env = Env::with_emulator(Dialect::Scim);
    for url in [
        "http://scim.example.com/scim/v2",
        "http://10.0.0.1/scim/v2",
        "http://127.0.0.1.example.com/scim/v2",
    ] {
        env.write(
            "zsc.yaml",
            &format!("tenants:\n  t:\n    kind: scim\n    url: {url}\n    token: {{ env: {TOKEN_ENV} }}\n"),
        );
        let run = env.zsc(&["plan"]).code(1);
        assert!(
            run.stderr.contains("http") && run.stderr.contains("zsc.yaml:4"),
            "{url}: {}",
            run.stderr
        );
    }
    // Loopback over http:// is allowed (the emulator), by IP and by name.
    env.config("users: []\n");
    env.zsc(&["plan"]).success();
    let localhost = env.base_url().replace("127.0.0.1", "localhost");
    env.write(
        "zsc.yaml",
        &format!("tenants:\n  t:\n    kind: scim\n    url: {localhost}\n    token: {{ env: {TOKEN_ENV} }}\n"),
    );
    let run = env.zsc(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

/// There is no way to turn TLS verification off: no flag in any help text.
#[test]
fn no_flag_disables_tls_verification() {
    let env = Env::new();
    let mut helps = vec![env.zsc(&["--help"]).success().stdout];
    for command in [
        "validate", "refresh", "plan", "apply", "import", "state", "emulator", "show",
    ] {
        let run = env.zsc(&[command, "--help"]);
        if run.code == 0 {
            helps.push(run.stdout);
        }
    }
    assert!(helps.len() >= 7, "{} help texts", helps.len());
    for help in &helps {
        let lower = help.to_lowercase();
        for word in [
            "insecure",
            "no-verify",
            "skip-verify",
            "danger",
            "accept-invalid",
            "tls-verify",
            "verify-tls",
            "--no-tls",
            "--ca-cert",
        ] {
            assert!(!lower.contains(word), "help offers {word}:\n{help}");
        }
    }
}

/// HTTPS_PROXY is honoured: an https:// tenant is reached through a CONNECT to the proxy, and
/// the token does not travel to the proxy in clear.
#[test]
fn https_proxy_is_honoured() {
    let env = Env::new();
    env.write(
        "zsc.yaml",
        &format!("tenants:\n  t:\n    kind: scim\n    url: https://scim.example.com/scim/v2\n    token: {{ env: {TOKEN_ENV} }}\nusers: []\n"),
    );
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = proxy.local_addr().unwrap().port();
    proxy.set_nonblocking(true).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_zsc"))
        .args(["plan"])
        .current_dir(env.dir.path())
        .env(TOKEN_ENV, TOKEN)
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env("ZSC_HTTP_TIMEOUT_MS", "2000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut request = String::new();
    while Instant::now() < deadline {
        match proxy.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                for _ in 0..20 {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    request.push_str(&line);
                }
                let mut stream = stream;
                let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    eprintln!(
        "reliability: HTTPS_PROXY received: {:?}",
        request.lines().next()
    );
    assert!(
        request.starts_with("CONNECT scim.example.com:443 HTTP/1.1"),
        "no CONNECT arrived at the proxy: {request:?}"
    );
    assert!(!request.contains(TOKEN), "the token was sent to the proxy");
}

/// What a panic message or an error would print of the client's settings: the token is
/// redacted in every Debug form.
#[test]
fn debug_forms_that_a_panic_could_print_redact_the_token() {
    let secret = zsc::secret::Secret::new(TOKEN);
    let options =
        zsc::scim::ClientOptions::new("https://scim.example.com/scim/v2", secret, Dialect::Zia);
    let printed = format!("{options:?} {options:#?}");
    assert!(
        !printed.contains(TOKEN) && printed.contains("[redacted]"),
        "{printed}"
    );
    let emulator = format!("{:?}", emulator_options(Dialect::Scim));
    assert!(!emulator.contains(TOKEN), "{emulator}");
}
