//! Active health checks: the control plane polls every service's `GET /health`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shared::{Health, ServiceKind};

use super::table::ServiceTable;

/// Check every service (but the control plane itself) every `interval`, forever.
pub async fn poll(table: ServiceTable, client: reqwest::Client, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let checks = table
            .snapshot()
            .into_iter()
            .filter(|row| row.kind != ServiceKind::Control)
            .map(|row| {
                let client = client.clone();
                async move { (row.name, check(&client, &row.url, interval).await) }
            });
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

/// One `GET {url}/health`: `Ok` on a 200 within `timeout`.
pub async fn check(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<(), String> {
    let answer = client
        .get(format!("{url}/health"))
        .timeout(timeout)
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("/health answered {}", response.status())),
        Err(err) if err.is_timeout() => Err(format!("no answer within {timeout:?}")),
        Err(err) if err.is_connect() => Err("connection refused".to_owned()),
        Err(err) => Err(err.to_string()),
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
