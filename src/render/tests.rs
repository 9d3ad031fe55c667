//! Snapshots of rendered plans.

use crate::dialect::Dialect;
use crate::model::{
    DesiredGroup, DesiredTenant, DesiredUser, LiveGroup, LiveTenant, LiveUser, Origin,
    RemoveUserAction, UserAttrs,
};
use crate::plan::{Plan, PlanMeta, TenantInput};
use crate::state::{ManagedGroup, ManagedUser, TenantState};

use super::{markdown, text, Styles};

fn attrs(display: &str, dept: Option<&str>) -> UserAttrs {
    UserAttrs {
        display_name: Some(display.to_owned()),
        department: dept.map(str::to_owned),
        ..UserAttrs::default()
    }
}

fn desired_user(name: &str, display: &str, dept: Option<&str>) -> DesiredUser {
    DesiredUser {
        user_name: name.to_owned(),
        renamed_from: None,
        attrs: attrs(display, dept),
        active: true,
        protect: false,
        origin: Origin::default(),
        until: None,
    }
}

fn live(id: &str, name: &str, display: &str, dept: Option<&str>) -> LiveUser {
    LiveUser {
        id: id.to_owned(),
        user_name: name.to_owned(),
        active: true,
        attrs: attrs(display, dept),
    }
}

fn managed(u: &LiveUser) -> ManagedUser {
    ManagedUser {
        id: u.id.clone(),
        user_name: u.user_name.clone(),
        active: u.active,
        attrs: u.attrs.clone(),
        protect: false,
        wrote: None,
    }
}

/// Desired, managed and live data of one tenant whose plan has every kind of change.
fn fixture() -> (DesiredTenant, TenantState, LiveTenant) {
    let jsmith = live("u1", "jsmith@example.com", "Janet Smith", Some("Finance"));
    let old = live("u2", "old@example.com", "Old Timer", None);
    let gone = live("u3", "gone@example.com", "Gone Away", None);
    let adopt = live("u4", "Found@Example.com", "Found", Some("Sales"));
    let stranger = live("u5", "stranger@example.com", "Not Ours", None);
    let live_tenant = LiveTenant {
        users: vec![jsmith.clone(), old.clone(), gone.clone(), adopt, stranger],
        groups: vec![
            LiveGroup {
                id: "g1".into(),
                name: "Accounting".into(),
                members: vec!["u1".into(), "u2".into()],
            },
            LiveGroup {
                id: "g2".into(),
                name: "Finance".into(),
                members: vec![],
            },
            LiveGroup {
                id: "g3".into(),
                name: "Legacy".into(),
                members: vec![],
            },
        ],
    };
    let mut state = TenantState::default();
    for u in [&jsmith, &old, &gone] {
        state
            .users
            .insert(crate::model::folded(&u.user_name).into_owned(), managed(u));
    }
    for (id, name, members) in [
        ("g1", "Accounting", vec!["u1", "u2"]),
        ("g2", "Finance", vec![]),
        ("g3", "Legacy", vec![]),
    ] {
        state.groups.insert(
            name.to_lowercase(),
            ManagedGroup {
                id: id.into(),
                name: name.into(),
                members: members.into_iter().map(str::to_owned).collect(),
                protect: false,
                wrote: None,
            },
        );
    }
    let desired = DesiredTenant {
        users: vec![
            desired_user("jsmith@example.com", "Janet Smith-Jones", Some("Finance")),
            desired_user("jdoe@example.com", "John Doe", Some("Finance")),
            desired_user("found@example.com", "Found", Some("Finance")),
        ],
        groups: vec![
            DesiredGroup {
                name: "Accounting".into(),
                renamed_from: None,
                members: vec!["jsmith@example.com".into(), "jdoe@example.com".into()],
                protect: false,
                origin: Origin::default(),
                ..DesiredGroup::default()
            },
            DesiredGroup {
                name: "Finance Ops".into(),
                renamed_from: Some("Finance".into()),
                members: vec![],
                protect: false,
                origin: Origin::default(),
                ..DesiredGroup::default()
            },
            DesiredGroup {
                name: "Auditors".into(),
                renamed_from: None,
                members: vec!["jdoe@example.com".into()],
                protect: false,
                origin: Origin::default(),
                ..DesiredGroup::default()
            },
        ],
    };
    (desired, state, live_tenant)
}

fn meta() -> PlanMeta {
    PlanMeta {
        lineage: "lineage".into(),
        serial: 7,
        config_fingerprint: "fingerprint".into(),
        refreshed: true,
    }
}

/// A plan with every kind of change.
pub(crate) fn every_kind_of_change(dialect: Dialect) -> Plan {
    let (desired, state, live_tenant) = fixture();
    // `old` is disabled, `gone` too: both left the configuration.
    Plan::build(
        meta(),
        &[TenantInput {
            name: "zia-prod",
            dialect,
            desired: &desired,
            managed: &state,
            live: &live_tenant,
            remove_user_action: RemoveUserAction::Disable,
            server: None,
        }],
    )
}

/// Two tenants that between them have every action on every kind of object: the first as in
/// [`every_kind_of_change`]; the second deletes removed users, adopts a live group and updates
/// a group (it becomes protected).
pub(crate) fn every_action_in_two_tenants() -> Plan {
    let (desired, state, live) = fixture();
    let (mut desired2, state2, mut live2) = fixture();
    live2.groups.push(LiveGroup {
        id: "g4".into(),
        name: "Contractors".into(),
        members: vec![],
    });
    desired2.groups.push(DesiredGroup {
        name: "Contractors".into(),
        renamed_from: None,
        members: vec![],
        protect: false,
        origin: Origin::default(),
        ..DesiredGroup::default()
    });
    desired2.groups[0].protect = true;
    Plan::build(
        meta(),
        &[
            TenantInput {
                name: "zia-prod",
                dialect: Dialect::Zia,
                desired: &desired,
                managed: &state,
                live: &live,
                remove_user_action: RemoveUserAction::Disable,
                server: None,
            },
            TenantInput {
                name: "zpa-prod",
                dialect: Dialect::Zpa,
                desired: &desired2,
                managed: &state2,
                live: &live2,
                remove_user_action: RemoveUserAction::Delete,
                server: None,
            },
        ],
    )
}

#[test]
fn text_plan_with_every_kind_of_change() {
    let plan = every_kind_of_change(Dialect::Zia);
    insta::assert_snapshot!(text::plan(&plan, Styles::PLAIN));
}

#[test]
fn text_plan_on_zpa_shows_disable_as_delete() {
    let plan = every_kind_of_change(Dialect::Zpa);
    let out = text::plan(&plan, Styles::PLAIN);
    assert!(
        out.contains("on ZPA `active: false` deletes the user"),
        "{out}"
    );
    assert!(!out.contains("will be disabled"), "{out}");
}

#[test]
fn colors_only_when_asked() {
    let plan = every_kind_of_change(Dialect::Zia);
    assert!(!text::plan(&plan, Styles::PLAIN).contains('\u{1b}'));
    assert!(text::plan(&plan, Styles::COLOR).contains("\u{1b}[32m+"));
}

#[test]
fn empty_plan_says_no_changes() {
    let plan = Plan::build(
        PlanMeta {
            lineage: "l".into(),
            serial: 1,
            config_fingerprint: "f".into(),
            refreshed: true,
        },
        &[TenantInput {
            name: "demo",
            dialect: Dialect::Scim,
            desired: &DesiredTenant::default(),
            managed: &TenantState::default(),
            live: &LiveTenant::default(),
            remove_user_action: RemoveUserAction::Disable,
            server: None,
        }],
    );
    insta::assert_snapshot!(text::plan(&plan, Styles::PLAIN), @r"
    demo: refreshed 0 users, 0 groups

    No changes. Live state matches the configuration.
    ");
}

#[test]
fn fixture_has_every_action_on_every_kind_of_object() {
    use crate::plan::{Action, ObjectKind};
    let plan = every_action_in_two_tenants();
    let s = &plan.summary;
    for (what, n) in [
        ("user create", s.users.create),
        ("user adopt", s.users.adopt),
        ("user update", s.users.update),
        ("user disable", s.users.disable),
        ("user delete", s.users.delete),
        ("group create", s.groups.create),
        ("group adopt", s.groups.adopt),
        ("group update", s.groups.update),
        ("group rename", s.groups.rename),
        ("group delete", s.groups.delete),
        ("membership add", s.memberships.add),
        ("membership remove", s.memberships.remove),
    ] {
        assert!(n > 0, "no {what} in the fixture");
    }
    for (object, action) in [
        (ObjectKind::User, Action::Delete),
        (ObjectKind::Group, Action::Adopt),
    ] {
        assert!(plan
            .changes
            .iter()
            .any(|c| c.object == object && c.action == action));
    }
}

#[test]
fn markdown_plan_with_every_kind_of_change() {
    insta::assert_snapshot!(markdown::plan(&every_action_in_two_tenants()));
}

#[test]
fn markdown_empty_plan_says_no_changes_first() {
    let mut plan = every_kind_of_change(Dialect::Zia);
    plan.changes.clear();
    plan.summary = crate::plan::Summary::default();
    let out = markdown::plan(&plan);
    assert!(out.starts_with("**zsc plan: no changes.**"), "{out}");
    assert!(!out.contains("[!WARNING]"), "{out}");
}

/// A plan of `users` user creates in one tenant.
fn many_creates(users: usize) -> Plan {
    let desired = DesiredTenant {
        users: (0..users)
            .map(|i| {
                desired_user(
                    &format!("user{i:05}@example.com"),
                    &format!("User {i}"),
                    Some("Engineering"),
                )
            })
            .collect(),
        groups: vec![],
    };
    Plan::build(
        meta(),
        &[TenantInput {
            name: "big",
            dialect: Dialect::Zia,
            desired: &desired,
            managed: &TenantState::default(),
            live: &LiveTenant::default(),
            remove_user_action: RemoveUserAction::Disable,
            server: None,
        }],
    )
}

#[test]
fn markdown_folds_long_sections_of_long_plans_only() {
    // 10 creates are about 70 lines: a small plan is shown whole.
    let short = markdown::plan(&many_creates(10));
    assert!(!short.contains("<details"), "{short}");
    assert!(
        short.contains("**Created and added to groups**: 10 users to create"),
        "{short}"
    );
    let long = markdown::plan(&many_creates(20));
    assert!(
        long.contains("<details><summary><b>Created and added to groups</b>: 20 users to create ("),
        "{long}"
    );
    assert!(long.contains("</details>"), "{long}");
}

#[test]
fn markdown_stays_under_the_comment_limit_and_says_what_it_left_out() {
    let plan = many_creates(5_000);
    let out = markdown::plan(&plan);
    assert!(out.len() < 65_536, "{} characters", out.len());
    assert!(
        out.len() > 55_000,
        "{} characters: budget wasted",
        out.len()
    );
    let shown = out.matches("will be created").count();
    let notice = format!(
        "**… {} more changes; full plan in the job log/artifact.**",
        crate::render::thousands(5_000 - shown)
    );
    assert!(
        out.contains(&notice),
        "no {notice:?} in the tail:\n{}",
        &out[out.len() - 500..]
    );
    // Still well-formed: the diff block and the details are closed.
    assert_eq!(out.matches("```").count() % 2, 0);
    assert_eq!(
        out.matches("<details>").count(),
        out.matches("</details>").count()
    );
    assert!(
        out.starts_with("**zsc plan:** 5,000 users to create"),
        "{}",
        &out[..200]
    );
}

#[test]
fn markdown_within_a_tiny_budget_still_leads_with_the_summary_and_warning() {
    let plan = every_action_in_two_tenants();
    let out = markdown::plan_within(&plan, 400);
    assert!(out.starts_with("**zsc plan:**"), "{out}");
    assert!(out.contains("> [!WARNING]"), "{out}");
    assert!(
        out.contains(&format!("**… {} more changes;", plan.changes.len())),
        "{out}"
    );
}

#[test]
fn json_plan_with_every_kind_of_change() {
    let plan = every_action_in_two_tenants();
    let json = serde_json::to_string_pretty(&plan).unwrap();
    insta::assert_snapshot!(json);
    // The JSON view is the plan file: it reads back to the same plan.
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
}

/// The documented schema of the JSON view and plan file.
pub(crate) const PLAN_SCHEMA: &str = include_str!("../../docs/plan.schema.json");

fn schema_errors(instance: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value = serde_json::from_str(PLAN_SCHEMA).expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema is a valid JSON Schema");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn json_plan_matches_its_documented_schema() {
    let plan = serde_json::to_value(every_action_in_two_tenants()).unwrap();
    assert_eq!(schema_errors(&plan), Vec::<String>::new());
    let empty = serde_json::to_value(every_kind_of_change(Dialect::Scim)).unwrap();
    assert_eq!(schema_errors(&empty), Vec::<String>::new());
}

#[test]
fn the_schema_is_strict_enough_to_catch_drift() {
    let plan = serde_json::to_value(every_action_in_two_tenants()).unwrap();
    let mut unknown_field = plan.clone();
    unknown_field["changes"][0]["surprise"] = serde_json::json!(1);
    let mut wrong_action = plan.clone();
    wrong_action["changes"][0]["action"] = serde_json::json!("add");
    let mut no_member = plan.clone();
    let membership = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["object"] == "membership")
        .unwrap();
    no_member["changes"][membership]
        .as_object_mut()
        .unwrap()
        .remove("member");
    let mut newer = plan;
    newer["format_version"] = serde_json::json!(3);
    for (what, doc) in [
        ("unknown field", unknown_field),
        ("user with a membership action", wrong_action),
        ("membership without member", no_member),
        ("newer format", newer),
    ] {
        assert!(!schema_errors(&doc).is_empty(), "{what} passed the schema");
    }
}

/// A tenant zsc manages with `disabled` users left out of the configuration, `updated` users
/// renamed in place, and `groups` groups that each lose all their members: `members` users
/// each.
fn risky_plan(disabled: usize, updated: usize, groups: usize, members: usize) -> Plan {
    let mut live_tenant = LiveTenant::default();
    let mut state = TenantState::default();
    let mut desired = DesiredTenant::default();
    for i in 0..disabled + updated {
        let u = live(
            &format!("u{i}"),
            &format!("user{i:05}@example.com"),
            &format!("User {i}"),
            None,
        );
        state
            .users
            .insert(crate::model::folded(&u.user_name).into_owned(), managed(&u));
        if i >= disabled {
            desired.users.push(desired_user(
                &u.user_name,
                &format!("User {i} (renamed)"),
                None,
            ));
        }
        live_tenant.users.push(u);
    }
    for g in 0..groups {
        let name = format!("Group {g:03}");
        let ids: Vec<String> = (0..members)
            .map(|m| format!("u{}", disabled + (g * members + m) % updated.max(1)))
            .collect();
        live_tenant.groups.push(LiveGroup {
            id: format!("g{g}"),
            name: name.clone(),
            members: ids.clone(),
        });
        state.groups.insert(
            name.to_lowercase(),
            ManagedGroup {
                id: format!("g{g}"),
                name: name.clone(),
                members: ids,
                protect: false,
                wrote: None,
            },
        );
        desired.groups.push(DesiredGroup {
            name,
            renamed_from: None,
            members: vec![],
            protect: false,
            origin: Origin::default(),
            ..DesiredGroup::default()
        });
    }
    Plan::build(
        meta(),
        &[TenantInput {
            name: "big",
            dialect: Dialect::Zia,
            desired: &desired,
            managed: &state,
            live: &live_tenant,
            remove_user_action: RemoveUserAction::Disable,
            server: None,
        }],
    )
}

#[test]
fn markdown_spends_its_budget_on_what_removes_access_first() {
    // The plan that cut 3,000 removals and 1,000 disables while showing updates in name order.
    let plan = risky_plan(1_000, 3_000, 30, 100);
    assert_eq!(plan.summary.users.disable, 1_000);
    assert_eq!(plan.summary.users.update, 3_000);
    assert_eq!(plan.summary.memberships.remove, 3_000);
    let out = markdown::plan(&plan);
    assert!(out.len() < 65_536, "{} characters", out.len());
    let in_diffs = |what: &str| {
        out.lines()
            .filter(|l| l.starts_with("  # ") && l.ends_with(what))
            .count()
    };
    let disables = in_diffs("will be disabled");
    let removals = out.matches("\n-       member \"").count();
    let updates = in_diffs("will be updated in place");
    assert!(disables >= 100, "{disables} disables shown");
    assert!(removals >= 300, "{removals} removals shown");
    assert!(
        disables > updates && removals > updates,
        "{disables} disables and {removals} removals against {updates} updates"
    );
    // Each section says what it holds, in risk order, and counts what it leaves out.
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in\n{}", &out[..3000]))
    };
    let destroy = at("<b>Disabled and deleted</b>: 1,000 users to disable (");
    let remove = at("<b>Removed from groups</b>: 3,000 memberships to remove (");
    let change = at("<b>Changed in place</b>: 3,000 users to update (");
    assert!(destroy < remove && remove < change);
    assert!(out.contains("<details open><summary><b>Disabled and deleted</b>"));
    let shown = disables + removals + updates;
    assert!(out.contains(&format!(
        "**… {} more changes; full plan in the job log/artifact.**",
        crate::render::thousands(plan.changes.len() - shown)
    )));
    assert!(out.contains(&format!(
        "*… {} more changes in this section, not shown.*",
        crate::render::thousands(1_000 - disables)
    )));
    assert_eq!(out.matches("```").count() % 2, 0);
    assert_eq!(
        out.matches("<details").count(),
        out.matches("</details>").count()
    );
}

#[test]
fn markdown_without_risky_changes_spends_the_whole_budget() {
    let out = markdown::plan(&risky_plan(0, 4_000, 0, 0));
    assert!(out.len() > 55_000, "{} characters", out.len());
    assert!(out.len() < 65_536, "{} characters", out.len());
}

#[test]
fn markdown_warnings_are_capped_and_each_on_a_line_of_its_own() {
    let mut plan = risky_plan(40, 10, 0, 0);
    plan.warnings = (0..97)
        .map(|i| format!("group `G{i}` in `big` loses 3 of its 4 members (75%)"))
        .collect();
    let out = markdown::plan(&plan);
    assert_eq!(out.matches("loses 3 of its 4 members").count(), 10, "{out}");
    assert!(out.contains("> **… and 87 more warnings** (every one is in the job log)."));
    assert!(
        out.contains("> - … and 20 more disabled or deleted\n"),
        "{out}"
    );
    // In plain GFM consecutive quoted lines join into one paragraph: every item stands alone.
    let quoted: Vec<&str> = out.lines().filter(|l| l.starts_with('>')).collect();
    for pair in quoted.windows(2) {
        assert!(
            !(pair[0].starts_with("> **") && pair[1].starts_with("> **")),
            "{pair:?} render as one line"
        );
    }
}

#[test]
fn markdown_marks_changes_github_colors_and_says_so() {
    let out = markdown::plan(&every_action_in_two_tenants());
    assert!(out.contains(
        "Legend: `+` create or add, `!` change in place, `-` disable, delete or remove."
    ));
    assert!(
        out.contains("\n-   user \"gone@example.com\" {\n!       active = true -> false\n"),
        "{out}"
    );
    assert!(
        out.contains("\n!   user \"jsmith@example.com\" {\n"),
        "{out}"
    );
    assert!(!out.lines().any(|l| l.starts_with('~')), "{out}");
}

#[test]
fn markdown_says_where_the_plan_comes_from() {
    let context = markdown::Context {
        sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        commit_url: Some(
            "https://github.com/acme/people/commit/0123456789abcdef0123456789abcdef01234567".into(),
        ),
        run_url: Some("https://github.com/acme/people/actions/runs/42".into()),
        time: Some("2026-11-30T14:05:09Z".into()),
    };
    let out = markdown::plan_with(&every_kind_of_change(Dialect::Zia), &context);
    let second = out.lines().nth(2).unwrap();
    assert_eq!(
        second,
        "Commit [`0123456789ab`](https://github.com/acme/people/commit/0123456789abcdef0123456789abcdef01234567) · \
         [CI run](https://github.com/acme/people/actions/runs/42) (full plan in its log) · 2026-11-30 14:05 UTC"
    );
}

#[test]
fn markdown_failed_plan_refused_by_guards() {
    let plan = every_action_in_two_tenants();
    let violations = crate::plan::check_guards(
        &plan,
        crate::plan::Limits {
            max_destroy: 2,
            max_destroy_percent: 25.0,
            allow_moved_tenant: false,
        },
    );
    assert!(!violations.is_empty());
    let context = markdown::Context {
        sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        ..markdown::Context::default()
    };
    let out = markdown::failed(
        &markdown::Failed::Refused {
            plan: &plan,
            violations: &violations,
        },
        &context,
    );
    insta::assert_snapshot!(out);
}

#[test]
fn markdown_failed_plan_with_an_error() {
    let message = "error: tenant `zia-prod`: the server answered 401 Unauthorized to GET https://scim.example.com/scim/Users: check the token in ZSC_ZIA_PROD_TOKEN\n\u{1b}[2J```";
    let out = markdown::failed(
        &markdown::Failed::Error { message },
        &markdown::Context::default(),
    );
    insta::assert_snapshot!(out, @r"
    **zsc plan failed:** no plan could be made, so nothing can be applied from this commit. Nothing was changed.

    ````text
    error: tenant `zia-prod`: the server answered 401 Unauthorized to GET https://scim.example.com/scim/Users: check the token in ZSC_ZIA_PROD_TOKEN
    \u{1b}[2J```
    ````

    <!-- zsc-plan-failed -->
    <!-- zsc-plan -->
    ");
    let long = "error: x\n".repeat(20_000);
    let out = markdown::failed(
        &markdown::Failed::Error { message: &long },
        &markdown::Context::default(),
    );
    assert!(out.len() < 65_536);
    assert!(out.contains("*… the rest of the error is in the job log.*"));
    assert!(out.ends_with("<!-- zsc-plan-failed -->\n<!-- zsc-plan -->\n"));
}
