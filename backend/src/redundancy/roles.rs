//! Which of a front's two stores is the primary, decided from what each store says about itself.
//!
//! A store keeps its role on disk (a promoted mirror stays primary across restarts), so the
//! stores, not the front's `--primary`/`--mirror` flags, know who takes writes. This module is
//! the decision alone — no sockets, no clock: the front's health round asks both stores
//! (`GET /replication/position`, bounded by a timeout) and hands what they said to
//! [`Roles::observe`].
//!
//! What the front does, by what the two stores report (`First` is the store of `--primary`,
//! `Second` that of `--mirror`):
//!
//! | first says | second says | the front |
//! |---|---|---|
//! | primary | mirror | writes to first, ships to second |
//! | mirror | primary | writes to second, ships to first (e.g. after a failover and a restart) |
//! | primary | primary | [`Conflict::TwoPrimaries`]: refuses writes, reads from the one further ahead |
//! | mirror | mirror | [`Conflict::TwoMirrors`]: refuses writes, reads from the one further ahead |
//! | primary | unreachable | writes to first; second is taken for its mirror until it answers (mirroring: writes are not acknowledged meanwhile) |
//! | mirror | unreachable | second is taken for the primary (first says it is not): writes answer 503 until it answers or `POST /failover` promotes first; reads come from first |
//! | unreachable | unreachable | keeps what it decided last — before any answer, the flags' guess (every request asks again first until a store has answered) |
//!
//! (and the same with first and second swapped). So the flags' guess is followed only while
//! neither store has answered, or while the one that answers confirms it; a store that answers
//! always decides its own role, and the other store is given the other role until it answers
//! too. Two stores that claim the same role are never resolved by guessing: whichever the front
//! picked, it could throw away acknowledged writes (two primaries may both hold writes the other
//! lacks) or ship from a store that is behind (two mirrors). Nor is a conflict resolved by a
//! store falling silent: an unreachable store keeps the role it claimed in the conflict, which
//! ends only when a store says otherwise (reset as a mirror, or promoted).
//!
//! One exception: after this front's own failover ([`Roles::failed_over`]), the store it failed
//! over from still says `primary` until it is rebuilt (reset as the mirror). The front knows
//! why, so that claim is set aside — writes go to the promoted store, and the old primary is
//! neither written to nor shipped to until it is rebuilt. A front that restarts has forgotten
//! its failover: if the old primary was never rebuilt, it then sees two primaries.

use shared::replication::StoreRole;

/// One of the front's two stores, by the flag that named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The store of `--primary`.
    First,
    /// The store of `--mirror`.
    Second,
}

impl Slot {
    pub fn other(self) -> Slot {
        match self {
            Slot::First => Slot::Second,
            Slot::Second => Slot::First,
        }
    }

    /// Index into a pair ordered as the flags are.
    pub fn index(self) -> usize {
        match self {
            Slot::First => 0,
            Slot::Second => 1,
        }
    }
}

/// What a store said about itself on the last round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Primary {
        last_seq: u64,
    },
    Mirror {
        last_seq: u64,
    },
    /// No answer in time, or not one that names a role.
    Unreachable,
}

impl Report {
    /// From the role a store reports and its last seq.
    pub fn from_role(role: StoreRole, last_seq: u64) -> Report {
        match role {
            StoreRole::Primary => Report::Primary { last_seq },
            StoreRole::Mirror => Report::Mirror { last_seq },
        }
    }

    fn last_seq(self) -> u64 {
        match self {
            Report::Primary { last_seq } | Report::Mirror { last_seq } => last_seq,
            Report::Unreachable => 0,
        }
    }
}

/// Both stores answered and claim the same role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    TwoPrimaries { seqs: [u64; 2] },
    TwoMirrors { seqs: [u64; 2] },
}

impl Conflict {
    fn seqs(self) -> [u64; 2] {
        match self {
            Conflict::TwoPrimaries { seqs } | Conflict::TwoMirrors { seqs } => seqs,
        }
    }

    /// The store reads are served from meanwhile: the one whose log is further ahead (the
    /// first on a tie).
    pub fn read_from(self) -> Slot {
        let [first, second] = self.seqs();
        if second > first {
            Slot::Second
        } else {
            Slot::First
        }
    }

    /// The role both claim (`primary` or `mirror`).
    pub fn role(self) -> &'static str {
        match self {
            Conflict::TwoPrimaries { .. } => "primary",
            Conflict::TwoMirrors { .. } => "mirror",
        }
    }

    /// The problem in a sentence, and the command that resolves it; `stores` in the flags'
    /// order.
    pub fn explain(self, stores: [&str; 2]) -> String {
        let [a, b] = stores;
        let [sa, sb] = self.seqs();
        let ahead = stores[self.read_from().index()];
        match self {
            Conflict::TwoPrimaries { .. } => format!(
                "two stores claim to be the primary: {a} (seq {sa}) and {b} (seq {sb}), e.g. after \
                 a failover whose old primary was never rebuilt; each may hold writes the other \
                 lacks, so the front will not guess and refuses writes (reads come from {ahead}). \
                 Reset the one whose data is to be discarded as an empty mirror, and the front \
                 rebuilds it from the other: `curl -X POST {a}/replication/reset` or \
                 `curl -X POST {b}/replication/reset`"
            ),
            Conflict::TwoMirrors { .. } => format!(
                "both stores are mirrors: {a} (seq {sa}) and {b} (seq {sb}); no store takes \
                 writes, so the front refuses them (reads come from {ahead}). Promote the one to \
                 keep, and the front ships its log to the other: `curl -X POST \
                 {ahead}/replication/promote` (the one further ahead)"
            ),
        }
    }
}

/// Who does what, as the front last decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// Writes go to `primary`; its changes are shipped to `mirror` (`None`: after this front's
    /// failover, until the old primary is rebuilt).
    Known { primary: Slot, mirror: Option<Slot> },
    /// No writes until someone resolves it; reads come from [`Conflict::read_from`].
    Conflict(Conflict),
}

/// The front's view of its stores' roles: a plain value, stepped by [`Roles::observe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub assignment: Assignment,
    /// The store this front failed over from, until it is rebuilt: its claim to be primary is
    /// expected, and set aside.
    pub demoted: Option<Slot>,
}

impl Roles {
    /// Before any store has answered: the flags' guess.
    pub fn guess() -> Roles {
        Roles {
            assignment: Assignment::Known { primary: Slot::First, mirror: Some(Slot::Second) },
            demoted: None,
        }
    }

    /// This front promoted `promoted`; the other store is the old primary, to be rebuilt.
    pub fn failed_over(promoted: Slot) -> Roles {
        Roles {
            assignment: Assignment::Known { primary: promoted, mirror: None },
            demoted: Some(promoted.other()),
        }
    }

    /// This front reset its old primary as the mirror.
    pub fn rebuilt(primary: Slot) -> Roles {
        Roles {
            assignment: Assignment::Known { primary, mirror: Some(primary.other()) },
            demoted: None,
        }
    }

    /// The primary, if there is one to write to.
    pub fn primary(&self) -> Option<Slot> {
        match self.assignment {
            Assignment::Known { primary, .. } => Some(primary),
            Assignment::Conflict(_) => None,
        }
    }

    pub fn conflict(&self) -> Option<Conflict> {
        match self.assignment {
            Assignment::Known { .. } => None,
            Assignment::Conflict(conflict) => Some(conflict),
        }
    }

    /// Where reads go first, and where next if that one does not answer.
    pub fn read_order(&self) -> (Slot, Option<Slot>) {
        match self.assignment {
            Assignment::Known { primary, mirror } => (primary, mirror),
            Assignment::Conflict(conflict) => {
                let first = conflict.read_from();
                (first, Some(first.other()))
            }
        }
    }

    /// The mirror changes are shipped to, if any.
    pub fn mirror(&self) -> Option<Slot> {
        match self.assignment {
            Assignment::Known { mirror, .. } => mirror,
            Assignment::Conflict(_) => None,
        }
    }

    /// The same roles (a conflict's positions aside): nothing to announce.
    pub fn same_roles(&self, other: &Roles) -> bool {
        let shape = |r: &Roles| (r.primary(), r.mirror(), r.conflict().map(Conflict::role));
        shape(self) == shape(other)
    }

    /// What to do, now that the stores said `reports` (in the flags' order). See the module's
    /// table.
    pub fn observe(self, mut reports: [Report; 2]) -> Roles {
        if let Some(conflict) = self.conflict() {
            // A store falling silent resolves nothing: it still claims what it claimed.
            for (slot, report) in [Slot::First, Slot::Second].into_iter().zip(&mut reports) {
                if *report == Report::Unreachable {
                    let last_seq = conflict.seqs()[slot.index()];
                    *report = match conflict {
                        Conflict::TwoPrimaries { .. } => Report::Primary { last_seq },
                        Conflict::TwoMirrors { .. } => Report::Mirror { last_seq },
                    };
                }
            }
        }
        let demoted = self.demoted.filter(|d| {
            // Reset since (by this front's rebuild or by hand): it is a mirror like any other.
            !matches!(reports[d.index()], Report::Mirror { .. })
        });
        // The old primary's claim is expected: it counts only if the promoted store no longer
        // claims to be primary (then the stores agree on the old primary again).
        let set_aside = demoted.filter(|d| {
            matches!(reports[d.index()], Report::Primary { .. })
                && !matches!(reports[d.other().index()], Report::Mirror { .. })
        });
        let known = |primary: Slot| {
            // The old primary is no mirror until it is rebuilt: nothing is shipped to it.
            let demoted = demoted.filter(|d| *d != primary);
            let mirror = Some(primary.other()).filter(|m| Some(*m) != demoted);
            Roles { assignment: Assignment::Known { primary, mirror }, demoted }
        };
        let seqs = [reports[0].last_seq(), reports[1].last_seq()];
        let claim = |slot: Slot| {
            if Some(slot) == set_aside {
                Report::Unreachable
            } else {
                reports[slot.index()]
            }
        };
        match (claim(Slot::First), claim(Slot::Second)) {
            (Report::Primary { .. }, Report::Primary { .. }) => Roles {
                assignment: Assignment::Conflict(Conflict::TwoPrimaries { seqs }),
                demoted: None,
            },
            (Report::Mirror { .. }, Report::Mirror { .. }) => Roles {
                assignment: Assignment::Conflict(Conflict::TwoMirrors { seqs }),
                demoted: None,
            },
            (Report::Primary { .. }, _) | (Report::Unreachable, Report::Mirror { .. }) => {
                known(Slot::First)
            }
            (_, Report::Primary { .. }) | (Report::Mirror { .. }, Report::Unreachable) => {
                known(Slot::Second)
            }
            (Report::Unreachable, Report::Unreachable) => match set_aside {
                // The promoted store is not answering: still not the old primary's turn.
                Some(old) => known(old.other()),
                None => Roles { demoted, ..self },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Slot::{First, Second};

    const P: Report = Report::Primary { last_seq: 7 };
    const M: Report = Report::Mirror { last_seq: 7 };
    const U: Report = Report::Unreachable;

    fn known(primary: Slot, mirror: Option<Slot>) -> Assignment {
        Assignment::Known { primary, mirror }
    }

    #[test]
    fn stores_that_agree_decide_whatever_the_flags_said() {
        let guess = Roles::guess();
        assert_eq!(guess.observe([P, M]).assignment, known(First, Some(Second)));
        // The issue's case: the store of --mirror was promoted, the other rebuilt as its mirror.
        assert_eq!(guess.observe([M, P]).assignment, known(Second, Some(First)));
        // And the next round, with the roles swapped back by another failover, follows again.
        let swapped = guess.observe([M, P]);
        assert_eq!(swapped.observe([P, M]).assignment, known(First, Some(Second)));
    }

    #[test]
    fn an_unreachable_store_gets_the_role_the_other_does_not_claim() {
        let guess = Roles::guess();
        // The answering store confirms the flags' guess: followed.
        assert_eq!(guess.observe([P, U]).assignment, known(First, Some(Second)));
        assert_eq!(guess.observe([U, M]).assignment, known(First, Some(Second)));
        // It contradicts it: the store says what it is, the other is given the other role.
        assert_eq!(guess.observe([M, U]).assignment, known(Second, Some(First)));
        assert_eq!(guess.observe([U, P]).assignment, known(Second, Some(First)));
    }

    #[test]
    fn with_no_answer_the_last_decision_stands() {
        assert_eq!(Roles::guess().observe([U, U]), Roles::guess());
        let swapped = Roles::guess().observe([M, P]);
        assert_eq!(swapped.observe([U, U]), swapped, "a primary killed later stays the primary");
        let conflict = Roles::guess().observe([P, P]);
        assert_eq!(conflict.observe([U, U]), conflict);
    }

    #[test]
    fn a_conflict_is_not_resolved_by_a_store_falling_silent() {
        let two_primaries = Roles::guess().observe([P, P]);
        assert_eq!(two_primaries.observe([P, U]), two_primaries);
        assert_eq!(two_primaries.observe([U, P]), two_primaries);
        let two_mirrors = Roles::guess().observe([M, M]);
        assert_eq!(two_mirrors.observe([U, M]), two_mirrors);
        // Only a store that says otherwise resolves it, even while the other is silent.
        assert_eq!(two_primaries.observe([M, U]).assignment, known(Second, Some(First)));
        assert_eq!(two_mirrors.observe([U, P]).assignment, known(Second, Some(First)));
    }

    #[test]
    fn two_primaries_are_a_conflict_not_a_guess() {
        let roles = Roles::guess()
            .observe([Report::Primary { last_seq: 12 }, Report::Primary { last_seq: 14 }]);
        let conflict = roles.conflict().expect("a conflict");
        assert_eq!(conflict, Conflict::TwoPrimaries { seqs: [12, 14] });
        assert_eq!(roles.primary(), None, "no store to write to");
        assert_eq!(roles.read_order(), (Second, Some(First)), "reads from the one ahead");
        let sentence = conflict.explain(["http://a", "http://b"]);
        assert!(sentence.contains("http://a/replication/reset"), "{sentence}");
        assert!(sentence.contains("http://b/replication/reset"), "{sentence}");
        // Resolved by resetting one: it answers as a mirror.
        let reset =
            roles.observe([Report::Mirror { last_seq: 0 }, Report::Primary { last_seq: 14 }]);
        assert_eq!(reset.assignment, known(Second, Some(First)));
    }

    #[test]
    fn two_mirrors_are_a_conflict_that_names_the_store_to_promote() {
        let roles = Roles::guess()
            .observe([Report::Mirror { last_seq: 9 }, Report::Mirror { last_seq: 0 }]);
        let conflict = roles.conflict().expect("a conflict");
        assert_eq!(conflict, Conflict::TwoMirrors { seqs: [9, 0] });
        assert_eq!(roles.read_order(), (First, Some(Second)));
        let sentence = conflict.explain(["http://a", "http://b"]);
        assert!(sentence.contains("`curl -X POST http://a/replication/promote`"), "{sentence}");
        // A tie reads from the first.
        assert_eq!(Roles::guess().observe([M, M]).read_order().0, First);
    }

    #[test]
    fn after_its_own_failover_the_front_sets_the_old_primarys_claim_aside() {
        let roles = Roles::failed_over(Second);
        // The old primary still says primary: expected, not a conflict; not shipped to either.
        assert_eq!(roles.observe([P, P]), roles);
        assert_eq!(roles.observe([U, P]), roles);
        // The promoted store is down: the old primary does not get its role back.
        assert_eq!(roles.observe([P, U]), roles);
        assert_eq!(roles.observe([U, U]), roles);
        // Rebuilt (reset as a mirror): a mirror like any other.
        assert_eq!(roles.observe([M, P]), Roles::rebuilt(Second));
        assert_eq!(roles.observe([M, U]), Roles::rebuilt(Second));
    }

    #[test]
    fn after_its_own_failover_the_stores_still_have_the_last_word() {
        let roles = Roles::failed_over(Second);
        // The promoted store was reset by hand: the old primary is the only primary again.
        assert_eq!(roles.observe([P, M]), Roles::rebuilt(First));
        // A front that restarted has forgotten the failover: two primaries.
        assert!(Roles::guess().observe([P, P]).conflict().is_some());
    }

    #[test]
    fn a_role_the_front_does_not_know_counts_as_no_answer() {
        assert_eq!(Report::from_role(StoreRole::Primary, 3), Report::Primary { last_seq: 3 });
        assert_eq!(Report::from_role(StoreRole::Mirror, 3), Report::Mirror { last_seq: 3 });
        // A role the front does not know does not even parse: the answer counts as none.
        let odd = r#"{"lastSeq": 3, "role": "witness"}"#;
        assert!(serde_json::from_str::<shared::replication::StorePosition>(odd).is_err());
    }
}
