//! The Sync page's state: each node's data (live, over Socket.IO), load, and the Paxos log.

use std::rc::Rc;

use shared::sync::{LoadInfo, NodeData, PaxosLogEntry, PaxosStatus};
use yew::Reducible;

/// Paxos messages shown.
pub const LOG_LEN: usize = 60;

#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub url: String,
    pub data: Option<NodeData>,
    pub load: Option<LoadInfo>,
    pub paxos: Option<PaxosStatus>,
    pub connected: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncState {
    pub nodes: Vec<NodeView>,
    /// Newest first, from every node, without duplicates.
    pub log: Vec<PaxosLogEntry>,
    pub outcome: Option<Result<String, String>>,
}

#[derive(Debug, Clone)]
pub enum SyncAction {
    Nodes(Vec<(String, String)>),
    Data(String, NodeData),
    Load(String, LoadInfo),
    Paxos(String, PaxosStatus),
    Connected(String, bool),
    Log(Vec<PaxosLogEntry>),
    Done(Result<String, String>),
}

impl Reducible for SyncState {
    type Action = SyncAction;

    fn reduce(self: Rc<Self>, action: Self::Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            SyncAction::Nodes(nodes) => {
                next.nodes = nodes
                    .into_iter()
                    .map(|(name, url)| NodeView {
                        name,
                        url,
                        data: None,
                        load: None,
                        paxos: None,
                        connected: false,
                    })
                    .collect();
            }
            SyncAction::Data(name, data) => {
                if let Some(view) = next.nodes.iter_mut().find(|n| n.name == name) {
                    view.data = Some(data);
                }
            }
            SyncAction::Load(name, load) => {
                if let Some(view) = next.nodes.iter_mut().find(|n| n.name == name) {
                    view.load = Some(load);
                }
            }
            SyncAction::Paxos(name, status) => {
                if let Some(view) = next.nodes.iter_mut().find(|n| n.name == name) {
                    view.paxos = Some(status);
                }
            }
            SyncAction::Connected(name, connected) => {
                if let Some(view) = next.nodes.iter_mut().find(|n| n.name == name) {
                    view.connected = connected;
                }
            }
            SyncAction::Log(entries) => {
                let mut all = next.log.clone();
                all.extend(entries);
                // A total order, so that the same entry from two polls ends up adjacent.
                all.sort_by(|a, b| b.at_ms.cmp(&a.at_ms).then_with(|| a.cmp(b)));
                all.dedup();
                all.truncate(LOG_LEN);
                next.log = all;
            }
            SyncAction::Done(outcome) => next.outcome = Some(outcome),
        }
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_ms: u64, kind: &str) -> PaxosLogEntry {
        PaxosLogEntry {
            at_ms,
            from: 1,
            to: 2,
            kind: kind.into(),
            instance: Some(1),
            ballot: None,
            value: None,
            note: None,
        }
    }

    #[test]
    fn the_log_merges_nodes_newest_first_without_duplicates() {
        let state = Rc::new(SyncState::default())
            .reduce(SyncAction::Log(vec![entry(1, "prepare"), entry(3, "accept")]))
            .reduce(SyncAction::Log(vec![entry(3, "accept"), entry(2, "promise")]));
        let kinds: Vec<&str> = state.log.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["accept", "promise", "prepare"]);
        // Entries of one millisecond, polled again: each still once.
        let same_time = vec![entry(5, "accept"), entry(5, "decided"), entry(5, "forward")];
        let state = state
            .reduce(SyncAction::Log(same_time.clone()))
            .reduce(SyncAction::Log(same_time.into_iter().rev().collect()));
        let kinds: Vec<&str> = state.log.iter().take(4).map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["accept", "decided", "forward", "accept"]);
    }
}
