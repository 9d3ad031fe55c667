//! A small version of `examples/bench.rs`: it completes and spends the minimum number of
//! requests. No timing assertions: figures belong to the benchmark, not to tests.

use zsc::bench::{self, Size};
use zsc::dialect::Dialect;
use zsc::scim::{ClientOptions, Expected, ScimClient};
use zsc::secret::Secret;

use crate::harness::{Env, TOKEN};

fn client(env: &Env, page_size: Option<usize>) -> ScimClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut options = ClientOptions::new(env.base_url(), Secret::new(TOKEN), env.dialect);
    options.page_size = page_size;
    options.parallelism = 4;
    ScimClient::new(options).expect("client")
}

#[test]
fn plan_cpu_smoke_counts_the_one_percent_that_changed() {
    let size = Size {
        users: 1000,
        groups: 100,
        groups_per_user: 3,
    };
    let world = bench::world(size, 0.01);
    let plan = bench::plan(&world, Dialect::Zia);
    assert_eq!(plan.summary.users.update, 10);
    assert_eq!(plan.summary.memberships.add, 30);
    assert_eq!(plan.changes.len(), 40);
}

#[test]
fn refresh_smoke_reads_every_page_once() {
    let env = Env::with_emulator(Dialect::Scim);
    let size = Size {
        users: 300,
        groups: 20,
        groups_per_user: 2,
    };
    let world = bench::world(size, 0.0);
    env.emulator()
        .replace_data(bench::emulator_data(&world.live));
    let client = client(&env, Some(50));
    let live = env
        .rt
        .block_on(client.read_tenant(&Expected::default()))
        .expect("refresh");
    assert_eq!(live.users.len(), 300);
    assert_eq!(
        live.groups.iter().map(|g| g.members.len()).sum::<usize>(),
        600
    );
    // 6 pages of users and 1 of groups: the minimum.
    assert_eq!(env.emulator().stats().requests, 7);
    assert!(bench::plan(
        &bench::World {
            desired: world.desired,
            managed: zsc::plan::refresh::refresh_tenant(&world.managed, &live),
            live,
        },
        Dialect::Scim
    )
    .is_empty());
}

/// User listings ask the server to leave users' `groups` out; a server that refuses the
/// parameter costs one request more and the read is the same.
#[test]
fn refresh_reads_the_same_from_a_server_that_refuses_attribute_projection() {
    let mut reads = Vec::new();
    for refuse in [false, true] {
        let env = Env::with_emulator(Dialect::Zia);
        let world = bench::world(
            Size {
                users: 120,
                groups: 6,
                groups_per_user: 2,
            },
            0.0,
        );
        env.emulator()
            .replace_data(bench::emulator_data(&world.live));
        env.set_faults(zsc::emulator::Faults {
            refuse_projection: refuse,
            ..Default::default()
        });
        let client = client(&env, Some(50));
        let mut live = env
            .rt
            .block_on(client.read_tenant(&Expected::default()))
            .expect("refresh");
        // Pages arrive in whatever order they finish.
        live.users.sort_by(|a, b| a.id.cmp(&b.id));
        // 3 pages of users and 1 of groups, plus the refused first page.
        let requests = env.emulator().stats().requests;
        assert_eq!(requests, if refuse { 5 } else { 4 }, "refuse={refuse}");
        // The client remembers the refusal: a second read costs the minimum.
        env.rt
            .block_on(client.read_tenant(&Expected::default()))
            .expect("second refresh");
        assert_eq!(
            env.emulator().stats().requests - requests,
            4,
            "refuse={refuse}"
        );
        reads.push(live);
    }
    assert_eq!(reads[0], reads[1]);
    assert_eq!(reads[0].users.len(), 120);
}

#[test]
fn apply_smoke_spends_one_request_per_user_and_group() {
    for dialect in [Dialect::Scim, Dialect::Zpa] {
        let env = Env::with_emulator(dialect);
        let client = client(&env, None);
        let desired = bench::new_team(200, 5);
        let (plan, report) = env
            .rt
            .block_on(bench::apply_new(
                &client,
                &desired,
                dialect,
                8,
                &mut bench::NoRecorder,
            ))
            .expect("apply");
        assert!(report.all_done());
        assert_eq!(plan.changes.len(), 405);
        let stats = env.emulator().stats();
        // Members travel in each group's create: no PATCH at all.
        assert_eq!(stats.requests, 205, "{stats:?}");
        assert_eq!(stats.by_route.get("POST /Users"), Some(&200));
        assert_eq!(stats.by_route.get("POST /Groups"), Some(&5));
        assert_eq!(report.requests, 205);
    }
}
