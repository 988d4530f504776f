//! Paxos for the highest account number — a pure state machine: messages in ([`Paxos::step`]),
//! messages out ([`Paxos::take_messages`]), time as logical ticks ([`Paxos::tick`]); no sockets,
//! no disk, no clock inside. The node's loop does the I/O.
//!
//! Multi-Paxos over a log of *instances* (slots), one single-decree Paxos each, every proposal of
//! a number taking the next free instance. Ballots are `(round, node)`, unique per node and
//! totally ordered.
//! - Phase 1 (prepare/promise) runs once per leadership, for every instance from the first one the
//!   leader has not seen decided: acceptors promise to ignore lower ballots *everywhere* and report
//!   what they accepted (and know decided) from there on. The leader adopts, in each instance, the
//!   value accepted under the highest ballot (Lamport, *Paxos Made Simple*, §2.2 and §3), fills
//!   instances nobody accepted anything in with [`GAP`], and from then on proposes each new value
//!   with phase 2 alone.
//! - Phase 2 (accept/accepted): a value accepted by a majority under one ballot is chosen; the
//!   leader learns it and tells the others.
//! - A node that is not the leader forwards values to the leader it knows (the owner of the newest
//!   ballot it promised or was told of, if heard from lately); when that leader stays silent or
//!   cannot be reached it runs phase 1 itself.
//!   Outbid by a higher ballot, a leader steps down and hands its values on.
//! - Every node asks its peers now and then for the decisions it is missing ([`Message::Catchup`]),
//!   so a node that lost messages or restarted catches up.
//! - A linearizable read ([`Paxos::read`]) is served as etcd's ReadIndex: the leader confirms with
//!   a majority that it still leads, and the read waits until the log up to the leader's last
//!   instance is decided locally (the protocol is in [`reads`]).
//!
//! What an acceptor promised and accepted must survive a crash: [`Paxos::durable`] exports it and
//! [`Paxos::restore`] rebuilds a node from it; the node persists what [`Paxos::take_changed`]
//! reports before it sends the messages that depend on it ([`Message::needs_persisted_state`]).
//! The highest number is the largest value decided in any instance.
//!
//! The log is compacted (raft-rs's snapshot, omnipaxos's trim): once a node has seen
//! [`Paxos::set_compaction`]'s `keep` instances decided beyond its [`Snapshot`] twice over, the
//! decided prefix but the last `keep` becomes a new snapshot — the agreed state up to an instance
//! (the highest number in it) — and its instances are trimmed, decisions and acceptances alike.
//! A node asking for decisions below a peer's snapshot gets the snapshot ([`Message::Snapshot`]);
//! a promise from below it carries the snapshot, so a new leader never proposes in a trimmed
//! instance; an accept below it is answered with the snapshot, not accepted.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use shared::sync::PaxosRole;
use utoipa::ToSchema;

use super::crdt::NodeId;
pub use reads::{ReadAnswer, ReadId};

mod reads;

pub type Value = u64;

/// What a new leader proposes in an instance nobody accepted anything in, to close the gap in the
/// log. 0 never raises the highest number: for the max register it is a no-op.
pub const GAP: Value = 0;

/// A ballot: higher round wins, the node breaks ties, so no two nodes share one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub struct Ballot {
    pub round: u64,
    pub node: NodeId,
}

/// `round.node`, as the dashboard shows ballots.
impl std::fmt::Display for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.round, self.node)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    /// Phase 1a: promise to ignore ballots below `ballot`, in every instance from `from` on.
    Prepare {
        ballot: Ballot,
        from: u64,
    },
    /// Phase 1b: the promise, with what this acceptor accepted (instance, ballot, value) and what
    /// it knows decided (instance, value) from `from` on — and its snapshot, when `from` is at or
    /// below it (the instances it trimmed are decided).
    Promise {
        ballot: Ballot,
        from: u64,
        accepted: Vec<(u64, Ballot, Value)>,
        decided: Vec<(u64, Value)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot: Option<Snapshot>,
    },
    /// Phase 2a.
    Accept {
        instance: u64,
        ballot: Ballot,
        value: Value,
    },
    /// Phase 2b.
    Accepted {
        instance: u64,
        ballot: Ballot,
        value: Value,
    },
    /// The acceptor promised a higher ballot: whoever sent `ballot` is no longer the leader.
    Nack {
        ballot: Ballot,
        promised: Ballot,
    },
    Decided {
        instance: u64,
        value: Value,
    },
    /// A value for the leader to propose, from a node that is not the leader.
    Forward {
        value: Value,
    },
    /// "I know every decision before `from`, and the newest ballot I promised is `promised`":
    /// the receiver answers with the decisions it knows from there, and with a catch-up of its
    /// own if it knows a newer ballot (so a restarted node learns who leads).
    Catchup {
        from: u64,
        promised: Option<Ballot>,
    },
    /// A follower's linearizable reads: "give me a read index" (answered by
    /// [`Message::ReadIndexed`] once a round started after this request confirms it).
    ReadIndex {
        request: u64,
    },
    /// The leader's read round (ReadIndex): "you have promised no ballot above `ballot`?"
    ConfirmLeader {
        ballot: Ballot,
        round: u64,
    },
    /// The acceptor's yes to [`Message::ConfirmLeader`] (its no is a [`Message::Nack`]).
    LeaderConfirmed {
        ballot: Ballot,
        round: u64,
    },
    /// The read index for a follower's request: its reads may answer once every instance up to
    /// `index` is decided there.
    ReadIndexed {
        request: u64,
        index: u64,
    },
    /// Every instance up to the snapshot's index is decided, and this is the agreed state there:
    /// the answer to a catch-up request or an accept below the sender's snapshot.
    Snapshot {
        snapshot: Snapshot,
    },
}

impl Message {
    /// Its kind, as the wire's `type` says it (`prepare`, `accepted`, `read-index`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Prepare { .. } => "prepare",
            Message::Promise { .. } => "promise",
            Message::Accept { .. } => "accept",
            Message::Accepted { .. } => "accepted",
            Message::Nack { .. } => "nack",
            Message::Decided { .. } => "decided",
            Message::Forward { .. } => "forward",
            Message::Catchup { .. } => "catchup",
            Message::ReadIndex { .. } => "read-index",
            Message::ConfirmLeader { .. } => "confirm-leader",
            Message::LeaderConfirmed { .. } => "leader-confirmed",
            Message::ReadIndexed { .. } => "read-indexed",
            Message::Snapshot { .. } => "snapshot",
        }
    }

    /// The kinds of a batch, each once, in order of first appearance (`accept+decided`): what
    /// a batch is called in the recorded history.
    pub fn kinds(batch: &[Message]) -> String {
        let mut kinds: Vec<&str> = Vec::new();
        for message in batch {
            if !kinds.contains(&message.kind()) {
                kinds.push(message.kind());
            }
        }
        kinds.join("+")
    }

    /// The instance a message is about, if it is about one.
    pub fn instance(&self) -> Option<u64> {
        match self {
            Message::Accept { instance, .. }
            | Message::Accepted { instance, .. }
            | Message::Decided { instance, .. } => Some(*instance),
            _ => None,
        }
    }

    /// Whether the changes of the step that produced this message must be on disk before it is
    /// sent: an acceptor's answers (its promise or acceptance must outlive a crash) and a prepare
    /// (its ballot round must never be reused after a restart). An accept, a decision, a forward or
    /// a catch-up request states nothing the sender could forget, so it may leave at once.
    pub fn needs_persisted_state(&self) -> bool {
        matches!(
            self,
            Message::Prepare { .. }
                | Message::Promise { .. }
                | Message::Accepted { .. }
                | Message::Nack { .. }
        )
    }
}

/// The agreed state up to an instance, standing for the decided instances it replaced.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub struct Snapshot {
    /// Every instance up to this one is decided (0: no snapshot yet).
    pub index: u64,
    /// The largest value decided in them, the max register's state.
    pub highest: Value,
    /// The instance it was decided in.
    pub highest_instance: u64,
    /// How many of them hold a no-op.
    pub noops: u64,
}

/// Instances a node keeps decided beyond its snapshot: a peer that is this far behind catches up
/// from the decisions themselves; further behind, from the snapshot.
pub const KEEP_DECIDED: u64 = 1_024;

/// Everything that must survive a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durable {
    /// The highest ballot this acceptor promised (for every instance).
    pub promised: Option<Ballot>,
    /// Per instance, the value accepted under the highest ballot.
    pub accepted: BTreeMap<u64, (Ballot, Value)>,
    pub decided: BTreeMap<u64, Value>,
    /// The highest round this node has used or seen, so its next ballots are new.
    pub max_round: u64,
    /// The decided prefix the instances above were trimmed from.
    #[serde(default)]
    pub snapshot: Snapshot,
}

/// What changed in the durable state since the last [`Paxos::take_changed`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The acceptor's state (a promise, an acceptance, a ballot round used): on disk before the
    /// messages that depend on it leave.
    pub acceptor: Option<AcceptorChanges>,
    /// Decisions learned. A decision is a fact a majority of acceptors keeps durably already, so a
    /// node may write these lazily: one that loses them re-learns them (catch-up, phase 1).
    pub decided: Vec<(u64, Value)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptorChanges {
    /// (instance, ballot, value) accepted.
    pub accepted: Vec<(u64, Ballot, Value)>,
    pub promised: Option<Ballot>,
    pub max_round: u64,
    /// A new snapshot: the instances up to its index are trimmed.
    pub snapshot: Option<Snapshot>,
}

impl Durable {
    /// Write `changes` down (what a node's storage does with [`Ready::write`]).
    pub fn apply(&mut self, changes: &AcceptorChanges) {
        for (instance, ballot, value) in &changes.accepted {
            self.accepted.insert(*instance, (*ballot, *value));
        }
        self.promised = changes.promised;
        self.max_round = changes.max_round;
        if let Some(snapshot) = changes.snapshot.filter(|s| s.index > self.snapshot.index) {
            self.snapshot = snapshot;
            self.accepted.retain(|i, _| *i > snapshot.index);
            self.decided.retain(|i, _| *i > snapshot.index);
        }
    }

    /// Decisions learned, written down (skipping those a snapshot already covers).
    pub fn learn(&mut self, decided: impl IntoIterator<Item = (u64, Value)>) {
        let index = self.snapshot.index;
        self.decided.extend(decided.into_iter().filter(|(i, _)| *i > index));
    }
}

/// What a node must do after stepping the state machine (raft-rs's `Ready`): send what may go
/// at once, write the acceptor's changes, and only then send what depends on them. The node's
/// loop and the simulation both act on this one answer, so the simulation tests the order the
/// node really keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ready {
    /// Messages this node sent itself that could go at once: already stepped (kept for the log).
    pub stepped_here: Vec<Message>,
    /// Messages to peers that state nothing this node could forget (an accept, a decision, a
    /// forward, a catch-up request): they may leave now, before any write.
    pub send_now: Vec<(NodeId, Message)>,
    /// The acceptor's changes (a promise, an acceptance, a ballot round used): on disk before
    /// [`Ready::send_after_write`] leaves.
    pub write: Option<AcceptorChanges>,
    /// Decisions learned: a majority of acceptors holds them durably already, so they may be
    /// written lazily (a node that loses them re-learns them).
    pub decided: Vec<(u64, Value)>,
    /// Messages that depend on [`Ready::write`] (see [`Message::needs_persisted_state`]): they
    /// leave only once it is durable, and never if the write fails. Those to this node itself
    /// are stepped then.
    pub send_after_write: Vec<(NodeId, Message)>,
    /// Linearizable reads answered: their read index is decided here. Whoever waits on them
    /// may be told at once (they read decisions, which a majority holds already).
    pub reads: Vec<ReadAnswer>,
}

impl Ready {
    pub fn is_empty(&self) -> bool {
        self.stepped_here.is_empty()
            && self.send_now.is_empty()
            && self.write.is_none()
            && self.decided.is_empty()
            && self.send_after_write.is_empty()
            && self.reads.is_empty()
    }
}

#[derive(Debug, Clone)]
enum Role {
    /// Not leading: values go to the leader, or wait for this node to run phase 1.
    Follower,
    /// Phase 1 under `ballot` for every instance from `from` on.
    Preparing {
        ballot: Ballot,
        from: u64,
        promises: BTreeMap<NodeId, Vec<(u64, Ballot, Value)>>,
        idle: u32,
    },
    /// Phase 1 done: new values go straight to phase 2.
    Leading { ballot: Ballot },
}

/// A value in phase 2 in one instance.
#[derive(Debug, Clone)]
struct Proposal {
    ballot: Ballot,
    value: Value,
    accepted: BTreeSet<NodeId>,
    /// Ticks without a decision; past the timeout the accepts go out again.
    idle: u32,
}

/// Ticks without progress before a proposer retries (staggered by node id, so duelling proposers
/// stop duelling).
const RETRY_AFTER: u32 = 4;
/// Ticks a forwarded value may wait for its decision before this node stops trusting the leader.
const FORWARD_TIMEOUT: u32 = 8;
/// Every this many ticks a node asks its peers for the decisions it is missing.
const CATCHUP_EVERY: u64 = 8;
/// A leader not heard from for this many ticks is presumed gone (everyone sends catch-up
/// requests every [`CATCHUP_EVERY`] ticks, so a live one is heard).
const LEASE: u64 = 2 * CATCHUP_EVERY + 4;
/// Decisions sent in answer to one catch-up request.
const CATCHUP_BATCH: usize = 256;

/// One node's Paxos.
#[derive(Debug, Clone)]
pub struct Paxos {
    id: NodeId,
    /// Every node of the cluster, this one included.
    nodes: Vec<NodeId>,
    durable: Durable,
    role: Role,
    proposals: BTreeMap<u64, Proposal>,
    /// Values to propose once this node leads (or to forward to the leader).
    waiting: Vec<Value>,
    /// Values handed to the leader, with ticks since.
    forwarded: Vec<(Value, u32)>,
    /// The tick each node was last heard from.
    heard: BTreeMap<NodeId, u64>,
    /// Ticks to wait before trying to lead (after being outbid, or just restarted).
    backoff: u32,
    /// The newest ballot peers told of (volatile, unlike a promise): who leads, as far as known.
    leader_hint: Option<Ballot>,
    outbox: Vec<(NodeId, Message)>,
    ticks: u64,
    /// The largest decided value and its instance (cached: asked on every request, and sent
    /// with every catch-up answer).
    highest: Option<(Value, u64)>,
    /// The first instance this node has not seen decided.
    contiguous: u64,
    /// How many decided instances hold a no-op.
    noops: u64,
    /// Instances whose acceptance changed since the last [`Paxos::take_changed`].
    changed: BTreeSet<u64>,
    /// The promise or the ballot round changed since then.
    meta_changed: bool,
    learned: Vec<(u64, Value)>,
    /// Linearizable reads in progress ([`Paxos::read`]).
    reads: reads::Reads,
    /// Deliberate bugs switched on (for the lesson that a checker catches them).
    bugs: PaxosBugs,
    /// Decided instances kept beyond the snapshot (0: the log is never compacted).
    keep: u64,
    /// The snapshot changed since the last [`Paxos::take_changed`].
    snapshot_changed: bool,
}

/// The deliberate Paxos bugs ([`shared::bugs::Bug`]): each breaks one rule of the protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PaxosBugs {
    /// A new leader ignores the values its promises report and proposes its own (no-ops in the
    /// instances they name): breaks §2.2's P2c.
    pub ignore_promised_values: bool,
    /// An acceptor accepts an accept below the ballot it promised: breaks P1a.
    pub accept_below_promise: bool,
    /// A linearizable read answers what this node holds at once, with no read index: a
    /// follower's decisions lag the leader's (the local read `/get_data` serves). Only the
    /// simulation switches it on: it shows that the read round is needed.
    pub read_from_local_state: bool,
    /// A leader confirms its read index without asking a majority whether it still leads: a
    /// deposed leader that has not heard of its successor answers stale reads (ReadIndex's
    /// heartbeat round, Ongaro §6.4 step 3). Simulation only, like the one above.
    pub read_without_quorum: bool,
}

impl Paxos {
    pub fn new(id: NodeId, nodes: Vec<NodeId>) -> Self {
        Self::restore(id, nodes, Durable::default())
    }

    /// A node restarted from what it had persisted (its role and in-flight values are forgotten).
    pub fn restore(id: NodeId, nodes: Vec<NodeId>, durable: Durable) -> Self {
        let snapshot = durable.snapshot;
        let trimmed = (snapshot.index > 0).then_some((snapshot.highest, snapshot.highest_instance));
        let mut paxos = Self {
            id,
            nodes,
            highest: durable.decided.iter().map(|(i, v)| (*v, *i)).max().max(trimmed),
            noops: snapshot.noops + durable.decided.values().filter(|v| **v == GAP).count() as u64,
            // A node restarted from its disk first hears whether somebody leads already.
            backoff: if durable == Durable::default() { 0 } else { RETRY_AFTER },
            durable,
            role: Role::Follower,
            proposals: BTreeMap::new(),
            waiting: Vec::new(),
            forwarded: Vec::new(),
            heard: BTreeMap::new(),
            leader_hint: None,
            outbox: Vec::new(),
            ticks: 0,
            contiguous: snapshot.index + 1,
            changed: BTreeSet::new(),
            meta_changed: false,
            learned: Vec::new(),
            reads: reads::Reads::default(),
            bugs: PaxosBugs::default(),
            keep: KEEP_DECIDED,
            snapshot_changed: false,
        };
        paxos.advance_contiguous();
        paxos
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

    /// The decisions kept (those above the snapshot).
    pub fn decisions(&self) -> &BTreeMap<u64, Value> {
        &self.durable.decided
    }

    /// The decided prefix the kept decisions start after.
    pub fn snapshot(&self) -> Snapshot {
        self.durable.snapshot
    }

    /// How many instances this node has seen decided, trimmed ones included.
    pub fn decided_total(&self) -> u64 {
        self.durable.snapshot.index + self.durable.decided.len() as u64
    }

    /// Whether `instance` is decided here (kept, or below the snapshot).
    fn is_decided(&self, instance: u64) -> bool {
        instance <= self.durable.snapshot.index || self.durable.decided.contains_key(&instance)
    }

    /// Keep `keep` decided instances beyond the snapshot, and snapshot the rest once there are
    /// twice as many (0: never).
    pub fn set_compaction(&mut self, keep: u64) {
        self.keep = keep;
    }

    /// The largest value decided in any instance.
    pub fn highest(&self) -> Option<Value> {
        self.highest.map(|(value, _)| value)
    }

    /// Whether this node currently leads (phase 1 done, proposing with phase 2 alone).
    pub fn is_leading(&self) -> bool {
        matches!(self.role, Role::Leading { .. })
    }

    /// Leader, preparing or follower, with the ballot it leads or prepares with.
    pub fn role(&self) -> (PaxosRole, Option<Ballot>) {
        match self.role {
            Role::Leading { ballot } => (PaxosRole::Leader, Some(ballot)),
            Role::Preparing { ballot, .. } => (PaxosRole::Preparing, Some(ballot)),
            Role::Follower => (PaxosRole::Follower, None),
        }
    }

    /// The leader as far as this node knows: the owner of the newest ballot it promised or was
    /// told of (alive or not).
    pub fn leader(&self) -> Option<NodeId> {
        self.durable.promised.max(self.leader_hint).map(|b| b.node)
    }

    /// The transport could not reach `node` at all (connection refused, link cut): stop counting
    /// on it now rather than after a timeout. If it was the leader, the values forwarded to it go
    /// through a new leadership at once.
    pub fn unreachable(&mut self, node: NodeId) {
        self.heard.remove(&node);
        if self.leader() == Some(node) && node != self.id && !self.forwarded.is_empty() {
            self.waiting.extend(self.forwarded.drain(..).map(|(value, _)| value));
            self.flush_waiting();
        }
        self.reads_unreachable(node);
    }

    /// How many decided instances hold a no-op (a closed gap).
    pub fn noops(&self) -> u64 {
        self.noops
    }

    /// The first instance this node has not seen decided.
    pub fn first_undecided(&self) -> u64 {
        self.contiguous
    }

    /// Values this node is still trying to get decided (in phase 2, waiting, or forwarded).
    pub fn pending(&self) -> Vec<Value> {
        let proposed = self.proposals.values().map(|p| p.value).filter(|v| *v != GAP);
        let forwarded = self.forwarded.iter().map(|(v, _)| *v);
        proposed.chain(self.waiting.iter().copied()).chain(forwarded).collect()
    }

    /// What changed in the durable state since last asked (to persist — the acceptor's part
    /// before sending what depends on it).
    pub fn take_changed(&mut self) -> Changes {
        let changed = self.meta_changed || self.snapshot_changed || !self.changed.is_empty();
        let acceptor = changed.then(|| AcceptorChanges {
            accepted: std::mem::take(&mut self.changed)
                .into_iter()
                .filter_map(|i| self.durable.accepted.get(&i).map(|(b, v)| (i, *b, *v)))
                .collect(),
            promised: self.durable.promised,
            max_round: self.durable.max_round,
            snapshot: self.snapshot_changed.then_some(self.durable.snapshot),
        });
        self.meta_changed = false;
        self.snapshot_changed = false;
        let index = self.durable.snapshot.index;
        let mut decided = std::mem::take(&mut self.learned);
        decided.retain(|(i, _)| *i > index);
        Changes { acceptor, decided }
    }

    pub fn take_messages(&mut self) -> Vec<(NodeId, Message)> {
        std::mem::take(&mut self.outbox)
    }

    /// Everything the last steps produced, sorted by what may leave before the write. Messages
    /// to this node itself that may go at once are stepped here, until none is left.
    pub fn ready(&mut self) -> Ready {
        let mut ready = Ready::default();
        loop {
            let messages = self.take_messages();
            if messages.is_empty() {
                break;
            }
            for (to, message) in messages {
                if message.needs_persisted_state() {
                    ready.send_after_write.push((to, message));
                } else if to == self.id {
                    ready.stepped_here.push(message.clone());
                    self.step(self.id, message);
                } else {
                    ready.send_now.push((to, message));
                }
            }
        }
        let Changes { acceptor, decided } = self.take_changed();
        (ready.write, ready.decided) = (acceptor, decided);
        ready.reads = self.take_reads();
        ready
    }

    fn broadcast(&mut self, message: &Message) {
        for &node in &self.nodes {
            self.outbox.push((node, message.clone()));
        }
    }

    fn tell_others(&mut self, message: &Message) {
        for &node in &self.nodes {
            if node != self.id {
                self.outbox.push((node, message.clone()));
            }
        }
    }

    fn next_instance(&self) -> u64 {
        let last = [
            self.durable.decided.keys().next_back(),
            self.durable.accepted.keys().next_back(),
            self.proposals.keys().next_back(),
        ];
        last.into_iter().flatten().copied().max().unwrap_or(0).max(self.durable.snapshot.index) + 1
    }

    fn advance_contiguous(&mut self) {
        while self.durable.decided.contains_key(&self.contiguous) {
            self.contiguous += 1;
        }
    }

    /// Whether this acceptor accepted a value in an instance it has not seen decided.
    fn undecided_accepted(&self) -> bool {
        let decided = &self.durable.decided;
        self.durable.accepted.range(self.contiguous..).any(|(i, _)| !decided.contains_key(i))
    }

    /// Whether a value still needs deciding: a number no higher than one decided already has
    /// served its purpose (the highest number is at least it).
    fn useful(&self, value: Value) -> bool {
        value != GAP && self.highest().is_none_or(|h| value > h)
    }

    /// The leader this node knows (the owner of the newest ballot it promised or was told of),
    /// if heard from lately.
    fn live_leader(&self) -> Option<NodeId> {
        let leader = self.leader()?;
        let heard = self.heard.get(&leader)?;
        (leader != self.id && self.ticks - heard <= LEASE).then_some(leader)
    }

    /// Propose `value`: in the next instance if this node leads, else through the leader.
    pub fn propose(&mut self, value: Value) {
        self.waiting.push(value);
        self.flush_waiting();
    }

    /// Move waiting values on: into phase 2 when leading, to the leader when there is a live
    /// one, else start phase 1 (unless outbid a moment ago).
    fn flush_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        match self.role {
            Role::Leading { ballot } => {
                for value in std::mem::take(&mut self.waiting) {
                    if self.useful(value) {
                        let instance = self.next_instance();
                        self.send_accept(instance, ballot, value);
                    }
                }
            }
            Role::Preparing { .. } => {}
            Role::Follower => {
                if let Some(leader) = self.live_leader() {
                    for value in std::mem::take(&mut self.waiting) {
                        if self.useful(value) {
                            self.outbox.push((leader, Message::Forward { value }));
                            self.forwarded.push((value, 0));
                        }
                    }
                } else if self.backoff == 0 {
                    self.prepare();
                }
            }
        }
    }

    fn new_ballot(&mut self) -> Ballot {
        self.durable.max_round += 1;
        self.meta_changed = true;
        Ballot { round: self.durable.max_round, node: self.id }
    }

    /// Phase 1 for every instance this node has not seen decided.
    fn prepare(&mut self) {
        // Values in phase 2 under an older ballot go through the new leadership.
        self.requeue_proposals();
        let ballot = self.new_ballot();
        let from = self.contiguous;
        self.role = Role::Preparing { ballot, from, promises: BTreeMap::new(), idle: 0 };
        self.broadcast(&Message::Prepare { ballot, from });
    }

    /// Values in phase 2 go back to waiting (no-ops are dropped: a new leader closes gaps anew).
    fn requeue_proposals(&mut self) {
        let values = std::mem::take(&mut self.proposals).into_values().map(|p| p.value);
        self.waiting.extend(values.filter(|v| *v != GAP));
    }

    fn send_accept(&mut self, instance: u64, ballot: Ballot, value: Value) {
        let proposal = Proposal { ballot, value, accepted: BTreeSet::new(), idle: 0 };
        self.proposals.insert(instance, proposal);
        self.broadcast(&Message::Accept { instance, ballot, value });
    }

    /// Stop leading (outbid): values in flight wait for the next leader.
    fn step_down(&mut self) {
        self.role = Role::Follower;
        self.requeue_proposals();
        self.backoff = RETRY_AFTER + self.id as u32;
        self.flush_reads();
    }

    /// A ballot of another node's above ours: our leadership (or attempt) is over.
    fn outranked_by(&mut self, ballot: Ballot) {
        let mine = match self.role {
            Role::Preparing { ballot, .. } | Role::Leading { ballot } => ballot,
            Role::Follower => return,
        };
        if ballot > mine {
            self.step_down();
        }
    }

    /// Switch deliberate bugs on or off (from the next step on).
    pub fn set_bugs(&mut self, bugs: PaxosBugs) {
        self.bugs = bugs;
    }

    /// Handle one message from `from`.
    pub fn step(&mut self, from: NodeId, message: Message) {
        self.heard.insert(from, self.ticks);
        if let Message::Prepare { ballot, .. }
        | Message::Accept { ballot, .. }
        | Message::Nack { promised: ballot, .. } = &message
        {
            self.durable.max_round = self.durable.max_round.max(ballot.round);
        }
        match message {
            Message::Prepare { ballot, from: start } => self.on_prepare(from, ballot, start),
            Message::Promise { ballot, accepted, decided, snapshot, .. } => {
                if let Some(snapshot) = snapshot {
                    self.install(snapshot);
                }
                self.on_promise(from, ballot, accepted, decided)
            }
            Message::Snapshot { snapshot } => self.install(snapshot),
            Message::Accept { instance, ballot, value } => {
                self.on_accept(from, instance, ballot, value)
            }
            Message::Accepted { instance, ballot, value } => {
                self.on_accepted(from, instance, ballot, value)
            }
            Message::Nack { promised, .. } => self.outranked_by(promised),
            Message::Decided { instance, value } => self.learn(instance, value),
            Message::Forward { value } => self.on_forward(value),
            Message::ReadIndex { request } => self.on_read_index(from, request),
            Message::ConfirmLeader { ballot, round } => self.on_confirm_leader(from, ballot, round),
            Message::LeaderConfirmed { ballot, round } => {
                self.on_leader_confirmed(from, ballot, round)
            }
            Message::ReadIndexed { request, index } => self.on_read_indexed(request, index),
            Message::Catchup { from: start, promised } => {
                self.leader_hint = self.leader_hint.max(promised);
                if self.durable.promised > promised {
                    let promised = self.durable.promised;
                    self.outbox.push((from, Message::Catchup { from: self.contiguous, promised }));
                }
                let snapshot = self.durable.snapshot;
                let start = if start <= snapshot.index && snapshot.index > 0 {
                    // Behind the trim point: the snapshot first, then what follows it.
                    self.outbox.push((from, Message::Snapshot { snapshot }));
                    snapshot.index + 1
                } else {
                    start
                };
                let mut known: Vec<(u64, Value)> = self
                    .durable
                    .decided
                    .range(start..)
                    .take(CATCHUP_BATCH)
                    .map(|(i, v)| (*i, *v))
                    .collect();
                // The decision holding the highest number goes along whatever the gap: a node
                // that missed thousands shows the right number after one exchange.
                if let Some((value, instance)) = self.highest {
                    let kept = instance > snapshot.index;
                    let beyond = known.last().is_some_and(|(last, _)| *last < instance);
                    if kept && instance >= start && beyond {
                        known.push((instance, value));
                    }
                }
                for (instance, value) in known {
                    self.outbox.push((from, Message::Decided { instance, value }));
                }
            }
        }
    }

    /// Acceptor, phase 1b (§2.2 P1a): promise unless a higher ballot was promised.
    fn on_prepare(&mut self, from: NodeId, ballot: Ballot, start: u64) {
        if let Some(promised) = self.durable.promised.filter(|p| ballot < *p) {
            self.outbox.push((from, Message::Nack { ballot, promised }));
            return;
        }
        // Persisted even when unchanged, so this answer never overtakes the write of an earlier
        // identical promise still in flight.
        self.durable.promised = Some(ballot);
        self.meta_changed = true;
        self.outranked_by(ballot);
        let decided = &self.durable.decided;
        let accepted = (self.durable.accepted.range(start..))
            .filter(|(i, _)| !decided.contains_key(i))
            .map(|(i, (b, v))| (*i, *b, *v))
            .collect();
        let decided = decided.range(start..).map(|(i, v)| (*i, *v)).collect();
        let snapshot = self.durable.snapshot;
        let snapshot = (snapshot.index > 0 && start <= snapshot.index).then_some(snapshot);
        let promise = Message::Promise { ballot, from: start, accepted, decided, snapshot };
        self.outbox.push((from, promise));
    }

    /// Acceptor, phase 2b: accept unless a higher ballot was promised.
    fn on_accept(&mut self, from: NodeId, instance: u64, ballot: Ballot, value: Value) {
        if instance <= self.durable.snapshot.index {
            // Trimmed: decided long ago. The sender is behind; the snapshot catches it up.
            let snapshot = self.durable.snapshot;
            self.outbox.push((from, Message::Snapshot { snapshot }));
            return;
        }
        if let Some(value) = self.decided(instance) {
            // Decided here already: tell whoever is still working on it.
            self.outbox.push((from, Message::Decided { instance, value }));
            return;
        }
        let below = self.durable.promised.filter(|p| ballot < *p);
        if let (Some(promised), false) = (below, self.bugs.accept_below_promise) {
            self.outbox.push((from, Message::Nack { ballot, promised }));
            return;
        }
        if below.is_none() {
            if self.durable.promised != Some(ballot) {
                self.durable.promised = Some(ballot);
                self.meta_changed = true;
            }
            self.outranked_by(ballot);
        }
        self.durable.accepted.insert(instance, (ballot, value));
        self.changed.insert(instance);
        self.outbox.push((from, Message::Accepted { instance, ballot, value }));
    }

    /// Proposer: a majority of promises ends phase 1.
    fn on_promise(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        accepted: Vec<(u64, Ballot, Value)>,
        decided: Vec<(u64, Value)>,
    ) {
        for (instance, value) in decided {
            self.learn(instance, value);
        }
        let majority = self.majority();
        let Role::Preparing { ballot: mine, from: start, promises, .. } = &mut self.role else {
            return;
        };
        if *mine != ballot {
            return;
        }
        promises.insert(from, accepted);
        if promises.len() < majority {
            return;
        }
        let start = *start;
        let promises = std::mem::take(promises);
        self.role = Role::Leading { ballot };
        // In each instance, the value accepted under the highest ballot (§2.2); the rest of the
        // log up to the last instance anyone knows of is closed with no-ops.
        let mut adopted: BTreeMap<u64, (Ballot, Value)> = BTreeMap::new();
        let reported = promises.into_values().flatten();
        // The deliberate bug: what the acceptors report is thrown away.
        let reported = reported.filter(|_| !self.bugs.ignore_promised_values);
        for (instance, b, value) in reported {
            let entry = adopted.entry(instance).or_insert((b, value));
            if b > entry.0 {
                *entry = (b, value);
            }
        }
        let top = adopted.keys().next_back().copied().unwrap_or(0).max(self.next_instance() - 1);
        for instance in start..=top {
            if !self.is_decided(instance) {
                let value = adopted.get(&instance).map_or(GAP, |(_, v)| *v);
                self.send_accept(instance, ballot, value);
            }
        }
        self.flush_waiting();
        self.flush_reads();
    }

    /// Proposer: a majority of acceptances under one ballot decides the instance.
    fn on_accepted(&mut self, from: NodeId, instance: u64, ballot: Ballot, value: Value) {
        let majority = self.majority();
        let Some(p) = self.proposals.get_mut(&instance) else { return };
        if p.ballot != ballot || p.value != value {
            return;
        }
        p.accepted.insert(from);
        if p.accepted.len() >= majority {
            self.learn(instance, value);
            self.tell_others(&Message::Decided { instance, value });
        }
    }

    fn on_forward(&mut self, value: Value) {
        self.waiting.push(value);
        if matches!(self.role, Role::Follower) {
            // The sender takes this node for the leader: lead (no second hop, so no loops).
            if self.backoff == 0 && self.useful(value) {
                self.prepare();
            }
        } else {
            self.flush_waiting();
        }
    }

    fn learn(&mut self, instance: u64, value: Value) {
        if instance <= self.durable.snapshot.index {
            return;
        }
        let previous = self.durable.decided.insert(instance, value);
        debug_assert!(
            previous.is_none_or(|v| v == value),
            "instance {instance} decided twice differently"
        );
        if previous.is_some() {
            return;
        }
        self.learned.push((instance, value));
        self.noops += u64::from(value == GAP);
        self.highest = self.highest.max(Some((value, instance)));
        self.advance_contiguous();
        self.answer_reads();
        if let Some(p) = self.proposals.remove(&instance) {
            // Another value won this instance: ours goes into a new one.
            if p.value != value && p.value != GAP {
                self.waiting.push(p.value);
            }
        }
        let highest = self.highest();
        self.forwarded.retain(|(v, _)| highest.is_none_or(|h| *v > h));
        self.compact();
    }

    /// Once `2 × keep` instances are decided beyond the snapshot, all but the last `keep` of
    /// them become the new snapshot.
    fn compact(&mut self) {
        let old = self.durable.snapshot;
        let decided_to = self.contiguous - 1;
        if self.keep == 0 || decided_to < old.index + 2 * self.keep {
            return;
        }
        let index = decided_to - self.keep;
        let mut snapshot = Snapshot { index, ..old };
        for (instance, value) in self.durable.decided.range(old.index + 1..=index) {
            snapshot.noops += u64::from(*value == GAP);
            if *value > snapshot.highest || snapshot.highest_instance == 0 {
                (snapshot.highest, snapshot.highest_instance) = (*value, *instance);
            }
        }
        self.install(snapshot);
    }

    /// Take `snapshot` as the decided prefix, if it reaches further than this node's own: trim
    /// what it covers, and go on from its end.
    fn install(&mut self, snapshot: Snapshot) {
        if snapshot.index <= self.durable.snapshot.index {
            return;
        }
        let above = snapshot.index + 1;
        self.durable.decided = self.durable.decided.split_off(&above);
        self.durable.accepted = self.durable.accepted.split_off(&above);
        self.changed = self.changed.split_off(&above);
        let gaps = self.durable.decided.values().filter(|v| **v == GAP).count() as u64;
        self.noops = snapshot.noops + gaps;
        self.durable.snapshot = snapshot;
        self.snapshot_changed = true;
        self.highest = self.highest.max(Some((snapshot.highest, snapshot.highest_instance)));
        // Values in phase 2 in a trimmed instance: decided there already, ours or not.
        let kept = self.proposals.split_off(&above);
        let trimmed = std::mem::replace(&mut self.proposals, kept);
        self.waiting.extend(trimmed.into_values().map(|p| p.value).filter(|v| *v != GAP));
        self.contiguous = self.contiguous.max(above);
        self.advance_contiguous();
        let highest = self.highest();
        self.forwarded.retain(|(v, _)| highest.is_none_or(|h| *v > h));
        self.answer_reads();
    }

    /// One unit of logical time: retry what stalled, ask peers for missed decisions.
    pub fn tick(&mut self) {
        self.ticks += 1;
        self.backoff = self.backoff.saturating_sub(1);
        let timeout = RETRY_AFTER + self.id as u32;
        match &mut self.role {
            Role::Preparing { idle, .. } => {
                *idle += 1;
                if *idle > timeout {
                    self.prepare();
                }
            }
            Role::Leading { .. } => {
                let mut again = Vec::new();
                for (instance, p) in &mut self.proposals {
                    p.idle += 1;
                    if p.idle > timeout {
                        p.idle = 0;
                        let message = Message::Accept {
                            instance: *instance,
                            ballot: p.ballot,
                            value: p.value,
                        };
                        again.extend(
                            (self.nodes.iter().filter(|n| !p.accepted.contains(n)))
                                .map(|n| (*n, message.clone())),
                        );
                    }
                }
                self.outbox.extend(again);
            }
            Role::Follower => {
                // Accepted values nobody finishes (their leader died mid-instance, or this node
                // restarted without its latest decisions): lead, and phase 1 finishes them.
                if self.live_leader().is_none() && self.backoff == 0 && self.undecided_accepted() {
                    self.prepare();
                }
            }
        }
        // Forwarded values the leader did not get decided in time: stop trusting it, try again.
        let mut late = false;
        for (value, idle) in std::mem::take(&mut self.forwarded) {
            if idle + 1 > FORWARD_TIMEOUT {
                self.waiting.push(value);
                late = true;
            } else {
                self.forwarded.push((value, idle + 1));
            }
        }
        if late {
            if let Some(leader) = self.leader() {
                self.heard.remove(&leader);
            }
        }
        self.flush_waiting();
        self.tick_reads();
        if self.ticks == 1 || self.ticks.is_multiple_of(CATCHUP_EVERY) {
            let promised = self.durable.promised;
            self.tell_others(&Message::Catchup { from: self.contiguous, promised });
        }
    }
}

#[cfg(test)]
mod tests;
