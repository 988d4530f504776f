//! Recordings and test runs against a real lab: one history merged from every service (messages
//! with vector clocks, the control plane's faults, the clients' operations), saved with its run
//! and judged; the deliberate bugs found by a seeded run, and the same seed valid without them.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use shared::control::{RunInfo, RunState};
use shared::history::{Event, FaultKind, Validity};
use support::{history, test_run, Lab};

async fn send(lab: &Lab, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, lab.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `a` happened before or is `b` in vector-clock order.
fn precedes(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> bool {
    a.iter().all(|(service, n)| b.get(service).is_some_and(|m| m >= n))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_merges_every_services_messages_and_the_faults_on_one_clock() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let (status, run) =
        send(&lab, reqwest::Method::POST, "/api/recordings", Some(json!({"name": "by hand"})))
            .await;
    assert_eq!(status, 201, "{run}");
    let run: RunInfo = serde_json::from_value(run).unwrap();
    assert_eq!((run.state, run.name.as_str()), (RunState::Recording, "by hand"));
    let again = send(&lab, reqwest::Method::POST, "/api/recordings", Some(json!({}))).await;
    assert_eq!(again.0, 409, "one recording at a time: {}", again.1);

    let nodes = lab.node_urls().await;
    let cut =
        send(&lab, reqwest::Method::PUT, "/api/links/node-3/node-1", Some(json!({"cut": true})))
            .await;
    assert_eq!(cut.0, 200, "{}", cut.1);
    let added: Value = support::post_json(
        &format!("{}/add_name", nodes[0]),
        Some(&json!({"name": "ana", "number": 41})),
    )
    .await;
    assert_eq!(added["agreed"], json!(true), "{added}");
    assert_eq!(send(&lab, reqwest::Method::DELETE, "/api/links/node-3/node-1", None).await.0, 200);
    // The collector fetches every 200 ms; the stop fetches what is left.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, stopped) =
        send(&lab, reqwest::Method::POST, &format!("/api/recordings/{}/stop", run.id), None).await;
    assert_eq!(status, 200, "{stopped}");
    let stopped: RunInfo = serde_json::from_value(stopped).unwrap();
    assert_eq!((stopped.state, stopped.dropped), (RunState::Done, 0));

    let events = history(&lab, &run.id).await;
    assert_eq!(events.len() as u64, stopped.events);
    assert!(events.windows(2).all(|w| w[0].time() <= w[1].time()), "sorted by time");
    assert!(
        matches!(&events[0], Event::Note(n) if n.service == "control" && n.f == "recording"),
        "{:?}",
        events[0]
    );
    let faults: Vec<(FaultKind, Value)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Nemesis(f) => Some((f.f, f.target.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        faults,
        vec![
            (FaultKind::Cut, json!(["node-3", "node-1"])),
            (FaultKind::Heal, json!(["node-3", "node-1"]))
        ]
    );
    // node-1's Paxos messages to node-2: each send has its receipt, later in clock and time.
    let sends: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Send(m) if m.from == "node-1" && m.to == "node-2" && m.msg != "health" => {
                Some(m)
            }
            _ => None,
        })
        .collect();
    assert!(!sends.is_empty(), "node-1 sent node-2 nothing?");
    let mut received = 0;
    for send in &sends {
        let recv = events.iter().find_map(|e| match e {
            Event::Recv(m) if m.id == send.id => Some(m),
            _ => None,
        });
        if let Some(recv) = recv {
            received += 1;
            assert_eq!(
                (recv.from.as_str(), recv.to.as_str(), &recv.msg),
                ("node-1", "node-2", &send.msg)
            );
            assert!(
                precedes(&send.clock, &recv.clock) && recv.time >= send.time,
                "{send:?} → {recv:?}"
            );
        }
    }
    assert!(received > 0, "none of node-1's {} messages to node-2 was received", sends.len());
    assert!(
        sends.iter().any(|m| m.fields.get("body").is_some_and(|b| b["messages"].is_array())),
        "a Paxos batch keeps its messages: {:?}",
        sends[0]
    );
    // Replies are messages too, back to the sender: node-2 sent a reply (it carries the status
    // it answered with), and node-1 received that very message.
    let replies: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Send(m) if m.from == "node-2" && m.to == "node-1" => {
                m.fields.get("status").map(|_| m.id)
            }
            _ => None,
        })
        .collect();
    assert!(!replies.is_empty(), "node-2 replied to node-1 nothing");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Recv(m) if m.to == "node-1" && replies.contains(&m.id))),
        "none of node-2's {} replies was received by node-1",
        replies.len()
    );

    let runs: Vec<RunInfo> = support::get_json(&lab.url("/api/recordings")).await;
    assert_eq!(runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), vec![run.id.as_str()]);
    // No client read the persons by hand: the set checker cannot tell, and says so.
    let check = format!("/api/recordings/{}/check", run.id);
    let (status, verdict) =
        send(&lab, reqwest::Method::POST, &check, Some(json!({"model": "set"}))).await;
    assert_eq!(
        (status, &verdict["valid"], &verdict["ops"]),
        (200, &json!("unknown"), &json!(0)),
        "{verdict}"
    );
    assert_eq!(
        send(&lab, reqwest::Method::POST, &check, Some(json!({"model": "nope"}))).await.0,
        400
    );
    assert_eq!(send(&lab, reqwest::Method::GET, "/api/recordings/no-such-run", None).await.0, 404);
    assert_eq!(
        send(&lab, reqwest::Method::POST, &format!("/api/recordings/{}/stop", run.id), None)
            .await
            .0,
        409
    );

    // Runs survive a restart of the lab.
    let data = lab.stop();
    let lab = Lab::up_in(data);
    let again: RunInfo = support::get_json(&lab.url(&format!("/api/recordings/{}", run.id))).await;
    assert_eq!(
        (again.events, again.verdict.map(|v| v.valid)),
        (stopped.events, Some(Validity::Unknown))
    );
    assert_eq!(history(&lab, &run.id).await.len(), events.len());
}

fn anomalies(run: &RunInfo) -> Vec<String> {
    run.verdict
        .as_ref()
        .map(|v| v.anomalies.iter().map(|a| a.kind.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seeded_run_finds_each_deliberate_bug_and_the_same_seed_is_valid_without_it() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let set = |bugs: Value| json!({"workload": "crdt-set", "timeS": 4, "rate": 40, "seed": 7, "bugs": bugs});
    let buggy = test_run(&lab, set(json!(["crdt-forget-remote-adds"]))).await;
    assert_eq!(buggy.bugs.get("node-1").map(Vec::len), Some(1), "the run lists the bugs on");
    assert_eq!(buggy.verdict.as_ref().unwrap().valid, Validity::False);
    assert!(anomalies(&buggy).contains(&"lost".to_owned()), "{:?}", buggy.verdict);
    let health: shared::HealthReport =
        support::get_json(&format!("{}/health", lab.node_urls().await[0])).await;
    assert!(health.bugs.is_empty(), "the run switched its bug off again");
    let clean = test_run(&lab, set(json!([]))).await;
    assert_eq!(clean.verdict.as_ref().unwrap().valid, Validity::True, "{:?}", clean.verdict);

    let mirror = |bugs: Value| json!({"workload": "mirror-sync", "nemesis": ["partition"], "timeS": 6, "rate": 40, "seed": 7, "bugs": bugs});
    let buggy = test_run(&lab, mirror(json!(["mirror-ack-before-mirror-commit"]))).await;
    assert_eq!(buggy.verdict.as_ref().unwrap().valid, Validity::False, "{:?}", buggy.verdict);
    assert!(anomalies(&buggy).contains(&"lost".to_owned()), "{:?}", buggy.verdict);
    let clean = test_run(&lab, mirror(json!([]))).await;
    assert_eq!(clean.verdict.as_ref().unwrap().valid, Validity::True, "{:?}", clean.verdict);
    let events = history(&lab, &clean.id).await;
    assert!(
        events.iter().any(|e| matches!(e, Event::Nemesis(f) if f.f == FaultKind::Kill)),
        "the primary was killed"
    );
    assert!(
        events.iter().any(|e| matches!(e, Event::Note(n) if n.f == "failover")),
        "and failed over"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lab_test_prints_the_verdict_and_exits_with_it() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_lab"))
            .args(["test", "--control", &lab.url, "--time", "3", "--rate", "30", "--seed", "5"])
            .args(args)
            .output()
            .unwrap()
    };
    let clean = tokio::task::block_in_place(|| run(&["--workload", "crdt-set"]));
    let verdict: Value = serde_json::from_slice(&clean.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&clean.stderr);
    assert_eq!(
        (clean.status.code(), &verdict["valid"]),
        (Some(0), &json!(true)),
        "{verdict} {stderr}"
    );
    assert!(stderr.contains("/history.jsonl"), "says where the history is: {stderr}");
    let buggy = tokio::task::block_in_place(|| {
        run(&["--workload", "crdt-set", "--bug", "crdt-forget-remote-adds"])
    });
    assert_eq!(buggy.status.code(), Some(1), "{}", String::from_utf8_lossy(&buggy.stdout));
    let bad = tokio::task::block_in_place(|| run(&["--workload", "crdt-set", "--rate", "0"]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("rate"));
}

#[tokio::test(flavor = "multi_thread")]
async fn paxos_register_is_not_linearizable_with_local_reads_nor_in_crdt_only_mode_and_is_with_quorum_reads(
) {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let spec = |read: &str, crdt_only: bool| {
        json!({"workload": "paxos-register", "nemesis": ["partition", "kill"], "timeS": 8,
               "rate": 60, "seed": 1, "read": read, "crdtOnly": crdt_only})
    };
    // Today's read path: each node answers from its own state.
    let local = test_run(&lab, spec("local", false)).await;
    assert_eq!(local.verdict.as_ref().unwrap().valid, Validity::False, "{:?}", local.verdict);
    assert!(anomalies(&local).contains(&"stale-read".to_owned()), "{:?}", local.verdict);
    // Reads confirmed by a quorum (ReadIndex): the same seed and faults are linearizable.
    let linearizable = test_run(&lab, spec("linearizable", false)).await;
    assert_eq!(
        linearizable.verdict.as_ref().unwrap().valid,
        Validity::True,
        "{:?}",
        linearizable.verdict
    );
    // CRDT-only mode acknowledges raises nobody agreed on: under a partition, reads elsewhere
    // miss them — even a linearizable read, which that mode answers locally.
    let crdt = test_run(&lab, spec("linearizable", true)).await;
    assert_eq!(crdt.verdict.as_ref().unwrap().valid, Validity::False, "{:?}", crdt.verdict);
    assert!(anomalies(&crdt).iter().any(|a| a == "stale-read" || a == "not-linearizable"));
    let load: Value = support::get_json(&format!("{}/get_load", lab.node_urls().await[0])).await;
    assert_eq!(load["forced"], json!(false), "the run let the nodes decide their mode again");
}
