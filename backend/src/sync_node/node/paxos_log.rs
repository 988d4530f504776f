//! The latest Paxos messages a node sent, for the dashboard's log (each message is logged once,
//! by its sender: the dashboard merges the three nodes' logs). The text is made when the log is
//! read, not per message.

use std::collections::VecDeque;

use shared::sync::PaxosLogEntry;

use crate::sync_node::crdt::NodeId;
use crate::sync_node::paxos::{Ballot, Message, Value, GAP};

/// Paxos messages kept for the dashboard's log.
const KEPT: usize = 200;

#[derive(Debug, Default)]
pub(super) struct PaxosLog {
    sent: VecDeque<Sent>,
}

impl PaxosLog {
    /// Keep `message`, sent at `at_ms`, dropping the oldest past [`KEPT`]. Catch-up requests
    /// are not kept: every node asks every peer every second, noise in the log.
    pub(super) fn record(&mut self, at_ms: u64, from: NodeId, to: NodeId, message: &Message) {
        if matches!(message, Message::Catchup { .. }) {
            return;
        }
        if self.sent.len() == KEPT {
            self.sent.pop_front();
        }
        self.sent.push_back(Sent { at_ms, from, to, message: message.clone() });
    }

    pub(super) fn entries(&self) -> Vec<PaxosLogEntry> {
        self.sent
            .iter()
            .map(|sent| {
                let (kind, ballot, value, note) = describe(&sent.message);
                PaxosLogEntry {
                    at_ms: sent.at_ms,
                    from: sent.from,
                    to: sent.to,
                    kind: kind.to_owned(),
                    instance: sent.message.instance(),
                    ballot: ballot.map(|b| b.to_string()),
                    value,
                    note,
                }
            })
            .collect()
    }
}

/// A Paxos message this node sent, as its log keeps it.
#[derive(Debug)]
struct Sent {
    at_ms: u64,
    from: NodeId,
    to: NodeId,
    message: Message,
}

/// A message as the dashboard's log shows it: kind, ballot, value, note.
fn describe(message: &Message) -> (&'static str, Option<Ballot>, Option<Value>, Option<String>) {
    let gap = |value: Value| (value == GAP).then(|| "no-op (closes a gap)".to_owned());
    match message {
        Message::Prepare { ballot, from } => {
            ("prepare", Some(*ballot), None, Some(format!("for instances ≥ {from}")))
        }
        Message::Promise { ballot, from, accepted, decided, snapshot } => (
            "promise",
            Some(*ballot),
            None,
            Some(format!(
                "instances ≥ {from}: {} accepted, {} decided{}",
                accepted.len(),
                decided.len(),
                snapshot.map_or_else(String::new, |s| format!(", snapshot to {}", s.index))
            )),
        ),
        Message::Accept { ballot, value, .. } => {
            ("accept", Some(*ballot), Some(*value), gap(*value))
        }
        Message::Accepted { ballot, value, .. } => {
            ("accepted", Some(*ballot), Some(*value), gap(*value))
        }
        Message::Nack { ballot, promised } => {
            ("nack", Some(*ballot), None, Some(format!("promised {promised}")))
        }
        Message::Decided { value, .. } => ("decided", None, Some(*value), gap(*value)),
        Message::Forward { value } => {
            ("forward", None, Some(*value), Some("to the leader".to_owned()))
        }
        Message::Catchup { from, .. } => {
            ("catch-up", None, None, Some(format!("decisions from instance {from}")))
        }
        Message::ReadIndex { request } => {
            ("read-index", None, None, Some(format!("request {request}: reads, for the leader")))
        }
        Message::ConfirmLeader { ballot, round } => (
            "confirm-leader",
            Some(*ballot),
            None,
            Some(format!("read round {round}: still promised nothing higher?")),
        ),
        Message::LeaderConfirmed { ballot, round } => {
            ("leader-confirmed", Some(*ballot), None, Some(format!("read round {round}: yes")))
        }
        Message::ReadIndexed { request, index } => (
            "read-indexed",
            None,
            None,
            Some(format!("request {request}: read once instances ≤ {index} are decided")),
        ),
        Message::Snapshot { snapshot } => (
            "snapshot",
            None,
            Some(snapshot.highest),
            Some(format!("instances ≤ {} decided (trimmed)", snapshot.index)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_the_latest_messages_and_skips_catch_ups() {
        let mut log = PaxosLog::default();
        for value in 0..(KEPT as u64 + 5) {
            log.record(value, 1, 2, &Message::Forward { value });
        }
        log.record(9, 1, 2, &Message::Catchup { from: 1, promised: None });
        let entries = log.entries();
        assert_eq!(entries.len(), KEPT);
        assert_eq!(entries[0].value, Some(5), "the oldest went first");
        assert!(entries.iter().all(|e| e.kind == "forward"));
        let ballot = Ballot { round: 2, node: 1 };
        log.record(1, 1, 3, &Message::Accept { instance: 4, ballot, value: GAP });
        let last = log.entries().pop().unwrap();
        assert_eq!((last.instance, last.ballot.as_deref()), (Some(4), Some("2.1")));
        assert_eq!(last.note.as_deref(), Some("no-op (closes a gap)"));
    }
}
