use std::time::{Duration, Instant};

use serde_json::json;

use super::{Tenant, TOKEN};
use crate::dialect::Dialect;
use crate::emulator::{EmulatorOptions, Faults, Stats};

#[tokio::test]
async fn dropped_responses_fail_the_client_but_keep_the_change() {
    let t = Tenant::start(Dialect::Scim).await;
    let ann = t.user("ann@example.com").await;
    let group = t.group("G", &[]).await;
    t.handle.set_faults(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    // A create (201 with a body) and a group PATCH (normally 204 without one).
    let created = t
        .client
        .post(t.url("/Users"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .body(json!({"userName": "bob@example.com"}).to_string())
        .send()
        .await;
    let failed = match created {
        Err(_) => true,
        Ok(response) => response.text().await.is_err(),
    };
    assert!(failed, "the client must not see a complete answer");
    let patched = t
        .client
        .patch(t.url(&format!("/Groups/{group}")))
        .bearer_auth(TOKEN)
        .header("content-type", "application/scim+json")
        .body(
            json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": ann}]}]})
                .to_string(),
        )
        .send()
        .await;
    let failed = match patched {
        Err(_) => true,
        Ok(response) => response.text().await.is_err(),
    };
    assert!(failed);
    t.handle.set_faults(Faults::default());
    let found = t
        .get("/Users?filter=userName%20eq%20%22bob@example.com%22")
        .await;
    assert_eq!(found.body["totalResults"], 1, "the change was made");
    assert_eq!(t.members(&group).await, vec![ann]);
    assert_eq!(t.handle.stats().dropped, 2);
}

#[tokio::test]
async fn throttling_with_and_without_retry_after() {
    let t = Tenant::start(Dialect::Scim).await;
    t.handle.set_faults(Faults {
        throttle_rate: 1.0,
        retry_after_secs: Some(3),
        ..Faults::default()
    });
    let throttled = t.post("/Users", json!({"userName": "a@example.com"})).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.header("retry-after"), Some("3"));
    t.handle.set_faults(Faults {
        throttle_rate: 1.0,
        ..Faults::default()
    });
    let throttled = t.get("/Users").await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.header("retry-after"), None);
    t.handle.set_faults(Faults::default());
    assert_eq!(
        t.get("/Users").await.body["totalResults"],
        0,
        "throttled requests change nothing"
    );
    assert_eq!(t.handle.stats().throttled, 2);
}

#[tokio::test]
async fn injected_errors_alternate_and_change_nothing() {
    let t = Tenant::start(Dialect::Scim).await;
    t.handle.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let first = t.post("/Users", json!({"userName": "a@example.com"})).await;
    let second = t.post("/Users", json!({"userName": "a@example.com"})).await;
    assert_eq!((first.status, second.status), (500, 503));
    assert_eq!(first.body["schemas"][0], crate::scim::wire::ERROR_SCHEMA);
    t.handle.set_faults(Faults::default());
    assert_eq!(t.get("/Users").await.body["totalResults"], 0);
    assert_eq!(t.handle.stats().errors_injected, 2);
}

#[tokio::test]
async fn rate_limit_answers_429_above_the_rate() {
    let options = EmulatorOptions {
        faults: Faults {
            rate_limit: Some(5.0),
            ..Faults::default()
        },
        ..EmulatorOptions::new(Dialect::Zia, TOKEN)
    };
    let t = Tenant::with(options).await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..8 {
        let answer = t.get("/Users").await;
        if answer.status == 429 {
            retry_after = answer.header("retry-after").map(str::to_owned);
        }
        statuses.push(answer.status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(&statuses[..5], &[200; 5]);
    assert_eq!(retry_after.as_deref(), Some("1"));
    // After a second the bucket is full again.
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    assert_eq!(t.get("/Users").await.status, 200);
}

#[tokio::test]
async fn latency_and_page_size_cap() {
    let t = Tenant::start(Dialect::Scim).await;
    t.handle.replace_data(super::many_users(30));
    t.handle.set_faults(Faults {
        latency_ms: 150,
        page_size_cap: Some(7),
        ..Faults::default()
    });
    let started = Instant::now();
    let page = t.get("/Users?count=100").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(page.body["Resources"].as_array().unwrap().len(), 7);
    // Discovery is never slowed or broken.
    t.handle.set_faults(Faults {
        latency_ms: 5_000,
        error_rate: 1.0,
        ..Faults::default()
    });
    let started = Instant::now();
    assert_eq!(
        t.client
            .get(t.url("/ServiceProviderConfig"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn stats_count_requests_and_faults_change_at_runtime() {
    let t = Tenant::start(Dialect::Scim).await;
    let ann = t.user("ann@example.com").await;
    t.get(&format!("/Users/{ann}")).await;
    t.get("/Users").await;
    let g = t.group("G", &[]).await;
    t.patch(
        &format!("/Groups/{g}"),
        json!([{"op": "add", "path": "members", "value": [{"value": ann}]}]),
    )
    .await;
    t.client.get(t.url("/Users")).send().await.unwrap(); // 401
    let stats: Stats = t
        .client
        .get(t.root_url("/_emulator/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats, t.handle.stats());
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.by_method["GET"], 3);
    assert_eq!(stats.by_method["POST"], 2);
    assert_eq!(stats.by_route["GET /Users"], 3);
    assert_eq!(stats.by_route["POST /Users"], 1);
    assert_eq!(stats.by_route["PATCH /Groups"], 1);
    assert_eq!(stats.by_status["201"], 2);
    assert_eq!(stats.by_status["204"], 1);
    assert_eq!(stats.by_status["401"], 1);

    let reset = t
        .client
        .post(t.root_url("/_emulator/stats/reset"))
        .send()
        .await
        .unwrap();
    assert!(reset.status().is_success());
    assert_eq!(t.handle.stats(), Stats::default());

    let put = t
        .client
        .put(t.root_url("/_emulator/faults"))
        .header("content-type", "application/json")
        .body(json!({"throttle_rate": 1.0, "retry_after_secs": 2}).to_string())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    assert_eq!(t.get("/Users").await.status, 429);
    let bad = t
        .client
        .put(t.root_url("/_emulator/faults"))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
