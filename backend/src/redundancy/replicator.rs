//! Shipping the primary's change log to the mirror, in order and in batches.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use shared::replication::{LoggedChange, StorePosition};
use shared::EventKind;

use super::{Front, Mode};
use crate::service::now_ms;
use crate::shop::replica::MAX_BATCH;

impl Front {
    /// One round: ship what the mirror lacks, batch by batch, until the primary has nothing
    /// newer. Returns how many changes were shipped.
    pub(super) async fn ship_once(&self) -> Result<u64, String> {
        let _one_at_a_time = self.inner.shipping.lock().await;
        self.current_roles().await;
        let (primary, mirror) = self.shipping_pair()?;
        // Where the mirror stands: ask it (cheap, and right after a mirror restart).
        let position = self
            .send(&mirror, Method::GET, "/replication/position", &HeaderMap::new(), Bytes::new())
            .await
            .map_err(|e| self.mirror_failed(&e))?;
        let position: StorePosition =
            position.json().await.map_err(|e| self.mirror_failed(&e.to_string()))?;
        let mut at = position.last_seq;
        self.inner.mirrored.send_replace(at);
        let mut shipped = 0;
        loop {
            let path = format!("/replication/changes?after={at}&limit={MAX_BATCH}");
            let response = self
                .send(&primary, Method::GET, &path, &HeaderMap::new(), Bytes::new())
                .await
                .map_err(|e| format!("primary unreachable: {e}"))?;
            let changes: Vec<LoggedChange> = response
                .json()
                .await
                .map_err(|e| format!("primary's change log unreadable: {e}"))?;
            let Some(last) = changes.last().map(|c| c.seq) else { break };
            let body = Bytes::from(serde_json::to_vec(&changes).expect("changes serialize"));
            let mut headers = HeaderMap::new();
            headers.insert(
                axum::http::header::CONTENT_TYPE,
                "application/json".parse().expect("a valid header"),
            );
            let applied = self
                .send(&mirror, Method::POST, "/replication/apply", &headers, body)
                .await
                .map_err(|e| self.mirror_failed(&e))?;
            if !applied.status().is_success() {
                let why = applied.text().await.unwrap_or_default();
                return Err(self.mirror_failed(&format!("refused the batch: {why}")));
            }
            let position: StorePosition =
                applied.json().await.map_err(|e| self.mirror_failed(&e.to_string()))?;
            shipped += last.saturating_sub(at);
            at = position.last_seq;
            self.inner.primary_seq.fetch_max(last, Ordering::SeqCst);
            self.inner.mirrored.send_replace(at);
            self.inner.last_sync_ms.store(now_ms(), Ordering::SeqCst);
        }
        self.mirror_answered();
        Ok(shipped)
    }

    /// Ship until caught up. `within` is checked between rounds; one round (`ship_once`) goes on
    /// until the primary has nothing newer, so under writes faster than shipping it is not a hard
    /// bound.
    pub async fn ship_until_caught_up(&self, within: Duration) -> Result<u64, String> {
        let deadline = Instant::now() + within;
        let mut total = 0;
        loop {
            let shipped = self.ship_once().await?;
            total += shipped;
            if shipped == 0 || Instant::now() > deadline {
                return Ok(total);
            }
        }
    }

    fn mirror_failed(&self, why: &str) -> String {
        if self.inner.mirror_up.swap(false, Ordering::SeqCst) {
            tracing::warn!(%why, "mirror unreachable");
            self.inner.events.emit(EventKind::Lag, format!("mirror unreachable: {why}"));
        }
        format!("mirror unreachable: {why}")
    }

    fn mirror_answered(&self) {
        if !self.inner.mirror_up.swap(true, Ordering::SeqCst) {
            tracing::info!("mirror back: caught up");
            self.inner.events.emit(EventKind::Lag, "mirror back and caught up".to_owned());
        }
    }

    /// Sync mode: wait until the mirror has applied `seq` (bounded by the mirror timeout).
    pub(super) async fn wait_mirrored(&self, seq: u64) -> Result<(), String> {
        let mut mirrored = self.inner.mirrored.subscribe();
        self.inner.kick.notify_one();
        let waited =
            tokio::time::timeout(self.inner.mirror_timeout, mirrored.wait_for(|at| *at >= seq))
                .await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err("the replicator stopped".into()),
            Err(_) => Err(format!("no confirmation within {:?}", self.inner.mirror_timeout)),
        }
    }

    /// The background replicator: in sync mode it ships whenever a write waits (and every
    /// 200 ms, to catch a returning mirror up); in async mode every interval, if one is set.
    pub async fn replicate_forever(self) {
        let period = match self.inner.mode {
            Mode::Sync => Duration::from_millis(200),
            Mode::Async if self.inner.interval.is_zero() => return,
            Mode::Async => self.inner.interval,
        };
        loop {
            if self.inner.mode == Mode::Sync {
                let _ = tokio::time::timeout(period, self.inner.kick.notified()).await;
            } else {
                tokio::time::sleep(period).await;
            }
            if let Err(why) = self.ship_until_caught_up(Duration::from_secs(5)).await {
                tracing::debug!(%why, "replication round failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
