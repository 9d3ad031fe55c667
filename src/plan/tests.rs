//! The planner's rules and laws.

use std::collections::HashMap;

use proptest::prelude::*;

use super::graph::DependencyGraph;
use super::*;
use crate::model::{
    DesiredGroup, DesiredTenant, DesiredUser, LiveGroup, LiveTenant, LiveUser, Origin,
    RemoveUserAction, UserAttrs,
};
use crate::state::{ManagedGroup, ManagedUser, State, TenantState};

fn user(name: &str) -> DesiredUser {
    DesiredUser {
        attrs: UserAttrs {
            display_name: Some(format!("User {name}")),
            ..UserAttrs::default()
        },
        ..DesiredUser::new(name)
    }
}

fn group(name: &str, members: &[&str]) -> DesiredGroup {
    DesiredGroup {
        name: name.to_owned(),
        renamed_from: None,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        protect: false,
        origin: Origin::default(),
        ..DesiredGroup::default()
    }
}

fn live_user(id: &str, name: &str) -> LiveUser {
    LiveUser {
        id: id.to_owned(),
        user_name: name.to_owned(),
        active: true,
        attrs: UserAttrs {
            display_name: Some(format!("User {name}")),
            ..UserAttrs::default()
        },
    }
}

fn managed_user(l: &LiveUser) -> ManagedUser {
    ManagedUser {
        id: l.id.clone(),
        user_name: l.user_name.clone(),
        active: l.active,
        attrs: l.attrs.clone(),
        protect: false,
        wrote: None,
    }
}

fn plan_one(
    desired: &DesiredTenant,
    managed: &TenantState,
    live: &LiveTenant,
    dialect: Dialect,
    remove: RemoveUserAction,
) -> Plan {
    let input = TenantInput {
        name: "t",
        dialect,
        desired,
        managed,
        live,
        remove_user_action: remove,
        server: None,
    };
    Plan::build(
        PlanMeta {
            lineage: "l".into(),
            serial: 1,
            config_fingerprint: "f".into(),
            refreshed: true,
        },
        &[input],
    )
}

fn plan_simple(desired: &DesiredTenant, managed: &TenantState, live: &LiveTenant) -> Plan {
    plan_one(
        desired,
        managed,
        live,
        Dialect::Scim,
        RemoveUserAction::Disable,
    )
}

fn addresses(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.address.clone(), c.action))
        .collect()
}

#[test]
fn nothing_desired_nothing_live_is_no_change() {
    let plan = plan_simple(
        &DesiredTenant::default(),
        &TenantState::default(),
        &LiveTenant::default(),
    );
    assert!(plan.is_empty());
}

#[test]
fn new_users_and_group_are_created_with_members_after_their_creates() {
    let desired = DesiredTenant {
        users: vec![user("a@x.com"), user("b@x.com")],
        groups: vec![group("G", &["a@x.com", "b@x.com"])],
    };
    let plan = plan_simple(&desired, &TenantState::default(), &LiveTenant::default());
    assert_eq!(
        addresses(&plan),
        vec![
            (r#"t.user["a@x.com"]"#.into(), Action::Create),
            (r#"t.user["b@x.com"]"#.into(), Action::Create),
            (r#"t.group["G"]"#.into(), Action::Create),
            (r#"t.membership["G"]["a@x.com"]"#.into(), Action::Add),
            (r#"t.membership["G"]["b@x.com"]"#.into(), Action::Add),
        ]
    );
    let add = &plan.changes[3];
    assert_eq!(
        add.depends_on,
        vec![
            r#"t.group["G"]"#.to_owned(),
            r#"t.user["a@x.com"]"#.to_owned()
        ]
    );
    assert_eq!(plan.summary.users.create, 2);
    assert_eq!(plan.summary.memberships.add, 2);
}

#[test]
fn existing_unmanaged_user_is_adopted_case_insensitively_not_created() {
    let desired = DesiredTenant {
        users: vec![user("JSmith@Example.com")],
        groups: vec![],
    };
    let live = LiveTenant {
        users: vec![live_user("u1", "jsmith@example.com")],
        groups: vec![],
    };
    let plan = plan_simple(&desired, &TenantState::default(), &live);
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].action, Action::Adopt);
    assert_eq!(plan.changes[0].id.as_deref(), Some("u1"));
}

#[test]
fn managed_user_with_a_changed_attribute_is_updated_in_place() {
    let l = live_user("u1", "a@x.com");
    let mut managed = TenantState::default();
    managed.users.insert("a@x.com".into(), managed_user(&l));
    let mut want = user("a@x.com");
    want.attrs.department = Some("Finance".into());
    let desired = DesiredTenant {
        users: vec![want],
        groups: vec![],
    };
    let live = LiveTenant {
        users: vec![l],
        groups: vec![],
    };
    let plan = plan_simple(&desired, &managed, &live);
    assert_eq!(plan.changes.len(), 1);
    let c = &plan.changes[0];
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.before.as_ref().unwrap().attrs.department, None);
    assert_eq!(
        c.after.as_ref().unwrap().attrs.department.as_deref(),
        Some("Finance")
    );
}

#[test]
fn undeclared_attributes_are_left_alone() {
    let mut l = live_user("u1", "a@x.com");
    l.attrs.department = Some("Sales".into());
    let mut managed = TenantState::default();
    managed.users.insert("a@x.com".into(), managed_user(&l));
    let desired = DesiredTenant {
        users: vec![user("a@x.com")],
        groups: vec![],
    };
    let live = LiveTenant {
        users: vec![l],
        groups: vec![],
    };
    assert!(plan_simple(&desired, &managed, &live).is_empty());
}

#[test]
fn renamed_from_renames_instead_of_delete_and_create() {
    let mut g = group("Finance Ops", &[]);
    g.renamed_from = Some("Finance".into());
    let desired = DesiredTenant {
        users: vec![],
        groups: vec![g],
    };
    let live = LiveTenant {
        users: vec![],
        groups: vec![LiveGroup {
            id: "g1".into(),
            name: "Finance".into(),
            members: vec![],
        }],
    };
    let mut managed = TenantState::default();
    managed.groups.insert(
        "finance".into(),
        ManagedGroup {
            id: "g1".into(),
            name: "Finance".into(),
            members: vec![],
            protect: false,
            wrote: None,
        },
    );
    let plan = plan_simple(&desired, &managed, &live);
    assert_eq!(
        addresses(&plan),
        vec![(r#"t.group["Finance Ops"]"#.into(), Action::Rename)]
    );
}

#[test]
fn removed_user_leaves_groups_before_it_is_deleted() {
    let a = live_user("u1", "a@x.com");
    let b = live_user("u2", "b@x.com");
    let mut managed = TenantState::default();
    managed.users.insert("a@x.com".into(), managed_user(&a));
    managed.users.insert("b@x.com".into(), managed_user(&b));
    managed.groups.insert(
        "g".into(),
        ManagedGroup {
            id: "g1".into(),
            name: "G".into(),
            members: vec!["u1".into(), "u2".into()],
            protect: false,
            wrote: None,
        },
    );
    let live = LiveTenant {
        users: vec![a, b],
        groups: vec![LiveGroup {
            id: "g1".into(),
            name: "G".into(),
            members: vec!["u1".into(), "u2".into()],
        }],
    };
    let desired = DesiredTenant {
        users: vec![user("a@x.com")],
        groups: vec![group("G", &["a@x.com"])],
    };
    let plan = plan_one(
        &desired,
        &managed,
        &live,
        Dialect::Scim,
        RemoveUserAction::Delete,
    );
    assert_eq!(
        addresses(&plan),
        vec![
            (r#"t.user["b@x.com"]"#.into(), Action::Delete),
            (r#"t.membership["G"]["b@x.com"]"#.into(), Action::Remove),
        ]
    );
    assert_eq!(
        plan.changes[0].depends_on,
        vec![r#"t.membership["G"]["b@x.com"]"#.to_owned()]
    );
    let order = DependencyGraph::build(&plan).unwrap().order();
    assert_eq!(order, vec![1, 0]);
}

/// Found by the model-based test (issue 22): the create ran concurrently with the rename and
/// met the renamed user (409), failing, or adopting it a second time.
#[test]
fn a_create_of_the_name_a_managed_user_is_renamed_back_from_waits_for_the_rename() {
    let a = live_user("u1", "a@x.com");
    let mut managed = TenantState::default();
    managed.users.insert("a@x.com".into(), managed_user(&a));
    // Renamed outside zsc to the name the configuration now also declares.
    let live = LiveTenant {
        users: vec![LiveUser {
            user_name: "b@x.com".into(),
            ..a
        }],
        groups: Vec::new(),
    };
    let desired = DesiredTenant {
        users: vec![user("a@x.com"), user("b@x.com")],
        groups: Vec::new(),
    };
    let plan = plan_simple(&desired, &managed, &live);
    assert_eq!(
        addresses(&plan),
        vec![
            (r#"t.user["a@x.com"]"#.into(), Action::Rename),
            (r#"t.user["b@x.com"]"#.into(), Action::Create),
        ]
    );
    assert_eq!(
        plan.changes[1].depends_on,
        vec![r#"t.user["a@x.com"]"#.to_owned()]
    );
}

#[test]
fn disable_is_a_delete_on_zpa_and_says_so() {
    let a = live_user("u1", "a@x.com");
    let mut managed = TenantState::default();
    managed.users.insert("a@x.com".into(), managed_user(&a));
    let live = LiveTenant {
        users: vec![a],
        groups: vec![],
    };
    let desired = DesiredTenant::default();
    let zia = plan_one(
        &desired,
        &managed,
        &live,
        Dialect::Zia,
        RemoveUserAction::Disable,
    );
    assert_eq!(zia.changes[0].action, Action::Disable);
    let zpa = plan_one(
        &desired,
        &managed,
        &live,
        Dialect::Zpa,
        RemoveUserAction::Disable,
    );
    assert_eq!(zpa.changes[0].action, Action::Delete);
    assert!(zpa.changes[0].note.as_deref().unwrap().contains("ZPA"));
    assert_eq!(zpa.summary.destroys(), 1);
}

#[test]
fn unmanaged_live_objects_are_counted_and_left_alone() {
    let live = LiveTenant {
        users: vec![live_user("u9", "stranger@x.com")],
        groups: vec![LiveGroup {
            id: "g9".into(),
            name: "Theirs".into(),
            members: vec!["u9".into()],
        }],
    };
    let plan = plan_simple(&DesiredTenant::default(), &TenantState::default(), &live);
    assert!(plan.is_empty());
    assert_eq!(plan.tenants[0].unmanaged_users, 1);
    assert_eq!(plan.tenants[0].unmanaged_groups, 1);
}

#[test]
fn max_destroy_and_protect_guards_trip() {
    let a = live_user("u1", "a@x.com");
    let mut managed = TenantState::default();
    let mut m = managed_user(&a);
    m.protect = true;
    managed.users.insert("a@x.com".into(), m);
    let live = LiveTenant {
        users: vec![a],
        groups: vec![],
    };
    let plan = plan_simple(&DesiredTenant::default(), &managed, &live);
    let violations = check_guards(
        &plan,
        Limits {
            max_destroy: 0,
            max_destroy_percent: 25.0,
            allow_moved_tenant: false,
        },
    );
    assert_eq!(violations.len(), 3);
    assert!(violations[0].to_string().contains("protected"));
    assert!(violations[1]
        .to_string()
        .contains("1 of the 1 objects zsc manages in `t` (100%)"));
    assert!(violations[1]
        .to_string()
        .contains("--max-destroy-percent 100"));
    assert!(violations[2].to_string().contains("--max-destroy 1"));
}

#[test]
fn targets_keep_what_they_depend_on() {
    let desired = DesiredTenant {
        users: vec![user("a@x.com"), user("b@x.com")],
        groups: vec![group("G", &["a@x.com"])],
    };
    let mut plan = plan_simple(&desired, &TenantState::default(), &LiveTenant::default());
    plan.retain_targets(&[crate::plan::Address::parse(r#"t.membership["G"]["a@x.com"]"#).unwrap()]);
    assert_eq!(
        addresses(&plan),
        vec![
            (r#"t.user["a@x.com"]"#.into(), Action::Create),
            (r#"t.group["G"]"#.into(), Action::Create),
            (r#"t.membership["G"]["a@x.com"]"#.into(), Action::Add),
        ]
    );
}

#[test]
fn targets_match_names_case_insensitively_and_a_user_brings_its_memberships() {
    let desired = DesiredTenant {
        users: vec![user("a@x.com"), user("b@x.com")],
        groups: vec![group("G", &["a@x.com", "b@x.com"])],
    };
    let mut plan = plan_simple(&desired, &TenantState::default(), &LiveTenant::default());
    plan.retain_targets(&[crate::plan::Address::parse(r#"t.user["B@X.COM"]"#).unwrap()]);
    assert_eq!(
        addresses(&plan),
        vec![
            (r#"t.user["b@x.com"]"#.into(), Action::Create),
            (r#"t.group["G"]"#.into(), Action::Create),
            (r#"t.membership["G"]["b@x.com"]"#.into(), Action::Add),
        ]
    );
    let mut plan = plan_simple(&desired, &TenantState::default(), &LiveTenant::default());
    plan.retain_targets(&[crate::plan::Address::parse("other").unwrap()]);
    assert!(plan.is_empty());
}

// ---- laws --------------------------------------------------------------------------------

/// Carry out a plan against an in-memory tenant the way a well-behaved server and the executor
/// would, updating state as apply records it.
fn simulate(plan: &Plan, live: &mut LiveTenant, state: &mut State) {
    let order = DependencyGraph::build(plan).expect("acyclic").order();
    let mut next_id = 1000;
    let mut ids: HashMap<String, String> = HashMap::new();
    for i in order {
        let c = &plan.changes[i];
        let t = &c.tenant;
        match (c.object, c.action) {
            (ObjectKind::User, Action::Create) => {
                next_id += 1;
                let after = c.after.clone().unwrap();
                let u = LiveUser {
                    id: format!("n{next_id}"),
                    user_name: c.name.clone(),
                    active: after.active.unwrap(),
                    attrs: after.attrs,
                };
                ids.insert(folded(&c.name).into_owned(), u.id.clone());
                state.apply(
                    t,
                    &crate::state::StateOp::PutUser {
                        user: managed_user(&u),
                    },
                );
                live.users.push(u);
            }
            (ObjectKind::User, Action::Delete) => {
                let id = c.id.clone().unwrap();
                live.users.retain(|u| u.id != id);
                for g in &mut live.groups {
                    g.members.retain(|m| *m != id);
                }
                state.apply(
                    t,
                    &crate::state::StateOp::RemoveUser {
                        user_name: c.managed_as.clone().unwrap_or_else(|| c.name.clone()),
                    },
                );
            }
            (ObjectKind::User, _) => {
                let after = c.after.clone().unwrap();
                let id = c.id.clone().unwrap();
                let u = live.users.iter_mut().find(|u| u.id == id).unwrap();
                u.attrs = after.attrs;
                u.active = after.active.unwrap();
                u.user_name = c.name.clone();
                if let Some(old) = c.managed_as.clone() {
                    state.apply(t, &crate::state::StateOp::RemoveUser { user_name: old });
                }
                let mut m = managed_user(u);
                m.protect = after.protect.unwrap_or(false);
                state.apply(t, &crate::state::StateOp::PutUser { user: m });
            }
            (ObjectKind::Group, Action::Create) => {
                next_id += 1;
                let g = LiveGroup {
                    id: format!("g{next_id}"),
                    name: c.name.clone(),
                    members: vec![],
                };
                ids.insert(format!("group:{}", folded(&c.name)), g.id.clone());
                state.apply(
                    t,
                    &crate::state::StateOp::PutGroup {
                        group: ManagedGroup {
                            id: g.id.clone(),
                            name: g.name.clone(),
                            members: vec![],
                            protect: false,
                            wrote: None,
                        },
                    },
                );
                live.groups.push(g);
            }
            (ObjectKind::Group, Action::Delete) => {
                let id = c.id.clone().unwrap();
                live.groups.retain(|g| g.id != id);
                state.apply(
                    t,
                    &crate::state::StateOp::RemoveGroup {
                        name: c.managed_as.clone().unwrap_or_else(|| c.name.clone()),
                    },
                );
            }
            (ObjectKind::Group, _) => {
                let id = c.id.clone().unwrap();
                let g = live.groups.iter_mut().find(|g| g.id == id).unwrap();
                if let Some(from) = c.managed_as.clone() {
                    state.apply(t, &crate::state::StateOp::RemoveGroup { name: from });
                }
                g.name = c.name.clone();
                state.apply(
                    t,
                    &crate::state::StateOp::PutGroup {
                        group: ManagedGroup {
                            id: g.id.clone(),
                            name: c.name.clone(),
                            members: g.members.clone(),
                            protect: c.after.as_ref().and_then(|a| a.protect).unwrap_or(false),
                            wrote: None,
                        },
                    },
                );
            }
            (ObjectKind::Membership, action) => {
                let gid =
                    c.id.clone()
                        .or_else(|| ids.get(&format!("group:{}", folded(&c.name))).cloned())
                        .expect("group id known after its create");
                let uid = c
                    .member_id
                    .clone()
                    .or_else(|| {
                        ids.get(folded(c.member.as_ref().unwrap()).as_ref())
                            .cloned()
                    })
                    .expect("member id known after its create");
                let g = live.groups.iter_mut().find(|g| g.id == gid).unwrap();
                if action == Action::Add {
                    g.members.push(uid.clone());
                    state.apply(
                        t,
                        &crate::state::StateOp::AddMembers {
                            group: c.name.clone(),
                            ids: vec![uid],
                            at: None,
                        },
                    );
                } else {
                    g.members.retain(|m| *m != uid);
                    state.apply(
                        t,
                        &crate::state::StateOp::RemoveMembers {
                            group: c.name.clone(),
                            ids: vec![uid],
                            at: None,
                        },
                    );
                }
            }
        }
    }
}

fn plan_state(desired: &DesiredTenant, state: &State, live: &LiveTenant) -> Plan {
    let managed = state.tenants.get("t").cloned().unwrap_or_default();
    plan_one(
        desired,
        &managed,
        live,
        Dialect::Scim,
        RemoveUserAction::Delete,
    )
}

prop_compose! {
    fn arb_world()(
        user_count in 0usize..8,
        live_pick in proptest::collection::vec(any::<bool>(), 8),
        desire_pick in proptest::collection::vec(any::<bool>(), 8),
        upper in proptest::collection::vec(any::<bool>(), 8),
        group_members in proptest::collection::vec(proptest::collection::vec(0usize..8, 0..6), 0..4),
        live_members in proptest::collection::vec(proptest::collection::vec(0usize..8, 0..6), 0..4),
    ) -> (DesiredTenant, LiveTenant) {
        let names: Vec<String> = (0..user_count).map(|i| format!("u{i}@x.com")).collect();
        let mut live = LiveTenant::default();
        for (i, n) in names.iter().enumerate() {
            if live_pick[i] {
                let shown = if upper[i] { n.to_uppercase() } else { n.clone() };
                live.users.push(live_user(&format!("id{i}"), &shown));
            }
        }
        for (gi, members) in live_members.iter().enumerate() {
            let ids: Vec<String> = members
                .iter()
                .filter(|&&m| m < user_count && live_pick[m])
                .map(|m| format!("id{m}"))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            live.groups.push(LiveGroup { id: format!("lg{gi}"), name: format!("Group {gi}"), members: ids });
        }
        let desired_users: Vec<DesiredUser> = names
            .iter()
            .enumerate()
            .filter(|(i, _)| desire_pick[*i])
            .map(|(_, n)| user(n))
            .collect();
        let desired_groups: Vec<DesiredGroup> = group_members
            .iter()
            .enumerate()
            .map(|(gi, members)| {
                let mut ms: Vec<String> = members
                    .iter()
                    .filter(|&&m| m < user_count && desire_pick[m])
                    .map(|&m| names[m].clone())
                    .collect();
                ms.sort();
                ms.dedup();
                DesiredGroup { members: ms, ..group(&format!("Group {gi}"), &[]) }
            })
            .collect();
        (DesiredTenant { users: desired_users, groups: desired_groups }, live)
    }
}

proptest! {
    /// Applying a plan and planning again yields no changes; memberships come after the
    /// creates they need.
    #[test]
    fn apply_then_plan_is_empty((desired, mut live) in arb_world()) {
        let mut state = State::new();
        let plan = plan_state(&desired, &state, &live);
        let order = DependencyGraph::build(&plan).unwrap().order();
        let position: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(pos, &i)| (plan.changes[i].address.as_str(), pos))
            .collect();
        for c in &plan.changes {
            for dep in &c.depends_on {
                prop_assert!(position[dep.as_str()] < position[c.address.as_str()]);
            }
        }
        simulate(&plan, &mut live, &mut state);
        let again = plan_state(&desired, &state, &live);
        prop_assert!(again.is_empty(), "second plan: {:?}", addresses(&again));

        // Dropping everything from the configuration deprovisions exactly what zsc manages.
        let managed_users = state.tenants.get("t").map_or(0, |t| t.users.len());
        let teardown = plan_state(&DesiredTenant::default(), &state, &live);
        prop_assert_eq!(teardown.summary.users.delete, managed_users);
        simulate(&teardown, &mut live, &mut state);
        prop_assert!(plan_state(&DesiredTenant::default(), &state, &live).is_empty());
    }
}

prop_compose! {
    /// A tenant after a messy history: live names that collide (case variants, duplicates),
    /// state records whose objects were renamed outside zsc or are gone, desired objects with
    /// and without `renamed_from`.
    fn arb_messy()(
        live_users in proptest::collection::vec((0usize..6, any::<bool>()), 0..8),
        live_groups in proptest::collection::vec((0usize..4, proptest::collection::vec(0usize..8, 0..4)), 0..6),
        managed_users in proptest::collection::vec((0usize..10, 0usize..6), 0..5),
        managed_groups in proptest::collection::vec((0usize..8, 0usize..4), 0..4),
        desired_users in proptest::collection::vec((0usize..6, proptest::option::of(0usize..6)), 0..6),
        desired_groups in proptest::collection::vec((0usize..4, proptest::option::of(0usize..4), proptest::collection::vec(0usize..6, 0..4)), 0..4),
    ) -> (DesiredTenant, TenantState, LiveTenant) {
        let user_name = |i: usize, upper: bool| {
            let n = format!("u{i}@x.com");
            if upper { n.to_uppercase() } else { n }
        };
        let mut live = LiveTenant::default();
        for (i, (n, upper)) in live_users.iter().enumerate() {
            live.users.push(live_user(&format!("id{i}"), &user_name(*n, *upper)));
        }
        for (i, (n, members)) in live_groups.iter().enumerate() {
            live.groups.push(LiveGroup {
                id: format!("gid{i}"),
                name: if i % 2 == 0 { format!("G{n}") } else { format!("g{n}") },
                members: members.iter().map(|m| format!("id{m}")).collect(),
            });
        }
        let mut managed = TenantState::default();
        for (id, n) in managed_users {
            let name = user_name(n, false);
            managed.users.insert(folded(&name).into_owned(), ManagedUser {
                id: format!("id{id}"),
                user_name: name,
                active: true,
                attrs: UserAttrs::default(),
                protect: false,
                wrote: None,
            });
        }
        for (id, n) in managed_groups {
            let name = format!("G{n}");
            managed.groups.insert(folded(&name).into_owned(), ManagedGroup {
                id: format!("gid{id}"),
                name,
                members: Vec::new(),
                protect: false,
                wrote: None,
            });
        }
        let mut desired = DesiredTenant::default();
        let mut seen = std::collections::HashSet::new();
        for (n, from) in desired_users {
            if !seen.insert(n) { continue; }
            let mut u = user(&user_name(n, false));
            u.renamed_from = from.filter(|f| *f != n).map(|f| user_name(f, false));
            desired.users.push(u);
        }
        let declared: Vec<String> = desired.users.iter().map(|u| u.user_name.clone()).collect();
        let mut seen = std::collections::HashSet::new();
        for (n, from, members) in desired_groups {
            if !seen.insert(n) { continue; }
            let mut g = group(&format!("G{n}"), &[]);
            g.renamed_from = from.filter(|f| *f != n).map(|f| format!("G{f}"));
            g.members = members.iter().filter_map(|m| declared.get(*m).cloned()).collect();
            g.members.dedup();
            desired.groups.push(g);
        }
        (desired, managed, live)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// The identity rule (README, "How it works"): no plan changes or deletes an object whose id state does
    /// not hold, unless the plan calls it an adoption; no change names an id that is not live;
    /// and no two changes adopt or act on the same live object.
    #[test]
    fn no_plan_touches_an_object_state_does_not_hold_unless_it_adopts_it(
        (desired, managed, live) in arb_messy(),
    ) {
        let plan = plan_one(&desired, &managed, &live, Dialect::Scim, RemoveUserAction::Delete);
        let held: std::collections::HashSet<&str> = managed
            .users
            .values()
            .map(|u| u.id.as_str())
            .chain(managed.groups.values().map(|g| g.id.as_str()))
            .collect();
        let live_ids: std::collections::HashSet<&str> = live
            .users
            .iter()
            .map(|u| u.id.as_str())
            .chain(live.groups.iter().map(|g| g.id.as_str()))
            .collect();
        let adopted: std::collections::HashSet<&str> = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Adopt)
            .filter_map(|c| c.id.as_deref())
            .collect();
        let mut acted_on = std::collections::HashSet::new();
        for c in &plan.changes {
            let Some(id) = c.id.as_deref() else { continue };
            prop_assert!(live_ids.contains(id), "{} names `{id}`, which is not live", c.address);
            match c.object {
                ObjectKind::User | ObjectKind::Group => {
                    prop_assert!(
                        held.contains(id) || c.action == Action::Adopt,
                        "{} {:?} acts on `{id}`, which state does not hold", c.address, c.action
                    );
                    prop_assert!(acted_on.insert(id), "two changes act on `{id}`");
                }
                ObjectKind::Membership => {
                    prop_assert!(
                        held.contains(id) || adopted.contains(id),
                        "{} changes the members of `{id}`, which state does not hold", c.address
                    );
                }
            }
        }
        // Conflicts leave their objects alone: nothing else names them.
        for conflict in &plan.conflicts {
            prop_assert!(
                plan.changes.iter().all(|c| c.address != conflict.address),
                "{} is both refused and changed", conflict.address
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// After a messy history too, applying a plan (one without conflicts, which apply refuses)
    /// and planning again yields no changes.
    #[test]
    fn a_messy_tenant_converges_in_one_apply((desired, managed, mut live) in arb_messy()) {
        let mut state = State::new();
        if !managed.users.is_empty() || !managed.groups.is_empty() {
            state.tenants.insert("t".into(), managed);
        }
        let plan = plan_one(
            &desired,
            state.tenants.get("t").unwrap_or(&TenantState::default()),
            &live,
            Dialect::Scim,
            RemoveUserAction::Delete,
        );
        prop_assume!(plan.conflicts.is_empty());
        simulate(&plan, &mut live, &mut state);
        let tenant = state.tenants.get("t").cloned().unwrap_or_default();
        let refreshed = refresh::refresh_tenant(&tenant, &live);
        let again = plan_one(&desired, &refreshed, &live, Dialect::Scim, RemoveUserAction::Delete);
        prop_assert!(again.is_empty(), "second plan: {:?}", addresses(&again));
    }
}
