//! Kill the primary store behind a front — asynchronous replication (3020) or synchronous
//! mirroring (3010) — then fail over: how many acknowledged writes are lost, compared with the lag
//! shown just before — and how long until writes work again?

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::control::ProcessAction;
use shared::replication::{FailoverReport, ReplicationStatus};

use super::{get_json, ms, recorded, wait_until, Finding};
use crate::control::{row, ControlError, ControlState};

/// How long the restarted store gets to come up and be rebuilt as the mirror.
const REBUILD_LIMIT: Duration = Duration::from_secs(5);

/// How often, and how far apart, what survived the failover is asked for.
const READ_TRIES: usize = 20;
const READ_PAUSE: Duration = Duration::from_millis(100);

/// A front and the two stores behind it.
pub(super) struct Pair {
    /// The front's service name (`replication`, `mirroring`).
    pub front: &'static str,
    /// Its stores' service names, the one started as the primary first.
    pub stores: [&'static str; 2],
    /// `async` or `sync`, as the mirror checker reads it.
    pub mode: &'static str,
}

/// Asynchronous replication (3020).
pub(super) const ASYNC: Pair = Pair {
    front: "replication",
    stores: ["store-async-primary", "store-async-mirror"],
    mode: "async",
};

/// Synchronous mirroring (3010).
pub(super) const SYNC: Pair =
    Pair { front: "mirroring", stores: ["store-sync-primary", "store-sync-mirror"], mode: "sync" };

pub(super) async fn run(state: &ControlState, pair: &Pair) -> Result<Finding, ControlError> {
    let front = row(state, pair.front)?;
    for needed in [pair.front, pair.stores[0], pair.stores[1]] {
        if row(state, needed)?.pid.is_none() {
            return Err(ControlError::Conflict(format!(
                "{needed} must be running (restart it first)"
            )));
        }
    }
    let get_status = || get_json::<ReplicationStatus>(state, format!("{}/replication", front.url));
    let roles = get_status().await?;
    if let Some(conflict) = roles.conflict {
        return Err(ControlError::Conflict(format!(
            "the replication's stores conflict: {conflict}"
        )));
    }
    if roles.mirror.is_none() {
        return Err(ControlError::Conflict(
            "the replication has no mirror (rebuild it first)".into(),
        ));
    }
    // The primary is whichever store says so (after a failover, the one started as the mirror).
    let key = crate::service::links::peer_key;
    let mut victim = pair.stores[0];
    for name in pair.stores {
        if key(&row(state, name)?.url) == key(&roles.primary) {
            victim = name;
        }
    }
    // Start from a synced mirror, then write 30 products it has not received yet — recorded,
    // with the lag before the kill and the failover as notes, for the mirror checker.
    let _ = state.client.post(format!("{}/sync", front.url)).send().await;
    let prefix = format!("scenario write {} ", crate::service::now_ms());
    state.recordings.note(pair.front, "mode", json!(pair.mode));
    for i in 0..30 {
        write(state, &front.url, &format!("{prefix}{i}")).await;
    }
    let before = get_status().await?;
    state.recordings.note(pair.front, "lag", json!(before.lag_entries));
    state.supervisor.act(victim, ProcessAction::Kill).await?;
    let killed = Instant::now();
    let report: FailoverReport = state
        .client
        .post(format!("{}/failover", front.url))
        .send()
        .await
        .map_err(|e| ControlError::Upstream(e.to_string()))?
        .json()
        .await
        .map_err(|e| ControlError::Upstream(format!("failover: {e}")))?;
    // The front notes the failover itself, with the lag it reported before the loss. An
    // asynchronous front takes writes at once; a synchronous one refuses them (503) until it has
    // a mirror again, so it gets a second try once the old primary is rebuilt as the mirror.
    let mut written = write(state, &front.url, &format!("{prefix}after failover")).await;
    let mut recovered = written.then(|| killed.elapsed());
    // What survived, read now: once the old primary is back it claims the primary's role too,
    // and until the rebuild settles that the front may refuse reads (the checker then had no
    // read after the failover to judge, now and then).
    let keys = |products: &Vec<Value>| {
        let names = products.iter().filter_map(|p| p.get("name")?.as_str());
        Some(json!(names.filter(|n| n.starts_with(&prefix)).collect::<Vec<_>>()))
    };
    // A refused read is recorded as failed and tried again (bounded): the checker judges the
    // first read that answered.
    let mut refused = Vec::new();
    for _ in 0..READ_TRIES {
        let read_all = get_json::<Vec<Value>>(state, format!("{}/products", front.url));
        match recorded(state, 1, "read-all", Value::Null, false, keys, read_all).await {
            Ok(_) => break,
            Err(why) => refused.push(why.to_string()),
        }
        tokio::time::sleep(READ_PAUSE).await;
    }
    if !refused.is_empty() {
        tracing::warn!(refused = ?refused, "reads after the failover were refused");
    }
    // Put things back: the old primary returns and is rebuilt as the mirror.
    state.supervisor.act(victim, ProcessAction::Restart).await?;
    let rebuild = || async {
        let answer = state.client.post(format!("{}/rebuild", front.url)).send().await;
        Ok(answer.is_ok_and(|r| r.status().is_success()))
    };
    let rebuilt = wait_until(
        "the old primary rebuilt as the mirror",
        REBUILD_LIMIT,
        Duration::from_millis(100),
        rebuild,
    )
    .await?
    .is_some();
    if !written && rebuilt {
        written = write(state, &front.url, &format!("{prefix}after rebuild")).await;
        recovered = written.then(|| killed.elapsed());
    }
    let matches = report.entries_lost == before.lag_entries;
    Ok(Finding {
        verdict: format!(
            "{} acknowledged writes lost, {} the lag of {} entries shown before the crash; writes worked again {}.",
            report.entries_lost,
            if matches { "exactly" } else { "NOT" },
            before.lag_entries,
            recovered.map_or_else(|| "never".into(), |took| format!("{} after the kill", ms(took)))
        ),
        measurements: vec![
            ("primary killed".into(), victim.to_owned()),
            ("lag shown before (entries)".into(), before.lag_entries.to_string()),
            ("lag shown before (ms)".into(), before.lag_ms.to_string()),
            ("entries lost (RPO)".into(), report.entries_lost.to_string()),
            (
                "front: first failure seen → promotion".into(),
                report.rto_ms.map_or_else(
                    || "— (no request failed on the dead primary before the failover)".into(),
                    |ms| format!("{ms} ms"),
                ),
            ),
            ("kill → first write accepted".into(), recovered.map_or_else(|| "never".into(), ms)),
            ("old primary rebuilt as mirror".into(), rebuilt.to_string()),
            ("reads refused after the failover".into(), refused_text(&refused)),
        ],
        passed: matches && written && rebuilt,
    })
}

/// The reads refused after the failover: how many, and the first one's reason.
fn refused_text(refused: &[String]) -> String {
    match refused.first() {
        None => "0".into(),
        Some(first) => format!("{} (first: {first})", refused.len()),
    }
}

/// Write a product named `key` through the front, recorded: `ok` when acknowledged.
async fn write(state: &ControlState, front: &str, key: &str) -> bool {
    let sent = async {
        let body = json!({"name": key, "price": 1.0});
        let answer = state.client.post(format!("{front}/products")).json(&body).send().await;
        match answer {
            Ok(answer) if answer.status().is_success() => Ok(true),
            Ok(answer) => {
                Err(ControlError::Upstream(format!("the front answered {}", answer.status())))
            }
            Err(err) => Err(ControlError::Upstream(err.to_string())),
        }
    };
    recorded(state, 0, "write", json!(key), true, |_| Some(json!(key)), sent).await.is_ok()
}
