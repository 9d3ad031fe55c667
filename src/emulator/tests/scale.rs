//! The benchmark-sized tenant: 100,000 users, 10,000 groups, 1,000,000 memberships. Ignored by
//! default (slow in debug builds); run with `cargo test --lib emulator::tests::scale -- --ignored
//! --nocapture` to see the timings.

use std::time::Instant;

use serde_json::json;

use super::Tenant;
use crate::dialect::Dialect;
use crate::emulator::EmulatorData;
use crate::scim::wire::{WireGroup, WireMember, WireUser};

#[tokio::test]
#[ignore = "benchmark-sized; run explicitly"]
async fn a_benchmark_sized_tenant_stays_fast() {
    let t = Tenant::start(Dialect::Zia).await;
    let users: Vec<WireUser> = (0..100_000)
        .map(|i| WireUser {
            id: Some(format!("u{i}")),
            user_name: format!("user{i}@example.com"),
            active: Some(true),
            ..WireUser::default()
        })
        .collect();
    let groups: Vec<WireGroup> = (0..10_000)
        .map(|g| WireGroup {
            display_name: format!("group {g}"),
            members: Some(
                (0..100)
                    .map(|m| WireMember {
                        value: format!("u{}", (g * 7 + m * 1_009) % 100_000),
                        display: None,
                        reference: None,
                    })
                    .collect(),
            ),
            ..WireGroup::default()
        })
        .collect();
    let started = Instant::now();
    t.handle.replace_data(EmulatorData { users, groups });
    eprintln!("replace_data: {:?}", started.elapsed());

    {
        let started = Instant::now();
        let store = t.handle.shared.store();
        let (_, keys) = store.page_users(None, 5_000, 1_000).unwrap();
        let view = crate::emulator::view::View {
            base_url: "http://x/scim",
            projection: Default::default(),
            listing: true,
        };
        let values: Vec<_> = keys
            .iter()
            .filter_map(|k| store.user(*k))
            .map(|rec| view.user(&store, rec))
            .collect();
        let rendered = started.elapsed();
        let bytes = serde_json::to_vec(&values).unwrap();
        eprintln!(
            "server side, one page of 1000 users: render {rendered:?}, total {:?}, {} bytes",
            started.elapsed(),
            bytes.len()
        );
    }
    for query in ["", "&excludedAttributes=groups"] {
        let started = Instant::now();
        for _ in 0..5 {
            let response = t
                .client
                .get(t.url(&format!("/Users?count=1000{query}")))
                .bearer_auth(super::TOKEN)
                .send()
                .await
                .unwrap();
            let _ = response.bytes().await.unwrap();
        }
        eprintln!("5 raw pages{query}: {:?}", started.elapsed());
    }
    let started = Instant::now();
    let mut seen = 0;
    for page in 0..100 {
        let answer = t
            .get(&format!("/Users?startIndex={}&count=1000", page * 1000 + 1))
            .await;
        seen += answer.body["Resources"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(seen, 100_000);
    eprintln!("100 user pages: {:?}", started.elapsed());

    let started = Instant::now();
    let mut members = 0;
    for page in 0..10 {
        let answer = t
            .get(&format!(
                "/Groups?startIndex={}&count=1000",
                page * 1000 + 1
            ))
            .await;
        members += answer.body["Resources"].as_array().map_or(0, |groups| {
            groups
                .iter()
                .map(|g| g["members"].as_array().map_or(0, Vec::len))
                .sum::<usize>()
        });
    }
    assert_eq!(members, 1_000_000);
    eprintln!("10 group pages, 1M members: {:?}", started.elapsed());

    let started = Instant::now();
    let group = t
        .get("/Groups?filter=displayName%20eq%20%22group%205%22")
        .await
        .body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..100 {
        let answer = t
            .patch(
                &format!("/Groups/{group}"),
                json!([{"op": "add", "path": "members", "value": [{"value": format!("u{i}")}]}]),
            )
            .await;
        assert_eq!(answer.status, 204);
        assert_eq!(
            t.delete(&format!("/Users/u{}", 50_000 + i)).await.status,
            204
        );
    }
    eprintln!("100 PATCHes + 100 DELETEs: {:?}", started.elapsed());
    let started = Instant::now();
    let snapshot = t.handle.snapshot();
    eprintln!("snapshot: {:?}", started.elapsed());
    assert_eq!(snapshot.users.len(), 99_900);
}
