//! Reads of the highest number (`GET /highest`): the local read (what the node holds, as
//! `/get_data` answers it: may lag a number already agreed) and the linearizable read, whose
//! protocol — ReadIndex — is pure code in `paxos/reads.rs`; here the node waits for its answer,
//! bounded by [`READ_TIMEOUT`].

use std::time::Duration;

use shared::sync::{HighestRead, ReadConsistency, SyncMode};
use tokio::sync::oneshot;

use super::SyncNode;
use crate::sync_node::error::NodeError;
use crate::sync_node::paxos::{ReadAnswer, ReadId};

/// How long a linearizable read waits for a majority (and for the log to reach the read index)
/// before the client is told 503.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// The waiters of the linearizable reads in progress, by the state machine's read id.
pub(super) type ReadWaiters = std::collections::HashMap<ReadId, oneshot::Sender<ReadAnswer>>;

impl SyncNode {
    /// The highest number, read as `wanted` asks — except in CRDT-only mode, where Paxos is
    /// bypassed and only the local read exists: the answer says `local`, and why.
    pub async fn read_highest(&self, wanted: ReadConsistency) -> Result<HighestRead, NodeError> {
        let mode = self.mode();
        let mut answer = HighestRead {
            highest_number: 0,
            read: ReadConsistency::Local,
            node: self.inner.config.name.clone(),
            instance: None,
            mode,
            reason: None,
        };
        match (mode, wanted) {
            (SyncMode::CrdtOnly, _) => {
                answer.highest_number = self.highest_number(mode);
                if wanted == ReadConsistency::Linearizable {
                    answer.reason = Some(format!(
                        "{} is in CRDT-only mode: Paxos is bypassed, so only the local value is \
                         there to read (it may lag a number agreed elsewhere)",
                        self.inner.config.name
                    ));
                }
            }
            (SyncMode::CrdtPaxos, ReadConsistency::Local) => {
                let paxos = self.paxos();
                answer.highest_number = paxos.highest().unwrap_or(0);
                answer.instance = Some(paxos.first_undecided() - 1);
            }
            (SyncMode::CrdtPaxos, ReadConsistency::Linearizable) => {
                let read = self.read_linearizable().await?;
                answer.highest_number = read.highest;
                answer.instance = Some(read.index);
                answer.read = ReadConsistency::Linearizable;
            }
        }
        Ok(answer)
    }

    /// A ReadIndex read through Paxos, or [`NodeError::NoQuorum`] after [`READ_TIMEOUT`].
    async fn read_linearizable(&self) -> Result<ReadAnswer, NodeError> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut paxos = self.paxos();
            let id = paxos.read();
            // Registered under the Paxos lock: no drain can take the answer before it is here.
            self.inner.read_waiters.lock().expect("read waiters lock poisoned").insert(id, tx);
            id
        };
        self.drain(None).await;
        match tokio::time::timeout(READ_TIMEOUT, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            _ => {
                self.paxos().cancel_read(id);
                self.inner.read_waiters.lock().expect("read waiters lock poisoned").remove(&id);
                Err(NodeError::NoQuorum(format!(
                    "no majority confirmed a read within {} s: this node cannot tell whether \
                     its highest number is current",
                    READ_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// Tell the waiting readers their answers (from [`Ready::reads`](crate::sync_node::paxos::Ready::reads)).
    pub(super) fn answer_reads(&self, answers: Vec<ReadAnswer>) {
        if answers.is_empty() {
            return;
        }
        let mut waiters = self.inner.read_waiters.lock().expect("read waiters lock poisoned");
        for answer in answers {
            if let Some(waiter) = waiters.remove(&answer.id) {
                // A reader that gave up has cancelled its read; one racing it just misses this.
                let _ = waiter.send(answer);
            }
        }
    }
}
