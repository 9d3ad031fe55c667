//! Histories the model-based test once failed, shrunk, each named for what it guards.

#[allow(unused_imports)]
use super::{replay_ok, History, Obj, Step, Switch};
use crate::harness::Env;
use zsc::dialect::Dialect;
use zsc::emulator::Faults;

/// A managed user renamed outside zsc to a name the YAML then declares too: zsc renames it back
/// and creates the new user, and the create ran concurrently with the rename, meeting the
/// renamed user (409) and failing, or adopting it a second time. Fixed in the planner: the
/// create waits for the rename (`plan::diff`, `link_creates_after_released_user_names`).
/// Timing-dependent before the fix, so replayed a few times.
#[test]
fn a_create_waits_for_the_rename_back_that_frees_its_name() {
    for _ in 0..5 {
        replay_ok(History {
            switch: Switch::None,
            two_tenants: false,
            memberships_on_users: false,
            steps: vec![
                Step::AddUser { user: 0 },
                Step::Apply,
                Step::ServerRenameUser {
                    tenant: 0,
                    victim: 0,
                    to: 1,
                },
                Step::AddUser { user: 1 },
                Step::Apply,
            ],
        });
    }
}

/// A saved plan applied to a server without PATCH: the apply read nothing first, so it never
/// learnt that the server has no PATCH and sent one (501). Fixed in `scim::discovery`
/// (`can_patch` asks the server first); also `servers.rs`,
/// `a_saved_plan_applied_to_a_server_without_patch_writes_with_put`.
#[test]
fn a_saved_plan_on_a_server_without_patch_updates_with_put() {
    replay_ok(History {
        switch: Switch::NoPatch,
        two_tenants: false,
        memberships_on_users: false,
        steps: vec![
            Step::AddGroup { group: 0 },
            Step::AddUser { user: 0 },
            Step::Apply,
            Step::ServerDeactivate {
                tenant: 0,
                victim: 0,
            },
            Step::PlanSaved,
            Step::ApplySaved,
        ],
    });
}

/// Not a bug in zsc: the model took any edit of the YAML's text for a change of configuration,
/// but `active: true` is the default, and a saved plan stays valid (its fingerprint is of what
/// the configuration means). Kept as a check that such a plan is applied, not refused.
#[test]
fn a_saved_plan_survives_an_edit_that_changes_nothing() {
    replay_ok(History {
        switch: Switch::None,
        two_tenants: false,
        memberships_on_users: false,
        steps: vec![
            Step::AddUser { user: 0 },
            Step::PlanSaved,
            Step::SetActive {
                user: 0,
                active: Some(true),
            },
            Step::ApplySaved,
        ],
    });
}

/// A saved plan creates `Ops`; before it is applied an admin creates `OPS` on a server that
/// accepts a second group of a name (RFC 7643 gives displayName no uniqueness). `zsc apply
/// FILE` POSTed `Ops` and the tenant had two (where names are unique, the POST met 409 and zsc
/// adopted). Fixed: an apply whose plan did not read live just before (a saved plan,
/// `--refresh=false`) looks each group's name up before creating it, and adopts what it finds.
#[test]
fn a_saved_group_create_adopts_a_same_named_group_that_appeared_meanwhile() {
    // The shrunk history: AddGroup Ops, PlanSaved, ServerCreateGroup OPS, ApplySaved (under
    // Switch::DuplicateGroupNames), written out.
    let mut env = Env::new();
    env.start_emulator(
        Dialect::Scim,
        Faults {
            duplicate_group_names: true,
            ..Faults::default()
        },
    );
    env.config("groups:\n  - name: Ops\n");
    env.zsc(&["plan", "-o", "plan.json"]).success();
    env.seed_group("OPS", &[]);
    env.zsc(&["apply", "plan.json"]).success();
    assert_eq!(env.group_names(), ["OPS"], "zsc created a second group");
}
