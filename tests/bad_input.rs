//! Broken configurations: each gives a clear error naming file:line:column or the variable at
//! fault, exit 1, no panic, and no request, from `zsc validate` and `zsc plan` alike.

use std::path::Path;

use zsc::dialect::Dialect;

use crate::harness::Env;

/// Every case in `testdata/config/bad/`, through the binary, with the crate root as the working
/// directory so paths in messages read `testdata/config/bad/<case>/zsc.yaml`.
#[test]
fn every_broken_config_is_refused_with_its_message_by_validate_and_plan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("testdata/config/bad");
    let env = Env::new();
    let mut cases = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&corpus)
        .expect("corpus")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let case = entry.path();
        let config = case.join("zsc.yaml");
        if !config.exists() {
            continue;
        }
        let expected = std::fs::read_to_string(case.join("expected.txt")).expect("expected.txt");
        let rel = config
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let run = env.zsc_in(root, &["-c", &rel, "plan"]);
        assert_eq!(
            run.code, 1,
            "{rel} (plan) should fail:\n{}{}",
            run.stdout, run.stderr
        );
        assert_eq!(
            run.stderr.trim_end(),
            expected.trim_end(),
            "{rel} (plan): message differs"
        );
        assert!(
            run.stdout.is_empty(),
            "{rel} (plan) printed a result: {}",
            run.stdout
        );

        // `validate` needs no secret: it reports the same problems but for tokens that are
        // not available here, and passes when those were the only ones.
        let wanted: Vec<String> = diagnostics(&expected)
            .into_iter()
            .filter(|d| !is_about_a_missing_secret(d))
            .collect();
        let run = env.zsc_in(root, &["-c", &rel, "validate"]);
        if wanted.is_empty() {
            assert_eq!(run.code, 0, "{rel} (validate):\n{}", run.stderr);
        } else {
            assert_eq!(run.code, 1, "{rel} (validate):\n{}", run.stderr);
            assert_eq!(diagnostics(&run.stderr), wanted, "{rel} (validate)");
        }
        cases += 1;
    }
    assert!(cases >= 20, "only {cases} broken configs in the corpus");
}

/// The diagnostics of an error text, each with its location lines, without the count at the end.
fn diagnostics(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.trim_end().lines() {
        if line.starts_with("error: ") {
            out.push(String::new());
        }
        if let Some(last) = out.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    out.retain(|d| !(d.starts_with("error: ") && d.contains("problem") && d.lines().count() == 1));
    out
}

/// A token that cannot be read here: an unset variable or a missing file.
fn is_about_a_missing_secret(diagnostic: &str) -> bool {
    let first = diagnostic.lines().next().unwrap_or_default();
    first.starts_with("error: environment variable `") || first.contains("token file `")
}

/// A broken config that names a real tenant: plan must not send a single request.
#[test]
fn no_request_is_made_before_the_config_is_valid() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("users:\n  - user_name: a@example.com\n    dispaly_name: Typo\n");
    env.zsc(&["plan"]).code(1).stderr_has("dispaly_name");
    assert_eq!(env.emulator().stats().requests, 0);
}

#[test]
fn an_inline_token_is_refused_without_echoing_it() {
    let env = Env::new();
    env.write(
        "zsc.yaml",
        "tenants:\n  t:\n    kind: scim\n    url: https://scim.example.com/scim/v2\n    token: sekrit-value-123\n",
    );
    let run = env.zsc(&["validate"]).code(1).stderr_has("zsc.yaml:5:");
    assert!(!run.stderr.contains("sekrit-value-123"));
}

#[test]
fn a_missing_config_file_is_a_clear_error() {
    let env = Env::new();
    env.zsc(&["plan"]).code(1).stderr_has("zsc.yaml");
}
