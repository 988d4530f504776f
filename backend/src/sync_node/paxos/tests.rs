//! Paxos tests: the protocol's steps (citing *Paxos Made Simple*), and a deterministic simulated
//! network — message loss, duplication, reordering, partitions, crashes and restarts — over
//! 1,000 seeds, checking safety after every step and progress with one node down.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

fn cluster() -> Vec<Paxos> {
    (1..=3).map(|id| Paxos::new(id, vec![1, 2, 3])).collect()
}

/// Deliver every message (to everyone, reliably) until quiet.
fn settle(nodes: &mut [Paxos]) {
    for _ in 0..1_000 {
        let mut flying: Vec<(NodeId, NodeId, Message)> = Vec::new();
        for node in nodes.iter_mut() {
            let from = node.id();
            flying.extend(node.take_messages().into_iter().map(|(to, m)| (from, to, m)));
        }
        if flying.is_empty() {
            return;
        }
        for (from, to, message) in flying {
            nodes[(to - 1) as usize].step(from, message);
        }
    }
    panic!("never quiet");
}

#[test]
fn one_proposal_is_decided_everywhere() {
    let mut nodes = cluster();
    let instance = nodes[0].propose(42);
    settle(&mut nodes);
    for node in &nodes {
        assert_eq!(node.decided(instance), Some(42));
        assert_eq!(node.highest(), Some(42));
    }
}

#[test]
fn an_acceptor_promises_only_higher_ballots() {
    // §2.2 P1a: an acceptor can accept a proposal numbered n iff it has not promised a higher one.
    let mut acceptor = Paxos::new(1, vec![1, 2, 3]);
    let high = Ballot { round: 5, node: 2 };
    let low = Ballot { round: 4, node: 3 };
    acceptor.step(2, Message::Prepare { instance: 1, ballot: high });
    acceptor.step(3, Message::Prepare { instance: 1, ballot: low });
    acceptor.step(3, Message::Accept { instance: 1, ballot: low, value: 9 });
    let out = acceptor.take_messages();
    assert!(matches!(out[0], (2, Message::Promise { accepted: None, .. })));
    assert!(matches!(out[1], (3, Message::Nack { promised, .. }) if promised == high));
    assert!(matches!(out[2], (3, Message::Nack { .. })), "an accept below the promise is refused");
    assert_eq!(acceptor.durable().acceptors[&1].accepted, None);
}

#[test]
fn a_proposer_adopts_the_highest_accepted_value() {
    // §2.2: in phase 2 the proposer must use the value of the highest-numbered proposal among
    // the promises, so a chosen value can never be replaced.
    let mut proposer = Paxos::new(1, vec![1, 2, 3]);
    let instance = proposer.propose(100);
    let Message::Prepare { ballot, .. } = proposer.take_messages()[0].1 else { panic!() };
    let older = Ballot { round: 1, node: 3 };
    proposer.step(2, Message::Promise { instance, ballot, accepted: Some((older, 7)) });
    proposer.step(3, Message::Promise { instance, ballot, accepted: None });
    let accepts: Vec<_> = proposer.take_messages();
    assert!(
        accepts.iter().all(|(_, m)| matches!(m, Message::Accept { value: 7, .. })),
        "{accepts:?}"
    );
}

#[test]
fn a_lost_instance_is_reproposed_and_a_restarted_node_catches_up() {
    let mut nodes = cluster();
    // Two proposers race for the same instance: both values end up decided, in two instances.
    let a = nodes[0].propose(10);
    let b = nodes[1].propose(20);
    assert_eq!(a, b);
    for _ in 0..30 {
        settle(&mut nodes);
        nodes.iter_mut().for_each(Paxos::tick);
    }
    settle(&mut nodes);
    let values: BTreeSet<Value> = nodes[2].decisions().values().copied().collect();
    assert!(values.contains(&20), "{:?}", nodes[2].decisions());
    assert_eq!(nodes[0].highest(), Some(20));
    // Node 3 restarts from its durable state and still knows every decision.
    let restored = Paxos::restore(3, vec![1, 2, 3], nodes[2].durable().clone());
    assert_eq!(restored.decisions(), nodes[0].decisions());
}

/// The simulated network of one run.
struct Sim {
    rng: StdRng,
    nodes: BTreeMap<NodeId, Option<Paxos>>,
    /// What each node persisted (survives its crashes).
    disks: BTreeMap<NodeId, Durable>,
    flying: Vec<(NodeId, NodeId, Message)>,
    /// Links cut (from, to).
    cut: BTreeSet<(NodeId, NodeId)>,
    loss: f64,
    duplication: f64,
    proposed: BTreeSet<Value>,
    /// The first value any node learned for each instance.
    learned: BTreeMap<u64, Value>,
    seed: u64,
}

impl Sim {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let loss = rng.random_range(0.0..0.3);
        let duplication = rng.random_range(0.0..0.2);
        let nodes = (1..=3).map(|id| (id, Some(Paxos::new(id, vec![1, 2, 3])))).collect();
        Self {
            rng,
            nodes,
            disks: BTreeMap::new(),
            flying: Vec::new(),
            cut: BTreeSet::new(),
            loss,
            duplication,
            proposed: BTreeSet::new(),
            learned: BTreeMap::new(),
            seed,
        }
    }

    /// After a node's step: persist, then release its messages, then check safety.
    fn after_step(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id).and_then(Option::as_mut) else { return };
        self.disks.insert(id, node.durable().clone());
        for (to, message) in node.take_messages() {
            self.flying.push((id, to, message));
        }
        for (instance, value) in node.decisions().clone() {
            let first = *self.learned.entry(instance).or_insert(value);
            assert_eq!(
                first, value,
                "seed {}: instance {instance} learned as {first} and as {value}",
                self.seed
            );
            assert!(
                self.proposed.contains(&value),
                "seed {}: {value} was never proposed",
                self.seed
            );
        }
    }

    fn live(&self) -> Vec<NodeId> {
        self.nodes.iter().filter(|(_, n)| n.is_some()).map(|(id, _)| *id).collect()
    }

    fn deliver_one(&mut self, lossy: bool) {
        if self.flying.is_empty() {
            return;
        }
        // Reordering: any message in flight may arrive next.
        let (from, to, message) =
            self.flying.swap_remove(self.rng.random_range(0..self.flying.len()));
        if lossy && self.rng.random_bool(self.duplication) {
            self.flying.push((from, to, message));
        }
        if self.cut.contains(&(from, to)) || (lossy && self.rng.random_bool(self.loss)) {
            return;
        }
        if let Some(Some(node)) = self.nodes.get_mut(&to) {
            node.step(from, message);
            self.after_step(to);
        }
    }

    fn tick_all(&mut self) {
        for id in self.live() {
            if let Some(Some(node)) = self.nodes.get_mut(&id) {
                node.tick();
            }
            self.after_step(id);
        }
    }

    fn chaos(&mut self, steps: usize) {
        for step in 0..steps {
            let roll: f64 = self.rng.random();
            let live = self.live();
            if roll < 0.05 && !live.is_empty() {
                let id = live[self.rng.random_range(0..live.len())];
                let value = self.rng.random_range(1..1_000_000);
                self.proposed.insert(value);
                if let Some(Some(node)) = self.nodes.get_mut(&id) {
                    node.propose(value);
                }
                self.after_step(id);
            } else if roll < 0.065 && !live.is_empty() {
                // Crash: the process and its in-flight proposals are gone, its disk stays.
                let id = live[self.rng.random_range(0..live.len())];
                self.nodes.insert(id, None);
            } else if roll < 0.09 {
                let down: Vec<NodeId> =
                    self.nodes.iter().filter(|(_, n)| n.is_none()).map(|(id, _)| *id).collect();
                if let Some(&id) = down.first() {
                    let disk = self.disks.get(&id).cloned().unwrap_or_default();
                    self.nodes.insert(id, Some(Paxos::restore(id, vec![1, 2, 3], disk)));
                }
            } else if roll < 0.10 {
                // Partition one node off (both directions), or heal everything.
                self.cut.clear();
                if self.rng.random_bool(0.6) {
                    let isolated: NodeId = self.rng.random_range(1..=3);
                    for other in (1..=3).filter(|o| *o != isolated) {
                        self.cut.insert((isolated, other));
                        self.cut.insert((other, isolated));
                    }
                }
            } else {
                self.deliver_one(true);
            }
            if step % 4 == 0 {
                self.tick_all();
            }
        }
    }
}

#[test]
fn a_thousand_seeded_runs_never_learn_two_values_for_one_instance() {
    let mut decided = 0;
    for seed in 0..1_000 {
        let mut sim = Sim::new(seed);
        sim.chaos(700);

        // Progress with one of three nodes down: node 3 stays crashed, the network heals.
        sim.cut.clear();
        sim.nodes.insert(3, None);
        for id in [1, 2] {
            if sim.nodes[&id].is_none() {
                let disk = sim.disks.get(&id).cloned().unwrap_or_default();
                sim.nodes.insert(id, Some(Paxos::restore(id, vec![1, 2, 3], disk)));
            }
        }
        let last = 1_000_000 + seed;
        sim.proposed.insert(last);
        sim.nodes.get_mut(&1).and_then(Option::as_mut).map(|n| n.propose(last));
        sim.after_step(1);
        let mut rounds = 0;
        loop {
            while !sim.flying.is_empty() {
                sim.deliver_one(false);
            }
            let pending: usize = [1, 2]
                .iter()
                .map(|id| sim.nodes[id].as_ref().map_or(0, |n| n.pending().len()))
                .sum();
            let same = sim.nodes[&1].as_ref().map(|n| n.decisions().clone())
                == sim.nodes[&2].as_ref().map(|n| n.decisions().clone());
            if pending == 0 && same {
                break;
            }
            rounds += 1;
            assert!(
                rounds < 2_000,
                "seed {seed}: no progress with two nodes up ({pending} pending)"
            );
            sim.tick_all();
        }
        let node = sim.nodes[&1].as_ref().unwrap();
        assert!(
            node.decisions().values().any(|v| *v == last) || node.highest() >= Some(last),
            "seed {seed}: the last proposal was not decided"
        );
        decided += node.decisions().len();
    }
    assert!(decided > 1_000, "the runs decided things ({decided} instances)");
}
