//! Kill -9 at random moments in the middle of write bursts, at least ten times each: no
//! acknowledged write is ever lost, no store is ever corrupt, and replication resumes without
//! duplicates or gaps. (The workshop's sample left its mirror JSON file empty — 0 bytes — after 2
//! of 16 such kills.)

use crate::support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use shared::replication::StoreState;
use support::Lab;

const KILLS: usize = 10;

/// Post products to `front` until stopped (at most 3,000), counting acknowledgements in
/// `count`; returns the ids acknowledged (201).
fn burst(
    front: String,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<BTreeSet<u64>> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap();
        let mut acked = BTreeSet::new();
        for n in 0..3_000 {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let body = json!({"name": format!("burst {n}"), "price": 1.25});
            match client.post(format!("{front}/products")).json(&body).send().await {
                Ok(response) if response.status() == 201 => {
                    let product: Value = response.json().await.unwrap_or(Value::Null);
                    if let Some(id) = product["id"].as_u64() {
                        acked.insert(id);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                }
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
        acked
    })
}

/// The store's state with its integrity checked (`PRAGMA quick_check` reads the whole file).
async fn state(store: &str) -> Option<StoreState> {
    reqwest::get(format!("{store}/replication/state?check=true")).await.ok()?.json().await.ok()
}

/// The store's last change-log seq (cheap: for polling).
async fn last_seq(store: &str) -> Option<u64> {
    let state: StoreState =
        reqwest::get(format!("{store}/replication/state")).await.ok()?.json().await.ok()?;
    Some(state.last_seq)
}

async fn ids(store: &str) -> BTreeSet<u64> {
    let products: Vec<Value> = support::get_json(&format!("{store}/products")).await;
    products.iter().filter_map(|p| p["id"].as_u64()).collect()
}

/// Healthy, readable, and its change log has every seq once.
async fn assert_sound(store: &str, round: usize) -> StoreState {
    let state = state(store).await.unwrap_or_else(|| panic!("round {round}: {store} unreadable"));
    assert_eq!(state.integrity, "ok", "round {round}: {store} corrupt: {state:?}");
    assert!(state.log_contiguous, "round {round}: {store} has a gap or a duplicate: {state:?}");
    state
}

async fn restart(lab: &Lab, name: &str) {
    let (code, body) = lab.post(&format!("/api/services/{name}/restart")).await;
    assert_eq!(code, 200, "{body}");
    let url = lab.service(name).await.url;
    support::wait_until(&format!("{name} back"), Duration::from_secs(20), async || {
        reqwest::get(format!("{url}/health")).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
}

/// Kill `victim` after a seeded random number of acknowledged writes (not after a random time:
/// on a loaded machine a timed kill may come before anything was written), plus a random few
/// milliseconds, while the burst goes on.
async fn kill_mid_burst(lab: &Lab, front: &str, victim: &str, rng: &mut impl Rng) -> BTreeSet<u64> {
    let (stop, count) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let writer = burst(front.to_owned(), stop.clone(), count.clone());
    let written = rng.random_range(6..40);
    support::wait_until(
        "writes acknowledged before the kill",
        Duration::from_secs(20),
        async || count.load(Ordering::SeqCst) >= written,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..20))).await;
    let (code, body) = lab.post(&format!("/api/services/{victim}/kill")).await;
    assert_eq!(code, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap()
}

fn seeded() -> rand::rngs::StdRng {
    let seed: u64 =
        std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_121);
    eprintln!("crash test seed {seed} (set CRASH_SEED to replay)");
    rand::rngs::StdRng::seed_from_u64(seed)
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_sync_front_or_its_mirror_never_loses_an_acknowledged_write() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let mut rng = seeded();
    let front = lab.service("mirroring").await.url;
    let (primary, mirror) =
        (lab.service("store-sync-primary").await.url, lab.service("store-sync-mirror").await.url);
    let mut acked_total = 0;
    for round in 0..KILLS * 2 {
        // Even rounds kill the front, odd rounds the mirror store.
        let victim = if round % 2 == 0 { "mirroring" } else { "store-sync-mirror" };
        let acked = kill_mid_burst(&lab, &front, victim, &mut rng).await;
        acked_total += acked.len();
        if victim == "store-sync-mirror" {
            restart(&lab, victim).await;
        }
        // Acknowledged means on both stores — already, before anything catches up.
        let (on_primary, on_mirror) = (ids(&primary).await, ids(&mirror).await);
        assert!(
            acked.is_subset(&on_primary),
            "round {round}: acknowledged writes missing on the primary"
        );
        assert!(
            acked.is_subset(&on_mirror),
            "round {round}: acknowledged writes missing on the mirror ({victim} killed)"
        );
        assert_sound(&primary, round).await;
        assert_sound(&mirror, round).await;
        if victim == "mirroring" {
            restart(&lab, victim).await;
        }
    }
    // Replication resumes: the mirror converges to the primary, without gaps or duplicates.
    support::wait_until("the mirror converging", Duration::from_secs(20), async || {
        let _ = reqwest::Client::new()
            .post(format!("{front}/products"))
            .json(&json!({"name": "last", "price": 1}))
            .send()
            .await;
        matches!((last_seq(&primary).await, last_seq(&mirror).await), (Some(p), Some(m)) if p == m)
    })
    .await;
    let (p, m) = (assert_sound(&primary, 99).await, assert_sound(&mirror, 99).await);
    assert_eq!((p.products, p.last_seq), (m.products, m.last_seq));
    assert_eq!(ids(&primary).await, ids(&mirror).await);
    assert!(acked_total > 100, "the bursts wrote ({acked_total} acknowledged)");
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_async_front_never_loses_an_acknowledged_write_and_sync_resumes() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let mut rng = seeded();
    let front = lab.service("replication").await.url;
    let (primary, mirror) =
        (lab.service("store-async-primary").await.url, lab.service("store-async-mirror").await.url);
    for round in 0..KILLS {
        let acked = kill_mid_burst(&lab, &front, "replication", &mut rng).await;
        assert!(
            acked.is_subset(&ids(&primary).await),
            "round {round}: acknowledged writes missing on the primary"
        );
        assert_sound(&primary, round).await;
        assert_sound(&mirror, round).await;
        restart(&lab, "replication").await;
        if round % 3 == 0 {
            let synced = reqwest::Client::new().post(format!("{front}/sync")).send().await.unwrap();
            assert_eq!(synced.status(), 200, "round {round}");
        }
    }
    let synced: shared::replication::ReplicationStatus =
        support::post_json(&format!("{front}/sync"), None).await;
    assert_eq!(synced.lag_entries, 0, "{synced:?}");
    let (p, m) = (assert_sound(&primary, 99).await, assert_sound(&mirror, 99).await);
    assert_eq!((p.last_seq, p.products), (m.last_seq, m.products));
    assert_eq!(ids(&primary).await, ids(&mirror).await, "no duplicate, no gap");
}
