//! The original project's single-decree Paxos acceptor (`POST /prepare`, `POST /accept`), kept
//! so its proposers and tests work against the lab — pure state, no I/O. The node persists it
//! before it answers. The lab's own nodes agree through Multi-Paxos ([`super::paxos`]) on routes
//! of their own.
//!
//! The acceptor rules (Lamport, "Paxos Made Simple", §2.2):
//! - `prepare(n)`: promise when `n` is above every proposal number promised so far; the answer
//!   reports the highest-numbered proposal accepted so far, so a proposer adopts its value.
//! - `accept(n, v)`: accept unless a proposal above `n` has been promised.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the acceptor has promised and accepted: the whole of its durable state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Acceptor {
    pub promised: Option<u64>,
    pub accepted: Option<(u64, Value)>,
}

/// The answer to a prepare.
#[derive(Debug, Clone, PartialEq)]
pub struct Promise {
    pub promised: bool,
    /// What it accepted before (whether or not it promised now).
    pub accepted: Option<(u64, Value)>,
}

impl Acceptor {
    /// Phase 1b. Returns the answer and whether the state changed (and must be written).
    pub fn prepare(&mut self, n: u64) -> (Promise, bool) {
        let promised = self.promised.is_none_or(|p| n > p);
        if promised {
            self.promised = Some(n);
        }
        (Promise { promised, accepted: self.accepted.clone() }, promised)
    }

    /// Phase 2b. Returns whether it accepted (the state changed then).
    pub fn accept(&mut self, n: u64, value: Value) -> bool {
        let accepted = self.promised.is_none_or(|p| n >= p);
        if accepted {
            self.promised = Some(n);
            self.accepted = Some((n, value));
        }
        accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn a_promise_reports_what_was_accepted_and_binds_the_acceptor() {
        let mut a = Acceptor::default();
        assert!(a.prepare(5).0.promised);
        assert!(!a.accept(4, json!(1)), "below the promise");
        assert!(a.accept(5, json!(800000)));
        let (promise, _) = a.prepare(9);
        assert_eq!(promise, Promise { promised: true, accepted: Some((5, json!(800000))) });
        assert!(!a.prepare(9).0.promised, "not the same number twice");
        assert!(!a.prepare(7).0.promised);
        assert!(!a.accept(8, json!(300000)));
        assert!(a.accept(9, json!(800000)));
    }

    /// One proposer's run of the original's protocol over three acceptors, each step of which
    /// may reach only some of them: phase 1 with `n`, then phase 2 with the value of the highest
    /// accepted proposal among the promises, or its own. Returns the value if a majority
    /// accepted it (chosen).
    fn propose(
        acceptors: &mut [Acceptor],
        n: u64,
        own: u64,
        reach1: &[bool],
        reach2: &[bool],
    ) -> Option<Value> {
        let promises: Vec<Promise> = acceptors
            .iter_mut()
            .zip(reach1)
            .filter(|(_, reached)| **reached)
            .map(|(a, _)| a.prepare(n).0)
            .filter(|p| p.promised)
            .collect();
        if promises.len() * 2 <= acceptors.len() {
            return None;
        }
        let value = promises
            .iter()
            .filter_map(|p| p.accepted.clone())
            .max_by_key(|(number, _)| *number)
            .map_or(json!(own), |(_, v)| v);
        let accepted = acceptors
            .iter_mut()
            .zip(reach2)
            .filter(|(_, reached)| **reached)
            .map(|(a, _)| a.accept(n, value.clone()))
            .filter(|accepted| *accepted)
            .count();
        (accepted * 2 > acceptors.len()).then_some(value)
    }

    proptest! {
        /// Safety: whatever the proposal numbers, values and lost messages, once a value is
        /// chosen every later chosen value is the same one.
        #[test]
        fn no_two_values_are_ever_chosen(
            rounds in proptest::collection::vec(
                (1u64..40, 1u64..1_000_000, proptest::collection::vec(any::<bool>(), 3),
                 proptest::collection::vec(any::<bool>(), 3)),
                1..30,
            )
        ) {
            let mut acceptors = vec![Acceptor::default(); 3];
            let mut chosen: Option<Value> = None;
            for (n, own, reach1, reach2) in rounds {
                if let Some(value) = propose(&mut acceptors, n, own, &reach1, &reach2) {
                    if let Some(first) = &chosen {
                        prop_assert_eq!(first, &value);
                    }
                    chosen = Some(value);
                }
            }
        }

        /// An acceptor never goes back on a promise, and what it reports accepted only ever
        /// moves to higher proposal numbers.
        #[test]
        fn promises_only_grow(steps in proptest::collection::vec((any::<bool>(), 0u64..20), 1..60)) {
            let mut a = Acceptor::default();
            for (is_prepare, n) in steps {
                let (promised_before, accepted_before) = (a.promised, a.accepted.as_ref().map(|x| x.0));
                if is_prepare { a.prepare(n); } else { a.accept(n, json!(n)); }
                prop_assert!(a.promised >= promised_before);
                prop_assert!(a.accepted.as_ref().map(|x| x.0) >= accepted_before);
                if let (Some(p), Some((acc, _))) = (a.promised, &a.accepted) {
                    prop_assert!(*acc <= p);
                }
            }
        }
    }
}
