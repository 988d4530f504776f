//! The deliberate bugs, switched on at run time: each is visible in its service's `/health`,
//! refused by services it does not live in, and does the damage it is named for — which the
//! same steps with the bug off do not.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use shared::bugs::Bug;
use shared::sync::NodeData;
use shared::HealthReport;
use support::Lab;

async fn switch(service_url: &str, bug: &str, on: bool) -> reqwest::Response {
    let url = format!("{service_url}/admin/bugs/{bug}");
    let client = reqwest::Client::new();
    let request = if on { client.put(url) } else { client.delete(url) };
    request.send().await.unwrap()
}

async fn persons(url: &str) -> Vec<String> {
    let data: NodeData = support::get_json(&format!("{url}/get_data")).await;
    data.persons.into_iter().map(|p| p.name).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crdt_that_forgets_remote_adds_never_converges_until_the_bug_is_off() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let urls = lab.node_urls().await;
    let health: HealthReport = support::get_json(&format!("{}/health", urls[1])).await;
    assert!(health.bugs.is_empty(), "off by default");

    let shop = lab.service("shop-a").await.url;
    assert_eq!(switch(&shop, "crdt-forget-remote-adds", true).await.status(), 409, "not a node");
    assert_eq!(switch(&urls[1], "no-such-bug", true).await.status(), 400);
    let on = switch(&urls[1], "crdt-forget-remote-adds", true).await;
    assert_eq!(on.status(), 200);
    assert_eq!(on.json::<Vec<Bug>>().await.unwrap(), vec![Bug::CrdtForgetRemoteAdds]);
    let health: HealthReport = support::get_json(&format!("{}/health", urls[1])).await;
    assert_eq!(health.bugs, vec![Bug::CrdtForgetRemoteAdds], "/health says so");

    let added = reqwest::Client::new()
        .post(format!("{}/add_name", urls[0]))
        .json(&json!({"name": "ana"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    support::wait_until("ana on node 3", Duration::from_secs(5), async || {
        persons(&urls[2]).await.contains(&"ana".to_owned())
    })
    .await;
    // A negative needs time: two anti-entropy rounds (1 s each) on top of the push.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(!persons(&urls[1]).await.contains(&"ana".to_owned()), "node 2 dropped the add");

    assert_eq!(switch(&urls[1], "crdt-forget-remote-adds", false).await.status(), 200);
    support::wait_until("ana on node 2 once the bug is off", Duration::from_secs(5), async || {
        persons(&urls[1]).await.contains(&"ana".to_owned())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_that_acknowledges_early_loses_an_acknowledged_write_in_a_failover() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let front = lab.service("mirroring").await.url;
    let write = async || {
        reqwest::Client::new()
            .post(format!("{front}/products"))
            .json(&json!({"name": "acknowledged", "price": 3}))
            .send()
            .await
            .unwrap()
    };
    // The mirror is down: without the bug, no write is acknowledged.
    assert_eq!(lab.post("/api/services/store-sync-mirror/kill").await.0, 200);
    assert_eq!(write().await.status(), 503, "the bug is off");

    // With it, the write is acknowledged anyway.
    assert_eq!(switch(&front, "mirror-ack-before-mirror-commit", true).await.status(), 200);
    let write = write().await;
    assert_eq!(write.status(), 201, "acknowledged with the mirror down");
    let id = write.json::<Value>().await.unwrap()["id"].as_u64().unwrap();

    // The primary dies before the mirror comes back; the mirror is promoted.
    assert_eq!(lab.post("/api/services/store-sync-primary/kill").await.0, 200);
    assert_eq!(lab.post("/api/services/store-sync-mirror/restart").await.0, 200);
    let mirror = lab.service("store-sync-mirror").await.url;
    support::wait_until("the mirror back", Duration::from_secs(10), async || {
        reqwest::get(format!("{mirror}/health")).await.is_ok_and(|r| r.status().is_success())
    })
    .await;
    let failover =
        reqwest::Client::new().post(format!("{front}/failover?force=true")).send().await.unwrap();
    assert_eq!(failover.status(), 200, "{:?}", failover.text().await);
    let products: Vec<Value> = support::get_json(&format!("{front}/products")).await;
    assert!(
        products.iter().all(|p| p["id"].as_u64() != Some(id)),
        "the acknowledged product {id} is gone: {products:?}"
    );
}
