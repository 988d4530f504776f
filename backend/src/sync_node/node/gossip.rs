//! CRDT replication between nodes: a delta is pushed to every peer at once (merged with what
//! waits while a request is in flight), and every node pulls its peers' whole state now and
//! then (anti-entropy), which repairs what a cut link or a crash lost.

use std::time::Duration;

use super::{CrdtState, SyncNode};
use crate::sqlite::DbError;

impl SyncNode {
    /// Merge a peer's state or delta; returns whether anything changed.
    pub async fn merge(&self, mut other: CrdtState) -> Result<bool, DbError> {
        if self.inner.bugs.on(shared::bugs::Bug::CrdtForgetRemoteAdds) {
            // The deliberate bug: what the peer added is dropped (its removals still count).
            other.persons = other.persons.without_adds();
        }
        let novel = {
            let mut crdt = self.inner.crdt.lock().expect("crdt lock poisoned");
            let before = crdt.max;
            let persons = crdt.persons.merge(&other.persons);
            crdt.max.merge(other.max);
            CrdtState { persons, max: crdt.max }.changed_from(before)
        };
        // Only what was new is written: an anti-entropy pull brings the peer's whole state, and
        // writing all of it (tens of thousands of rows after a minute of load) held up the
        // Paxos writes queued behind it by tens of milliseconds.
        let Some(novel) = novel else { return Ok(false) };
        self.persist(&novel).await?;
        self.notify();
        Ok(true)
    }

    /// Queue a delta for every peer; the pusher sends it at once, merged with whatever else is
    /// waiting (a cut link drops it — anti-entropy repairs that later).
    pub(super) fn push(&self, delta: &CrdtState) {
        {
            let mut outgoing = self.inner.outgoing.lock().expect("outgoing lock poisoned");
            for slot in outgoing.iter_mut() {
                match slot {
                    Some(waiting) => {
                        waiting.persons.merge(&delta.persons);
                        waiting.max.merge(delta.max);
                    }
                    None => *slot = Some(delta.clone()),
                }
            }
        }
        self.inner.send_now.notify_one();
    }

    /// Send queued deltas to the peers, forever.
    pub(super) async fn push_forever(self) {
        loop {
            self.inner.send_now.notified().await;
            let batches: Vec<(String, CrdtState)> = {
                let mut outgoing = self.inner.outgoing.lock().expect("outgoing lock poisoned");
                self.inner
                    .config
                    .peers
                    .iter()
                    .zip(outgoing.iter_mut())
                    .filter_map(|((_, url), slot)| slot.take().map(|delta| (url.clone(), delta)))
                    .collect()
            };
            let sends = batches.into_iter().map(|(peer, delta)| {
                let node = self.clone();
                async move {
                    let request = node
                        .inner
                        .client
                        .post(format!("{peer}/crdt/merge"))
                        .kind("gossip")
                        .json(&delta);
                    let _ = request.timeout(Duration::from_secs(2)).send().await;
                }
            });
            futures::future::join_all(sends).await;
        }
    }

    /// Pull every peer's state and merge it (anti-entropy; also `GET /data_transfer`).
    /// The peers are asked at once: a silent one (paused, cut off) delays the answer by its
    /// timeout, not by the sum of them.
    pub async fn pull_peers(&self) -> usize {
        let pulls = self.inner.config.peers.iter().map(|(_, peer)| async move {
            let answer = self
                .inner
                .client
                .get(format!("{peer}/crdt/state"))
                .kind("anti-entropy")
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            answer.ok()?.json::<CrdtState>().await.ok()
        });
        let states: Vec<CrdtState> =
            futures::future::join_all(pulls).await.into_iter().flatten().collect();
        let reached = states.len();
        for state in states {
            if let Err(err) = self.merge(state).await {
                tracing::warn!(%err, "merging a peer's state");
            }
        }
        reached
    }

    /// The port of every node this one can reach now (a health check through its links, each
    /// bounded), its own first: the original's list of active nodes.
    pub async fn reachable_ports(&self) -> Vec<u16> {
        let checks = self.inner.config.peers.iter().map(|(_, peer)| async move {
            self.inner.client.check_health(peer, Duration::from_millis(500)).await.ok()?;
            reqwest::Url::parse(peer).ok()?.port_or_known_default()
        });
        let mut ports = vec![self.inner.config.port];
        ports.extend(futures::future::join_all(checks).await.into_iter().flatten());
        ports
    }

    /// Pull every peer's state now and then, forever.
    pub(super) async fn anti_entropy_forever(self) {
        loop {
            tokio::time::sleep(self.inner.config.anti_entropy).await;
            self.pull_peers().await;
        }
    }
}
