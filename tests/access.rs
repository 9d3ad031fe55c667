//! Access beyond lists (issue 19), through the binary against the emulator: rule-based members,
//! nested groups, expiring access judged at `--at`, the reasons every membership change gives,
//! and the emergency additive mode.

use zsc::dialect::Dialect;

use crate::harness::Env;

const PEOPLE: &str = "
users:
  - { user_name: fin@example.com, department: Finance }
  - { user_name: acc@example.com, department: Accounting }
  - { user_name: ceo@example.com, department: Finance }
  - { user_name: back@example.com, department: Backend }
  - { user_name: front@example.com, department: Frontend }
";

const GROUPS: &str = "
groups:
  - name: Finance-All
    members_from:
      - { department: [Finance, Accounting] }
    exclude: [ceo@example.com]
  - name: Backend
    members_from: [{ department: Backend }]
  - name: Frontend
    members_from: [{ department: Frontend }]
  - name: Engineering
    include_groups: [Backend, Frontend]
";

#[test]
fn rules_exclusions_and_nested_groups_apply_as_plain_memberships_and_converge() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&format!("{PEOPLE}{GROUPS}"));
    env.zsc(&["plan"])
        .success()
        .stdout_has("+ member \"acc@example.com\"")
        .stdout_has(
            "# matches rule 1 of `Finance-All` ({ department: [Finance, Accounting] }, zsc.yaml:",
        )
        .stdout_has("# a member of `Backend`, which `Engineering` includes");
    env.zsc(&["apply", "--auto-approve"]).success();
    assert_eq!(
        env.members_of("Finance-All"),
        ["acc@example.com", "fin@example.com"]
    );
    assert_eq!(
        env.members_of("Engineering"),
        ["back@example.com", "front@example.com"]
    );
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn a_department_change_moves_the_member_and_says_which_rule_stopped_matching() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&format!("{PEOPLE}{GROUPS}"));
    env.zsc(&["apply", "--auto-approve"]).success();

    let moved = PEOPLE.replace(
        "acc@example.com, department: Accounting",
        "acc@example.com, department: Backend",
    );
    env.config(&format!("{moved}{GROUPS}"));
    env.zsc(&["plan"])
        .success()
        .stdout_has("- member \"acc@example.com\"")
        .stdout_has(
            "# rule 1 ({ department: [Finance, Accounting] }) does not match: department is \
             `Backend`",
        )
        .stdout_has("+ member \"acc@example.com\"")
        .stdout_has("# matches rule 1 of `Backend`");
    env.zsc(&["apply", "--auto-approve"]).success();
    assert_eq!(env.members_of("Finance-All"), ["fin@example.com"]);
    assert_eq!(
        env.members_of("Engineering"),
        ["acc@example.com", "back@example.com", "front@example.com"]
    );
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn a_department_rename_that_empties_a_group_trips_the_member_loss_warning() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&format!("{PEOPLE}{GROUPS}"));
    env.zsc(&["apply", "--auto-approve"]).success();
    // "Finance" and "Accounting" become "Corporate Finance": the rule no longer matches anyone.
    let renamed = PEOPLE
        .replace("department: Finance", "department: Corporate Finance")
        .replace("department: Accounting", "department: Corporate Finance");
    env.config(&format!("{renamed}{GROUPS}"));
    env.zsc(&["plan", "--format", "markdown"])
        .success()
        .stdout_has("group `Finance-All` in `t` loses 2 of its 2 members (100%)");
    env.zsc(&["validate"])
        .success()
        .stderr_has("rule 1 of group `Finance-All` ({ department: [Finance, Accounting] }) matches no declared user");
}

#[test]
fn access_ends_at_its_time_is_listed_before_and_says_why_after() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(
        "
defaults:
  expiry_notice_days: 10
users:
  - user_name: ann@example.com
    groups: [{ group: Incident, until: 2030-01-31 }]
  - user_name: tmp@example.com
    until: 2030-03-15T12:00:00Z
groups:
  - name: Incident
    members: [tmp@example.com]
",
    );
    env.zsc(&["apply", "--auto-approve", "--at", "2030-01-01"])
        .success();
    assert_eq!(
        env.members_of("Incident"),
        ["ann@example.com", "tmp@example.com"]
    );

    env.zsc(&["plan", "--at", "2030-01-25"])
        .success()
        .stdout_has("Planned as of 2030-01-25T00:00:00Z (--at).")
        .stdout_has(
            "Expiring soon:\n  t: \"ann@example.com\" in group \"Incident\" until 2030-01-31",
        )
        .stdout_lacks("tmp@example.com\" until")
        .stdout_has("No changes.");
    // The end of the day it names, UTC: still a member on its last second.
    env.zsc(&["plan", "--at", "2030-01-31T23:59:59Z"])
        .success()
        .stdout_has("No changes.");
    env.zsc(&["plan", "--at", "2030-02-01"])
        .success()
        .stdout_has("- member \"ann@example.com\"")
        .stdout_has("# the membership was declared until 2030-01-31, which has passed");
    env.zsc(&["apply", "--auto-approve", "--at", "2030-02-01"])
        .success();
    assert_eq!(env.members_of("Incident"), ["tmp@example.com"]);

    // A user past its `until:` is deprovisioned as `remove_user_action` says (disable), and the
    // guards count it like any other disable.
    env.zsc(&["plan", "--at", "2030-03-16"])
        .code(1)
        .stderr_has("more than `max_destroy_percent` (25%)");
    env.zsc(&["plan", "--at", "2030-03-16", "--max-destroy-percent", "50"])
        .success()
        .stdout_has("# t.user[\"tmp@example.com\"] will be disabled")
        .stdout_has(
            "# (`tmp@example.com` was declared until 2030-03-15T12:00:00Z, which has passed)",
        )
        .stdout_has(
            "# `tmp@example.com` was declared until 2030-03-15T12:00:00Z, which has passed",
        );
    env.zsc(&[
        "apply",
        "--auto-approve",
        "--at",
        "2030-03-16",
        "--max-destroy-percent",
        "50",
    ])
    .success();
    assert_eq!(
        env.live_user("tmp@example.com").unwrap().active,
        Some(false)
    );
    assert!(env.members_of("Incident").is_empty());
    env.zsc(&["plan", "--at", "2030-03-16"])
        .success()
        .stdout_has("No changes.");

    // `validate` warns about ends already past (judged now: these are in 2030, so edit one
    // into the past).
    let text = std::fs::read_to_string(env.path("zsc.yaml")).unwrap();
    std::fs::write(
        env.path("zsc.yaml"),
        text.replace("2030-01-31", "2001-01-31"),
    )
    .unwrap();
    env.zsc(&["validate"])
        .success()
        .stderr_has("the membership of `ann@example.com` in `Incident` is declared until 2001-01-31, which has passed: plans remove it");
}

#[test]
fn the_json_plan_carries_reasons_expiring_and_the_moment_and_matches_the_schema() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(
        "
users:
  - { user_name: fin@example.com, department: Finance }
groups:
  - name: Finance-All
    members_from: [{ department: Finance }]
  - name: Short
    members: [{ user: fin@example.com, until: 2030-01-05 }]
",
    );
    let run = env
        .zsc(&["plan", "--format", "json", "--at", "2030-01-01"])
        .success();
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/plan.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema");
    let errors: Vec<String> = validator
        .iter_errors(&plan)
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(plan["as_of"], "2030-01-01T00:00:00Z");
    assert_eq!(plan["expiring"][0]["group"], "Short");
    assert_eq!(plan["expiring"][0]["until"], "2030-01-05");
    assert_eq!(plan["expiring"][0]["at"], "2030-01-06T00:00:00Z");
    let add = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "t.membership[\"Finance-All\"][\"fin@example.com\"]")
        .expect("the rule's membership");
    let reasons = add["reasons"][0].as_str().unwrap();
    assert!(
        reasons.starts_with("matches rule 1 of `Finance-All` ({ department: Finance }, zsc.yaml:"),
        "{reasons}"
    );

    env.zsc(&["plan", "--format", "markdown", "--at", "2030-01-01"])
        .success()
        .stdout_has("Planned as of `2030-01-01T00:00:00Z` (`--at`).")
        .stdout_has("**Expiring soon** (1 grant):")
        .stdout_has("- t: `fin@example.com` in `Short` until 2030-01-05");
}

#[test]
fn skip_removals_applies_only_additions_and_says_how_many_it_left_out() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&format!("{PEOPLE}{GROUPS}"));
    env.zsc(&["apply", "--auto-approve"]).success();
    // A bad change: Finance-All's rule now matches no one, a user is gone, and a new one came.
    let bad = format!(
        "{}  - {{ user_name: new@example.com, department: Backend }}\n{}",
        PEOPLE.replace(
            "  - { user_name: front@example.com, department: Frontend }\n",
            ""
        ),
        GROUPS.replace("[Finance, Accounting]", "[Finanse]")
    );
    env.config(&bad);
    env.zsc(&["plan", "--skip-removals"])
        .success()
        .stdout_has("Warning: --skip-removals: 5 changes left out of this plan")
        .stdout_has("+ member \"new@example.com\"")
        .stdout_lacks("- member")
        .stdout_lacks("will be disabled");
    env.zsc(&["plan", "--skip-removals", "--format", "markdown"])
        .success()
        .stdout_has("> [!IMPORTANT]\n> **--skip-removals: 5 changes left out");
    env.zsc(&["apply", "--auto-approve", "--skip-removals"])
        .success();
    assert_eq!(
        env.members_of("Finance-All"),
        ["acc@example.com", "fin@example.com"],
        "nobody removed"
    );
    assert_eq!(
        env.live_user("front@example.com").unwrap().active,
        Some(true)
    );
    assert_eq!(
        env.members_of("Engineering"),
        ["back@example.com", "front@example.com", "new@example.com"]
    );

    // A saved plan is filtered the same way; without the flag the removals are planned.
    env.zsc(&["plan", "-o", "plan.json"]).success();
    env.zsc(&["apply", "plan.json", "--skip-removals"])
        .success();
    assert_eq!(
        env.live_user("front@example.com").unwrap().active,
        Some(true)
    );
    env.zsc(&["plan"])
        .success()
        .stdout_has("- member \"acc@example.com\"")
        .stdout_has("will be disabled");
    env.zsc(&["apply", "plan.json", "--at", "2030-01-01"])
        .code(1)
        .stderr_has("--at applies when planning");
}
