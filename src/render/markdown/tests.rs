//! Unit tests of the comment's pieces; whole comments are snapshot-tested in `render::tests`.

use super::sections::{fence_for, to_diff_line, Entry};
use super::*;

#[test]
fn symbols_move_to_the_first_column_as_markers_github_colors() {
    assert_eq!(to_diff_line("  + user \"a\" {"), "+   user \"a\" {");
    assert_eq!(
        to_diff_line("      ~ department = \"A\" -> \"B\""),
        "!       department = \"A\" -> \"B\""
    );
    assert_eq!(to_diff_line("  - group \"g\""), "-   group \"g\"");
    assert_eq!(to_diff_line("    }"), "    }");
    assert_eq!(
        to_diff_line("  # t.user[\"a\"] will be created"),
        "  # t.user[\"a\"] will be created"
    );
    assert_eq!(to_diff_line("  -x"), "  -x");
}

#[test]
fn fences_outgrow_backticks_in_names() {
    let entry = |text: &str| Entry {
        text: text.to_owned(),
        changes: 1,
        lines: 1,
    };
    assert_eq!(fence_for([entry("plain")].iter()), "```");
    assert_eq!(fence_for([entry("a ```` b")].iter()), "`````");
    assert_eq!(code("a`b"), "`` a`b ``");
}

#[test]
fn context_from_github_actions_variables() {
    let vars = [
        ("GITHUB_REPOSITORY", "acme/people"),
        ("GITHUB_SERVER_URL", "https://github.example.com"),
        ("GITHUB_SHA", "merge0000000000000000000000000000000000"),
        ("ZSC_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
        ("GITHUB_RUN_ID", "42"),
        ("ZSC_PLAN_TIME", ""),
    ];
    let context = Context::from_vars(|n| {
        vars.iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.to_string())
    });
    assert_eq!(
        context,
        Context {
            sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
            commit_url: Some(
                "https://github.example.com/acme/people/commit/0123456789abcdef0123456789abcdef01234567"
                    .into()
            ),
            run_url: Some("https://github.example.com/acme/people/actions/runs/42".into()),
            time: None,
        }
    );
    let context = context.at("2026-11-30T14:05:09Z");
    assert_eq!(
        context.line().unwrap(),
        "Commit [`0123456789ab`](https://github.example.com/acme/people/commit/0123456789abcdef0123456789abcdef01234567) · \
         [CI run](https://github.example.com/acme/people/actions/runs/42) (full plan in its log) · 2026-11-30 14:05 UTC"
    );
}

#[test]
fn context_from_gitlab_ci_variables() {
    let vars = [
        ("GITLAB_CI", "true"),
        ("CI_COMMIT_SHA", "89abcdef0123456789abcdef0123456789abcdef"),
        ("CI_PROJECT_URL", "https://gitlab.example.com/acme/people"),
        (
            "CI_PIPELINE_URL",
            "https://gitlab.example.com/acme/people/-/pipelines/7",
        ),
        ("CI_PIPELINE_CREATED_AT", "2026-11-30T14:05:09Z"),
    ];
    let context = Context::from_vars(|n| {
        vars.iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.to_string())
    })
    .at("2030-01-01T00:00:00Z");
    assert_eq!(
        context.run_url.as_deref(),
        Some("https://gitlab.example.com/acme/people/-/pipelines/7")
    );
    assert_eq!(
        context.commit_url.as_deref(),
        Some("https://gitlab.example.com/acme/people/-/commit/89abcdef0123456789abcdef0123456789abcdef")
    );
    assert_eq!(context.time.as_deref(), Some("2026-11-30T14:05:09Z"));
    assert_eq!(Context::from_vars(|_| None), Context::default());
    assert_eq!(Context::default().line(), None);
}

#[test]
fn errors_are_cut_at_a_line_and_lose_their_control_characters() {
    assert_eq!(cut_at_line("a\nb\nc", 3), ("a", true));
    assert_eq!(cut_at_line("abc", 3), ("abc", false));
    assert_eq!(escape_controls("a\u{1b}[2Jb\r\n"), "a\\u{1b}[2Jb\\u{d}\n");
}
