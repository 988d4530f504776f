//! `crdt-set`: clients add persons on all three sync nodes and read each node's persons, judged
//! as a grow-only `set` (Maelstrom's g-set): after the heal and quiescence, every node's final
//! read must hold every acknowledged add, and no read may hold what nobody added.
//!
//! An add is `POST /add_name {"name"}` with a name unique to the run (`<run>-<process>-<n>`);
//! a read is `GET /get_data`, keeping only this run's names (persons from earlier runs are not
//! this history's to judge).

use std::time::Duration;

use rand::Rng;
use serde_json::{json, Map, Value};
use shared::ServiceKind;

use super::{answer_json, nemesis, settle, Done, Run};
use crate::control::ControlError;

/// Clients: two on each node.
const PROCESSES: u64 = 6;

/// How long the nodes get to hold the same persons after the heal.
const SETTLE: Duration = Duration::from_secs(15);

pub(super) async fn run(run: &Run<'_>) -> Result<(), ControlError> {
    let nodes = run.urls(ServiceKind::SyncNode);
    if nodes.len() < 3 {
        return Err(ControlError::Conflict("crdt-set needs the three sync nodes".into()));
    }
    let targets: Vec<String> = nodes.iter().map(|(name, _)| name.clone()).collect();
    let prefix = format!("{}-", run.id);
    let planned = nemesis::plan(&run.spec.nemesis, &targets, run.time(), &mut run.rng(0));
    let clients = (0..PROCESSES).map(|p| client(run, p, &nodes[(p % 3) as usize], &prefix));
    tokio::join!(futures::future::join_all(clients), nemesis::execute(run, planned, &targets));
    run.healing();
    nemesis::heal_all(run, &targets, &targets).await;
    let converged = settle(SETTLE, || async {
        let mut seen = Vec::new();
        for (_, url) in &nodes {
            seen.push(names(run, url, &prefix).await.ok());
        }
        seen.iter().all(|s| s.is_some() && *s == seen[0])
    })
    .await;
    tracing::info!(converged = ?converged, "crdt-set: nodes settled");
    // Every process's final read, from its own node.
    for p in 0..PROCESSES {
        let (node, url) = &nodes[(p % 3) as usize];
        run.op(p, "read", Value::Null, field(node), read(run, url, &prefix)).await;
    }
    Ok(())
}

async fn client(run: &Run<'_>, process: u64, (node, url): &(String, String), prefix: &str) {
    let mut rng = run.rng(1 + process);
    let pace = run.pace(PROCESSES as usize);
    let deadline = tokio::time::Instant::now() + run.time();
    let mut added = 0;
    while tokio::time::Instant::now() < deadline {
        let began = tokio::time::Instant::now();
        if rng.random_bool(0.7) {
            added += 1;
            let name = format!("{prefix}{process}-{added}");
            run.op(process, "add", json!(name), field(node), add(run, url, &name)).await;
        } else {
            run.op(process, "read", Value::Null, field(node), read(run, url, prefix)).await;
        }
        tokio::time::sleep_until(began + pace).await;
    }
}

fn field(node: &str) -> Map<String, Value> {
    Map::from_iter([("node".to_owned(), Value::from(node))])
}

async fn add(run: &Run<'_>, url: &str, name: &str) -> Done {
    let sent =
        run.client.post(format!("{url}/add_name")).json(&json!({ "name": name })).send().await;
    match answer_json::<Value>(sent, true).await {
        Ok(_) => Done::Ok(json!(name)),
        Err(done) => done,
    }
}

async fn read(run: &Run<'_>, url: &str, prefix: &str) -> Done {
    match names(run, url, prefix).await {
        Ok(names) => Done::Ok(json!(names)),
        Err(done) => done,
    }
}

/// The node's persons of this run, sorted.
async fn names(run: &Run<'_>, url: &str, prefix: &str) -> Result<Vec<String>, Done> {
    let sent = run.client.get(format!("{url}/get_data")).send().await;
    let data: Value = answer_json(sent, false).await?;
    let persons = data
        .get("persons")
        .and_then(Value::as_array)
        .ok_or_else(|| Done::Fail("no persons in the answer".into()))?;
    let mut names: Vec<String> = persons
        .iter()
        .filter_map(|p| p.get("name")?.as_str())
        .filter(|name| name.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}
