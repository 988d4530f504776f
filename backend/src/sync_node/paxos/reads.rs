//! Linearizable reads of the highest number: etcd's ReadIndex (Ongaro's thesis, §6.4), adapted
//! to this Multi-Paxos. Pure, like the rest of [`Paxos`]: reads in ([`Paxos::read`]), answers
//! out ([`Ready::reads`](super::Ready::reads)), messages through the outbox.
//!
//! A read must see every number decided before it began. A node's own decisions may lag (a
//! decision reaches the leader first), and a leader may have been deposed without knowing it,
//! so neither may answer from what it holds. Instead:
//! 1. The leader notes its *read index*: the last instance it knows of (decided, accepted or in
//!    phase 2). Every value decided before the read began is in an instance up to it — decided
//!    under an older ballot, it was reported in this leader's phase 1 and re-proposed; under this
//!    ballot, this leader proposed it — unless a higher ballot has taken over.
//! 2. It asks every acceptor to confirm that it has promised no ballot above the leader's
//!    ([`Message::ConfirmLeader`]). A majority of yeses, all sent after the read began, confirms
//!    it: a higher ballot needs a majority of promises, so one of them came from an acceptor
//!    after that acceptor's yes — after the read began — and that ballot decided nothing before.
//! 3. The read waits until every instance up to the read index is decided *here*, then answers
//!    the highest number decided here: at least every number decided before the read, and only
//!    decided numbers.
//!
//! A follower asks the leader for a read index ([`Message::ReadIndex`]) and waits for its own
//! log to reach it. Reads are batched: every read that arrives while a round (or a follower's
//! request) is in flight waits for the next one, so a burst of reads costs one round, not one
//! each. A round started before a read arrived never serves it (its confirmation may predate the
//! read).

use std::collections::BTreeSet;

use super::{Ballot, Message, NodeId, Paxos, Role, Value, FORWARD_TIMEOUT, GAP, RETRY_AFTER};

/// A linearizable read in progress, as [`Paxos::read`] hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadId(pub u64);

/// A linearizable read answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAnswer {
    pub id: ReadId,
    /// The highest number decided at this node once the read index was reached (0: none yet).
    pub highest: Value,
    /// The read index: every instance up to it was decided here before the answer.
    pub index: u64,
}

/// The reads of one node: waiting for a round, in one, or waiting for their index here.
#[derive(Debug, Clone, Default)]
pub(super) struct Reads {
    /// The next id for a read, a round or a request. Ids must not repeat across restarts (a
    /// leader's late answer to a request of an earlier life must not match a new one): see
    /// [`Paxos::start_read_ids_at`].
    next: u64,
    /// Reads waiting for the next round (one was in flight when they came, or no leader known).
    queued: Vec<ReadId>,
    /// Followers' requests ([`Message::ReadIndex`]) waiting for this leader's next round.
    requests: Vec<(NodeId, u64)>,
    round: Option<Round>,
    /// Reads given a read index, waiting for every instance up to it to be decided here.
    indexed: Vec<(ReadId, u64)>,
    /// Reads answered, not yet taken.
    answered: Vec<ReadAnswer>,
}

/// One read round in flight.
#[derive(Debug, Clone)]
enum Round {
    /// Leading: [`Message::ConfirmLeader`] sent; a majority of yeses confirms `index` for
    /// `reads` and `requests`.
    Confirming {
        id: u64,
        ballot: Ballot,
        index: u64,
        yes: BTreeSet<NodeId>,
        reads: Vec<ReadId>,
        requests: Vec<(NodeId, u64)>,
        idle: u32,
    },
    /// Following: [`Message::ReadIndex`] sent to `leader` for `reads`.
    Asking { id: u64, leader: NodeId, reads: Vec<ReadId>, idle: u32 },
}

impl Reads {
    fn next_id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Whether a read waits for an instance above `applied` to be decided here.
    fn behind(&self, applied: u64) -> bool {
        self.indexed.iter().any(|(_, index)| *index > applied)
    }
}

impl Paxos {
    /// Begin a linearizable read of the highest number; its answer comes out in
    /// [`Ready::reads`](super::Ready::reads) (or [`Paxos::take_reads`]). A read this node cannot
    /// serve (no majority reachable) never answers: the caller bounds its wait and
    /// [cancels](Paxos::cancel_read) it.
    pub fn read(&mut self) -> ReadId {
        let id = ReadId(self.reads.next_id());
        if self.bugs.read_from_local_state {
            // The deliberate bug: what this node holds, at once.
            let (highest, index) = (self.highest().unwrap_or(GAP), self.contiguous - 1);
            self.reads.answered.push(ReadAnswer { id, highest, index });
            return id;
        }
        self.reads.queued.push(id);
        self.flush_reads();
        id
    }

    /// Forget a read (its caller stopped waiting).
    pub fn cancel_read(&mut self, id: ReadId) {
        let reads = &mut self.reads;
        reads.queued.retain(|r| *r != id);
        reads.indexed.retain(|(r, _)| *r != id);
        reads.answered.retain(|a| a.id != id);
        if let Some(Round::Confirming { reads, .. } | Round::Asking { reads, .. }) =
            &mut reads.round
        {
            reads.retain(|r| *r != id);
        }
    }

    /// Number this node's reads and requests from `first` on. A node that restarts must not
    /// reuse its earlier life's ids (a late answer would match a new request): the node passes
    /// something that grows across restarts (the wall clock); the pure state machine has none.
    pub fn start_read_ids_at(&mut self, first: u64) {
        self.reads.next = self.reads.next.max(first);
    }

    /// The reads answered since last asked.
    pub fn take_reads(&mut self) -> Vec<ReadAnswer> {
        std::mem::take(&mut self.reads.answered)
    }

    /// Reads waiting for an answer, in any stage (for status and tests).
    pub fn reads_pending(&self) -> usize {
        let reads = &self.reads;
        let in_round = match &reads.round {
            Some(Round::Confirming { reads, .. } | Round::Asking { reads, .. }) => reads.len(),
            None => 0,
        };
        reads.queued.len() + in_round + reads.indexed.len()
    }

    /// Start the next round if none is in flight and reads wait: a confirmation round when
    /// leading, a request to the leader when following one, phase 1 when no leader is known.
    /// A round of a role this node no longer has is over first: its reads wait for the next.
    pub(super) fn flush_reads(&mut self) {
        let over = match (&self.role, &self.reads.round) {
            (Role::Leading { ballot }, Some(Round::Confirming { ballot: b, .. })) => ballot != b,
            (_, Some(Round::Confirming { .. }))
            | (Role::Leading { .. }, Some(Round::Asking { .. })) => true,
            _ => false,
        };
        if over {
            self.requeue_reads();
        }
        if matches!(self.role, Role::Follower) {
            // Followers' requests are a leader's to serve: they ask again.
            self.reads.requests.clear();
        }
        if self.reads.round.is_some()
            || (self.reads.queued.is_empty() && self.reads.requests.is_empty())
        {
            return;
        }
        match self.role {
            Role::Leading { ballot } => {
                let id = self.reads.next_id();
                let reads = std::mem::take(&mut self.reads.queued);
                let requests = std::mem::take(&mut self.reads.requests);
                if self.bugs.read_without_quorum {
                    // The deliberate bug: the leader takes itself for the leader still.
                    let index = self.next_instance() - 1;
                    self.confirmed(index, reads, requests);
                    return;
                }
                self.reads.round = Some(Round::Confirming {
                    id,
                    ballot,
                    index: self.next_instance() - 1,
                    yes: BTreeSet::new(),
                    reads,
                    requests,
                    idle: 0,
                });
                self.broadcast(&Message::ConfirmLeader { ballot, round: id });
            }
            Role::Preparing { .. } => {}
            Role::Follower => {
                if let Some(leader) = self.live_leader() {
                    let id = self.reads.next_id();
                    let reads = std::mem::take(&mut self.reads.queued);
                    self.reads.round = Some(Round::Asking { id, leader, reads, idle: 0 });
                    self.outbox.push((leader, Message::ReadIndex { request: id }));
                } else if self.backoff == 0 {
                    self.prepare();
                }
            }
        }
    }

    /// The round in flight is over unanswered: its reads wait for the next one (the followers
    /// whose requests it carried ask again).
    fn requeue_reads(&mut self) {
        if let Some(Round::Confirming { reads, .. } | Round::Asking { reads, .. }) =
            self.reads.round.take()
        {
            self.reads.queued.extend(reads);
        }
    }

    /// Leader: a follower's reads, for the next round. A follower asked takes itself for the
    /// leader's successor and leads (as with a forwarded value), unless outbid a moment ago.
    pub(super) fn on_read_index(&mut self, from: NodeId, request: u64) {
        if matches!(self.role, Role::Follower) {
            if self.backoff > 0 {
                return;
            }
            self.prepare();
        }
        self.reads.requests.push((from, request));
        self.flush_reads();
    }

    /// Acceptor: yes if it promised nothing above `ballot`. States nothing it could forget, so
    /// it needs no write: a promise above it not yet written has not been sent either.
    pub(super) fn on_confirm_leader(&mut self, from: NodeId, ballot: Ballot, round: u64) {
        if let Some(promised) = self.durable.promised.filter(|p| ballot < *p) {
            self.outbox.push((from, Message::Nack { ballot, promised }));
            return;
        }
        self.leader_hint = self.leader_hint.max(Some(ballot));
        self.outranked_by(ballot);
        self.outbox.push((from, Message::LeaderConfirmed { ballot, round }));
    }

    /// Leader: a majority of yeses to this round's question confirms its read index.
    pub(super) fn on_leader_confirmed(&mut self, from: NodeId, ballot: Ballot, round: u64) {
        let majority = self.majority();
        let leading = matches!(self.role, Role::Leading { ballot: b } if b == ballot);
        let Some(Round::Confirming { id, ballot: b, yes, .. }) = &mut self.reads.round else {
            return;
        };
        if !leading || *id != round || *b != ballot {
            return;
        }
        yes.insert(from);
        if yes.len() < majority {
            return;
        }
        let Some(Round::Confirming { index, reads, requests, .. }) = self.reads.round.take() else {
            unreachable!("matched above")
        };
        self.confirmed(index, reads, requests);
    }

    /// `index` is confirmed for `reads` (here) and `requests` (followers').
    fn confirmed(&mut self, index: u64, reads: Vec<ReadId>, requests: Vec<(NodeId, u64)>) {
        self.reads.indexed.extend(reads.into_iter().map(|read| (read, index)));
        for (node, request) in requests {
            self.outbox.push((node, Message::ReadIndexed { request, index }));
        }
        self.answer_reads();
        self.flush_reads();
    }

    /// Follower: the leader's read index for the request in flight.
    pub(super) fn on_read_indexed(&mut self, request: u64, index: u64) {
        match &self.reads.round {
            Some(Round::Asking { id, .. }) if *id == request => {}
            // Late (the reads went into a newer request) or of an earlier life.
            _ => return,
        }
        let Some(Round::Asking { reads, .. }) = self.reads.round.take() else {
            unreachable!("matched above")
        };
        self.reads.indexed.extend(reads.into_iter().map(|read| (read, index)));
        if self.reads.behind(self.contiguous - 1) {
            // Ask for the missing decisions now rather than at the next catch-up.
            let promised = self.durable.promised;
            self.tell_others(&Message::Catchup { from: self.contiguous, promised });
        }
        self.answer_reads();
        self.flush_reads();
    }

    /// Answer the reads whose index is decided here (after every decision learned).
    pub(super) fn answer_reads(&mut self) {
        let applied = self.contiguous - 1;
        let highest = self.highest().unwrap_or(GAP);
        let reads = &mut self.reads;
        reads.indexed.retain(|(id, index)| {
            let done = *index <= applied;
            if done {
                reads.answered.push(ReadAnswer { id: *id, highest, index: *index });
            }
            !done
        });
    }

    /// The leader was found unreachable: a request to it will not be answered.
    pub(super) fn reads_unreachable(&mut self, node: NodeId) {
        if matches!(self.reads.round, Some(Round::Asking { leader, .. }) if leader == node) {
            self.requeue_reads();
            self.flush_reads();
        }
    }

    /// One tick: ask again what went unanswered; a read waiting for decisions asks for them
    /// every tick (not every [`CATCHUP_EVERY`](super::CATCHUP_EVERY)).
    pub(super) fn tick_reads(&mut self) {
        let timeout = RETRY_AFTER + self.id as u32;
        match &mut self.reads.round {
            Some(Round::Confirming { id, ballot, yes, idle, .. }) => {
                *idle += 1;
                if *idle > timeout {
                    *idle = 0;
                    let message = Message::ConfirmLeader { ballot: *ballot, round: *id };
                    let again: Vec<_> = (self.nodes.iter().filter(|n| !yes.contains(n)))
                        .map(|n| (*n, message.clone()))
                        .collect();
                    self.outbox.extend(again);
                }
            }
            Some(Round::Asking { leader, idle, .. }) => {
                *idle += 1;
                if *idle > FORWARD_TIMEOUT {
                    // As with a forwarded value: stop trusting a leader that does not answer.
                    let leader = *leader;
                    self.heard.remove(&leader);
                    self.requeue_reads();
                }
            }
            None => {}
        }
        if self.reads.behind(self.contiguous - 1) {
            let promised = self.durable.promised;
            self.tell_others(&Message::Catchup { from: self.contiguous, promised });
        }
        self.flush_reads();
    }
}
