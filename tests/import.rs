//! `zsc import` through the real binary: a populated tenant becomes YAML and state such that
//! the next plan is empty, alone and as a ZIA + ZPA pair.

use serde_json::json;
use zsc::dialect::Dialect;
use zsc::emulator::EmulatorOptions;

use crate::harness::{Env, TOKEN, TOKEN_ENV};

fn tenant(name: &str, kind: Dialect, url: &str) -> String {
    format!("  {name}:\n    kind: {kind}\n    url: {url}\n    token: {{ env: {TOKEN_ENV} }}\n")
}

/// Create a user through SCIM on the emulator at `base`; returns its id.
fn user(
    env: &Env,
    base: &str,
    name: &str,
    display: &str,
    active: bool,
    given: Option<&str>,
) -> String {
    let mut body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "displayName": display,
        "active": active,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Dept"}
    });
    if let Some(given) = given {
        body["name"] = json!({ "givenName": given, "familyName": "Family" });
    }
    let (status, body) = env.scim_at(base, "POST", "/Users", Some(body));
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn group(env: &Env, base: &str, name: &str, members: &[&String]) {
    let members: Vec<_> = members.iter().map(|id| json!({ "value": id })).collect();
    let (status, body) = env.scim_at(
        base,
        "POST",
        "/Groups",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "members": members
        })),
    );
    assert_eq!(status, 201, "{body}");
}

#[test]
fn import_of_a_populated_tenant_round_trips_and_leaves_no_changes() {
    let env = Env::with_emulator(Dialect::Zia);
    let base = env.base_url();
    let mut ids = Vec::new();
    for i in 0..20 {
        // Case-mixed names, some with characters YAML cares about, a few inactive.
        let name = match i {
            0 => "Zed.Last@Example.com".to_owned(),
            1 => "yes@example.com".to_owned(),
            _ if i % 3 == 0 => format!("User{i}@EXAMPLE.com"),
            _ => format!("user{i}@example.com"),
        };
        let display = match i {
            2 => "O'Brien: \"Quoted\" #1".to_owned(),
            3 => "null".to_owned(),
            4 => "Zoë 日本".to_owned(),
            _ => format!("User {i}"),
        };
        ids.push(user(
            &env,
            &base,
            &name,
            &display,
            i % 7 != 5,
            Some("Given"),
        ));
    }
    group(
        &env,
        &base,
        "engineering",
        &ids.iter().step_by(2).collect::<Vec<_>>(),
    );
    group(
        &env,
        &base,
        "Accounting",
        &ids[..5].iter().collect::<Vec<_>>(),
    );
    group(&env, &base, "yes: no", &[&ids[1]]);
    group(&env, &base, "Empty", &[]);

    let main = format!("tenants:\n{}", tenant("zia", Dialect::Zia, &base));
    env.write("zsc.yaml", &main);
    // Not included yet: written, explained, nothing recorded.
    env.zsc(&["import"])
        .success()
        .stdout_has("Imported 20 users and 4 groups from tenant `zia` into imported/zia.yaml.")
        .stderr_has("does not include `")
        .stderr_has("include: [imported/*.yaml]")
        .stderr_has("Nothing was recorded in state");
    assert!(!env.path(".zsc/state.json").exists());
    let first = std::fs::read_to_string(env.path("imported/zia.yaml")).unwrap();

    env.write("zsc.yaml", &format!("{main}include: [imported/*.yaml]\n"));
    env.zsc(&["validate"])
        .success()
        .stdout_has("20 users, 4 groups across 1 tenant");
    env.zsc(&["import"])
        .code(1)
        .stderr_has("pass --force to overwrite it");
    env.zsc(&["import", "--force"])
        .success()
        .stdout_has("Recorded them in state");
    let second = std::fs::read_to_string(env.path("imported/zia.yaml")).unwrap();
    assert_eq!(first, second, "import is deterministic");
    env.zsc(&["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes.")
        .stdout_lacks("adopt");

    // Users sorted case-insensitively, ZIA's unkept names left out, quoting where YAML needs it.
    let users: Vec<&str> = second
        .lines()
        .filter_map(|l| l.strip_prefix("  - user_name: "))
        .collect();
    let mut sorted = users.clone();
    sorted.sort_by_key(|u| u.trim_matches('"').to_lowercase());
    assert_eq!(users, sorted);
    assert!(
        second.contains("  - user_name: \"yes@example.com\"")
            || second.contains("  - user_name: yes@example.com")
    );
    assert!(second.contains("display_name: \"null\""), "{second}");
    assert!(second.contains("  - name: \"yes: no\""), "{second}");
    assert!(!second.contains("given_name"), "{second}");
    assert!(second.contains("active: false"), "{second}");
    assert!(
        !second.contains("tenants:"),
        "one tenant needs no scopes:\n{second}"
    );

    // The imported objects are managed now: removing one from the file is a deprovision.
    let without = second.replace("  - name: Empty\n    members: []\n", "");
    env.write("imported/zia.yaml", &without);
    env.zsc(&["plan"])
        .success()
        .stdout_has("# zia.group[\"Empty\"] will be deleted");
}

#[test]
fn import_of_a_zia_and_zpa_pair_merges_shared_users_with_tenant_lists() {
    let env = Env::with_emulator(Dialect::Zia);
    let zia = env.base_url();
    let zpa_handle = env.spawn_emulator(EmulatorOptions::new(Dialect::Zpa, TOKEN));
    let zpa = zpa_handle.base_url();
    let a_zia = user(&env, &zia, "Shared@Example.com", "Shared", true, None);
    let b_zia = user(&env, &zia, "web@example.com", "Web", true, None);
    let a_zpa = user(
        &env,
        &zpa,
        "shared@example.com",
        "Shared",
        true,
        Some("Sha"),
    );
    let c_zpa = user(&env, &zpa, "app@example.com", "App", true, Some("Ap"));
    group(&env, &zia, "Everyone", &[&a_zia, &b_zia]);
    group(&env, &zpa, "Everyone", &[&a_zpa]);
    group(&env, &zpa, "OPS", &[]);
    group(&env, &zia, "Ops", &[]);
    group(&env, &zpa, "App Team", &[&a_zpa, &c_zpa]);

    let main = format!(
        "tenants:\n{}{}",
        tenant("zia", Dialect::Zia, &zia),
        tenant("zpa", Dialect::Zpa, &zpa)
    );
    env.write("zsc.yaml", &main);
    env.zsc(&["import"])
        .success()
        .stdout_has("Imported 3 users and 3 groups from tenants `zia`, `zpa` into imported/all-tenants.yaml.")
        .stderr_has("note: group `Ops` on `zia` is spelled `OPS` on `zpa`; imported for `zia` only");
    env.write("zsc.yaml", &format!("{main}include: [imported/*.yaml]\n"));
    env.zsc(&["import", "--force"])
        .success()
        .stdout_has("Recorded them in state");
    let yaml = std::fs::read_to_string(env.path("imported/all-tenants.yaml")).unwrap();
    assert_eq!(
        yaml.lines().skip(2).collect::<Vec<_>>().join("\n"),
        "users:
  - user_name: app@example.com
    display_name: App
    given_name: Ap
    family_name: Family
    department: Dept
    tenants: [zpa]
  - user_name: Shared@Example.com
    display_name: Shared
    given_name: Sha
    family_name: Family
    department: Dept
  - user_name: web@example.com
    display_name: Web
    department: Dept
    tenants: [zia]
groups:
  - name: App Team
    members:
      - app@example.com
      - Shared@Example.com
    tenants: [zpa]
  - name: Everyone
    members:
      - Shared@Example.com
      - web@example.com
  - name: Ops
    members: []
    tenants: [zia]"
    );
    env.zsc(&["plan", "--detailed-exitcode"])
        .success()
        .stdout_has("No changes.");
    // Both tenants are managed from the one file now.
    let text = std::fs::read_to_string(env.path(".zsc/state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        state["tenants"]["zia"]["users"].as_object().unwrap().len(),
        2
    );
    assert_eq!(
        state["tenants"]["zpa"]["groups"].as_object().unwrap().len(),
        2
    );
    assert_eq!(
        state["tenants"]["zia"]["groups"].as_object().unwrap().len(),
        2
    );
    drop(zpa_handle);
}

#[test]
fn import_of_an_unknown_tenant_is_an_error_and_writes_nothing() {
    let env = Env::with_emulator(Dialect::Zpa);
    env.write(
        "zsc.yaml",
        &format!("tenants:\n{}", tenant("zpa", Dialect::Zpa, &env.base_url())),
    );
    env.zsc(&["import", "--tenant", "nope"])
        .code(1)
        .stderr_has("unknown tenant `nope` (declared: `zpa`)");
    assert!(!env.path("imported").exists());
}
