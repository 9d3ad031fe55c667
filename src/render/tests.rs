//! Snapshots of rendered plans.

use crate::dialect::Dialect;
use crate::model::{
    DesiredGroup, DesiredTenant, DesiredUser, LiveGroup, LiveTenant, LiveUser, Origin,
    RemoveUserAction, UserAttrs,
};
use crate::plan::{Plan, PlanMeta, TenantInput};
use crate::state::{ManagedGroup, ManagedUser, TenantState};

use super::{text, Styles};

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
        attrs: attrs(display, dept),
        active: true,
        protect: false,
        origin: Origin::default(),
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
    }
}

/// A plan with every kind of change.
pub(crate) fn every_kind_of_change(dialect: Dialect) -> Plan {
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
            },
            DesiredGroup {
                name: "Finance Ops".into(),
                renamed_from: Some("Finance".into()),
                members: vec![],
                protect: false,
                origin: Origin::default(),
            },
            DesiredGroup {
                name: "Auditors".into(),
                renamed_from: None,
                members: vec!["jdoe@example.com".into()],
                protect: false,
                origin: Origin::default(),
            },
        ],
    };
    // `old` is disabled, `gone` too: both left the configuration.
    Plan::build(
        PlanMeta {
            lineage: "lineage".into(),
            serial: 7,
            config_fingerprint: "fingerprint".into(),
            refreshed: true,
        },
        &[TenantInput {
            name: "zia-prod",
            dialect,
            desired: &desired,
            managed: &state,
            live: &live_tenant,
            remove_user_action: RemoveUserAction::Disable,
        }],
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
        }],
    );
    insta::assert_snapshot!(text::plan(&plan, Styles::PLAIN), @r"
    demo: refreshed 0 users, 0 groups

    No changes. Live state matches the configuration.
    ");
}
