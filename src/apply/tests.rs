//! The executor against an in-process emulator: scheduling (order, skipping, interruption, a
//! failure to record) and execution (what each step sends and records).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::*;
use crate::dialect::Dialect;
use crate::emulator::{self, EmulatorHandle, EmulatorOptions};
use crate::model::{DesiredGroup, DesiredTenant, DesiredUser, Origin, RemoveUserAction};
use crate::plan::{Action, PlanMeta, TenantInput};
use crate::scim::{ClientOptions, Expected};
use crate::secret::Secret;

const TOKEN: &str = "apply-test-token";

struct Tenant {
    handle: EmulatorHandle,
    clients: HashMap<String, ScimClient>,
}

async fn tenant(options: EmulatorOptions) -> Tenant {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = emulator::serve(listener, options).await.unwrap();
    let client = ScimClient::new(ClientOptions::new(
        handle.base_url(),
        Secret::new(TOKEN),
        Dialect::Zia,
    ))
    .unwrap();
    Tenant {
        handle,
        clients: HashMap::from([("t".to_owned(), client)]),
    }
}

fn user(name: &str) -> DesiredUser {
    DesiredUser::new(name)
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

/// The plan that makes the tenant hold `desired`, starting from `state`.
async fn plan_for(t: &Tenant, desired: &DesiredTenant, state: &State) -> Plan {
    let live = t.clients["t"]
        .read_tenant(&Expected::default())
        .await
        .unwrap();
    let empty = crate::state::TenantState::default();
    Plan::build(
        PlanMeta {
            lineage: state.lineage.clone(),
            serial: state.serial,
            config_fingerprint: "f".into(),
            refreshed: true,
        },
        &[TenantInput {
            name: "t",
            dialect: Dialect::Zia,
            desired,
            managed: state.tenants.get("t").unwrap_or(&empty),
            live: &live,
            remove_user_action: RemoveUserAction::Disable,
            server: None,
        }],
    )
}

/// Remembers what was recorded; fails every record after the first `fail_after`.
struct Log {
    records: Mutex<Vec<Vec<StateOp>>>,
    fail_after: Option<usize>,
}

impl Recorder for &Log {
    fn record(&mut self, entries: &[(&str, &[StateOp])]) -> Result<(), String> {
        let mut records = self.records.lock().unwrap();
        if self.fail_after.is_some_and(|n| records.len() >= n) {
            return Err("the disk is full".into());
        }
        records.push(entries.iter().flat_map(|(_, ops)| ops.to_vec()).collect());
        Ok(())
    }
}

async fn run(
    t: &Tenant,
    plan: &Plan,
    state: &mut State,
    log: &Log,
    interrupted: bool,
) -> ApplyReport {
    let (tx, rx) = watch::channel(interrupted);
    let mut recorder = log;
    let report = apply(
        plan,
        &t.clients,
        state,
        &mut recorder,
        &ApplyOptions {
            parallelism: 4,
            now: "2026-11-30T00:00:00Z".into(),
            look_up_creates: false,
        },
        Arc::new(Silent),
        rx,
    )
    .await
    .unwrap();
    drop(tx);
    report
}

fn log(fail_after: Option<usize>) -> Log {
    Log {
        records: Mutex::new(Vec::new()),
        fail_after,
    }
}

#[tokio::test]
async fn everything_is_done_in_dependency_order_with_the_fewest_requests() {
    let t = tenant(EmulatorOptions::new(Dialect::Zia, TOKEN)).await;
    let desired = DesiredTenant {
        users: vec![user("a@example.com"), user("b@example.com")],
        groups: vec![group("G", &["a@example.com", "b@example.com"])],
    };
    let mut state = State::new();
    let plan = plan_for(&t, &desired, &state).await;
    let before = t.clients["t"].requests_sent();
    let log = log(None);
    let report = run(&t, &plan, &mut state, &log, false).await;
    assert!(report.all_done(), "{:?}", report.outcomes);
    // Two user creates and one group create carrying both members.
    assert_eq!(t.clients["t"].requests_sent() - before, 3);
    let data = t.handle.snapshot();
    assert_eq!(data.groups[0].members.as_ref().unwrap().len(), 2);
    let managed = &state.tenants["t"];
    assert_eq!((managed.users.len(), managed.groups.len()), (2, 1));
    assert_eq!(managed.groups["g"].members.len(), 2);
    // What was recorded is what state holds: replaying the records gives it.
    let mut replayed = State::new();
    replayed.lineage = state.lineage.clone();
    for ops in log.records.lock().unwrap().iter() {
        for op in ops {
            replayed.apply("t", op);
        }
    }
    assert_eq!(replayed.tenants, state.tenants);
    // And a second plan is empty.
    assert!(plan_for(&t, &desired, &state).await.is_empty());
}

#[tokio::test]
async fn a_user_that_cannot_be_created_skips_only_its_own_membership() {
    let mut options = EmulatorOptions::new(Dialect::Zia, TOKEN);
    options.domains = vec!["example.com".into()];
    let t = tenant(options).await;
    let desired = DesiredTenant {
        users: vec![user("a@example.com"), user("x@elsewhere.org")],
        groups: vec![group("G", &["a@example.com", "x@elsewhere.org"])],
    };
    let mut state = State::new();
    let plan = plan_for(&t, &desired, &state).await;
    let report = run(&t, &plan, &mut state, &log(None), false).await;
    let outcome = |address: &str| {
        let i = plan
            .changes
            .iter()
            .position(|c| c.address == address)
            .unwrap();
        report.outcomes[i].clone()
    };
    assert!(matches!(
        outcome("t.user[\"x@elsewhere.org\"]"),
        Outcome::Failed(_)
    ));
    assert!(matches!(
        outcome("t.membership[\"G\"][\"x@elsewhere.org\"]"),
        Outcome::Skipped(_)
    ));
    assert_eq!(outcome("t.group[\"G\"]"), Outcome::Done);
    assert_eq!(
        outcome("t.membership[\"G\"][\"a@example.com\"]"),
        Outcome::Done
    );
}

#[tokio::test]
async fn an_interrupted_apply_starts_nothing() {
    let t = tenant(EmulatorOptions::new(Dialect::Zia, TOKEN)).await;
    let desired = DesiredTenant {
        users: vec![user("a@example.com")],
        groups: vec![],
    };
    let mut state = State::new();
    let plan = plan_for(&t, &desired, &state).await;
    let report = run(&t, &plan, &mut state, &log(None), true).await;
    assert!(report.interrupted);
    assert_eq!(report.outcomes, [Outcome::NotStarted]);
    assert!(t.handle.snapshot().users.is_empty());
}

#[tokio::test]
async fn a_failure_to_record_stops_scheduling_and_says_why() {
    let t = tenant(EmulatorOptions::new(Dialect::Zia, TOKEN)).await;
    // The group waits for its users: with no record possible, it never starts.
    let desired = DesiredTenant {
        users: vec![user("a@example.com")],
        groups: vec![group("G", &["a@example.com"])],
    };
    let mut state = State::new();
    let plan = plan_for(&t, &desired, &state).await;
    let report = run(&t, &plan, &mut state, &log(Some(0)), false).await;
    assert_eq!(report.record_error.as_deref(), Some("the disk is full"));
    let group = plan
        .changes
        .iter()
        .position(|c| c.action == Action::Create && c.name == "G")
        .unwrap();
    assert_eq!(report.outcomes[group], Outcome::NotStarted);
    assert!(t.handle.snapshot().groups.is_empty());
}
