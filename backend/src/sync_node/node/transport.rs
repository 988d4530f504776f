//! Paxos over HTTP: stepping the state machine with what peers send, acting on what it has
//! ready (send now, write, send after the write), and one sender per peer that batches every
//! message queued while its earlier requests are in flight into one `POST /paxos`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use shared::sync::PaxosStatus;

use super::SyncNode;
use crate::service::now_ms;
use crate::sync_node::crdt::NodeId;
use crate::sync_node::paxos::{Message, Paxos, Value};

/// Paxos requests in flight to one peer at a time (messages queued meanwhile go in one batch).
const PAXOS_IN_FLIGHT: usize = 4;

/// Paxos messages waiting for one peer; its sender takes them all in one request.
#[derive(Debug, Default)]
pub(super) struct PaxosQueue {
    messages: Mutex<Vec<Message>>,
    wake: tokio::sync::Notify,
}

/// Paxos messages to a peer, as `POST /paxos` takes them.
#[derive(serde::Serialize)]
struct Batch<'a> {
    from: NodeId,
    messages: &'a [Message],
}

impl SyncNode {
    /// Propose a number to Paxos and drive the messages.
    pub async fn propose(&self, value: Value) {
        let before = self.highest();
        self.paxos().propose(value);
        self.drain(None).await;
        self.notify_if_moved(before);
    }

    /// Tell waiting writers and live clients when the agreed number moved.
    pub(super) fn notify_if_moved(&self, before: u64) {
        if self.highest() != before {
            self.notify();
        }
    }

    /// Keep a message this node sends for the dashboard's log.
    fn log(&self, from: NodeId, to: NodeId, message: &Message) {
        let mut log = self.inner.paxos_log.lock().expect("log lock poisoned");
        log.record(now_ms(), from, to, message);
    }

    pub fn paxos_status(&self) -> PaxosStatus {
        let paxos = self.paxos();
        let (role, ballot) = paxos.role();
        let noops = paxos.noops();
        PaxosStatus {
            node: self.inner.config.name.clone(),
            role,
            ballot: ballot.map(|b| b.to_string()),
            leader: paxos.leader(),
            decided: paxos.decided_total() - noops,
            noops,
            first_undecided: paxos.first_undecided(),
            pending: paxos.pending().len() as u64,
            highest_number: paxos.highest().unwrap_or(0),
            kept: paxos.decisions().len() as u64,
            snapshot_index: paxos.snapshot().index,
        }
    }

    /// The latest Paxos messages this node sent.
    pub fn paxos_log(&self) -> Vec<shared::sync::PaxosLogEntry> {
        self.inner.paxos_log.lock().expect("log lock poisoned").entries()
    }

    /// Handle Paxos messages from a peer; returns the replies to it.
    pub async fn receive(&self, from: NodeId, messages: Vec<Message>) -> Vec<Message> {
        let before = self.highest();
        {
            let mut paxos = self.paxos();
            for message in messages {
                paxos.step(from, message);
            }
        }
        self.notify_if_moved(before);
        let replies = self.drain(Some(from)).await;
        self.notify_if_moved(before);
        replies
    }

    /// Act on what the state machine has [ready](Paxos::ready) — the same answer the
    /// simulation in `paxos/tests.rs` acts on. Messages that state nothing the node could forget
    /// leave at once (to `reply_to`: returned as the HTTP answer; to others: queued for their
    /// sender); the durable changes are queued for the disk under the same lock, so they reach
    /// it in the order they were made; the other messages leave once their changes are on disk.
    pub(super) async fn drain(&self, reply_to: Option<NodeId>) -> Vec<Message> {
        let me = self.inner.config.id;
        let mut replies = Vec::new();
        loop {
            let (saved, late, reads) = {
                let mut paxos = self.paxos();
                let ready = paxos.ready();
                for message in &ready.stepped_here {
                    self.log(me, me, message);
                }
                for (to, message) in ready.send_now {
                    replies.extend(self.route(&mut paxos, to, message, reply_to));
                }
                let mut lazy = self.inner.lazy_decided.lock().expect("lazy lock poisoned");
                lazy.extend(ready.decided);
                // Decisions ride along with the next acceptor write (or the tick's).
                let saved = ready
                    .write
                    .map(|write| self.persist_paxos(Some(write), std::mem::take(&mut *lazy)));
                (saved, ready.send_after_write, ready.reads)
            };
            self.answer_reads(reads);
            if saved.is_none() && late.is_empty() {
                self.note_leader();
                return replies;
            }
            if let Some(saved) = saved {
                if let Err(err) = saved.await {
                    // Not durable: do not send what depends on it.
                    tracing::error!(%err, "persisting Paxos state; messages dropped");
                    return replies;
                }
            }
            let before = self.highest();
            {
                let mut paxos = self.paxos();
                for (to, message) in late {
                    replies.extend(self.route(&mut paxos, to, message, reply_to));
                }
            }
            self.notify_if_moved(before);
        }
    }

    /// One outgoing message: to self it is stepped, to `reply_to` returned (the HTTP answer),
    /// to another peer queued for its sender.
    fn route(
        &self,
        paxos: &mut Paxos,
        to: NodeId,
        message: Message,
        reply_to: Option<NodeId>,
    ) -> Option<Message> {
        let me = self.inner.config.id;
        self.log(me, to, &message);
        if to == me {
            paxos.step(me, message);
        } else if Some(to) == reply_to {
            return Some(message);
        } else {
            self.queue(to, message);
        }
        None
    }

    /// Note in the recorded history when the leader this node knows of changes.
    fn note_leader(&self) {
        use std::sync::atomic::Ordering;
        if !self.inner.recorder.is_on() {
            // Forgotten while nothing records: the first note of a recording names the leader.
            self.inner.leader_seen.store(u64::MAX, Ordering::Relaxed);
            return;
        }
        let leader = self.paxos().leader().unwrap_or(0);
        let before = self.inner.leader_seen.swap(leader, Ordering::Relaxed);
        if before != leader {
            let name = (leader != 0).then(|| format!("node-{leader}"));
            self.inner.recorder.note("leader", || serde_json::json!(name));
        }
    }

    /// Write the decisions learned since the last acceptor write.
    pub(super) async fn flush_decided(&self) {
        let write = {
            let _paxos = self.paxos();
            let decided =
                std::mem::take(&mut *self.inner.lazy_decided.lock().expect("lazy lock poisoned"));
            (!decided.is_empty()).then(|| self.persist_paxos(None, decided))
        };
        if let Some(Err(err)) = futures::future::OptionFuture::from(write).await {
            tracing::warn!(%err, "writing decisions (peers still hold them)");
        }
    }

    /// Queue a Paxos message for a peer; its sender ships everything queued in one request.
    fn queue(&self, to: NodeId, message: Message) {
        let Some(index) = self.inner.config.peers.iter().position(|(id, _)| *id == to) else {
            return;
        };
        let queue = &self.inner.paxos_out[index];
        queue.messages.lock().expect("paxos queue lock poisoned").push(message);
        queue.wake.notify_one();
    }

    /// Ship queued Paxos messages to the peer at `index`, forever: every message queued while
    /// earlier requests are in flight goes in the next one (at most [`PAXOS_IN_FLIGHT`] at once).
    pub(super) async fn send_paxos_forever(self, index: usize) {
        let limit = Arc::new(tokio::sync::Semaphore::new(PAXOS_IN_FLIGHT));
        loop {
            self.inner.paxos_out[index].wake.notified().await;
            loop {
                let Ok(permit) = limit.clone().acquire_owned().await else { return };
                let batch = std::mem::take(
                    &mut *self.inner.paxos_out[index]
                        .messages
                        .lock()
                        .expect("paxos queue lock poisoned"),
                );
                if batch.is_empty() {
                    break;
                }
                let node = self.clone();
                tokio::spawn(async move {
                    node.deliver(index, batch).await;
                    drop(permit);
                });
            }
        }
    }

    /// One request with a batch of Paxos messages to a peer; its replies are stepped here (a cut
    /// link or a silent peer loses them — Paxos retries).
    async fn deliver(&self, index: usize, batch: Vec<Message>) {
        let (to, peer) = &self.inner.config.peers[index];
        let envelope = Batch { from: self.inner.config.id, messages: &batch };
        let answer = self
            .inner
            .client
            .post(format!("{peer}/paxos"))
            .kind(Message::kinds(&batch))
            .json(&envelope)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            // Nobody there (a cut link, refused): tell Paxos now. A timeout says less (a slow
            // or paused peer): Paxos's own timeouts deal with that.
            Err(err) if err.never_arrived() => return self.unreachable(*to).await,
            Err(_) => return,
        };
        let Ok(replies) = response.json::<Vec<Message>>().await else { return };
        if replies.is_empty() {
            return;
        }
        let before = self.highest();
        {
            let mut paxos = self.paxos();
            for reply in replies {
                paxos.step(*to, reply);
            }
        }
        // A decision is safe once a majority accepted it: writers hear of it before this node
        // has written it down.
        self.notify_if_moved(before);
        self.drain(None).await;
    }

    async fn unreachable(&self, peer: NodeId) {
        self.paxos().unreachable(peer);
        self.drain(None).await;
    }
}
