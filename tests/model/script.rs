//! A failing history as something a person can read and paste: the history as Rust, ready to
//! become a regression test in `regressions.rs`, and the transcript of what its replay did (the
//! YAML files, the zsc commands with their exit codes, the requests sent to the servers).

use super::steps::History;

/// The history as a `#[test]` calling [`super::replay`].
pub fn regression_test(history: &History) -> String {
    let mut out = String::new();
    out.push_str("#[test]\nfn model_regression_NAME_WHAT_IT_GUARDS() {\n");
    out.push_str("    replay_ok(History {\n");
    out.push_str(&format!("        switch: {:?},\n", history.switch));
    out.push_str(&format!("        two_tenants: {},\n", history.two_tenants));
    out.push_str(&format!(
        "        memberships_on_users: {},\n",
        history.memberships_on_users
    ));
    out.push_str("        steps: vec![\n");
    for step in &history.steps {
        out.push_str(&format!("            Step::{step:?},\n"));
    }
    out.push_str("        ],\n    });\n}\n");
    out
}

/// The whole report for a failing history.
pub fn report(history: &History, failure: &str, transcript: &[String]) -> String {
    format!(
        "model-based test failed: {failure}\n\n\
         ---- what the shrunk history did (replayed once more) ----\n{}\n\n\
         ---- the history as a regression test (tests/model/regressions.rs) ----\n{}",
        transcript.join("\n"),
        regression_test(history)
    )
}
