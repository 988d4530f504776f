//! Linearizability search: Wing & Gong's algorithm with Lowe's memoization.
//!
//! A history is linearizable when its completed operations can be put in one order that the
//! sequential model accepts, and that respects real time: an operation that completed before
//! another was invoked comes first. An `info` operation (outcome unknown) may take its place
//! anywhere after its invoke, or nowhere.
//!
//! The search walks the history's calls and returns in time order, as a linked list. At a call
//! it tries to linearize the operation (apply it to the model's state) and, if that works and
//! the resulting (set of linearized operations, state) was never seen, removes the operation's
//! call and return from the list and starts over from the head. At a return — an operation that
//! had to be linearized by now and was not — it undoes the last linearization and tries the
//! next call after it. The cache of configurations seen is what keeps this from being
//! exponential on the histories systems produce (Lowe, "Testing for linearizability", 2017).
//! A model may also name forced moves ([`Sequential::forced`]): operations that change nothing
//! now or later, which the search takes at once instead of branching on them. Every step is
//! metered, so a hard history ends as [`Search::Exhausted`].

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use super::Meter;

/// A sequential specification: what each operation does to the state, and whether its
/// recorded outcome is possible from it.
pub trait Sequential {
    type State: Clone + Eq + Hash;
    type Op;

    fn init(&self) -> Self::State;

    /// The state after `op`, or `None` if `op`'s recorded outcome is impossible in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// Whether linearizing `op` now (where [`step`](Self::step) allows it) is never worse than
    /// linearizing it later: it changes nothing now and would change nothing, and still be
    /// possible, in every state that can follow. The search then takes it without trying the
    /// alternatives. `false` (the default) is always safe.
    fn forced(&self, _state: &Self::State, _op: &Self::Op) -> bool {
        false
    }
}

/// An operation as the search sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call<O> {
    pub op: O,
    pub invoke: u64,
    /// `None`: an `info` operation, which may take effect at any time after `invoke`, or never.
    pub complete: Option<u64>,
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// One valid order, as indices into the calls (`info` calls it did not need are left out).
    Linearizable(Vec<usize>),
    /// No order gets past this call's completion: every call invoked by then together cannot be
    /// linearized (that prefix of the history is itself a witness).
    Violation { stuck: usize },
    /// The budget ran out first.
    Exhausted,
}

/// One call or return in the time-ordered list.
#[derive(Debug, Clone, Copy)]
struct Entry {
    call: usize,
    is_return: bool,
}

const NIL: usize = usize::MAX;

/// Searches for a linearization of `calls` under `model`.
pub fn search<M: Sequential>(model: &M, calls: &[Call<M::Op>], meter: &mut Meter) -> Search {
    let entries = entries(calls);
    let head = entries.len();
    // A doubly linked list over `entries` with a head sentinel at `head`. Lifting an operation
    // unlinks its call and return; undoing relinks them in reverse (dancing links).
    let mut next: Vec<usize> =
        (1..=entries.len()).map(|i| if i < head { i } else { NIL }).collect();
    next.push(if entries.is_empty() { NIL } else { 0 });
    let mut prev: Vec<usize> =
        (0..entries.len()).map(|i| if i == 0 { head } else { i - 1 }).collect();
    prev.push(NIL);
    let mut return_of = vec![NIL; calls.len()];
    for (i, entry) in entries.iter().enumerate() {
        if entry.is_return {
            return_of[entry.call] = i;
        }
    }
    let unlink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize| {
        next[prev[e]] = next[e];
        if next[e] != NIL {
            prev[next[e]] = prev[e];
        }
    };
    let relink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize| {
        next[prev[e]] = e;
        if next[e] != NIL {
            prev[next[e]] = e;
        }
    };

    let mut linearized = Linearized::new(calls.len());
    let mut seen: HashSet<Configuration<M::State>> = HashSet::new();
    // The call entries linearized, in order, with the state before each, and whether it was a
    // forced move (see [`Sequential::forced`]).
    let mut stack: Vec<(usize, M::State, bool)> = Vec::new();
    let mut state = model.init();
    let mut pending = calls.iter().filter(|c| c.complete.is_some()).count();
    // The latest return the search could not get past.
    let mut furthest = 0;
    let mut entry = next[head];
    // Set when the configuration is known to fail before the walk meets a return.
    let mut doomed = false;
    while pending > 0 {
        if !meter.tick() {
            return Search::Exhausted;
        }
        if doomed || entry == NIL || entries[entry].is_return {
            // `pending > 0` means a return is still listed, so the walk meets it before the end.
            debug_assert!(doomed || entry != NIL);
            if !doomed {
                furthest = furthest.max(entry);
            }
            doomed = false;
            // Undo the last linearization, and the forced ones before it: the configuration
            // before a forced move fails exactly when the one after it does.
            loop {
                let Some((call_entry, before, forced)) = stack.pop() else {
                    return Search::Violation { stuck: entries[furthest].call };
                };
                let call = entries[call_entry].call;
                linearized.remove(call);
                if calls[call].complete.is_some() {
                    pending += 1;
                    relink(&mut next, &mut prev, return_of[call]);
                }
                relink(&mut next, &mut prev, call_entry);
                state = before;
                entry = next[call_entry];
                if !forced {
                    break;
                }
            }
            continue;
        }
        let call = entries[entry].call;
        let is_info = calls[call].complete.is_none();
        let op = &calls[call].op;
        match model.step(&state, op) {
            // An `info` operation that changes nothing is better left unlinearized: it stays
            // available for later, where it might matter — unless it is forced, and so will
            // never matter (taking it then keeps the configurations fewer).
            Some(after) if !(is_info && after == state) || model.forced(&state, op) => {
                let forced = model.forced(&state, op);
                linearized.insert(call);
                if seen.insert(linearized.configuration(after.clone())) {
                    stack.push((entry, std::mem::replace(&mut state, after), forced));
                    unlink(&mut next, &mut prev, entry);
                    if !is_info {
                        unlink(&mut next, &mut prev, return_of[call]);
                        pending -= 1;
                    }
                    entry = next[head];
                } else {
                    linearized.remove(call);
                    // Seen means failed; a forced move's failure is this configuration's.
                    doomed = forced;
                    entry = next[entry];
                }
            }
            _ => entry = next[entry],
        }
    }
    Search::Linearizable(stack.iter().map(|&(e, _, _)| entries[e].call).collect())
}

/// Calls and returns in time order. At equal times calls come first: the two operations count
/// as concurrent, the reading that accuses the system of less.
fn entries<O>(calls: &[Call<O>]) -> Vec<Entry> {
    let mut timed: Vec<(u64, bool, usize)> = Vec::with_capacity(calls.len() * 2);
    for (i, call) in calls.iter().enumerate() {
        timed.push((call.invoke, false, i));
        if let Some(complete) = call.complete {
            timed.push((complete, true, i));
        }
    }
    timed.sort_unstable();
    timed.into_iter().map(|(_, is_return, call)| Entry { call, is_return }).collect()
}

/// The set of linearized calls, as a bitset kept in a canonical short form for the cache: the
/// words before `low` are all ones and the words from `high` on all zeros (a search linearizes
/// roughly in time order, so the words in between are few).
#[derive(Debug)]
struct Linearized {
    words: Vec<u64>,
    low: usize,
    high: usize,
    /// Zobrist hash: the XOR of the members' keys, kept as members come and go.
    hash: u64,
}

impl Linearized {
    fn new(calls: usize) -> Linearized {
        Linearized { words: vec![0; calls.div_ceil(64)], low: 0, high: 0, hash: 0 }
    }

    fn key(call: usize) -> u64 {
        // splitmix64: a well-spread key per call, the same on every run.
        let mut z = (call as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn insert(&mut self, call: usize) {
        let word = call / 64;
        self.words[word] |= 1 << (call % 64);
        self.hash ^= Self::key(call);
        self.high = self.high.max(word + 1);
        while self.low < self.words.len() && self.words[self.low] == u64::MAX {
            self.low += 1;
        }
    }

    fn remove(&mut self, call: usize) {
        let word = call / 64;
        self.words[word] &= !(1 << (call % 64));
        self.hash ^= Self::key(call);
        self.low = self.low.min(word);
        while self.high > 0 && self.words[self.high - 1] == 0 {
            self.high -= 1;
        }
    }

    fn configuration<S>(&self, state: S) -> Configuration<S> {
        let middle = self.words[self.low..self.high.max(self.low)].into();
        Configuration { hash: self.hash, low: self.low, middle, state }
    }
}

/// A (linearized set, state) pair the search has been in.
#[derive(Debug, PartialEq, Eq)]
struct Configuration<S> {
    hash: u64,
    low: usize,
    middle: Box<[u64]>,
    state: S,
}

impl<S: Hash> Hash for Configuration<S> {
    fn hash<H: Hasher>(&self, hasher: &mut H) {
        // The Zobrist hash stands for the whole set; equality still compares the words.
        self.hash.hash(hasher);
        self.state.hash(hasher);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Budget;

    /// A read/write register: `Ok(v)` writes v, `Err(v)` reads v.
    struct Register;

    impl Sequential for Register {
        type State = u8;
        type Op = Result<u8, u8>;
        fn init(&self) -> u8 {
            0
        }
        fn step(&self, state: &u8, op: &Result<u8, u8>) -> Option<u8> {
            match *op {
                Ok(write) => Some(write),
                Err(read) => (read == *state).then_some(*state),
            }
        }
    }

    fn call(op: Result<u8, u8>, invoke: u64, complete: Option<u64>) -> Call<Result<u8, u8>> {
        Call { op, invoke, complete }
    }

    fn run(calls: &[Call<Result<u8, u8>>]) -> Search {
        search(&Register, calls, &mut Meter::new(Budget { steps: 1_000_000, time: None }))
    }

    #[test]
    fn concurrent_writes_may_take_either_order() {
        // w1 and w2 overlap; a read after both sees 1, so w2 went first.
        let calls = [call(Ok(1), 0, Some(10)), call(Ok(2), 1, Some(9)), call(Err(1), 11, Some(12))];
        assert_eq!(run(&calls), Search::Linearizable(vec![1, 0, 2]));
    }

    #[test]
    fn real_time_order_binds() {
        // w1 completes before w2 begins, so a later read cannot see 1.
        let calls = [call(Ok(1), 0, Some(1)), call(Ok(2), 2, Some(3)), call(Err(1), 4, Some(5))];
        assert_eq!(run(&calls), Search::Violation { stuck: 2 });
    }

    #[test]
    fn an_info_write_may_happen_late_or_never() {
        let late = [
            call(Ok(1), 0, Some(1)),
            call(Ok(2), 2, None),
            call(Err(1), 3, Some(4)),
            call(Err(2), 5, Some(6)),
        ];
        assert!(matches!(run(&late), Search::Linearizable(_)));
        let never = [call(Ok(2), 0, None), call(Err(0), 3, Some(4))];
        assert_eq!(run(&never), Search::Linearizable(vec![1]));
    }

    #[test]
    fn equal_times_are_concurrent() {
        let calls = [call(Ok(1), 0, Some(5)), call(Err(0), 5, Some(6))];
        assert!(matches!(run(&calls), Search::Linearizable(_)));
    }

    #[test]
    fn the_stuck_call_is_the_furthest_the_search_got() {
        // Fine up to the read of 3, which no write explains.
        let calls = [
            call(Ok(1), 0, Some(1)),
            call(Err(1), 2, Some(3)),
            call(Ok(2), 4, Some(5)),
            call(Err(3), 6, Some(7)),
            call(Err(2), 8, Some(9)),
        ];
        assert_eq!(run(&calls), Search::Violation { stuck: 3 });
    }

    #[test]
    fn out_of_steps_is_exhausted() {
        let calls: Vec<_> = (0..20).map(|i| call(Ok(i), 0, Some(100))).collect();
        let mut meter = Meter::new(Budget { steps: 5, time: None });
        let mut calls = calls;
        calls.push(call(Err(99), 0, Some(100)));
        assert_eq!(search(&Register, &calls, &mut meter), Search::Exhausted);
    }
}
