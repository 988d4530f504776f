//! The sync nodes' CRDTs — pure code, no I/O.
//!
//! **Persons: an add-wins observed-remove set (OR-Set).** Every add is tagged with a dot
//! `(node, counter)` unique in the cluster; a remove tombstones the dots its node has seen for
//! that person. A person is present while some add of it is not tombstoned, so an add concurrent
//! with a remove wins. The state is the adds (person → dots) and the tombstones; merging is the
//! union of both, which is commutative, associative and idempotent: replicas that received the
//! same updates, in any order and any number of times, are equal.
//!
//! **Highest account number: a max register.** Merge is `max`. Used for the number in CRDT-only
//! mode; otherwise the number is agreed through Paxos.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Identifies a node of the cluster.
pub type NodeId = u64;

/// A unique tag of one add: the node that added and its add counter.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub struct Dot {
    pub node: NodeId,
    pub counter: u64,
}

/// A person record: a name and an account number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub struct Person {
    pub name: String,
    pub number: u64,
}

/// An add-wins observed-remove set of persons.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Wire", into = "Wire")]
pub struct PersonSet {
    adds: BTreeMap<Person, BTreeSet<Dot>>,
    tombstones: BTreeSet<Dot>,
    /// Derived, kept so the hot paths need no scan: the highest counter seen per node (the next
    /// add's dot) and how many dots the adds hold.
    clock: BTreeMap<NodeId, u64>,
    dots: usize,
}

/// The state as it travels: adds and tombstones (the caches are rebuilt on arrival).
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(as = PersonSet)]
pub(crate) struct Wire {
    /// A list of (person, dots): JSON maps need string keys.
    #[serde(with = "adds_as_list")]
    #[schema(value_type = Vec<(Person, Vec<Dot>)>)]
    adds: BTreeMap<Person, BTreeSet<Dot>>,
    tombstones: BTreeSet<Dot>,
}

impl From<Wire> for PersonSet {
    fn from(wire: Wire) -> Self {
        let adds = wire
            .adds
            .into_iter()
            .flat_map(|(p, dots)| dots.into_iter().map(move |d| (p.clone(), d)));
        PersonSet::from_parts(adds, wire.tombstones)
    }
}

impl From<PersonSet> for Wire {
    fn from(set: PersonSet) -> Self {
        Wire { adds: set.adds, tombstones: set.tombstones }
    }
}

/// Two replicas are equal when they hold the same adds and tombstones.
impl PartialEq for PersonSet {
    fn eq(&self, other: &Self) -> bool {
        self.adds == other.adds && self.tombstones == other.tombstones
    }
}

impl Eq for PersonSet {}

impl PersonSet {
    fn see(&mut self, dot: Dot) {
        let seen = self.clock.entry(dot.node).or_default();
        *seen = (*seen).max(dot.counter);
    }

    fn insert_add(&mut self, person: Person, dot: Dot) {
        if self.adds.entry(person).or_default().insert(dot) {
            self.dots += 1;
        }
        self.see(dot);
    }

    fn insert_tombstone(&mut self, dot: Dot) {
        self.tombstones.insert(dot);
        self.see(dot);
    }

    /// Add `person` at `node`, tagged with the next dot of that node; returns the delta (a set
    /// holding just this add) to send to peers.
    pub fn add(&mut self, node: NodeId, person: Person) -> PersonSet {
        let counter = self.max_counter(node) + 1;
        let dot = Dot { node, counter };
        self.insert_add(person.clone(), dot);
        let mut delta = PersonSet::default();
        delta.insert_add(person, dot);
        delta
    }

    /// Remove `person` as this replica sees it (its observed adds); returns the delta.
    pub fn remove(&mut self, person: &Person) -> PersonSet {
        let observed: BTreeSet<Dot> = self.adds.get(person).cloned().unwrap_or_default();
        let mut delta = PersonSet::default();
        for dot in observed {
            self.insert_tombstone(dot);
            delta.insert_tombstone(dot);
        }
        delta
    }

    /// Merge another replica's state (or a delta) into this one; returns what was new to this
    /// one (itself a delta: what a caller must persist, all of it and no more).
    pub fn merge(&mut self, other: &PersonSet) -> PersonSet {
        let mut novel = PersonSet::default();
        for (person, dots) in &other.adds {
            let known = self.adds.get(person);
            for dot in dots.iter().filter(|d| !known.is_some_and(|k| k.contains(d))) {
                novel.insert_add(person.clone(), *dot);
            }
        }
        for dot in other.tombstones.difference(&self.tombstones) {
            novel.insert_tombstone(*dot);
        }
        for (person, dots) in &novel.adds {
            for dot in dots {
                self.insert_add(person.clone(), *dot);
            }
        }
        for dot in &novel.tombstones {
            self.insert_tombstone(*dot);
        }
        novel
    }

    /// Whether some add of these dots is not tombstoned.
    fn alive(&self, dots: &BTreeSet<Dot>) -> bool {
        dots.iter().any(|d| !self.tombstones.contains(d))
    }

    /// The persons present, ordered.
    pub fn present(&self) -> impl Iterator<Item = &Person> {
        self.adds.iter().filter(|(_, dots)| self.alive(dots)).map(|(p, _)| p)
    }

    /// The persons present, ordered.
    pub fn persons(&self) -> Vec<Person> {
        self.present().cloned().collect()
    }

    pub fn contains(&self, person: &Person) -> bool {
        self.adds.get(person).is_some_and(|dots| self.alive(dots))
    }

    /// The highest account number among the persons present (0 if none).
    pub fn highest_number(&self) -> u64 {
        self.present().map(|p| p.number).max().unwrap_or(0)
    }

    /// The highest add counter seen from `node` (so a restarted node never reuses a dot).
    pub fn max_counter(&self, node: NodeId) -> u64 {
        self.clock.get(&node).copied().unwrap_or(0)
    }

    /// Every (person, dot) added, and every tombstoned dot: what a node persists.
    pub fn parts(&self) -> (Vec<(Person, Dot)>, Vec<Dot>) {
        let adds = self
            .adds
            .iter()
            .flat_map(|(p, dots)| dots.iter().map(move |d| (p.clone(), *d)))
            .collect();
        (adds, self.tombstones.iter().copied().collect())
    }

    /// Rebuild a set from its parts.
    /// The set's removals without its adds: what a merge with the deliberate bug
    /// `crdt-forget-remote-adds` takes from a peer.
    pub fn without_adds(&self) -> PersonSet {
        PersonSet::from_parts(std::iter::empty(), self.tombstones.iter().copied())
    }

    pub fn from_parts(
        adds: impl IntoIterator<Item = (Person, Dot)>,
        tombstones: impl IntoIterator<Item = Dot>,
    ) -> Self {
        let mut set = PersonSet::default();
        for (person, dot) in adds {
            set.insert_add(person, dot);
        }
        for dot in tombstones {
            set.insert_tombstone(dot);
        }
        set
    }

    /// How many adds and tombstones the state holds (its size on the wire).
    pub fn len(&self) -> usize {
        self.dots + self.tombstones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

mod adds_as_list {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Dot, Person};

    pub fn serialize<S: Serializer>(
        adds: &BTreeMap<Person, BTreeSet<Dot>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(adds.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<Person, BTreeSet<Dot>>, D::Error> {
        Ok(Vec::<(Person, BTreeSet<Dot>)>::deserialize(d)?.into_iter().collect())
    }
}

/// A grow-only maximum.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub struct MaxRegister(pub u64);

impl MaxRegister {
    pub fn merge(&mut self, other: MaxRegister) {
        self.0 = self.0.max(other.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn person(name: &str, number: u64) -> Person {
        Person { name: name.into(), number }
    }

    #[test]
    fn an_add_concurrent_with_a_remove_wins() {
        let (mut a, mut b) = (PersonSet::default(), PersonSet::default());
        let delta = a.add(1, person("ana", 7));
        b.merge(&delta);
        // b removes ana while a adds her again: the new add was not observed by the remove.
        let removal = b.remove(&person("ana", 7));
        let again = a.add(1, person("ana", 7));
        a.merge(&removal);
        b.merge(&again);
        assert_eq!(a, b);
        assert!(a.contains(&person("ana", 7)));
        // A remove that has seen every add does remove.
        let last = a.remove(&person("ana", 7));
        b.merge(&last);
        assert!(!b.contains(&person("ana", 7)) && a == b);
    }

    #[test]
    fn dots_are_unique_per_node_even_after_a_restart() {
        let mut a = PersonSet::default();
        a.add(1, person("x", 1));
        a.add(1, person("y", 2));
        let restored: PersonSet =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(restored.max_counter(1), 2, "a node resumes its counter from its stored state");
        assert_eq!(a.highest_number(), 2);
    }

    /// An update a replica can make.
    #[derive(Debug, Clone)]
    enum Op {
        Add(NodeId, String, u64),
        Remove(NodeId, String, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let name = prop::sample::select(vec!["ana", "bo", "cy", "di"]).prop_map(str::to_owned);
        prop_oneof![
            3 => (1u64..4, name.clone(), 0u64..5).prop_map(|(n, p, k)| Op::Add(n, p, k)),
            1 => (1u64..4, name, 0u64..5).prop_map(|(n, p, k)| Op::Remove(n, p, k)),
        ]
    }

    /// Run `ops` on three replicas (each at its node), collecting every delta produced.
    fn deltas(ops: &[Op]) -> Vec<PersonSet> {
        let mut replicas = [PersonSet::default(), PersonSet::default(), PersonSet::default()];
        let mut out = Vec::new();
        for op in ops {
            let delta = match op {
                Op::Add(node, name, number) => {
                    replicas[(*node - 1) as usize].add(*node, person(name, *number))
                }
                Op::Remove(node, name, number) => {
                    replicas[(*node - 1) as usize].remove(&person(name, *number))
                }
            };
            out.push(delta);
        }
        out
    }

    fn set() -> impl Strategy<Value = PersonSet> {
        proptest::collection::vec(op(), 0..12).prop_map(|ops| {
            let mut s = PersonSet::default();
            for d in deltas(&ops) {
                s.merge(&d);
            }
            s
        })
    }

    proptest! {
        #[test]
        fn a_merge_returns_exactly_what_was_new(a in set(), b in set()) {
            let mut merged = a.clone();
            let novel = merged.merge(&b);
            // Applying only the novel part to the old state gives the same merge...
            let mut from_novel = a.clone();
            prop_assert_eq!(from_novel.merge(&novel), novel.clone());
            prop_assert_eq!(&from_novel, &merged);
            // ...it holds nothing the old state had, and nothing the other did not bring.
            let (adds, tombstones) = novel.parts();
            let (a_adds, a_tombstones) = a.parts();
            let (b_adds, b_tombstones) = b.parts();
            for add in &adds {
                prop_assert!(!a_adds.contains(add) && b_adds.contains(add), "{:?}", add);
            }
            for dot in &tombstones {
                prop_assert!(!a_tombstones.contains(dot) && b_tombstones.contains(dot), "{:?}", dot);
            }
            prop_assert_eq!(merged.len(), a.len() + novel.len());
        }

        #[test]
        fn the_kept_clock_and_size_match_the_state(a in set(), b in set()) {
            let mut merged = a;
            merged.merge(&b);
            let (adds, tombstones) = merged.parts();
            let all: Vec<Dot> = adds.iter().map(|(_, d)| *d).chain(tombstones.iter().copied()).collect();
            let rebuilt = PersonSet::from_parts(adds.clone(), tombstones.clone());
            let travelled: PersonSet = serde_json::from_str(&serde_json::to_string(&merged).unwrap()).unwrap();
            for node in 1..4 {
                let scanned = all.iter().filter(|d| d.node == node).map(|d| d.counter).max().unwrap_or(0);
                prop_assert_eq!(merged.max_counter(node), scanned);
                prop_assert_eq!(rebuilt.max_counter(node), scanned);
                prop_assert_eq!(travelled.max_counter(node), scanned);
            }
            prop_assert_eq!(merged.len(), adds.len() + tombstones.len());
            prop_assert_eq!(travelled.len(), merged.len());
        }

        #[test]
        fn merge_is_commutative(a in set(), b in set()) {
            let (mut ab, mut ba) = (a.clone(), b.clone());
            ab.merge(&b);
            ba.merge(&a);
            prop_assert_eq!(ab, ba);
        }

        #[test]
        fn merge_is_associative(a in set(), b in set(), c in set()) {
            let mut left = a.clone();
            left.merge(&b);
            left.merge(&c);
            let mut bc = b.clone();
            bc.merge(&c);
            let mut right = a;
            right.merge(&bc);
            prop_assert_eq!(left, right);
        }

        #[test]
        fn merge_is_idempotent(a in set()) {
            let mut twice = a.clone();
            twice.merge(&a);
            prop_assert_eq!(twice, a);
        }

        /// Replicas receiving the same updates in any order, with duplicates, end equal.
        #[test]
        fn any_delivery_order_with_duplicates_converges(
            ops in proptest::collection::vec(op(), 1..30),
            order in proptest::collection::vec(0usize..1000, 1..90),
        ) {
            let all = deltas(&ops);
            let mut in_order = PersonSet::default();
            for d in &all {
                in_order.merge(d);
            }
            // Another replica: a shuffled delivery with repeats, then everything once more.
            let mut shuffled = PersonSet::default();
            for i in &order {
                shuffled.merge(&all[i % all.len()]);
            }
            for d in all.iter().rev() {
                shuffled.merge(d);
            }
            prop_assert_eq!(shuffled.persons(), in_order.persons());
            prop_assert_eq!(shuffled, in_order);
        }

        #[test]
        fn the_max_register_converges(values in proptest::collection::vec(0u64..1000, 1..20)) {
            let mut forward = MaxRegister::default();
            let mut backward = MaxRegister::default();
            for v in &values { forward.merge(MaxRegister(*v)); }
            for v in values.iter().rev() { backward.merge(MaxRegister(*v)); backward.merge(MaxRegister(*v)); }
            prop_assert_eq!(forward, backward);
            prop_assert_eq!(forward.0, *values.iter().max().unwrap());
        }
    }
}
