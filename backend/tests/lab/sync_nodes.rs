//! Three sync nodes as real processes: updates reach every node, partitions heal by themselves,
//! Paxos progresses with one node down, load switches modes and back, data survives restarts.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::json;
use shared::sync::{Added, LoadInfo, NodeData, PaxosRole, PaxosStatus, SyncMode};
use support::Lab;

async fn data(url: &str) -> NodeData {
    support::get_json(&format!("{url}/get_data")).await
}

/// Add a person (an error answer does not read as [`Added`]: the test fails).
async fn add(url: &str, name: &str, number: u64) {
    add_answer(url, name, number).await;
}

/// Wait (bounded) until every node in `urls` holds the same persons and highest number, and
/// that highest number is `highest`; returns how long it took.
async fn converged(urls: &[String], persons: usize, highest: u64) -> Duration {
    let started = Instant::now();
    loop {
        let mut all = Vec::new();
        for url in urls {
            all.push(data(url).await);
        }
        let same = all
            .windows(2)
            .all(|w| w[0].persons == w[1].persons && w[0].highest_number == w[1].highest_number);
        if same && all[0].persons.len() == persons && all[0].highest_number == highest {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no convergence within 20 s: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn set_link(lab: &Lab, from: &str, to: &str, cut: bool) {
    let client = reqwest::Client::new();
    let url = lab.url(&format!("/api/links/{from}/{to}"));
    let response = if cut {
        client.put(url).json(&json!({"cut": true})).send().await
    } else {
        client.delete(url).send().await
    };
    assert_eq!(response.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_converge_through_partitions_crashes_and_mode_switches() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let urls = lab.node_urls().await;

    // An update on node 1 reaches nodes 2 and 3; Paxos agrees on the highest number.
    add(&urls[0], "ana", 7).await;
    converged(&urls, 1, 7).await;

    // Partition node 3 off both ways; both sides keep taking writes; heal: they converge alone.
    for other in ["node-1", "node-2"] {
        set_link(&lab, "node-3", other, true).await;
        set_link(&lab, other, "node-3", true).await;
    }
    add(&urls[0], "bo", 20).await;
    add(&urls[2], "cy", 11).await;
    // Node 2 has "bo" (node 1's push went out): node 3, cut off, must not.
    support::wait_until("bo on node 2", Duration::from_secs(5), async || {
        data(&urls[1]).await.persons.iter().any(|p| p.name == "bo")
    })
    .await;
    assert!(data(&urls[2]).await.persons.iter().all(|p| p.name != "bo"), "node 3 is cut off");
    for other in ["node-1", "node-2"] {
        set_link(&lab, "node-3", other, false).await;
        set_link(&lab, other, "node-3", false).await;
    }
    let took = converged(&urls, 3, 20).await;
    eprintln!("converged {took:?} after the partition healed");

    // Paxos progresses with one of three nodes down.
    let (code, _) = lab.post("/api/services/node-3/kill").await;
    assert_eq!(code, 200);
    add(&urls[0], "di", 99).await;
    converged(&urls[..2], 4, 99).await;

    // Node 3 comes back with its data and catches up.
    lab.post("/api/services/node-3/restart").await;
    lab.wait_all_up().await;
    converged(&urls, 4, 99).await;

    // Load switches node 2 to CRDT-only; numbers added meanwhile still converge.
    let client = reqwest::Client::new();
    for _ in 0..120 {
        client.get(format!("{}/get_data", urls[1])).send().await.unwrap();
    }
    let load: LoadInfo = support::get_json(&format!("{}/get_load", urls[1])).await;
    assert_eq!(load.mode, SyncMode::CrdtOnly, "{load:?}");
    add(&urls[1], "ed", 150).await;
    // Forced on node 1 too, then released everywhere: once quiet, all agree again.
    let forced: LoadInfo =
        support::post_json(&format!("{}/switch_to_crdt_only", urls[0]), None).await;
    assert!(forced.forced && forced.mode == SyncMode::CrdtOnly);
    add(&urls[0], "fi", 160).await;
    client.post(format!("{}/switch_to_normal", urls[0])).send().await.unwrap();
    let took = converged(&urls, 6, 160).await;
    eprintln!("converged {took:?} after the mode switches");
    // The polling above is load too (every request counts): once it stops, the window drains
    // and every node switches back by itself (`/get_load` is not counted).
    let deadline = Instant::now() + Duration::from_secs(10);
    for url in &urls {
        loop {
            let load: LoadInfo = support::get_json(&format!("{url}/get_load")).await;
            if load.mode == SyncMode::CrdtPaxos {
                break;
            }
            assert!(Instant::now() < deadline, "{url} stayed CRDT-only once quiet: {load:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(data(&urls[2]).await.highest_number, 160, "the agreed number after switching back");

    // Bad input is refused without harm; the manual pull still works.
    let bad = client
        .post(format!("{}/add_name", urls[0]))
        .json(&json!({"name": "x", "number": "abc"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let pulled: NodeData = support::get_json(&format!("{}/data_transfer", urls[2])).await;
    assert_eq!(pulled.persons.len(), 6);
}

async fn paxos(url: &str) -> PaxosStatus {
    support::get_json(&format!("{url}/paxos/status")).await
}

async fn add_answer(url: &str, name: &str, number: u64) -> Added {
    let person = json!({"name": name, "number": number});
    support::post_json(&format!("{url}/add_name"), Some(&person)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_paxos_leader_fails_over_and_the_agreed_number_survives_a_full_restart() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let urls = lab.node_urls().await;

    // The first number makes node 1 the leader; a number added on node 2 is forwarded to it
    // and agreed without a change of leader.
    let first = add_answer(&urls[0], "ana", 10).await;
    assert_eq!(first.agreed, Some(true), "{first:?}");
    assert_eq!(paxos(&urls[0]).await.role, PaxosRole::Leader);
    let forwarded = add_answer(&urls[1], "bo", 20).await;
    assert_eq!((forwarded.agreed, forwarded.highest_number), (Some(true), 20), "{forwarded:?}");
    let (one, two) = (paxos(&urls[0]).await, paxos(&urls[1]).await);
    assert_eq!((one.role, two.role, two.leader), (PaxosRole::Leader, PaxosRole::Follower, Some(1)));
    assert_eq!(one.decided, 2, "{one:?}");

    // The leader dies: node 2's next number waits for its forward to time out, then node 2 (or
    // 3) runs phase 1 and the two survivors agree on it.
    let (code, _) = lab.post("/api/services/node-1/kill").await;
    assert_eq!(code, 200);
    add(&urls[1], "cy", 30).await;
    converged(&urls[1..], 3, 30).await;
    let leaders = [paxos(&urls[1]).await, paxos(&urls[2]).await];
    assert!(leaders.iter().any(|s| s.role == PaxosRole::Leader), "a new leader: {leaders:?}");

    // Node 1 comes back and follows the new leader.
    lab.post("/api/services/node-1/restart").await;
    lab.wait_all_up().await;
    converged(&urls, 3, 30).await;
    add(&urls[0], "di", 40).await;
    converged(&urls, 4, 40).await;
    assert_ne!(
        paxos(&urls[0]).await.role,
        PaxosRole::Leader,
        "the old leader does not take over again"
    );

    // Every node killed at once and restarted: the agreed number comes back from the disks.
    for n in 1..=3 {
        let (code, _) = lab.post(&format!("/api/services/node-{n}/kill")).await;
        assert_eq!(code, 200);
    }
    for n in 1..=3 {
        lab.post(&format!("/api/services/node-{n}/restart")).await;
    }
    lab.wait_all_up().await;
    converged(&urls, 4, 40).await;
    let after = add_answer(&urls[2], "ed", 50).await;
    assert_eq!(after.agreed, Some(true), "Paxos works after a full restart: {after:?}");
    converged(&urls, 5, 50).await;
}
