//! Guardrails: never destroy on a bad read or a slip in review.

use zsc::dialect::Dialect;
use zsc::emulator::Faults;

use crate::harness::Env;

fn seeded(n: usize) -> Env {
    let env = Env::with_emulator(Dialect::Scim);
    for i in 0..n {
        env.seed_user(&format!("user{i}@example.com"), &format!("User {i}"));
    }
    env
}

/// A listing that silently skips every third user (totalResults right), on a server that does
/// not enforce unique userNames: the plan adopts the skipped users found by lookup, and apply
/// creates nobody twice.
#[test]
fn short_listings_are_completed_by_lookup_and_nothing_is_created_twice() {
    let env = seeded(9);
    env.set_faults(Faults {
        omit_from_lists: Some(3),
        duplicate_user_names: true,
        ..Faults::default()
    });
    env.config(&Env::people(10, 0));
    let run = env
        .zsc(&["plan"])
        .success()
        .stdout_has("1 user to create, 9 to adopt");
    assert!(run.stderr.contains("found by lookup"), "{}", run.stderr);
    env.zsc(&["apply", "--auto-approve"]).success();
    env.set_faults(Faults::default());
    assert_eq!(env.data().users.len(), 10, "no user was created twice");
    env.zsc(&["plan"]).success().stdout_has("No changes.");
}

#[test]
fn a_short_listing_that_lookups_cannot_explain_fails_the_refresh_naming_the_missing() {
    let env = seeded(9);
    env.set_faults(Faults {
        omit_from_lists: Some(3),
        failing_lookups: true,
        ..Faults::default()
    });
    env.config(&Env::people(9, 0));
    let run = env
        .zsc(&["plan"])
        .code(1)
        .stderr_has("refreshing tenant `t`: Users: the server reported 9 but zsc could read only 6 distinct ones")
        .stderr_has("so 3 the server counts are unaccounted for")
        .stderr_has("`user2@example.com`")
        .stderr_has("zsc refuses to plan from this read")
        .stderr_has("`--accept-listing-gap`");
    assert!(run.stdout.is_empty(), "no plan is shown: {}", run.stdout);
    env.zsc(&["apply", "--auto-approve"]).code(1);
    env.set_faults(Faults::default());
    assert_eq!(env.data().users.len(), 9, "nothing was created");
}

#[test]
fn deleting_an_included_file_with_most_users_trips_the_share_guard() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config("include: [people/*.yaml]\n");
    env.write("people/most.yaml", &Env::people(10, 0));
    env.write(
        "people/few.yaml",
        "users:\n  - user_name: a@example.com\n  - user_name: b@example.com\n",
    );
    env.zsc(&["apply", "--auto-approve"]).success();
    std::fs::remove_file(env.path("people/most.yaml")).unwrap();
    env.zsc(&["plan", "--max-destroy", "100"])
        .code(1)
        .stderr_has("would disable or delete 10 of the 12 objects zsc manages in `t` (83%)")
        .stderr_has("--max-destroy-percent 84");
    env.zsc(&["apply", "--auto-approve", "--max-destroy", "100"])
        .code(1);
    let active = env
        .data()
        .users
        .iter()
        .filter(|u| u.active != Some(false))
        .count();
    assert_eq!(active, 12, "nobody was disabled");
}

#[test]
fn a_protected_user_cannot_be_removed_until_protection_is_released_and_applied() {
    let env = Env::with_emulator(Dialect::Scim);
    let team = "users:
  - user_name: ceo@example.com
    protect: PROTECT
  - user_name: a@example.com
  - user_name: b@example.com
  - user_name: c@example.com
  - user_name: d@example.com
  - user_name: e@example.com
";
    env.config(&team.replace("PROTECT", "true"));
    env.zsc(&["apply", "--auto-approve"]).success();
    let without = team.replace("  - user_name: ceo@example.com\n    protect: PROTECT\n", "");
    env.config(&without);
    env.zsc(&["plan"])
        .code(1)
        .stderr_has("`t.user[\"ceo@example.com\"]`, which is protected")
        .stderr_has("`protect: false`");
    // Releasing takes an apply of its own; removing the user in the same change is not enough.
    env.config(&team.replace("PROTECT", "false"));
    env.zsc(&["plan"])
        .success()
        .stdout_has("~ protect = true -> false");
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config(&without);
    env.zsc(&["apply", "--auto-approve"]).success();
    let ceo = env.live_user("ceo@example.com").unwrap();
    assert_eq!(ceo.active, Some(false));
}

#[test]
fn on_zpa_a_disable_is_planned_and_counted_as_a_delete() {
    let env = Env::with_emulator(Dialect::Zpa);
    env.config(&Env::people(5, 0));
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config(&format!(
        "defaults:\n  max_destroy: 0\n{}",
        Env::people(4, 0)
    ));
    env.zsc(&["plan"])
        .code(1)
        .stdout_has("# t.user[\"user4@example.com\"] will be deleted")
        .stdout_has("on ZPA `active: false` deletes the user")
        .stderr_has("would disable or delete 1 objects, more than `max_destroy` (0)");
    assert_eq!(env.data().users.len(), 5);
}

#[test]
fn unmanaged_users_survive_a_full_apply_untouched() {
    let env = Env::with_emulator(Dialect::Scim);
    let stranger = env.seed_user("stranger@example.com", "Not Ours");
    let group = env.seed_group("Theirs", &[&stranger]);
    let before = env.data();
    env.config(&Env::people(20, 2));
    env.zsc(&["apply", "--auto-approve"])
        .success()
        .stdout_has("42 done");
    env.config("users: []\n");
    env.zsc(&[
        "apply",
        "--auto-approve",
        "--max-destroy",
        "100",
        "--max-destroy-percent",
        "100",
    ])
    .success();
    let after = env.data();
    let find = |data: &zsc::emulator::EmulatorData| {
        data.users
            .iter()
            .find(|u| u.id.as_deref() == Some(stranger.as_str()))
            .cloned()
            .unwrap()
    };
    assert_eq!(find(&before).attrs(), find(&after).attrs());
    assert_eq!(find(&after).active, Some(true));
    let theirs = after
        .groups
        .iter()
        .find(|g| g.id.as_deref() == Some(group.as_str()))
        .expect("unmanaged group kept");
    assert_eq!(theirs.members.as_ref().map(Vec::len), Some(1));
}

#[test]
fn a_group_losing_most_of_its_members_is_called_out_first() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(8, 1));
    env.zsc(&["apply", "--auto-approve"]).success();
    let shrunk = Env::people(8, 1).replace(
        "members: [user0@example.com, user1@example.com, user2@example.com, user3@example.com, user4@example.com, user5@example.com, user6@example.com, user7@example.com]",
        "members: [user0@example.com, user1@example.com]",
    );
    env.config(&shrunk);
    let run = env
        .zsc(&["plan"])
        .success()
        .stdout_has("Warning: group `Team 0` in `t` loses 6 of its 8 members (75%)");
    let warning_at = run.stdout.find("Warning:").unwrap();
    let first_change = run.stdout.find("# t.").unwrap();
    assert!(
        warning_at < first_change,
        "the warning comes before the changes"
    );
}

#[test]
fn the_member_loss_warning_leads_the_pull_request_comment_too() {
    let env = Env::with_emulator(Dialect::Scim);
    env.config(&Env::people(4, 1));
    env.zsc(&["apply", "--auto-approve"]).success();
    env.config(&Env::people(4, 1).replace(
        "members: [user0@example.com, user1@example.com, user2@example.com, user3@example.com]",
        "members: [user0@example.com]",
    ));
    env.zsc(&["plan", "--format", "markdown"])
        .success()
        .stdout_has("> [!WARNING]\n> **group `Team 0` in `t` loses 3 of its 4 members (75%).**");
}
