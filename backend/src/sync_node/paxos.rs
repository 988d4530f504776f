//! Paxos for the highest account number — a pure state machine: messages in ([`Paxos::step`]),
//! messages out ([`Paxos::take_messages`]), time as logical ticks ([`Paxos::tick`]); no sockets,
//! no disk, no clock inside. The node's loop does the I/O.
//!
//! One single-decree Paxos per *instance* (a log slot): each proposal of a number takes the next
//! free instance. Ballots are `(round, node)`, unique per node and totally ordered.
//! - Phase 1 (prepare/promise): a proposer asks a majority to promise to ignore lower ballots;
//!   each promise carries the highest-ballot value the acceptor already accepted, and the
//!   proposer must adopt the highest such value (Lamport, *Paxos Made Simple*, §2.2).
//! - Phase 2 (accept/accepted): the proposer asks the acceptors to accept its value; a value
//!   accepted by a majority under one ballot is chosen, and the proposer tells everyone.
//! - An acceptor answers a prepare or accept for an instance it knows decided with the decision,
//!   and every node re-announces its decisions now and then, so a node that missed them (a lost
//!   message, a restart) catches up.
//!
//! What an acceptor promised and accepted must survive a crash: [`Paxos::durable`] exports it and
//! [`Paxos::restore`] rebuilds a node from it; the node persists it before sending what a step
//! produced. The highest number is the largest value decided in any instance.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::crdt::NodeId;

pub type Value = u64;

/// A ballot: higher round wins, the node breaks ties, so no two nodes share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ballot {
    pub round: u64,
    pub node: NodeId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    Prepare {
        instance: u64,
        ballot: Ballot,
    },
    Promise {
        instance: u64,
        ballot: Ballot,
        accepted: Option<(Ballot, Value)>,
    },
    Accept {
        instance: u64,
        ballot: Ballot,
        value: Value,
    },
    Accepted {
        instance: u64,
        ballot: Ballot,
        value: Value,
    },
    /// The acceptor promised a higher ballot: try again higher.
    Nack {
        instance: u64,
        ballot: Ballot,
        promised: Ballot,
    },
    Decided {
        instance: u64,
        value: Value,
    },
}

impl Message {
    pub fn instance(&self) -> u64 {
        match self {
            Message::Prepare { instance, .. }
            | Message::Promise { instance, .. }
            | Message::Accept { instance, .. }
            | Message::Accepted { instance, .. }
            | Message::Nack { instance, .. }
            | Message::Decided { instance, .. } => *instance,
        }
    }
}

/// What one acceptor remembers of one instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptorState {
    pub promised: Option<Ballot>,
    pub accepted: Option<(Ballot, Value)>,
}

/// Everything that must survive a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durable {
    pub acceptors: BTreeMap<u64, AcceptorState>,
    pub decided: BTreeMap<u64, Value>,
    /// The highest round this node has used or seen, so its next ballots are new.
    pub max_round: u64,
}

#[derive(Debug, Clone)]
enum Phase {
    Preparing { promises: BTreeMap<NodeId, Option<(Ballot, Value)>> },
    Accepting { value: Value, accepted: BTreeSet<NodeId> },
}

/// A value this node is trying to get decided in an instance.
#[derive(Debug, Clone)]
struct Proposal {
    value: Value,
    ballot: Ballot,
    phase: Phase,
    /// Ticks without progress; past the timeout the proposal starts over with a higher ballot.
    idle: u32,
}

/// Ticks without progress before a proposer retries (staggered by node, so duelling proposers
/// stop duelling).
const RETRY_AFTER: u32 = 4;
/// Every this many ticks a node re-announces its decisions.
const ANNOUNCE_EVERY: u64 = 8;

/// One node's Paxos.
#[derive(Debug, Clone)]
pub struct Paxos {
    id: NodeId,
    /// Every node of the cluster, this one included.
    nodes: Vec<NodeId>,
    durable: Durable,
    proposals: BTreeMap<u64, Proposal>,
    outbox: Vec<(NodeId, Message)>,
    ticks: u64,
    /// Instances whose durable state changed since the last [`Paxos::take_changed`].
    changed: BTreeSet<u64>,
}

impl Paxos {
    pub fn new(id: NodeId, nodes: Vec<NodeId>) -> Self {
        Self::restore(id, nodes, Durable::default())
    }

    /// A node restarted from what it had persisted (in-flight proposals are forgotten).
    pub fn restore(id: NodeId, nodes: Vec<NodeId>, durable: Durable) -> Self {
        Self {
            id,
            nodes,
            durable,
            proposals: BTreeMap::new(),
            outbox: Vec::new(),
            ticks: 0,
            changed: BTreeSet::new(),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn durable(&self) -> &Durable {
        &self.durable
    }

    fn majority(&self) -> usize {
        self.nodes.len() / 2 + 1
    }

    pub fn decided(&self, instance: u64) -> Option<Value> {
        self.durable.decided.get(&instance).copied()
    }

    pub fn decisions(&self) -> &BTreeMap<u64, Value> {
        &self.durable.decided
    }

    /// The largest value decided in any instance.
    pub fn highest(&self) -> Option<Value> {
        self.durable.decided.values().max().copied()
    }

    /// Values this node is still trying to get decided.
    pub fn pending(&self) -> Vec<Value> {
        self.proposals.values().map(|p| p.value).collect()
    }

    /// The instances whose durable state changed since last asked (to persist before sending).
    pub fn take_changed(&mut self) -> Vec<(u64, AcceptorState, Option<Value>)> {
        let changed = std::mem::take(&mut self.changed);
        changed
            .into_iter()
            .map(|i| {
                (i, self.durable.acceptors.get(&i).copied().unwrap_or_default(), self.decided(i))
            })
            .collect()
    }

    pub fn take_messages(&mut self) -> Vec<(NodeId, Message)> {
        std::mem::take(&mut self.outbox)
    }

    fn broadcast(&mut self, message: &Message) {
        for node in self.nodes.clone() {
            self.outbox.push((node, *message));
        }
    }

    fn next_instance(&self) -> u64 {
        let last = [
            self.durable.decided.keys().next_back(),
            self.durable.acceptors.keys().next_back(),
            self.proposals.keys().next_back(),
        ];
        last.into_iter().flatten().max().map_or(1, |i| i + 1)
    }

    fn new_ballot(&mut self) -> Ballot {
        self.durable.max_round += 1;
        Ballot { round: self.durable.max_round, node: self.id }
    }

    /// Propose `value` in the next free instance; returns the instance.
    pub fn propose(&mut self, value: Value) -> u64 {
        let instance = self.next_instance();
        self.start(instance, value);
        instance
    }

    fn start(&mut self, instance: u64, value: Value) {
        let ballot = self.new_ballot();
        self.proposals.insert(
            instance,
            Proposal {
                value,
                ballot,
                phase: Phase::Preparing { promises: BTreeMap::new() },
                idle: 0,
            },
        );
        self.broadcast(&Message::Prepare { instance, ballot });
    }

    /// Handle one message from `from`.
    pub fn step(&mut self, from: NodeId, message: Message) {
        if let Message::Prepare { ballot, .. }
        | Message::Accept { ballot, .. }
        | Message::Nack { promised: ballot, .. } = &message
        {
            self.durable.max_round = self.durable.max_round.max(ballot.round);
        }
        let instance = message.instance();
        if let Some(value) = self.decided(instance) {
            // Decided here already: tell whoever is still working on it.
            if matches!(message, Message::Prepare { .. } | Message::Accept { .. }) {
                self.outbox.push((from, Message::Decided { instance, value }));
                return;
            }
        }
        match message {
            Message::Prepare { instance, ballot } => {
                let state = self.durable.acceptors.entry(instance).or_default();
                if state.promised.is_none_or(|p| ballot > p) {
                    state.promised = Some(ballot);
                    let accepted = state.accepted;
                    self.changed.insert(instance);
                    self.outbox.push((from, Message::Promise { instance, ballot, accepted }));
                } else if let Some(promised) = state.promised {
                    self.outbox.push((from, Message::Nack { instance, ballot, promised }));
                }
            }
            Message::Accept { instance, ballot, value } => {
                let state = self.durable.acceptors.entry(instance).or_default();
                if state.promised.is_none_or(|p| ballot >= p) {
                    state.promised = Some(ballot);
                    state.accepted = Some((ballot, value));
                    self.changed.insert(instance);
                    self.outbox.push((from, Message::Accepted { instance, ballot, value }));
                } else if let Some(promised) = state.promised {
                    self.outbox.push((from, Message::Nack { instance, ballot, promised }));
                }
            }
            Message::Promise { instance, ballot, accepted } => {
                self.on_promise(from, instance, ballot, accepted)
            }
            Message::Accepted { instance, ballot, value } => {
                self.on_accepted(from, instance, ballot, value)
            }
            Message::Nack { instance, ballot, .. } => {
                // Outbid: retry at the next tick past the timeout, with a higher ballot.
                if let Some(p) = self.proposals.get_mut(&instance) {
                    if p.ballot == ballot {
                        p.idle = RETRY_AFTER + self.id as u32;
                    }
                }
            }
            Message::Decided { instance, value } => self.learn(instance, value),
        }
    }

    fn on_promise(
        &mut self,
        from: NodeId,
        instance: u64,
        ballot: Ballot,
        accepted: Option<(Ballot, Value)>,
    ) {
        let majority = self.majority();
        let Some(p) = self.proposals.get_mut(&instance) else { return };
        if p.ballot != ballot {
            return;
        }
        let Phase::Preparing { promises } = &mut p.phase else { return };
        promises.insert(from, accepted);
        if promises.len() < majority {
            return;
        }
        // Adopt the value accepted under the highest ballot, if any (§2.2); else our own.
        let value =
            promises.values().flatten().max_by_key(|(b, _)| *b).map_or(p.value, |(_, v)| *v);
        p.phase = Phase::Accepting { value, accepted: BTreeSet::new() };
        p.idle = 0;
        self.broadcast(&Message::Accept { instance, ballot, value });
    }

    fn on_accepted(&mut self, from: NodeId, instance: u64, ballot: Ballot, value: Value) {
        let majority = self.majority();
        let Some(p) = self.proposals.get_mut(&instance) else { return };
        if p.ballot != ballot {
            return;
        }
        let Phase::Accepting { value: proposed, accepted } = &mut p.phase else { return };
        if *proposed != value {
            return;
        }
        accepted.insert(from);
        if accepted.len() >= majority {
            self.learn(instance, value);
            self.broadcast(&Message::Decided { instance, value });
        }
    }

    fn learn(&mut self, instance: u64, value: Value) {
        let previous = self.durable.decided.insert(instance, value);
        if previous.is_none() {
            self.changed.insert(instance);
        }
        debug_assert!(
            previous.is_none_or(|v| v == value),
            "instance {instance} decided twice differently"
        );
        if let Some(p) = self.proposals.remove(&instance) {
            // Our value lost this instance to another: try again in a new instance, unless a
            // number at least as high is decided already (then it has served its purpose).
            if p.value != value && self.highest().is_none_or(|h| p.value > h) {
                self.propose(p.value);
            }
        }
    }

    /// One unit of logical time: retry stalled proposals, re-announce decisions.
    pub fn tick(&mut self) {
        self.ticks += 1;
        let timeout = RETRY_AFTER + self.id as u32;
        let stalled: Vec<(u64, Value)> = self
            .proposals
            .iter_mut()
            .filter_map(|(instance, p)| {
                p.idle += 1;
                (p.idle > timeout).then_some((*instance, p.value))
            })
            .collect();
        for (instance, value) in stalled {
            self.start(instance, value);
        }
        if self.ticks.is_multiple_of(ANNOUNCE_EVERY) {
            let decided: Vec<(u64, Value)> =
                self.durable.decided.iter().rev().take(32).map(|(i, v)| (*i, *v)).collect();
            for (instance, value) in decided {
                self.broadcast(&Message::Decided { instance, value });
            }
        }
    }
}

#[cfg(test)]
mod tests;
