//! `lab up` says the lab is ready only when it is: every service answers its health check and
//! the registry hands out a shop server. The wait is bounded; a service that ends or does not
//! come up in time is named.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use shared::Health;

use super::table::ServiceTable;
use crate::catalog::ServiceSpec;
use crate::service::{check_health, now_ms};

/// How often the services are asked while waiting.
const POLL: Duration = Duration::from_millis(50);

/// How often the wait says who it is still waiting for.
const PROGRESS: Duration = Duration::from_secs(3);

/// Why the lab is not ready.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("{service} ended while the lab was starting ({how}); its last lines above say why")]
    Ended { service: String, how: String },
    #[error("not ready within {within:?}: {}", describe(.pending))]
    Timeout { within: Duration, pending: BTreeMap<String, String> },
}

fn describe(pending: &BTreeMap<String, String>) -> String {
    pending.iter().map(|(name, why)| format!("{name} ({why})")).collect::<Vec<_>>().join(", ")
}

/// Wait until every service of `specs` passes a health check (recording it in `table`) and the
/// registry (`registry_url`) answers `GET /getServer` with 200. Returns how long it took.
pub async fn wait(
    table: &ServiceTable,
    client: &reqwest::Client,
    specs: &[ServiceSpec],
    urls: &BTreeMap<String, String>,
    registry_url: Option<&str>,
    within: Duration,
) -> Result<Duration, NotReady> {
    let started = Instant::now();
    let deadline = started + within;
    let mut pending: BTreeMap<String, String> =
        specs.iter().map(|s| (s.name.clone(), "not checked yet".to_owned())).collect();
    let mut next_progress = started + PROGRESS;
    loop {
        for name in pending.keys() {
            if let Some(row) = table.get(name).filter(|row| row.pid.is_none()) {
                let how = row.detail.unwrap_or_else(|| "no longer running".into());
                return Err(NotReady::Ended { service: name.clone(), how });
            }
        }
        let checks = pending.keys().map(|name| {
            let url = urls.get(name).cloned().unwrap_or_default();
            async move { (name.clone(), check_health(client, &url, Duration::from_secs(1)).await) }
        });
        for (name, outcome) in futures::future::join_all(checks).await {
            match outcome {
                Ok(()) => {
                    table.record_health(&name, Health::Up, None, now_ms());
                    tracing::debug!(service = %name, "ready");
                    pending.remove(&name);
                }
                Err(why) => {
                    pending.insert(name, why);
                }
            }
        }
        // Asked only once every service is up: the shops must be, for it to hand one out.
        let registry_says = match (pending.is_empty(), registry_url) {
            (false, _) => None,
            (true, None) => return Ok(started.elapsed()),
            (true, Some(url)) => match hands_out_a_server(client, url).await {
                Ok(()) => return Ok(started.elapsed()),
                Err(why) => Some(why),
            },
        };
        let now = Instant::now();
        if now >= deadline || now >= next_progress {
            let mut waiting = pending.clone();
            if let Some(why) = registry_says {
                waiting.insert("registry's GET /getServer".into(), why);
            }
            if now >= deadline {
                return Err(NotReady::Timeout { within, pending: waiting });
            }
            let ready = specs.len() - pending.len();
            tracing::info!(
                "{ready} of {} services ready; waiting for {}",
                specs.len(),
                describe(&waiting)
            );
            next_progress = now + PROGRESS;
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(now))).await;
    }
}

async fn hands_out_a_server(client: &reqwest::Client, registry_url: &str) -> Result<(), String> {
    let answer = client
        .get(format!("{registry_url}/getServer"))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if answer.status().is_success() {
        Ok(())
    } else {
        Err(format!("answers {}", answer.status()))
    }
}
