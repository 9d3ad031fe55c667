//! Model-based testing of the reconcile loop (issue 22): random histories of YAML edits,
//! changes made on the servers outside zsc, and zsc commands (plan, apply, saved plans,
//! targets, a lost state file, an apply killed half-way), replayed through the real binary
//! against one or two emulators, with the invariants of [`invariants`] checked after every
//! apply and at the end of every history. A failing history shrinks to a minimal one, printed as a transcript and as a
//! regression test. How to run and read it: `docs/model-testing.md`.
//!
//! Two profiles: `fast` runs in every `cargo test` (a few dozen short histories from a fixed
//! seed); `long` is ignored unless asked for, with `ZSC_MODEL_HISTORIES` histories (default
//! 5,000), `ZSC_MODEL_STEPS` steps at most (default 24) and `ZSC_MODEL_SEED`.

mod desired;
mod invariants;
mod regressions;
mod script;
mod steps;
mod world;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

pub use steps::{History, Obj, Step, Switch};
use world::World;

/// What one replay did.
pub struct Replay {
    pub result: Result<(), String>,
    pub transcript: Vec<String>,
    pub steps: usize,
    pub applies: usize,
    pub outcomes: std::collections::BTreeMap<String, usize>,
}

/// Replay a history from scratch: fresh emulators, an empty directory.
pub fn replay(history: &History) -> Replay {
    let mut world = World::new(history);
    let mut steps = 0;
    let mut result = Ok(());
    for step in &history.steps {
        steps += 1;
        if let Err(e) = world.step(step) {
            result = Err(format!("step {steps} ({step:?}): {e}"));
            break;
        }
    }
    // Every history ends with an apply, so that what its last steps did is checked too.
    if result.is_ok() {
        world.note("# the final apply every history ends with".into());
        if let Err(e) = world.step(&Step::Apply) {
            result = Err(format!("the final apply: {e}"));
        }
    }
    Replay {
        result,
        transcript: std::mem::take(&mut world.transcript),
        steps,
        applies: world.applies_checked,
        outcomes: std::mem::take(&mut world.outcomes),
    }
}

/// Replay a history that must hold every invariant (a regression test).
#[track_caller]
pub fn replay_ok(history: History) {
    let replay = replay(&history);
    if let Err(e) = replay.result {
        panic!("{}", script::report(&history, &e, &replay.transcript));
    }
}

/// Run `histories` random histories of at most `max_steps` steps from `seed`, shrinking a
/// failure to a minimal history and panicking with its script.
fn run_profile(name: &str, histories: u32, max_steps: usize, seed: u64) {
    let started = Instant::now();
    let replays = AtomicUsize::new(0);
    let steps = AtomicUsize::new(0);
    let applies = AtomicUsize::new(0);
    let outcomes = std::sync::Mutex::new(std::collections::BTreeMap::<String, usize>::new());
    let config = Config {
        cases: histories,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        // Each history runs the binary dozens of times: bound the shrinking.
        max_shrink_iters: 400,
        max_shrink_time: 600_000,
        max_global_rejects: 0,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&steps::history(max_steps), |history| {
        let replay = replay(&history);
        if std::env::var_os("ZSC_MODEL_TRACE").is_some() {
            eprintln!("---- history\n{}\n", replay.transcript.join("\n"));
        }
        replays.fetch_add(1, Ordering::Relaxed);
        steps.fetch_add(replay.steps, Ordering::Relaxed);
        applies.fetch_add(replay.applies, Ordering::Relaxed);
        let mut all = outcomes.lock().expect("outcomes");
        for (outcome, n) in replay.outcomes {
            *all.entry(outcome).or_default() += n;
        }
        drop(all);
        replay.result.map_err(TestCaseError::fail)
    });
    let figures = format!(
        "model {name}: {} histories replayed ({histories} asked, seed {seed}), {} steps, {} applies checked, in {:.1} s",
        replays.load(Ordering::Relaxed),
        steps.load(Ordering::Relaxed),
        applies.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    let outcomes = outcomes.into_inner().expect("outcomes");
    let figures = format!(
        "{figures}\n  applies by outcome: {}",
        outcomes
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!("{figures}");
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, history)) => {
            // Replay the minimal history once more, for its transcript.
            let again = replay(&history);
            let failure = again.result.err().unwrap_or_else(|| {
                format!(
                    "{reason}\n(the replay below passed: the failure depends on timing, e.g. where a kill lands)"
                )
            });
            panic!(
                "{figures}\n{}",
                script::report(&history, &failure, &again.transcript)
            );
        }
        Err(TestError::Abort(why)) => panic!("{figures}\naborted: {why}"),
    }
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The profile every `cargo test` runs.
#[test]
fn fast() {
    run_profile("fast", 40, 20, 0x5eed_2200);
}

/// `ZSC_MODEL_HISTORIES=5000 cargo test --release --test integration model::long -- --ignored
/// --nocapture`
#[test]
#[ignore = "long: run with --ignored (see docs/model-testing.md)"]
fn long() {
    run_profile(
        "long",
        env_number("ZSC_MODEL_HISTORIES", 5000),
        env_number("ZSC_MODEL_STEPS", 24),
        env_number("ZSC_MODEL_SEED", 22),
    );
}
