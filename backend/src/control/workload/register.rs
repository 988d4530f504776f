//! `paxos-register`: clients raise the sync nodes' agreed highest number and read it, on all
//! three nodes, judged as a `max-register` (linearizability).
//!
//! A raise is `POST /add_name {"name", "number"}`: `ok` once the node answers that the nodes
//! agreed (`agreed: true`), or — in CRDT-only mode, where nothing is agreed — once the node took
//! it (`agreed: null`: that mode's promise, which the checker then holds it to); `info` when the
//! node answered before agreement (`agreed: false`) or not at all. Raised numbers only go up, so
//! a read below an acknowledged raise stands out. A read is the run's [`ReadPath`]: the node's
//! local state (`GET /get_data`, the original's read) or a linearizable one
//! (`GET /highest?read=linearizable`).
//!
//! The run starts above whatever the nodes already hold: its first operation raises their
//! highest number plus one, and must be agreed before the clients start.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use serde_json::{json, Map, Value};
use shared::control::ReadPath;
use shared::ServiceKind;

use super::{answer_json, nemesis, settle, Done, Run};
use crate::control::ControlError;

/// Clients: a third of them on each node.
const PROCESSES: u64 = 6;

/// How long the nodes get to agree on the same highest number after the heal.
const SETTLE: Duration = Duration::from_secs(10);

pub(super) async fn run(run: &Run<'_>) -> Result<(), ControlError> {
    let nodes = run.urls(ServiceKind::SyncNode);
    if nodes.len() < 3 {
        return Err(ControlError::Conflict("paxos-register needs the three sync nodes".into()));
    }
    let targets: Vec<String> = nodes.iter().map(|(name, _)| name.clone()).collect();
    let mut highest = 0;
    for (_, url) in &nodes {
        if let Some(n) = local_highest(run, url).await {
            highest = highest.max(n);
        }
    }
    // The set-up client's raise: the starting number, agreed before anything else happens.
    let start = highest + 1;
    let first = run
        .op(
            PROCESSES,
            "raise",
            json!(start),
            node_field(&nodes[0].0),
            raise(run, &nodes[0].1, PROCESSES, start),
        )
        .await;
    if !matches!(first, Done::Ok(_)) {
        return Err(ControlError::Conflict(format!(
            "the nodes did not agree on the starting number {start} ({first:?}): heal the lab first"
        )));
    }
    let next = AtomicU64::new(start + 1);
    let planned = nemesis::plan(&run.spec.nemesis, &targets, run.time(), &mut run.rng(0));
    let clients = (0..PROCESSES).map(|p| client(run, p, &nodes[(p % 3) as usize], &next));
    tokio::join!(futures::future::join_all(clients), nemesis::execute(run, planned, &targets));
    run.healing();
    nemesis::heal_all(run, &targets, &targets).await;
    let agreed = settle(SETTLE, || async {
        let mut seen = Vec::new();
        for (_, url) in &nodes {
            seen.push(local_highest(run, url).await);
        }
        seen.iter().all(|n| n.is_some() && *n == seen[0])
    })
    .await;
    tracing::info!(settled = ?agreed, "paxos-register: nodes settled");
    Ok(())
}

/// One client: raise or read, half and half, at its share of the rate, until the time is up.
async fn client(run: &Run<'_>, process: u64, (node, url): &(String, String), next: &AtomicU64) {
    let mut rng = run.rng(1 + process);
    let pace = run.pace(PROCESSES as usize);
    let deadline = tokio::time::Instant::now() + run.time();
    while tokio::time::Instant::now() < deadline {
        let began = tokio::time::Instant::now();
        if rng.random_bool(0.5) {
            let value = next.fetch_add(1, Ordering::Relaxed);
            run.op(
                process,
                "raise",
                json!(value),
                node_field(node),
                raise(run, url, process, value),
            )
            .await;
        } else {
            run.op(process, "read", Value::Null, node_field(node), read(run, url)).await;
        }
        tokio::time::sleep_until(began + pace).await;
    }
}

fn node_field(node: &str) -> Map<String, Value> {
    Map::from_iter([("node".to_owned(), Value::from(node))])
}

async fn raise(run: &Run<'_>, url: &str, process: u64, value: u64) -> Done {
    let body = json!({ "name": format!("t{process}-{value}"), "number": value });
    let sent = run.client.post(format!("{url}/add_name")).json(&body).send().await;
    match answer_json::<Value>(sent, true).await {
        Ok(added) => match added.get("agreed") {
            Some(Value::Bool(true)) | Some(Value::Null) | None => Done::Ok(json!(value)),
            Some(_) => Done::Info("the node answered before the nodes agreed".into()),
        },
        Err(done) => done,
    }
}

async fn read(run: &Run<'_>, url: &str) -> Done {
    let (path, field) = match run.spec.read {
        ReadPath::Local => ("/get_data", "highestNumber"),
        ReadPath::Linearizable => ("/highest?read=linearizable", "highestNumber"),
    };
    let sent = run.client.get(format!("{url}{path}")).send().await;
    match answer_json::<Value>(sent, false).await {
        Ok(answer) => match answer.get(field).and_then(Value::as_u64) {
            Some(n) => Done::Ok(json!(n)),
            None => Done::Fail(format!("no {field} in the answer")),
        },
        Err(done) => done,
    }
}

/// A node's own highest number, unrecorded (`None`: no answer).
async fn local_highest(run: &Run<'_>, url: &str) -> Option<u64> {
    let answer = run.client.get(format!("{url}/get_data")).send().await.ok()?;
    answer.json::<Value>().await.ok()?.get("highestNumber")?.as_u64()
}
