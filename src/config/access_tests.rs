//! Rules, nested groups and `until:` as validation expands them: examples, then property tests
//! against a reference model written the obvious way (recursion over includes, every rule
//! against every user), and declaration order shuffled.

use std::collections::BTreeMap;
use std::fs;

use proptest::prelude::*;

use super::tests::scratch;
use super::*;
use crate::model::{Until, Why};

fn load_files(name: &str, files: &[(&str, String)]) -> Result<Config, ConfigError> {
    let dir = scratch(name);
    for (file, text) in files {
        fs::write(dir.join(file), text).expect("write");
    }
    load_with(
        &dir.join("zsc.yaml"),
        &LoadOptions {
            check_tokens: false,
            ..LoadOptions::default()
        },
    )
}

fn load_one(name: &str, text: &str) -> Config {
    load_files(name, &[("zsc.yaml", text.to_owned())]).unwrap_or_else(|e| panic!("{e}"))
}

/// Per group: member → until (as text; "" for none).
fn memberships(config: &Config, tenant: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    config.desired[tenant]
        .groups
        .iter()
        .map(|g| {
            let members = g
                .members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    (
                        m.clone(),
                        g.until(i).map(|u| u.to_string()).unwrap_or_default(),
                    )
                })
                .collect();
            (g.name.clone(), members)
        })
        .collect()
}

const TENANTS: &str =
    "tenants:\n  a:\n    kind: emulator\n  b:\n    kind: emulator\n    dialect: zpa\n";

#[test]
fn rules_exclusions_and_nesting_combine_with_listed_members() {
    let config = load_one(
        "access-combine",
        &format!(
            "{TENANTS}users:
  - {{ user_name: fin@example.com, department: Finance }}
  - {{ user_name: acc@example.com, department: Accounting }}
  - {{ user_name: ceo@example.com, department: Finance }}
  - {{ user_name: back@example.com, department: Backend }}
  - {{ user_name: front@example.com, department: Frontend, groups: [{{ group: Everyone, until: 2030-01-31 }}] }}
  - {{ user_name: x@contractors.example.com, department: Backend, active: false }}
groups:
  - name: Finance-All
    members_from:
      - {{ department: [Finance, Accounting] }}
    exclude: [ceo@example.com]
    members: [ceo@example.com]
  - name: Backend
    members_from: [{{ department: Backend, active: true }}]
  - name: Frontend
    members_from: [{{ department: Frontend }}]
  - name: Engineering
    include_groups: [Backend, Frontend]
  - name: Everyone
    include_groups: [Engineering, Finance-All]
    exclude: [back@example.com]
  - name: Contractors
    members_from: [{{ user_name: '*@CONTRACTORS.example.com' }}]
  - name: Zia-Only
    members_from: [{{ department: Finance, tenants: [a] }}]
"
        ),
    );
    let a = memberships(&config, "a");
    let names = |g: &str| a[g].keys().cloned().collect::<Vec<_>>();
    // Explicit members stay although excluded: exclusion is for rules and includes.
    assert_eq!(
        names("Finance-All"),
        ["acc@example.com", "ceo@example.com", "fin@example.com"]
    );
    assert_eq!(names("Backend"), ["back@example.com"]);
    assert_eq!(
        names("Engineering"),
        ["back@example.com", "front@example.com"]
    );
    assert_eq!(
        names("Everyone"),
        [
            "acc@example.com",
            "ceo@example.com",
            "fin@example.com",
            "front@example.com"
        ]
    );
    // Listed with an end, and inherited without one: it lasts.
    assert_eq!(a["Everyone"]["front@example.com"], "");
    assert_eq!(names("Contractors"), ["x@contractors.example.com"]);
    assert_eq!(names("Zia-Only"), ["ceo@example.com", "fin@example.com"]);
    let b = memberships(&config, "b");
    assert!(
        b["Zia-Only"].is_empty(),
        "a rule limited to `a` adds no one in `b`"
    );

    let everyone = config.desired["a"]
        .groups
        .iter()
        .find(|g| g.name == "Everyone")
        .unwrap();
    let front = everyone
        .members
        .iter()
        .position(|m| m == "front@example.com")
        .unwrap();
    let why = everyone.why(front);
    assert!(why.has(Why::USER_LISTED) && why.has(Why::INCLUDED));
    assert_eq!(everyone.include_groups[usize::from(why.via)], "Engineering");
    assert!(config.notes.is_empty(), "{:?}", config.notes);
}

#[test]
fn an_end_carries_through_nesting_and_the_latest_end_wins() {
    let config = load_one(
        "access-until",
        &format!(
            "{TENANTS}users:
  - user_name: ann@example.com
    until: 2030-06-30
    groups: [{{ group: Inner, until: 2030-01-31 }}]
  - user_name: bob@example.com
groups:
  - name: Inner
    members:
      - {{ user: ann@example.com, until: 2030-03-31T12:00:00Z }}
      - {{ user: bob@example.com, until: 2030-02-28 }}
  - name: Outer
    include_groups: [Inner]
"
        ),
    );
    let a = memberships(&config, "a");
    assert_eq!(a["Inner"]["ann@example.com"], "2030-03-31T12:00:00Z");
    assert_eq!(a["Outer"]["ann@example.com"], "2030-03-31T12:00:00Z");
    assert_eq!(a["Outer"]["bob@example.com"], "2030-02-28");
    let ann = &config.desired["a"].users[0];
    assert_eq!(
        ann.until.map(|u| u.to_string()).as_deref(),
        Some("2030-06-30")
    );
}

#[test]
fn a_rule_that_matches_no_one_is_a_warning_with_a_suggestion() {
    let config = load_one(
        "access-nomatch",
        &format!(
            "{TENANTS}users:
  - {{ user_name: fin@example.com, department: Finance }}
groups:
  - name: G
    members_from: [{{ department: Fnance }}]
    exclude: [nobody@example.com]
"
        ),
    );
    let notes: Vec<&str> = config.notes.iter().map(|n| n.message.as_str()).collect();
    assert_eq!(
        notes,
        [
            "rule 1 of group `G` ({ department: Fnance }) matches no declared user (no user has \
             department `Fnance`; did you mean `Finance`?)",
            "`exclude` of group `G` names `nobody@example.com`, which is not a declared user"
        ]
    );
}

// ---- property tests

/// A small world: users with a department and a domain, groups with listed members (some with
/// an end), rules, exclusions and includes of earlier groups (so never a cycle).
#[derive(Clone, Debug)]
struct World {
    users: Vec<UserModel>,
    groups: Vec<GroupModel>,
}

/// Department, domain, active, and the groups the user lists (with an end day or not).
type UserModel = (usize, usize, bool, Vec<(usize, Option<u8>)>);

#[derive(Clone, Debug)]
struct GroupModel {
    listed: Vec<(usize, Option<u8>)>,
    /// Each rule: departments (any of), and whether it also requires the contractor domain.
    rules: Vec<(Vec<usize>, bool)>,
    exclude: Vec<usize>,
    include: Vec<usize>,
}

const DEPARTMENTS: [&str; 3] = ["Finance", "Sales", "Backend"];
const DOMAINS: [&str; 2] = ["example.com", "contractors.example.com"];

fn user_name(i: usize, world: &World) -> String {
    format!("u{i}@{}", DOMAINS[world.users[i].1])
}

fn until_text(day: u8) -> String {
    format!("2030-01-{:02}", day % 28 + 1)
}

fn world() -> impl Strategy<Value = World> {
    (1usize..10, 1usize..6).prop_flat_map(|(n_users, n_groups)| {
        let user = (
            0..DEPARTMENTS.len(),
            0..DOMAINS.len(),
            any::<bool>(),
            prop::collection::vec((0..n_groups, prop::option::of(any::<u8>())), 0..3),
        );
        let group = |gi: usize| {
            (
                prop::collection::vec((0..n_users, prop::option::of(any::<u8>())), 0..4),
                prop::collection::vec(
                    (
                        prop::collection::vec(0..DEPARTMENTS.len(), 1..3),
                        any::<bool>(),
                    ),
                    0..3,
                ),
                prop::collection::vec(0..n_users, 0..2),
                prop::collection::vec(0..gi.max(1), 0..if gi == 0 { 1 } else { 3 }),
            )
                .prop_map(move |(listed, rules, exclude, include)| GroupModel {
                    listed,
                    rules,
                    exclude,
                    include: if gi == 0 { Vec::new() } else { include },
                })
        };
        let groups: Vec<_> = (0..n_groups).map(group).collect();
        (prop::collection::vec(user, n_users), groups)
            .prop_map(|(users, groups)| World { users, groups })
    })
}

/// The configuration text: users and groups in the order given.
fn yaml(world: &World, user_order: &[usize], group_order: &[usize]) -> (String, String) {
    let mut users = String::from("users:\n");
    for &i in user_order {
        let (dept, _, active, groups) = &world.users[i];
        let entries: Vec<String> = groups
            .iter()
            .map(|(g, until)| match until {
                Some(d) => format!("{{ group: G{g}, until: {} }}", until_text(*d)),
                None => format!("G{g}"),
            })
            .collect();
        users.push_str(&format!(
            "  - user_name: {}\n    department: {}\n    active: {active}\n    groups: [{}]\n",
            user_name(i, world),
            DEPARTMENTS[*dept],
            entries.join(", ")
        ));
    }
    let mut groups = String::from("groups:\n");
    for &gi in group_order {
        let g = &world.groups[gi];
        groups.push_str(&format!("  - name: G{gi}\n"));
        let listed: Vec<String> = g
            .listed
            .iter()
            .map(|(u, until)| match until {
                Some(d) => format!(
                    "{{ user: {}, until: {} }}",
                    user_name(*u, world),
                    until_text(*d)
                ),
                None => user_name(*u, world),
            })
            .collect();
        groups.push_str(&format!("    members: [{}]\n", listed.join(", ")));
        if !g.rules.is_empty() {
            groups.push_str("    members_from:\n");
            for (depts, contractors) in &g.rules {
                let names: Vec<&str> = depts.iter().map(|d| DEPARTMENTS[*d]).collect();
                let domain = if *contractors {
                    ", user_name: '*@contractors.example.com'"
                } else {
                    ""
                };
                groups.push_str(&format!(
                    "      - {{ department: [{}]{domain} }}\n",
                    names.join(", ")
                ));
            }
        }
        let exclude: Vec<String> = g.exclude.iter().map(|u| user_name(*u, world)).collect();
        groups.push_str(&format!("    exclude: [{}]\n", exclude.join(", ")));
        let include: Vec<String> = g.include.iter().map(|h| format!("G{h}")).collect();
        groups.push_str(&format!("    include_groups: [{}]\n", include.join(", ")));
    }
    (users, groups)
}

/// What a group's members are, computed the obvious way: per group, member → end (`None`: no
/// end), the longest-lived reason winning.
fn reference(world: &World) -> BTreeMap<String, BTreeMap<String, String>> {
    fn merge(into: &mut BTreeMap<usize, Option<Until>>, user: usize, until: Option<Until>) {
        into.entry(user)
            .and_modify(|t| *t = Until::outlast(*t, until))
            .or_insert(until);
    }
    fn expand(world: &World, gi: usize) -> BTreeMap<usize, Option<Until>> {
        let g = &world.groups[gi];
        let end = |d: &Option<u8>| d.map(|d| Until::parse(&until_text(d)).unwrap());
        let mut out = BTreeMap::new();
        for (u, until) in &g.listed {
            merge(&mut out, *u, end(until));
        }
        for (u, (_, _, _, groups)) in world.users.iter().enumerate() {
            for (g2, until) in groups {
                if *g2 == gi {
                    merge(&mut out, u, end(until));
                }
            }
        }
        let excluded = |u: usize| {
            g.exclude
                .iter()
                .any(|e| user_name(*e, world) == user_name(u, world))
        };
        for (u, (dept, domain, _, _)) in world.users.iter().enumerate() {
            let matched = g.rules.iter().any(|(depts, contractors)| {
                depts.contains(dept) && (!*contractors || *domain == 1)
            });
            if matched && !excluded(u) {
                merge(&mut out, u, None);
            }
        }
        for &h in &g.include {
            for (u, until) in expand(world, h) {
                if !excluded(u) {
                    merge(&mut out, u, until);
                }
            }
        }
        out
    }
    (0..world.groups.len())
        .map(|gi| {
            let members = expand(world, gi)
                .into_iter()
                .map(|(u, t)| {
                    (
                        user_name(u, world),
                        t.map(|t| t.to_string()).unwrap_or_default(),
                    )
                })
                .collect();
            (format!("G{gi}"), members)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn expansion_is_listed_plus_rule_matches_minus_exclusions_plus_included(
        world in world(),
        seed in any::<u64>(),
    ) {
        let users: Vec<usize> = (0..world.users.len()).collect();
        let groups: Vec<usize> = (0..world.groups.len()).collect();
        let (u, g) = yaml(&world, &users, &groups);
        let config = load_files(
            "access-prop",
            &[("zsc.yaml", format!("tenants:\n  a:\n    kind: emulator\n{u}{g}"))],
        ).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(memberships(&config, "a"), reference(&world));

        // The same declarations in another order, split across an included file: the same
        // desired state, so the same plan.
        let mut users_shuffled = users.clone();
        let mut groups_shuffled = groups.clone();
        shuffle(&mut users_shuffled, seed);
        shuffle(&mut groups_shuffled, seed.rotate_left(17));
        let (u2, g2) = yaml(&world, &users_shuffled, &groups_shuffled);
        let reordered = load_files(
            "access-prop-shuffled",
            &[
                ("zsc.yaml", format!("tenants:\n  a:\n    kind: emulator\ninclude: [more.yaml]\n{g2}")),
                ("more.yaml", u2),
            ],
        ).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(memberships(&reordered, "a"), memberships(&config, "a"));
        prop_assert_eq!(config.fingerprint(), reordered.fingerprint());
    }
}

/// A deterministic shuffle (xorshift), so that a failing case replays.
fn shuffle(items: &mut [usize], mut seed: u64) {
    seed |= 1;
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}
