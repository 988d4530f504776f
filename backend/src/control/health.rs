//! Active health checks: the control plane polls every service's `GET /health`.

use std::time::Duration;

use shared::{EventKind, Health, ServiceKind};

use super::supervisor::event;
use super::table::ServiceTable;
use crate::service::{check_health, now_ms, EventBus};

/// Check every service (but the control plane itself) every `interval`, forever.
pub async fn poll(
    table: ServiceTable,
    client: reqwest::Client,
    interval: Duration,
    events: EventBus,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let checks =
            table.snapshot().into_iter().filter(|row| row.kind != ServiceKind::Control).map(
                |row| {
                    let client = client.clone();
                    async move { (row.name, check_health(&client, &row.url, interval).await) }
                },
            );
        for (name, outcome) in futures::future::join_all(checks).await {
            // A service's very first check may race its start: one failure from `Unknown` only
            // counts as a check, the next one decides.
            let first = table
                .get(&name)
                .is_some_and(|r| r.health == Health::Unknown && r.last_check_ms.is_none());
            if first && outcome.is_err() {
                table.update(&name, |row| row.last_check_ms = Some(now_ms()));
                continue;
            }
            let (health, detail) = match outcome {
                Ok(()) => (Health::Up, None),
                Err(why) => (Health::Down, Some(why)),
            };
            if let Some(before) = table.record_health(&name, health, detail.clone(), now_ms()) {
                if health == Health::Up {
                    tracing::info!(service = %name, ?before, "service is up");
                    events.publish(event(&name, EventKind::Up, "health check passes".into()));
                } else {
                    tracing::warn!(service = %name, ?before, reason = ?detail, "service is down");
                    let message = format!("health check fails: {}", detail.unwrap_or_default());
                    events.publish(event(&name, EventKind::Down, message));
                }
            }
        }
    }
}
