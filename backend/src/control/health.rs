//! Active health checks: the control plane polls every service's `GET /health`.

use std::time::Duration;

use shared::{Health, ServiceKind};

use super::table::ServiceTable;
use crate::service::{check_health, now_ms};

/// Check every service (but the control plane itself) every `interval`, forever.
pub async fn poll(table: ServiceTable, client: reqwest::Client, interval: Duration) {
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
            let (health, detail) = match outcome {
                Ok(()) => (Health::Up, None),
                Err(why) => (Health::Down, Some(why)),
            };
            if let Some(before) = table.record_health(&name, health, detail.clone(), now_ms()) {
                if health == Health::Up {
                    tracing::info!(service = %name, ?before, "service is up");
                } else {
                    tracing::warn!(service = %name, ?before, reason = ?detail, "service is down");
                }
            }
        }
    }
}
