//! Apply under injected faults, interruption and kill -9: it converges, duplicates nothing and
//! records nothing that did not happen.

use std::time::Duration;

use zsc::dialect::Dialect;
use zsc::emulator::Faults;

use crate::harness::{finish, signal, Env};

fn faults(f: impl FnOnce(&mut Faults)) -> Faults {
    let mut faults = Faults {
        seed: 7,
        ..Faults::default()
    };
    f(&mut faults);
    faults
}

#[test]
fn apply_of_hundreds_of_changes_converges_under_5xx_and_429() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(150, 10));
    env.set_faults(faults(|f| {
        f.error_rate = 0.1;
        f.throttle_rate = 0.1;
    }));
    env.zsc(&["apply", "--auto-approve", "--parallelism", "8"])
        .success()
        .stdout_has("310 done, 0 failed, 0 skipped");
    let stats = env.emulator().stats();
    assert!(
        stats.errors_injected > 0 && stats.throttled > 0,
        "faults were injected: {stats:?}"
    );
    env.set_faults(Faults::default());
    env.zsc(&["plan"]).success().stdout_has("No changes.");
    env.assert_no_duplicates();
    assert_eq!(env.data().users.len(), 150);
}

#[test]
fn retry_after_is_honoured_and_a_rate_limited_apply_still_converges() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(30, 3));
    env.set_faults(faults(|f| {
        f.throttle_rate = 0.2;
        f.retry_after_secs = Some(1);
    }));
    env.zsc(&["apply", "--auto-approve"])
        .success()
        .stdout_has("63 done");
    env.set_faults(Faults::default());
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn creates_whose_answers_are_lost_are_adopted_not_duplicated() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(40, 4));
    // The server makes the change, then the connection drops before the answer arrives.
    env.set_faults(faults(|f| f.drop_rate = 0.3));
    let run = env.zsc(&["apply", "--auto-approve"]).success();
    assert!(
        run.stderr.contains("adopted (it already existed)"),
        "{}",
        run.stderr
    );
    env.set_faults(Faults::default());
    env.assert_no_duplicates();
    assert_eq!(env.data().users.len(), 40);
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn sigint_stops_scheduling_saves_state_and_exits_130() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(60, 0));
    env.set_faults(faults(|f| f.latency_ms = 100));
    let child = env.spawn(&["apply", "--auto-approve", "--parallelism", "2"]);
    std::thread::sleep(Duration::from_millis(1200));
    signal(&child, "INT");
    let run = finish(child).code(130).stdout_has("Apply interrupted:");
    assert!(run.stdout.contains("not started"), "{}", run.stdout);
    let created = env.data().users.len();
    assert!(
        created > 0 && created < 60,
        "interrupted part way: {created}"
    );
    // State holds exactly what was done: the next plan creates only the rest.
    env.set_faults(Faults::default());
    env.zsc(&["plan"])
        .success()
        .stdout_has(&format!("{} users to create, 0 to update", 60 - created));
    env.zsc(&["apply", "--auto-approve"]).success();
    env.assert_no_duplicates();
    assert_eq!(env.data().users.len(), 60);
}

/// Kill -9 at several moments; after each, the state file is valid, the next plan adopts what
/// the dead run did but could not record and creates the rest, and nothing is duplicated.
/// `ZSC_CRASH_KILLS` raises the number of kills (default 4 in CI).
#[test]
fn kill_9_at_several_points_then_apply_converges_without_duplicates() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(240, 6));
    env.set_faults(faults(|f| f.latency_ms = 25));
    let kills: usize = std::env::var("ZSC_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut killed = 0;
    for round in 0..kills {
        let child = env.spawn(&["apply", "--auto-approve", "--parallelism", "2"]);
        // Kill at a different moment each round: while refreshing, creating, or recording.
        std::thread::sleep(Duration::from_millis(150 + 97 * (round as u64 % 7)));
        signal(&child, "KILL");
        let run = finish(child);
        if run.code == 0 {
            break; // the work was done before the kill landed
        }
        assert_eq!(run.code, -1, "killed by a signal:\n{}", run.stderr);
        killed += 1;
        env.assert_no_duplicates();
        // Whatever the moment, the next plan reads a valid state (plus journal) and never
        // plans to create a user that exists.
        let plan = env.zsc(&["plan", "--format", "json"]).success();
        let plan: serde_json::Value = serde_json::from_str(&plan.stdout).expect("json plan");
        let live: std::collections::HashSet<String> = env
            .data()
            .users
            .iter()
            .map(|u| u.user_name.to_lowercase())
            .collect();
        for change in plan["changes"].as_array().unwrap() {
            if change["object"] == "user" && change["action"] == "create" {
                let name = change["name"].as_str().unwrap().to_lowercase();
                assert!(
                    !live.contains(&name),
                    "plans to create {name}, which exists"
                );
            }
        }
        if env.path(".zsc/state.json").exists() {
            env.state_serial();
        }
    }
    assert!(
        killed >= 2.min(kills),
        "only {killed} kills landed mid-apply"
    );
    env.set_faults(Faults::default());
    env.zsc(&["apply", "--auto-approve"]).success();
    env.zsc(&["plan"]).success().stdout_has("No changes.");
    env.assert_no_duplicates();
    assert_eq!(env.data().users.len(), 240);
    assert_eq!(env.data().groups.len(), 6);
}

#[test]
fn a_second_apply_fails_fast_naming_the_lock_holder_and_a_killed_holder_releases_it() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(60, 0));
    env.set_faults(faults(|f| f.latency_ms = 100));
    let first = env.spawn(&["apply", "--auto-approve", "--parallelism", "1"]);
    // Wait (bounded) until the first apply holds the lock.
    let lock = env.path(".zsc/state.json.lock");
    for _ in 0..100 {
        if std::fs::read_to_string(&lock).is_ok_and(|s| s.contains("apply")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = first.id().to_string();
    env.zsc(&["apply", "--auto-approve"])
        .code(1)
        .stderr_has("is locked by `zsc apply`")
        .stderr_has(&format!("pid {pid}"));
    // A holder killed with -9 cannot clean up; the OS releases its lock, and the next run
    // proceeds and converges.
    signal(&first, "KILL");
    finish(first);
    env.set_faults(Faults::default());
    env.zsc(&["apply", "--auto-approve"]).success();
    env.zsc(&["plan"]).success().stdout_has("No changes.");
    env.assert_no_duplicates();
}

/// Regression: an apply killed after opening its journal but before recording a change left
/// a journal holding only its header, and every later apply refused to start.
#[test]
fn an_empty_journal_left_by_a_killed_apply_does_not_block_the_next() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(3, 0));
    env.zsc(&["apply", "--auto-approve"]).success();
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.path(".zsc/state.json")).unwrap())
            .unwrap();
    env.write(
        ".zsc/state.json.journal",
        &format!(
            "{{\"lineage\":{},\"serial\":{}}}\n",
            state["lineage"], state["serial"]
        ),
    );
    env.config(&Env::people(4, 0));
    env.zsc(&["apply", "--auto-approve"])
        .success()
        .stdout_has("1 done");
    assert!(!env.path(".zsc/state.json.journal").exists());
}
