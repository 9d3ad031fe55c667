//! `membership_source:` on ZPA, whose group listings leave members out: memberships read from
//! users' `groups` (one listing) or from each group (one more request per group), with the
//! same plan either way.

use zsc::dialect::Dialect;

use crate::harness::{Env, TOKEN_ENV};

fn with_source(env: &Env, source: &str) {
    let yaml = std::fs::read_to_string(env.path("zsc.yaml")).unwrap();
    let mut kept: Vec<&str> = yaml
        .lines()
        .filter(|l| !l.contains("membership_source"))
        .collect();
    let token = kept
        .iter()
        .position(|l| l.contains(&format!("env: {TOKEN_ENV}")))
        .unwrap();
    let line = format!("    membership_source: {source}");
    kept.insert(token + 1, &line);
    env.write("zsc.yaml", &(kept.join("\n") + "\n"));
}

fn reads(env: &Env) -> Vec<String> {
    env.emulator()
        .request_log()
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.path)
        .collect()
}

#[test]
fn zpa_memberships_from_users_cost_one_listing_and_plan_the_same() {
    let env = Env::with_emulator(Dialect::Zpa);
    env.config(&Env::people(30, 6));
    env.zsc(&["apply", "--auto-approve"]).success();
    // Outside zsc: one member leaves a group, so the plans have something to agree on.
    let team = env.group_id("Team 1");
    let member = env.user_id("user1@example.com");
    let (status, _) = env.scim(
        "PATCH",
        &format!("/Groups/{team}"),
        Some(serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": format!("members[value eq \"{member}\"]")}]
        })),
    );
    assert!((200..300).contains(&status));

    let mut plans = Vec::new();
    for (source, group_reads) in [("groups", 6), ("users", 0), ("auto", 0)] {
        with_source(&env, source);
        env.emulator().clear_request_log();
        let plan = env.zsc(&["plan"]).success().stdout;
        assert!(
            plan.contains("+ member \"user1@example.com\""),
            "{source}: {plan}"
        );
        let log = reads(&env);
        let by_id = log.iter().filter(|p| p.starts_with("/Groups/")).count();
        assert_eq!(by_id, group_reads, "{source}: {log:?}");
        let users: Vec<&String> = log.iter().filter(|p| p.starts_with("/Users?")).collect();
        assert_eq!(users.len(), 1, "{source}: {log:?}");
        assert_eq!(
            users[0].contains("excludeAttributes=groups"),
            source == "groups",
            "users' groups are asked for exactly when they are the source: {log:?}"
        );
        plans.push(plan);
    }
    assert_eq!(plans[0], plans[1]);
    assert_eq!(plans[1], plans[2]);
    env.zsc(&["apply", "--auto-approve"]).success();
    env.zsc(&["plan"]).success().stdout_has("No changes.");

    with_source(&env, "everyone");
    env.zsc(&["validate"])
        .code(1)
        .stderr_has("`membership_source` must be `groups`, `users` or `auto`, found `everyone`");
}
