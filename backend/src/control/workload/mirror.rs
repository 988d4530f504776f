//! `mirror-sync` and `mirror-async`: clients write products to the mirrored shop (:3010) or the
//! replicated one (:3020) while the front's lag is noted; halfway through, the primary store is
//! killed and the front fails over; at the end one client reads every product back. Judged by
//! the `mirror` model: under synchronous mirroring no acknowledged write may be lost; under
//! asynchronous replication at most the lag the front reported before the failure.
//!
//! The failover is this workload's fault; with `--nemesis partition`, the front's link to the
//! mirror store is also cut for the quarter before the kill (and healed after it). A write is
//! `POST /products {"name": <key>}` (`ok` on 2xx); the read is `GET /products`, keeping this
//! run's keys only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{json, Map, Value};
use shared::control::{LinkFault, Nemesis, ProcessAction, Workload};
use shared::replication::{FailoverReport, ReplicationStatus};

use super::{answer_json, settle, Done, Run};
use crate::control::{change_link, row, ControlError};
use crate::service::links::peer_key;

/// Writers.
const PROCESSES: u64 = 3;

/// The process that reads everything back.
const READER: u64 = PROCESSES;

/// How often the front's lag is noted.
const LAG_EVERY: Duration = Duration::from_millis(100);

/// How long the old primary gets to come back and be rebuilt as the mirror.
const REBUILD: Duration = Duration::from_secs(10);

pub(super) async fn run(run: &Run<'_>) -> Result<(), ControlError> {
    let (front, mode, stores) = match run.spec.workload {
        Workload::MirrorSync => ("mirroring", "sync", ["store-sync-primary", "store-sync-mirror"]),
        Workload::MirrorAsync => {
            ("replication", "async", ["store-async-primary", "store-async-mirror"])
        }
        other => return Err(ControlError::Conflict(format!("{other} is not a mirror workload"))),
    };
    let front_url = row(run.state, front)?.url;
    let status = replication(run, &front_url).await?;
    if let Some(conflict) = status.conflict {
        return Err(ControlError::Conflict(format!("{front}'s stores conflict: {conflict}")));
    }
    if status.mirror.is_none() {
        return Err(ControlError::Conflict(format!("{front} has no mirror: rebuild it first")));
    }
    let mut victim = stores[0];
    for name in stores {
        if peer_key(&row(run.state, name)?.url) == peer_key(&status.primary) {
            victim = name;
        }
    }
    run.state.recordings.note(front, "mode", json!(mode));
    let prefix = format!("{}-", run.id);
    let writing = AtomicBool::new(true);
    let writers = (0..PROCESSES).map(|p| writer(run, p, &front_url, &prefix));
    let lag = watch_lag(run, front, &front_url, &writing);
    let mirror_store = stores.into_iter().find(|s| *s != victim).unwrap_or(stores[1]);
    let cut_mirror = run.spec.nemesis.contains(&Nemesis::Partition);
    let cut = LinkFault { cut: true, ..LinkFault::default() };
    let failover = async {
        if cut_mirror {
            // The front cannot reach the mirror for the second quarter: a synchronous front must
            // refuse writes it cannot mirror; what it acknowledges anyway, the failover loses.
            tokio::time::sleep(run.time() / 4).await;
            change_link(run.state, front, mirror_store, cut).await?;
            tokio::time::sleep(run.time() / 4).await;
        } else {
            tokio::time::sleep(run.time() / 2).await;
        }
        run.state.supervisor.act(victim, ProcessAction::Kill).await?;
        if cut_mirror {
            change_link(run.state, front, mirror_store, LinkFault::default()).await?;
        }
        let sent = run.client.post(format!("{front_url}/failover")).send().await;
        // The front notes the failover itself (with the lag it reported before the loss).
        let _: FailoverReport = answer_json(sent, true)
            .await
            .map_err(|done| ControlError::Upstream(format!("the failover failed: {done:?}")))?;
        Ok::<_, ControlError>(())
    };
    let (_, _, failed_over) = tokio::join!(
        async {
            futures::future::join_all(writers).await;
            writing.store(false, Ordering::Relaxed);
        },
        lag,
        failover
    );
    run.healing();
    let read_all =
        run.op(READER, "read-all", Value::Null, Map::new(), read_all(run, &front_url, &prefix));
    read_all.await;
    // Put things back: the old primary returns and is rebuilt as the mirror.
    run.state.supervisor.act(victim, ProcessAction::Restart).await?;
    let rebuilt = settle(REBUILD, || async {
        let answer = run.client.post(format!("{front_url}/rebuild")).send().await;
        answer.is_ok_and(|r| r.status().is_success())
    })
    .await;
    tracing::info!(rebuilt = ?rebuilt, "{front}: old primary rebuilt as the mirror");
    failed_over
}

async fn writer(run: &Run<'_>, process: u64, front: &str, prefix: &str) {
    let pace = run.pace(PROCESSES as usize);
    let deadline = tokio::time::Instant::now() + run.time();
    let mut n = 0;
    while tokio::time::Instant::now() < deadline {
        let began = tokio::time::Instant::now();
        n += 1;
        let key = format!("{prefix}{process}-{n}");
        let write = async {
            let body = json!({ "name": key, "price": 1.0 });
            let sent = run.client.post(format!("{front}/products")).json(&body).send().await;
            match answer_json::<Value>(sent, true).await {
                Ok(_) => Done::Ok(json!(key)),
                Err(done) => done,
            }
        };
        run.op(process, "write", json!(key), Map::new(), write).await;
        tokio::time::sleep_until(began + pace).await;
    }
}

/// Note the front's lag while the writers write.
async fn watch_lag(run: &Run<'_>, front: &str, url: &str, writing: &AtomicBool) {
    let mut last = None;
    while writing.load(Ordering::Relaxed) {
        if let Ok(status) = replication(run, url).await {
            if status.primary_up && last != Some(status.lag_entries) {
                last = Some(status.lag_entries);
                run.state.recordings.note(front, "lag", json!(status.lag_entries));
            }
        }
        tokio::time::sleep(LAG_EVERY).await;
    }
}

async fn read_all(run: &Run<'_>, front: &str, prefix: &str) -> Done {
    let sent = run.client.get(format!("{front}/products")).send().await;
    let products: Value = match answer_json(sent, false).await {
        Ok(products) => products,
        Err(done) => return done,
    };
    let Some(products) = products.as_array() else {
        return Done::Fail("the products are not a list".into());
    };
    let keys: Vec<&str> = products
        .iter()
        .filter_map(|p| p.get("name")?.as_str())
        .filter(|name| name.starts_with(prefix))
        .collect();
    Done::Ok(json!(keys))
}

async fn replication(run: &Run<'_>, front: &str) -> Result<ReplicationStatus, ControlError> {
    let sent = run.client.get(format!("{front}/replication")).send().await;
    answer_json(sent, false)
        .await
        .map_err(|done| ControlError::Upstream(format!("{front}/replication: {done:?}")))
}
