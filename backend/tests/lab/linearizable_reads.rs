//! The sync nodes' highest number read through `GET /highest`: linearizable by default (Paxos's
//! ReadIndex), local on request (what `/get_data` answers).
//!
//! Against real processes: while writers raise numbers on nodes 1–2 and readers read on all
//! three, no linearizable read returns less than a raise acknowledged before it was sent; a node
//! cut off from both peers answers 503 within the bound rather than its stale number (which its
//! local read still shows). In-process, on a lone node: the route's answers and refusals, and
//! CRDT-only mode answering `"read": "local"` with its reason.

use crate::support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::sync::{Added, HighestRead, ReadConsistency, SyncMode};
use support::Lab;

/// Each client waits this long between the starts of its requests: a node takes at most
/// (2 writers + 4/3 readers) / 90 ms ≈ 37 client requests a second, under its `HIGH_REQUEST` of
/// 50, so the nodes stay in CRDT + Paxos mode (reads count as load too).
const EVERY: Duration = Duration::from_millis(90);
/// How long each concurrent run lasts, and at most how many requests each client sends in one.
const RUN: Duration = Duration::from_secs(3);
const MAX_PER_CLIENT: usize = 45;

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap()
}

/// One read as a reader saw it.
#[derive(Debug, Clone)]
struct Read {
    node: usize,
    asked: ReadConsistency,
    /// The highest number acknowledged as agreed before the read was sent.
    floor: u64,
    /// The status, and the answer when it was a 200.
    status: u16,
    answer: Option<HighestRead>,
}

/// What the writers did: every number they sent, and the highest acknowledged as agreed.
#[derive(Debug, Default)]
struct Writes {
    sent: Mutex<BTreeSet<u64>>,
    acked: AtomicU64,
    acks: AtomicU64,
}

/// Raise numbers on `url` (rising, from the shared `next`) until stopped or `MAX_PER_CLIENT`.
fn writer(
    url: String,
    next: Arc<AtomicU64>,
    writes: Arc<Writes>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = client();
        for _ in 0..MAX_PER_CLIENT {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let began = Instant::now();
            let number = next.fetch_add(1, Ordering::SeqCst);
            writes.sent.lock().unwrap().insert(number);
            let person = json!({"name": format!("w{number}"), "number": number});
            let answer = client.post(format!("{url}/add_name")).json(&person).send().await;
            if let Ok(response) = answer {
                if let Ok(added) = response.json::<Added>().await {
                    // Acknowledged as agreed: from now on every linearizable read must see it.
                    if added.agreed == Some(true) && added.mode == SyncMode::CrdtPaxos {
                        writes.acked.fetch_max(number, Ordering::SeqCst);
                        writes.acks.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            tokio::time::sleep(EVERY.saturating_sub(began.elapsed())).await;
        }
    })
}

/// Read the highest number on each node in turn (from node `first`), asking `kinds` in turn,
/// until stopped or `MAX_PER_CLIENT`.
fn reader(
    urls: Vec<String>,
    first: usize,
    kinds: &'static [ReadConsistency],
    writes: Arc<Writes>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Read>> {
    tokio::spawn(async move {
        let client = client();
        let mut reads = Vec::new();
        for i in 0..MAX_PER_CLIENT {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let began = Instant::now();
            let node = (first + i) % urls.len();
            let asked = kinds[i % kinds.len()];
            let read = match asked {
                ReadConsistency::Linearizable => "linearizable",
                ReadConsistency::Local => "local",
            };
            // The floor is taken before the request leaves: acknowledged before it was sent.
            let floor = writes.acked.load(Ordering::SeqCst);
            let url = format!("{}/highest?read={read}", urls[node]);
            let (status, answer) = match client.get(url).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (status, response.json::<HighestRead>().await.ok())
                }
                Err(_) => (0, None),
            };
            reads.push(Read { node, asked, floor, status, answer });
            tokio::time::sleep(EVERY.saturating_sub(began.elapsed())).await;
        }
        reads
    })
}

/// One concurrent run of `RUN`: 4 writers raising on nodes 1–2, 4 readers alternating the two
/// kinds of read over the three nodes (the same setting for both). Returns every read.
async fn concurrent_run(urls: &[String], next: &Arc<AtomicU64>, writes: &Arc<Writes>) -> Vec<Read> {
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| writer(urls[w % 2].clone(), next.clone(), writes.clone(), stop.clone()))
        .collect();
    const BOTH: &[ReadConsistency] = &[ReadConsistency::Linearizable, ReadConsistency::Local];
    let readers: Vec<_> =
        (0..4).map(|r| reader(urls.to_vec(), r, BOTH, writes.clone(), stop.clone())).collect();
    tokio::time::sleep(RUN).await;
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    let mut reads = Vec::new();
    for reader in readers {
        reads.extend(reader.await.unwrap());
    }
    reads
}

/// Check one run's reads: every one answered, in CRDT + Paxos mode, as asked, with a number
/// somebody raised; no linearizable read below a raise acknowledged before it was sent. Returns
/// the stale local reads per node.
fn check(run: &str, reads: &[Read], writes: &Writes) -> [usize; 3] {
    let sent = writes.sent.lock().unwrap().clone();
    let linearizable = reads.iter().filter(|r| r.asked == ReadConsistency::Linearizable).count();
    assert!(linearizable >= 40, "{run}: only {} reads", reads.len());
    let failed: Vec<_> = reads.iter().filter(|r| r.status != 200 || r.answer.is_none()).collect();
    assert!(failed.is_empty(), "{run}: reads that failed with a majority up: {failed:#?}");
    let mut stale = Vec::new();
    let mut stale_local = [0; 3];
    for read in reads {
        let answer = read.answer.as_ref().unwrap();
        assert_eq!(answer.mode, SyncMode::CrdtPaxos, "{run}: a node switched modes: {read:?}");
        assert_eq!(answer.read, read.asked, "{run}: {read:?}");
        let number = answer.highest_number;
        // 0 is "none yet" (below every floor: caught as stale below); 1 was raised first.
        let raised = number <= 1 || sent.contains(&number);
        assert!(raised, "{run}: a number nobody raised: {read:?}");
        match (number < read.floor, read.asked) {
            (true, ReadConsistency::Linearizable) => stale.push(read),
            (true, ReadConsistency::Local) => stale_local[read.node] += 1,
            (false, _) => {}
        }
    }
    assert!(
        stale.is_empty(),
        "{run}: linearizable reads below a raise acknowledged before them: {stale:#?}"
    );
    eprintln!(
        "{run}: {} raises acknowledged so far; {linearizable} linearizable reads, none stale; {} \
         local reads, stale on node-1/2/3: {stale_local:?}",
        writes.acks.load(Ordering::SeqCst),
        reads.len() - linearizable,
    );
    stale_local
}

#[tokio::test(flavor = "multi_thread")]
async fn no_linearizable_read_misses_a_raise_acknowledged_before_it_was_sent() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let urls = lab.node_urls().await;
    // A first number agreed on node 1, so a leader is in place before the clocks start.
    let first: Added = support::post_json(
        &format!("{}/add_name", urls[0]),
        Some(&json!({"name": "a", "number": 1})),
    )
    .await;
    assert_eq!(first.agreed, Some(true), "{first:?}");
    let (next, writes) = (Arc::new(AtomicU64::new(2)), Arc::new(Writes::default()));
    writes.acked.store(1, Ordering::SeqCst);

    // Plain links: a local read is stale only in the instant between a decision and its
    // arrival at the node (now and then, not reliably: not asserted).
    let reads = concurrent_run(&urls, &next, &writes).await;
    check("plain links", &reads, &writes);

    // Links into node 3 slow (40 ms): it learns each decision late, so its local reads are
    // stale reliably — and its linearizable reads must wait for the read index to arrive.
    for from in ["node-1", "node-2"] {
        set_link_fault(&lab, from, "node-3", Some(json!({"latencyMs": 40}))).await;
    }
    let reads = concurrent_run(&urls, &next, &writes).await;
    let stale_local = check("40 ms into node-3", &reads, &writes);
    assert!(stale_local[2] > 0, "node 3's local reads were never stale: the run showed nothing");
    for from in ["node-1", "node-2"] {
        set_link_fault(&lab, from, "node-3", None).await;
    }
}

/// Set a fault on the link `from` → `to` (`None`: clear it) through the control plane.
async fn set_link_fault(lab: &Lab, from: &str, to: &str, fault: Option<Value>) {
    let client = reqwest::Client::new();
    let url = lab.url(&format!("/api/links/{from}/{to}"));
    let response = match fault {
        Some(fault) => client.put(url).json(&fault).send().await,
        None => client.delete(url).send().await,
    };
    assert_eq!(response.unwrap().status(), 200);
}

async fn set_link(lab: &Lab, from: &str, to: &str, cut: bool) {
    set_link_fault(lab, from, to, cut.then(|| json!({"cut": true}))).await;
}

/// `GET /highest?read=...` on `url`: the status, the JSON body, how long the answer took.
async fn highest(url: &str, read: &str) -> (u16, Value, Duration) {
    let began = Instant::now();
    let response = client().get(format!("{url}/highest?read={read}")).send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap();
    (status, body, began.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_cut_off_from_both_peers_answers_503_rather_than_its_stale_number() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let urls = lab.node_urls().await;
    let add = |url: &String, number: u64| {
        let url = format!("{url}/add_name");
        async move {
            let person = json!({"name": format!("n{number}"), "number": number});
            support::post_json::<Added>(&url, Some(&person)).await
        }
    };
    assert_eq!(add(&urls[0], 5).await.agreed, Some(true));
    let (status, body, _) = highest(&urls[2], "linearizable").await;
    assert_eq!(
        (status, &body["highestNumber"], &body["read"]),
        (200, &json!(5), &json!("linearizable"))
    );

    for other in ["node-1", "node-2"] {
        set_link(&lab, "node-3", other, true).await;
        set_link(&lab, other, "node-3", true).await;
    }
    let raised = add(&urls[0], 9).await;
    assert_eq!(raised.agreed, Some(true), "nodes 1 and 2 agree without node 3: {raised:?}");
    // Node 3 cannot have heard of 9: its local read is stale, knowingly.
    let (status, body, _) = highest(&urls[2], "local").await;
    assert_eq!((status, &body["highestNumber"], &body["read"]), (200, &json!(5), &json!("local")));
    // Its linearizable read cannot confirm anything: 503 within the bound, not the stale 5.
    let (status, body, took) = highest(&urls[2], "linearizable").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], 503, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("majority")), "{body}");
    let bound = backend::sync_node::node::READ_TIMEOUT;
    assert!(took >= bound && took < bound + Duration::from_secs(1), "answered after {took:?}");
    // Nodes 1 and 2 still serve linearizable reads.
    let (status, body, _) = highest(&urls[1], "linearizable").await;
    assert_eq!((status, &body["highestNumber"]), (200, &json!(9)), "{body}");

    // Healed: node 3 reads 9 linearizably (once it is back in touch; bounded).
    for other in ["node-1", "node-2"] {
        set_link(&lab, "node-3", other, false).await;
        set_link(&lab, other, "node-3", false).await;
    }
    support::wait_until("node 3 reads 9 linearizably", Duration::from_secs(15), async || {
        let (status, body, _) = highest(&urls[2], "linearizable").await;
        status == 200 && body["highestNumber"] == 9
    })
    .await;
}

/// A lone node (a cluster of one: its own vote is the majority), in-process.
mod lone_node {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use backend::sync_node::node::{NodeConfig, SyncNode};

    async fn node(peers: Vec<(u64, String)>) -> (axum::Router, SyncNode, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = NodeConfig {
            id: 1,
            name: "node-1".into(),
            bind: "127.0.0.1".into(),
            port: 0,
            peers,
            high: 1_000,
            low: 500,
            window: std::time::Duration::from_secs(1),
            anti_entropy: std::time::Duration::from_secs(1),
        };
        let service = backend::sync_node::service("node-1");
        let node = SyncNode::open(config, &dir.path().join("n.sqlite3"), &service).await.unwrap();
        let (app, _io) = backend::sync_node::router(service, node.clone());
        (app, node, dir)
    }

    async fn call(
        app: &axum::Router,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("{uri}: not JSON: {bytes:?}")),
        )
    }

    #[tokio::test]
    async fn the_route_reads_both_ways_refuses_bad_queries_and_says_when_it_is_only_local() {
        let (app, node, _dir) = node(Vec::new()).await;
        let (status, body) = call(&app, "GET", "/highest", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            json!({"highestNumber": 0, "read": "linearizable", "node": "node-1", "instance": 0,
                   "mode": "crdt-paxos", "reason": null})
        );
        let (status, _) =
            call(&app, "POST", "/add_name", Some(json!({"name": "ana", "number": 7}))).await;
        assert_eq!(status, StatusCode::OK);
        for (query, read) in
            [("", "linearizable"), ("?read=linearizable", "linearizable"), ("?read=local", "local")]
        {
            let (status, body) = call(&app, "GET", &format!("/highest{query}"), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(
                (&body["highestNumber"], &body["read"], &body["instance"]),
                (&json!(7), &json!(read), &json!(1)),
                "{query}: {body}"
            );
        }
        for bad in ["?read=strong", "?read=", "?read=local&read=local", "?reads=local"] {
            let (status, body) = call(&app, "GET", &format!("/highest{bad}"), None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
            assert_eq!(body["code"], 400, "{bad}: {body}");
            assert!(body["message"].is_string(), "{bad}: {body}");
        }

        // CRDT-only: Paxos is bypassed, so a linearizable read is answered locally, and says so.
        node.force_crdt_only(true);
        let (status, body) = call(&app, "GET", "/highest", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (&body["read"], &body["mode"], &body["instance"]),
            (&json!("local"), &json!("crdt-only"), &Value::Null),
            "{body}"
        );
        assert!(body["reason"].as_str().is_some_and(|r| r.contains("CRDT-only")), "{body}");
        let (_, body) = call(&app, "GET", "/highest?read=local", None).await;
        assert_eq!(
            (&body["read"], &body["reason"]),
            (&json!("local"), &Value::Null),
            "asked local, got local: {body}"
        );
        node.force_crdt_only(false);
    }

    // Real time, not `start_paused`: the node's database calls run on blocking threads, and a
    // paused clock would jump past the service's request timeout while one runs.
    #[tokio::test]
    async fn with_its_only_peer_silent_a_linearizable_read_is_503_after_the_bound() {
        // Node 2 is named but never reached (no background sender runs): no majority of two.
        let (app, _node, _dir) = node(vec![(2, "http://127.0.0.1:9".into())]).await;
        let began = std::time::Instant::now();
        let (status, body) = call(&app, "GET", "/highest", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], 503, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| m.contains("majority")), "{body}");
        let (took, bound) = (began.elapsed(), backend::sync_node::node::READ_TIMEOUT);
        assert!(took >= bound && took < bound + std::time::Duration::from_secs(1), "{took:?}");
        let (status, body) = call(&app, "GET", "/highest?read=local", None).await;
        assert_eq!(
            (status, &body["read"]),
            (StatusCode::OK, &json!("local")),
            "the local read still answers"
        );
    }
}
