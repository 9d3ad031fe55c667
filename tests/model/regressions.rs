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

/// OPEN, not fixed: a saved plan creates `Ops`; before it is applied an admin creates `OPS` on
/// a server that accepts a second group of a name (RFC 7643 gives displayName no uniqueness);
/// `zsc apply FILE` then POSTs `Ops`, the server accepts it, and the tenant has two. On a
/// server that enforces uniqueness the POST meets 409 and zsc adopts the group instead. A fix:
/// when applying a saved plan, look a group's name up before creating it (one GET per created
/// group, only for `apply FILE`), which needs a flag from the command layer (`src/cli`) into
/// the apply. The model does not hold groups to invariant 3 in this case meanwhile.
#[test]
#[ignore = "open: a saved plan's group create duplicates a group created meanwhile"]
fn open_a_saved_group_create_after_a_same_named_group_appeared() {
    // The shrunk history: AddGroup Ops, PlanSaved, ServerCreateGroup OPS, ApplySaved (under
    // Switch::DuplicateGroupNames). Written out, since the model lets this case pass for now.
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
