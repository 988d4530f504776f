//! Synchronous mirroring and asynchronous replication over real store processes: zero RPO for
//! acknowledged sync writes, reads that survive the primary, measured lag, failover that loses
//! exactly the reported lag, and an idempotent, gap-refusing apply.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use shared::replication::{
    FailoverReport, ReplicationState, ReplicationStatus, StoreRole, StoreState,
};
use support::Lab;

async fn post(url: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new().post(url).json(&body).send().await.unwrap()
}

async fn status(front: &str) -> ReplicationStatus {
    support::get_json(&format!("{front}/replication")).await
}

/// The store's state with its integrity checked (`PRAGMA quick_check` reads the whole file).
async fn state(store: &str) -> StoreState {
    support::get_json(&format!("{store}/replication/state?check=true")).await
}

async fn product_ids(store: &str) -> Vec<u64> {
    let products: Vec<Value> = support::get_json(&format!("{store}/products")).await;
    products.iter().map(|p| p["id"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_mirroring_acknowledges_only_what_both_stores_hold() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let front = lab.service("mirroring").await.url;
    let (primary, mirror) =
        (lab.service("store-sync-primary").await.url, lab.service("store-sync-mirror").await.url);

    let mut acked = Vec::new();
    for i in 0..20 {
        let response =
            post(&format!("{front}/products"), json!({"name": format!("p{i}"), "price": 1.5}))
                .await;
        assert_eq!(response.status(), 201);
        acked.push(response.json::<Value>().await.unwrap()["id"].as_u64().unwrap());
    }
    assert_eq!(
        product_ids(&mirror).await,
        acked,
        "every acknowledged write is already on the mirror"
    );
    assert_eq!(product_ids(&primary).await, acked);
    let s = status(&front).await;
    assert_eq!((s.lag_entries, s.state), (0, ReplicationState::CaughtUp), "{s:?}");

    // Mirror down: writes are refused, nothing is acknowledged that is not on both.
    let (code, _) = lab.post("/api/services/store-sync-mirror/kill").await;
    assert_eq!(code, 200);
    let refused =
        post(&format!("{front}/products"), json!({"name": "unmirrored", "price": 2})).await;
    assert_eq!(refused.status(), 503);
    let error: shared::ErrorBody = refused.json().await.unwrap();
    assert!(error.message.contains("not acknowledged"), "{}", error.message);

    // Mirror back: it catches up from the change log, with no gap and no duplicate.
    lab.post("/api/services/store-sync-mirror/restart").await;
    support::wait_until("the mirror catching up", Duration::from_secs(15), async || {
        let p: StoreState = support::get_json(&format!("{primary}/replication/state")).await;
        let Ok(response) = reqwest::get(format!("{mirror}/replication/state")).await else {
            return false;
        };
        response.json::<StoreState>().await.is_ok_and(|m| m.last_seq == p.last_seq)
    })
    .await;
    let m = state(&mirror).await;
    assert!(m.log_contiguous && m.integrity == "ok", "{m:?}");
    assert_eq!(product_ids(&mirror).await, product_ids(&primary).await);

    // Primary down: reads are served by the mirror.
    lab.post("/api/services/store-sync-primary/kill").await;
    let read = reqwest::get(format!("{front}/products")).await.unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.headers()["x-served-by"], "mirror");
    assert_eq!(read.json::<Vec<Value>>().await.unwrap().len(), 21);
    let write = post(&format!("{front}/products"), json!({"name": "x", "price": 1})).await;
    assert_eq!(write.status(), 503, "writes need the primary");
}

#[tokio::test(flavor = "multi_thread")]
async fn async_replication_reports_lag_syncs_on_demand_and_fails_over_losing_exactly_the_lag() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let front = lab.service("replication").await.url;
    let mirror = lab.service("store-async-mirror").await.url;

    for i in 0..5 {
        assert_eq!(
            post(&format!("{front}/products"), json!({"name": format!("p{i}"), "price": 1}))
                .await
                .status(),
            201
        );
    }
    let s = status(&front).await;
    assert_eq!(
        (s.primary_seq, s.mirror_seq, s.lag_entries, s.state),
        (5, 0, 5, ReplicationState::Behind),
        "{s:?}"
    );
    assert!(s.lag_ms > 0);
    let synced: ReplicationStatus = support::post_json(&format!("{front}/sync"), None).await;
    assert_eq!((synced.mirror_seq, synced.lag_entries), (5, 0), "{synced:?}");
    assert_eq!(product_ids(&mirror).await.len(), 5);

    for i in 5..12 {
        post(&format!("{front}/cart/1"), json!({"productId": 1, "quantity": 1})).await;
        post(&format!("{front}/products"), json!({"name": format!("p{i}"), "price": 1})).await;
    }
    let before = status(&front).await;
    assert_eq!(before.lag_entries, 14, "{before:?}");
    lab.post("/api/services/store-async-primary/kill").await;
    let report: FailoverReport = support::post_json(&format!("{front}/failover"), None).await;
    assert_eq!(
        report.entries_lost, before.lag_entries,
        "the data lost is exactly the lag reported before"
    );
    assert_eq!(report.lag_before, before.lag_entries);
    let after = reqwest::get(format!("{front}/products")).await.unwrap();
    assert_eq!(
        after.json::<Vec<Value>>().await.unwrap().len(),
        5,
        "the promoted mirror serves what it had"
    );
    assert_eq!(
        post(&format!("{front}/products"), json!({"name": "new", "price": 1})).await.status(),
        201
    );

    // The old primary comes back and is rebuilt as the new mirror.
    lab.post("/api/services/store-async-primary/restart").await;
    lab.wait_all_up().await;
    let rebuilt: ReplicationStatus = support::post_json(&format!("{front}/rebuild"), None).await;
    assert_eq!((rebuilt.lag_entries, rebuilt.mirror_up), (0, true), "{rebuilt:?}");
}

#[tokio::test]
async fn a_mirror_applies_in_order_skips_repeats_and_refuses_gaps() {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let dir = tempfile::tempdir().unwrap();
    let primary =
        backend::shop::ShopStore::open_logged(&dir.path().join("p.sqlite3")).await.unwrap();
    primary.init_role(false).await.unwrap();
    let mirror =
        backend::shop::ShopStore::open_logged(&dir.path().join("m.sqlite3")).await.unwrap();
    mirror.init_role(true).await.unwrap();
    let p_app = backend::shop::store_router("p", primary.clone());
    let m_app = backend::shop::store_router("m", mirror.clone());
    let call = |app: axum::Router, method: &'static str, uri: &'static str, body: String| async move {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let seq = response.headers().get("x-change-seq").map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, seq, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
    };
    for i in 1..=3 {
        let (status, seq, _) = call(
            p_app.clone(),
            "POST",
            "/products",
            json!({"name": format!("p{i}"), "price": 1}).to_string(),
        )
        .await;
        assert_eq!((status, seq.as_deref()), (201, Some(i.to_string().as_str())));
    }
    let (status, _, _) =
        call(m_app.clone(), "POST", "/products", json!({"name": "direct", "price": 1}).to_string())
            .await;
    assert_eq!(status, 409, "a mirror refuses shop writes");

    let log = primary.changes_after(0, 100).await.unwrap();
    assert_eq!(log.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2, 3]);
    let (status, _, _) = call(
        m_app.clone(),
        "POST",
        "/replication/apply",
        serde_json::to_string(&log[1..]).unwrap(),
    )
    .await;
    assert_eq!(status, 409, "a gap (seq 2 before seq 1) is refused");
    assert_eq!(
        mirror.replication_state(false).await.unwrap().last_seq,
        0,
        "and nothing of the batch was applied"
    );
    for _ in 0..2 {
        let (status, _, state) =
            call(m_app.clone(), "POST", "/replication/apply", serde_json::to_string(&log).unwrap())
                .await;
        assert_eq!(
            (status, state["lastSeq"].as_u64()),
            (200, Some(3)),
            "applying twice changes nothing"
        );
        assert_eq!(mirror.replication_state(false).await.unwrap().products, 3);
    }
    let (status, _, _) =
        call(p_app.clone(), "POST", "/replication/apply", serde_json::to_string(&log).unwrap())
            .await;
    assert_eq!(status, 409, "a primary applies no other store's changes");
    let state = mirror.replication_state(true).await.unwrap();
    assert!(
        state.log_contiguous && state.integrity == "ok" && state.role == StoreRole::Mirror,
        "{state:?}"
    );
}

/// Regression (found by `fuzz_replication_batches`): a mirror applied whatever a batch said —
/// ids past 2^53 - 1 and a cart of 4,294,967,295 items were stored (once the mirror was
/// promoted, that cart's next add overflowed: in a debug build a panic that took the store's
/// writer thread down, and every write after it failed), and a price of 0 failed the database's
/// check and answered 500 "the store failed".
#[tokio::test]
async fn a_mirror_refuses_changes_no_primary_could_log() {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let dir = tempfile::tempdir().unwrap();
    let mirror =
        backend::shop::ShopStore::open_logged(&dir.path().join("m.sqlite3")).await.unwrap();
    mirror.init_role(true).await.unwrap();
    let app = backend::shop::store_router("m", mirror.clone());
    let apply = |batch: Value| {
        let app = app.clone();
        async move {
            let request = Request::post("/replication/apply")
                .header("content-type", "application/json")
                .body(Body::from(batch.to_string()))
                .unwrap();
            let response = app.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let product = |id: u64, price: f64| {
        json!({"op": "put-product", "product": {"id": id, "name": "Pen", "description": "",
            "price": price, "category": "office", "inStock": true}})
    };
    let order = |total: f64| {
        json!({"op": "place-order", "order": {"id": 1, "userId": 1, "items": [{"productId": 1,
            "name": "Pen", "quantity": 2, "unitPrice": 1.5, "lineTotal": 3.0}], "total": total,
            "status": "confirmed", "createdAt": 1}})
    };
    let logged = |seq: u64, change: Value| json!({"seq": seq, "atMs": 1, "change": change});
    let garbage = [
        (product(1, 0.0), "price must be greater than 0"),
        (product(1 << 53, 1.5), "product id must be between 1 and"),
        (
            json!({"op": "set-cart-item", "userId": 1, "productId": 1, "quantity": 4_294_967_295u64}),
            "quantity",
        ),
        (json!({"op": "remove-cart-item", "userId": 0, "productId": 1}), "userId"),
        (order(4.5), "total"),
    ];
    for (change, needle) in garbage {
        // After a good change, so that the refusal must roll it back too.
        let batch = json!([logged(1, product(1, 1.5)), logged(2, change.clone())]);
        let (status, body) = apply(batch).await;
        assert_eq!(status, 422, "{change}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("change 2") && message.contains(needle), "{message}");
        let state = mirror.replication_state(true).await.unwrap();
        assert_eq!((state.last_seq, state.products), (0, 0), "{change}: nothing applied");
    }
    let good = json!([logged(1, product(1, 1.5)), logged(2, order(3.0))]);
    assert_eq!(apply(good).await, (200, json!({"lastSeq": 2, "role": "mirror"})));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backlog_larger_than_one_batch_is_shipped_whole() {
    // Regression: a 2,000-change batch is ~300 KB, over the body limit of ordinary services, and
    // the mirror used to refuse it — replication then crawled. On the shared lab: its own
    // products only, and the log counted from where it stood.
    let lab = support::shared_lab();
    lab.wait_all_up().await;
    let front = lab.service("replication").await.url;
    let start: ReplicationStatus = support::post_json(&format!("{front}/sync"), None).await;
    let client = reqwest::Client::new();
    let writers = (0..16).map(|w| {
        let (client, front) = (client.clone(), front.clone());
        tokio::spawn(async move {
            for i in 0..160 {
                let body =
                    json!({"name": format!("backlog {w}-{i} {}", "x".repeat(100)), "price": 1});
                assert_eq!(
                    client
                        .post(format!("{front}/products"))
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .status(),
                    201
                );
            }
        })
    });
    futures::future::join_all(writers).await.into_iter().for_each(Result::unwrap);
    assert!(status(&front).await.lag_entries >= 2_560, "2,560 writes waiting to be shipped");
    let synced: ReplicationStatus = support::post_json(&format!("{front}/sync"), None).await;
    assert_eq!(synced.lag_entries, 0, "{synced:?}");
    assert!(synced.mirror_seq >= start.mirror_seq + 2_560, "{start:?} → {synced:?}");
}

/// The three processes of a redundant shop in the lab: the front, the store started as its
/// primary, the store started as its mirror.
const SHOPS: [(&str, &str, &str); 2] = [
    ("mirroring", "store-sync-primary", "store-sync-mirror"),
    ("replication", "store-async-primary", "store-async-mirror"),
];

/// A URL's port: the fronts name their stores `http://localhost:P`, the control plane
/// `http://127.0.0.1:P`.
fn port(url: &str) -> &str {
    url.rsplit_once(':').map_or(url, |(_, port)| port.trim_end_matches('/'))
}

/// Write a product through `front`; its id once acknowledged (201), or the refusal.
async fn write(front: &str, name: &str) -> Result<u64, (u16, String)> {
    let response = post(&format!("{front}/products"), json!({"name": name, "price": 2.5})).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match (status, body["id"].as_u64()) {
        (201, Some(id)) => Ok(id),
        _ => Err((status, body.to_string())),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lab_restarted_after_failovers_writes_through_the_promoted_stores() {
    // Regression (issue #13, item 1): the fronts took their roles from their flags, so after a
    // failover (and a rebuild of the old primary as the mirror) and a restart of the lab, every
    // write to 3010 answered 409 "this store is a mirror" while /replication said caught-up.
    let lab = Lab::up();
    lab.wait_all_up().await;
    let mut acked: Vec<(&str, Vec<u64>)> = Vec::new();
    for (name, first_primary, first_mirror) in SHOPS {
        let front = lab.service(name).await.url;
        let (old_primary, promoted) =
            (lab.service(first_primary).await.url, lab.service(first_mirror).await.url);
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(write(&front, &format!("{name} before {i}")).await.expect("a write"));
        }
        // Async: ship first, or the failover loses what the mirror lacks (exactly the lag).
        let synced = reqwest::Client::new().post(format!("{front}/sync")).send().await.unwrap();
        assert_eq!(synced.status(), 200);
        let failover =
            reqwest::Client::new().post(format!("{front}/failover?force=true")).send().await;
        let report: FailoverReport = failover.unwrap().json().await.unwrap();
        assert_eq!((port(&report.promoted), report.entries_lost), (port(&promoted), 0));
        let rebuilt: ReplicationStatus =
            support::post_json(&format!("{front}/rebuild"), None).await;
        assert_eq!(rebuilt.mirror.as_deref().map(port), Some(port(&old_primary)), "{rebuilt:?}");
        for i in 0..2 {
            ids.push(write(&front, &format!("{name} after failover {i}")).await.expect("a write"));
        }
        acked.push((name, ids));
    }

    let lab = Lab::up_in(lab.stop());
    lab.wait_all_up().await;
    for ((name, first_primary, first_mirror), (_, ids)) in SHOPS.into_iter().zip(&acked) {
        let front = lab.service(name).await.url;
        let (old_primary, promoted) =
            (lab.service(first_primary).await.url, lab.service(first_mirror).await.url);
        let written = write(&front, &format!("{name} after the restart")).await;
        let id = written.unwrap_or_else(|(status, body)| {
            panic!("{name}: a write after the restart answered {status} {body}")
        });
        assert!(!ids.contains(&id), "{name}: id {id} handed out twice");
        for id in ids {
            let read = reqwest::get(format!("{front}/products/{id}")).await.unwrap();
            assert_eq!(read.status(), 200, "{name}: acknowledged product {id} lost");
        }
        let s = status(&front).await;
        assert_eq!(
            (port(&s.primary), s.mirror.as_deref().map(port), s.conflict.as_deref()),
            (port(&promoted), Some(port(&old_primary)), None),
            "{name}: the roles the stores hold: {s:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_primaries_or_two_mirrors_are_reported_and_refuse_writes_until_resolved() {
    // A forced failover that nobody follows with a rebuild leaves two stores that both hold the
    // primary role on disk; a front restarted then cannot know which one's data is right.
    let lab = Lab::up();
    lab.wait_all_up().await;
    let front = lab.service("replication").await.url;
    let first = write(&front, "before").await.expect("a write");
    let synced = reqwest::Client::new().post(format!("{front}/sync")).send().await.unwrap();
    assert_eq!(synced.status(), 200);
    let failover = reqwest::Client::new().post(format!("{front}/failover?force=true")).send().await;
    assert_eq!(failover.unwrap().status(), 200);
    let second =
        write(&front, "after the failover").await.expect("the front that failed over writes on");

    let lab = Lab::up_in(lab.stop());
    lab.wait_all_up().await;
    let front = lab.service("replication").await.url;
    let old_primary = lab.service("store-async-primary").await.url;
    let s = status(&front).await;
    let conflict = s.conflict.clone().unwrap_or_else(|| panic!("no conflict reported: {s:?}"));
    assert!(conflict.contains("primary"), "{conflict}");
    assert_eq!(s.state, ReplicationState::Conflict, "{s:?}");
    let (code, body) = write(&front, "refused").await.expect_err("writes refused");
    let error: shared::ErrorBody = serde_json::from_str(&body).unwrap();
    assert_eq!((code, error.code), (503, 503), "{body}");
    assert!(error.message.contains("/replication/reset"), "names the fix: {}", error.message);
    for id in [first, second] {
        let read = reqwest::get(format!("{front}/products/{id}")).await.unwrap();
        assert_eq!(read.status(), 200, "reads are served meanwhile (product {id})");
    }
    // Resolved as the message says: the old primary is reset and rebuilt from the other.
    let reset = reqwest::Client::new()
        .post(format!("{old_primary}/replication/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    support::wait_until("writes accepted again", Duration::from_secs(10), async || {
        write(&front, "resolved").await.is_ok()
    })
    .await;
    let synced: ReplicationStatus = support::post_json(&format!("{front}/sync"), None).await;
    assert_eq!((synced.lag_entries, synced.conflict.as_deref()), (0, None), "{synced:?}");
    assert_eq!(product_ids(&old_primary).await, product_ids(&front).await);

    // Two mirrors: the sync front's primary is reset behind its back.
    let front = lab.service("mirroring").await.url;
    let primary = lab.service("store-sync-primary").await.url;
    let mirror = lab.service("store-sync-mirror").await.url;
    write(&front, "mirrored").await.expect("a write");
    let reset =
        reqwest::Client::new().post(format!("{primary}/replication/reset")).send().await.unwrap();
    assert_eq!(reset.status(), 200);
    support::wait_until("two mirrors reported", Duration::from_secs(10), async || {
        status(&front).await.conflict.is_some_and(|c| c.contains("mirror"))
    })
    .await;
    let (code, body) = write(&front, "refused").await.expect_err("writes refused");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("/replication/promote"), "names the fix: {body}");
    let read = reqwest::get(format!("{front}/products")).await.unwrap();
    assert_eq!(read.json::<Vec<Value>>().await.unwrap().len(), 1, "read from the one with data");
    let promote =
        reqwest::Client::new().post(format!("{mirror}/replication/promote")).send().await.unwrap();
    assert_eq!(promote.status(), 200);
    support::wait_until("writes accepted again", Duration::from_secs(10), async || {
        write(&front, "resolved").await.is_ok()
    })
    .await;
    let s = status(&front).await;
    assert_eq!(
        (port(&s.primary), s.mirror.as_deref().map(port), s.conflict.as_deref()),
        (port(&mirror), Some(port(&primary)), None),
        "{s:?}"
    );
}
