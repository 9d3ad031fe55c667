//! The HTTP backend through the binary, against servers that follow GitLab's rules and the
//! reference servers' (see `http_server.rs`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zsc::dialect::Dialect;
use zsc::emulator::Faults;

use super::http_server::{Flavour, StateServer, JOB_TOKEN, JOB_TOKEN_ENV};
use super::{assert_no_local_state, assert_no_secret, people};
use crate::harness::{Env, Run};

/// Run zsc with the job token in the environment, as a GitLab CI job has it.
fn zsc(env: &Env, args: &[&str]) -> Run {
    zsc_token(env, args, JOB_TOKEN)
}

fn zsc_token(env: &Env, args: &[&str], token: &str) -> Run {
    let run = env.zsc_with(env.dir.path(), args, |c| {
        c.env(JOB_TOKEN_ENV, token);
    });
    assert_no_secret(&run, &[JOB_TOKEN, token]);
    run
}

fn holder(id: &str) -> Value {
    json!({
        "ID": id,
        "Operation": "zsc apply",
        "Info": "pid 4242",
        "Who": "ci@runner-7",
        "Version": "0.1.0",
        "Created": "2026-11-30T02:00:00Z",
        "Path": "zsc"
    })
}

/// GitLab's managed Terraform state, end to end: the first plan finds no state (204), apply
/// locks with all seven fields, writes with `?ID=`, unlocks; every serial is kept; nothing is
/// written locally; pull prints what GitLab holds; push refuses an older serial, a fork and
/// another lineage, and `--force` overrides; the job token is in no output and no file.
#[test]
fn gitlab_managed_state_lifecycle_through_the_binary() {
    let env = Env::with_emulator(Dialect::Scim);
    let server = StateServer::start(&env, Flavour::GitLab);
    let backend = server.backend_yaml();
    env.config(&format!("{backend}{}", people(&[])));

    zsc(&env, &["plan"]).success().stdout_has("will be created");
    zsc(&env, &["apply", "--auto-approve"]).success();
    assert_eq!(server.serial(), Some(1));
    assert!(server.held().lock.is_none(), "the lock was released");
    assert_eq!(server.count("POST", "/lock"), 1);
    assert_eq!(server.count("DELETE", "/lock"), 1);
    assert_no_local_state(&env);
    zsc(&env, &["plan"]).success().stdout_has("No changes.");
    // Not even the most verbose log shows the job token.
    let traced = env.zsc_with(env.dir.path(), &["-vv", "refresh"], |c| {
        c.env(JOB_TOKEN_ENV, JOB_TOKEN).env("ZSC_LOG", "trace");
    });
    assert!(traced.stderr.len() > 1000, "trace logging was on");
    assert_no_secret(&traced.success(), &[JOB_TOKEN]);
    zsc(&env, &["state", "list"])
        .success()
        .stdout_has("t.user[\"ann@example.com\"]");

    let pulled = zsc(&env, &["state", "pull"]).success().stdout;
    assert_eq!(Some(pulled.as_bytes()), server.held().state.as_deref());

    env.config(&format!("{backend}{}", people(&["cat@example.com"])));
    zsc(&env, &["apply", "--auto-approve"]).success();
    // A refresh records what the server holds (clearing what the last apply wrote); a
    // second one learns nothing but when it read (the last full read, which targeted plans go
    // by): the content is the same apart from that time, and the serial rises only if it
    // moved on (the time has whole seconds).
    zsc(&env, &["refresh"]).success();
    let (before, serial) = (server.state().unwrap(), server.serial().unwrap());
    zsc(&env, &["refresh"]).success();
    let after = server.state().unwrap();
    let latest = server.serial().unwrap();
    let moved_on =
        after["tenants"]["t"]["full_refresh"]["at"] != before["tenants"]["t"]["full_refresh"]["at"];
    assert_eq!(latest, serial + u64::from(moved_on));
    let without_time = |mut v: serde_json::Value| {
        v["tenants"]["t"]["full_refresh"]["at"] = serde_json::Value::Null;
        v["serial"] = serde_json::Value::Null;
        v
    };
    assert_eq!(without_time(after), without_time(before));
    let versions: Vec<u64> = server.held().versions.keys().copied().collect();
    assert_eq!(
        versions,
        (1..=latest).collect::<Vec<_>>(),
        "GitLab keeps each version by serial"
    );

    // Push: an older serial, a fork of the same serial and another lineage are refused.
    let v1 = server.held().versions[&1].clone();
    env.write("old.json", &String::from_utf8(v1).unwrap());
    zsc(&env, &["state", "push", "old.json"])
        .code(1)
        .stderr_has(&format!(
            "its serial 1 is lower than the stored state's {latest}"
        ))
        .stderr_has("nothing was changed");
    let mut fork = server.state().unwrap();
    fork["tenants"]["t"]["users"]
        .as_object_mut()
        .unwrap()
        .remove("cat@example.com");
    env.write("fork.json", &fork.to_string());
    zsc(&env, &["state", "push", "fork.json"])
        .code(1)
        .stderr_has(&format!(
            "has the stored state's serial {latest} but different content"
        ));
    let mut other = server.state().unwrap();
    other["lineage"] = json!("00000000-0000-4000-8000-000000000000");
    other["serial"] = json!(9);
    env.write("other.json", &other.to_string());
    zsc(&env, &["state", "push", "other.json"])
        .code(1)
        .stderr_has("it has lineage 00000000-0000-4000-8000-000000000000");
    assert_eq!(server.serial(), Some(latest), "nothing was overwritten");

    // The same state again is no write; a successor is.
    let mut next = server.state().unwrap();
    env.write("same.json", &next.to_string());
    zsc(&env, &["state", "push", "same.json"])
        .success()
        .stdout_has("holds this state already");
    next["serial"] = json!(latest + 1);
    env.write("next.json", &next.to_string());
    zsc(&env, &["state", "push", "next.json"])
        .success()
        .stdout_has(&format!("(serial {})", latest + 1));
    zsc(&env, &["state", "push", "--force", "old.json"]).success();
    assert_eq!(server.serial(), Some(1), "--force overrides the rules");
    zsc(&env, &["state", "unlock"])
        .success()
        .stdout_has("The state is not locked.");

    for entry in walk(&env.path(".zsc")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(JOB_TOKEN),
            "the job token is in {}",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A lock another run holds: apply fails naming the holder (who, operation, since when, id)
/// and changes nothing; `zsc state unlock` cannot know whether a holder on another machine is
/// gone, so it asks for the id; a wrong id is refused; the right one releases it.
#[test]
fn a_lock_held_elsewhere_is_named_and_released_by_its_id() {
    let env = Env::with_emulator(Dialect::Scim);
    let server = StateServer::start(&env, Flavour::GitLab);
    let backend = server.backend_yaml();
    env.config(&format!("{backend}{}", people(&[])));
    zsc(&env, &["apply", "--auto-approve"]).success();

    let id = "3c9a1f0e-5b7d-4e2a-9c1d-7f6e5d4c3b2a";
    server.lock_as(holder(id));
    env.config(&format!("{backend}{}", people(&["cat@example.com"])));
    zsc(&env, &["apply", "--auto-approve"])
        .code(1)
        .stderr_has(&format!(
            "is locked by `zsc apply` by ci@runner-7 (pid 4242, since 2026-11-30T02:00:00Z, lock id {id})"
        ))
        .stderr_has(&format!("zsc state unlock {id}"));
    assert_eq!(server.serial(), Some(1));
    assert!(
        env.live_user("cat@example.com").is_none(),
        "nothing changed"
    );

    zsc(&env, &["state", "unlock"])
        .code(1)
        .stderr_has(&format!("release its lock with `zsc state unlock {id}`"));
    zsc(&env, &["state", "unlock", "not-the-id"])
        .code(1)
        .stderr_has("not by lock id not-the-id");
    assert!(server.held().lock.is_some());
    zsc(&env, &["state", "unlock", id])
        .success()
        .stdout_has("Released the lock held by `zsc apply` by ci@runner-7");
    assert!(server.held().lock.is_none());
    zsc(&env, &["apply", "--auto-approve"]).success();
    assert!(env.live_user("cat@example.com").is_some());
}

/// Terraform's reference servers answer a held lock with 423; `--lock-timeout` waits with
/// backoff, saying who holds the lock, and goes on once it is free.
#[test]
fn a_reference_server_answers_423_and_lock_timeout_waits_for_the_holder() {
    let env = Env::with_emulator(Dialect::Scim);
    let server = StateServer::start(&env, Flavour::Reference);
    let backend = server.backend_yaml();
    env.config(&format!("{backend}{}", people(&[])));
    zsc(&env, &["apply", "--auto-approve"]).success();
    assert_eq!(server.count("LOCK", "/zsc"), 1);
    assert_eq!(server.count("UNLOCK", "/zsc"), 1);

    server.lock_as(holder("ref-lock-1"));
    env.config(&format!("{backend}{}", people(&["cat@example.com"])));
    let before = server.serial().unwrap();
    zsc(&env, &["apply", "--auto-approve"])
        .code(1)
        .stderr_has("is locked by `zsc apply` by ci@runner-7");
    assert_eq!(server.serial(), Some(before));

    let held = server.held.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        held.lock().unwrap().lock = None;
    });
    let started = Instant::now();
    zsc(&env, &["apply", "--auto-approve", "--lock-timeout", "30s"])
        .success()
        .stderr_has("Waiting for the state lock, held by `zsc apply` by ci@runner-7");
    releaser.join().unwrap();
    eprintln!(
        "backends: http: waited for a lock released after 1.5 s; the apply ended after {:?}",
        started.elapsed()
    );
    assert!(server.serial().unwrap() > before);
    assert!(env.live_user("cat@example.com").is_some());
}

/// Wrong credentials, an unreachable server, a corrupt stored state and a bad `backend:` key:
/// each a clear error naming the backend (never the password), exit 1, nothing overwritten.
#[test]
fn bad_http_backends_fail_clearly_and_overwrite_nothing() {
    let env = Env::with_emulator(Dialect::Scim);
    let server = StateServer::start(&env, Flavour::GitLab);
    let backend = server.backend_yaml();
    env.config(&format!("{backend}{}", people(&[])));
    let address = server.address();

    zsc_token(&env, &["plan"], "wrong-token-123")
        .code(1)
        .stderr_has(&format!(
            "the http backend `{address}` refused to read the state (status 401 Unauthorized)"
        ));

    let run = env.zsc_with(env.dir.path(), &["plan"], |c| {
        c.env_remove(JOB_TOKEN_ENV);
    });
    let run = run
        .code(1)
        .stderr_has("environment variable `CI_JOB_TOKEN` is not set");
    assert!(run.stderr.contains("zsc.yaml:"), "{}", run.stderr);

    server.held().state = Some(b"{\"format_version\": 1, \"lineage\": ".to_vec());
    zsc(&env, &["apply", "--auto-approve"])
        .code(1)
        .stderr_has(&format!(
            "the http backend `{address}` holds no valid state"
        ));
    assert_eq!(
        server.held().state.as_deref(),
        Some(&b"{\"format_version\": 1, \"lineage\": "[..]),
        "a corrupt state is never replaced"
    );
    assert!(server.held().lock.is_none(), "the lock was released");
    assert!(env.data().users.is_empty(), "nothing was applied");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = format!("http://127.0.0.1:{port}/state");
    env.config(&format!(
        "backend:\n  kind: http\n  address: {unreachable}\n  lock_address: {unreachable}/lock\n{}",
        people(&[])
    ));
    let started = Instant::now();
    zsc(&env, &["plan"]).code(1).stderr_has(&format!(
        "cannot reach the http backend `{unreachable}`: could not connect"
    ));
    eprintln!(
        "backends: http: an unreachable backend failed in {:?}",
        started.elapsed()
    );

    env.config(&format!(
        "backend:\n  kind: http\n  address: http://gitlab.example.com/state\n  lock_address: https://gitlab.example.com/lock\n{}",
        people(&[])
    ));
    zsc(&env, &["plan"])
        .code(1)
        .stderr_has("`address` uses `http://`")
        .stderr_has("zsc.yaml:8:12");
}

/// During a long apply the state is pushed every 10 s (the default), each push a new serial
/// GitLab keeps, and once more at the end. Prints the intervals measured.
#[test]
fn a_long_apply_pushes_the_state_every_ten_seconds() {
    let env = Env::with_emulator(Dialect::Scim);
    let server = StateServer::start(&env, Flavour::GitLab);
    env.config(&format!("{}{}", server.backend_yaml(), Env::people(110, 0)));
    env.set_faults(Faults {
        latency_ms: 200,
        ..Faults::default()
    });
    let started = Instant::now();
    zsc(&env, &["apply", "--auto-approve", "--parallelism", "1"]).success();
    let elapsed = started.elapsed();
    let held = server.held();
    let pushes: Vec<Instant> = held
        .log
        .iter()
        .filter(|l| l.method == "POST" && !l.path.ends_with("/lock") && l.status == 200)
        .map(|l| l.at)
        .collect();
    let intervals: Vec<Duration> = pushes.windows(2).map(|w| w[1] - w[0]).collect();
    let serials: Vec<u64> = held.versions.keys().copied().collect();
    eprintln!(
        "backends: http: an apply of 110 users took {elapsed:.1?}; {} pushes (serials {serials:?}), \
         intervals between them {intervals:.1?}",
        pushes.len()
    );
    assert!(
        pushes.len() >= 2,
        "an apply of {elapsed:?} pushed {} times",
        pushes.len()
    );
    assert_eq!(serials.len(), pushes.len(), "each push is a new serial");
    // Every push but the last waited out the interval.
    for interval in &intervals[..intervals.len() - 1] {
        assert!(*interval >= Duration::from_millis(9_500), "{intervals:?}");
    }
}
