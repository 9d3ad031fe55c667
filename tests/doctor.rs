//! `zsc doctor` against every emulator dialect and the server behaviours it must notice: what
//! it reports is what the emulator (and so the documentation it follows) does. Read-only.

use serde_json::Value;
use zsc::dialect::Dialect;
use zsc::emulator::{Faults, Quirk};

use crate::harness::{Env, TOKEN};

/// A tenant of `dialect` with users in groups, probed; the report's first tenant.
fn probed(dialect: Dialect, faults: Faults) -> (Env, Value) {
    let env = Env::with_emulator(dialect);
    env.config(&Env::people(6, 2));
    env.zsc(&["apply", "--auto-approve"]).success();
    env.set_faults(faults);
    env.emulator().clear_request_log();
    let run = env.zsc(&["doctor", "--format", "json"]).success();
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["format_version"], 1);
    let writes: Vec<String> = env
        .emulator()
        .request_log()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "doctor wrote: {writes:?}");
    assert!(!run.stdout.contains(TOKEN));
    (env, report["tenants"][0].clone())
}

fn uses(tenant: &Value, what: &str) -> String {
    tenant["uses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["what"] == what)
        .map(|u| {
            format!(
                "{}: {}",
                u["choice"].as_str().unwrap(),
                u["why"].as_str().unwrap()
            )
        })
        .unwrap()
}

fn status(tenant: &Value, check: &str) -> String {
    tenant["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == check)
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .unwrap()
}

#[test]
fn generic_scim_answers_as_rfc_7644_describes() {
    let (_env, t) = probed(Dialect::Scim, Faults::default());
    let f = &t["facts"];
    assert_eq!(f["discovery_without_token"], 200);
    assert_eq!(f["auth_status"], 200);
    assert_eq!(f["count_works"], true);
    assert_eq!(
        (f["users"].as_u64(), f["groups"].as_u64()),
        (Some(6), Some(2))
    );
    assert_eq!(f["page_size_asked"], 1000);
    assert_eq!(f["page_size_honoured"], true);
    assert_eq!(f["user_eq_finds"], true);
    assert_eq!(f["user_eq_case_insensitive"], true);
    assert_eq!(f["group_eq_finds"], true);
    assert_eq!(f["exclude_attributes"], "honoured");
    assert_eq!(f["listings_carry_last_modified"], true);
    assert_eq!(f["last_modified_filter"], "works");
    assert_eq!(f["etag"], false);
    assert_eq!(f["group_listings_carry_members"], true);
    assert_eq!(f["user_listings_carry_groups"], true);
    assert!(f["memberships_checked"].as_u64().unwrap() > 0);
    assert_eq!(f["memberships_checked"], f["memberships_agreed"]);
    assert_eq!(f["tls_verified"], Value::Null, "plain http to this machine");
    assert!(t["latency"]["requests"].as_u64().unwrap() >= 10);
    assert!(uses(&t, "targeted_refresh").starts_with("possible"));
    assert!(uses(&t, "updates").starts_with("PATCH"));
    assert!(uses(&t, "pacing").starts_with("none"));
}

#[test]
fn zia_answers_as_zscaler_documents() {
    let (_env, t) = probed(Dialect::Zia, Faults::default());
    let f = &t["facts"];
    // The documented GET /Users example carries no meta; `meta.lastModified gt` is documented.
    assert_eq!(f["listings_carry_last_modified"], false);
    assert_eq!(f["last_modified_filter"], "works");
    assert_eq!(f["user_listings_carry_groups"], true);
    assert_eq!(f["group_listings_carry_members"], true);
    assert_eq!(f["discovery_without_token"], 200, "documented as open");
    assert!(uses(&t, "pacing").starts_with("5 requests/second"));
    assert!(uses(&t, "membership_source").contains("group listings carry members"));
}

#[test]
fn zpa_answers_as_zscaler_documents() {
    let (env, t) = probed(Dialect::Zpa, Faults::default());
    let f = &t["facts"];
    assert_eq!(f["page_size_asked"], 100);
    assert_eq!(f["page_size_honoured"], true);
    assert_eq!(f["group_listings_carry_members"], false);
    assert_eq!(f["user_listings_carry_groups"], true);
    assert_eq!(f["memberships_checked"], f["memberships_agreed"]);
    assert_eq!(f["exclude_attributes"], "honoured", "as ZPA spells it");
    assert_eq!(
        f["last_modified_filter"], "refused",
        "not documented for ZPA"
    );
    let source = uses(&t, "membership_source");
    assert!(source.starts_with("groups' members"), "{source}");
    assert!(
        source.contains("`membership_source: users` (or `auto`) costs nothing extra"),
        "{source}"
    );
    // The text view says the same, and what zsc will use.
    env.zsc(&["doctor"])
        .success()
        .stdout_has("t (zpa, zpa dialect)")
        .stdout_has("ok   auth")
        .stdout_has("zsc will use:")
        .stdout_has("Attach the output of `zsc doctor --format json` to bug reports");
}

#[test]
fn each_server_difference_shows_in_the_report() {
    let (_env, t) = probed(
        Dialect::Scim,
        Faults::default().with_quirk(Quirk::CaseSensitiveFilters),
    );
    assert_eq!(t["facts"]["user_eq_case_insensitive"], false);
    assert_eq!(status(&t, "user_name_eq"), "warn");
    assert!(uses(&t, "look_ups").contains("case-sensitively"));
    assert!(
        uses(&t, "targeted_refresh").starts_with("possible without new names"),
        "a plan that looks a name up reads in full there: {}",
        uses(&t, "targeted_refresh")
    );

    let (_env, t) = probed(
        Dialect::Zia,
        Faults::default().with_quirk(Quirk::DiscoveryNeedsToken),
    );
    assert_eq!(t["facts"]["discovery_without_token"], 401);
    assert_eq!(t["facts"]["discovery_with_token"], 200);

    let (_env, t) = probed(Dialect::Scim, Faults::default().with_quirk(Quirk::NoPatch));
    assert_eq!(t["facts"]["patch_supported"], false);
    assert!(uses(&t, "updates").starts_with("GET, then PUT"));

    let (_env, t) = probed(
        Dialect::Zpa,
        Faults::default().with_quirk(Quirk::RefuseProjection),
    );
    assert_eq!(t["facts"]["exclude_attributes"], "refused");
    assert!(uses(&t, "user_listings").starts_with("without a projection"));

    let (_env, t) = probed(
        Dialect::Scim,
        Faults {
            page_size_cap: Some(2),
            ..Faults::default()
        },
    );
    assert_eq!(t["facts"]["page_size_returned"], 2);
    assert_eq!(
        t["facts"]["max_results"], 2,
        "ServiceProviderConfig says so"
    );
    assert!(uses(&t, "page_size").starts_with("2:"));
}

#[test]
fn an_unreachable_server_or_a_wrong_token_fails_the_doctor() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("");
    let run = env.zsc_with(env.dir.path(), &["doctor", "--format", "json"], |c| {
        c.env(crate::harness::TOKEN_ENV, "not-the-token");
    });
    assert_eq!(run.code, 1, "{}", run.stdout);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["tenants"][0]["facts"]["auth_status"], 401);

    env.write(
        "zsc.yaml",
        &format!(
            "tenants:\n  t:\n    kind: scim\n    url: http://127.0.0.1:9/scim/v2\n    token: {{ env: {} }}\n",
            crate::harness::TOKEN_ENV
        ),
    );
    env.zsc(&["doctor"]).code(1).stdout_has("FAIL auth");
    env.zsc(&["doctor", "--tenant", "nope"])
        .code(1)
        .stderr_has("no tenant `nope`");
}
