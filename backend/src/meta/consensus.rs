//! The meta-model's rules — pure code, no I/O: how answers become a consensus, and how stake
//! and weight follow from agreeing with it.
//!
//! Inspired by Bittensor's Yuma consensus (stake-weighted agreement, bonds as an EMA, clipping),
//! simplified for three to a handful of classifiers:
//!
//! 1. **Voting power** of a model = weight × balance; ejected models have none. If no voter has
//!    any power (all weights 0), every answer counts equally.
//! 2. **Consensus** = the class with the most voting power behind it — a weighted vote over
//!    *classes*, never an average of class indices (the workshop's sample averaged a 0 and a 2
//!    into a 1). Ties go to the class with the larger power-weighted probability, then to the
//!    lower index. The consensus is always a class some model chose, and a class with a strict
//!    weighted majority always wins.
//! 3. **Reward**: each prediction emits [`Rules::emission`] units, shared by the models that
//!    agreed with the consensus in proportion to their power.
//! 4. **Slash**: a model that answered another class loses [`Rules::slash_deviation`] of its
//!    balance; one that failed or timed out loses [`Rules::slash_failure`].
//! 5. **Weight**, settled per batch: an exponential moving average (Yuma's bonds) of agreement,
//!    one step per answer: after a batch of `n` answers with agreement rate `r`,
//!    `w ← w·(1 − α)ⁿ + r·(1 − (1 − α)ⁿ)`. For a batch of alike answers (all agreeing, or all
//!    deviating) that is exactly what settling them one by one gives; for a mixed batch it is the
//!    average over the orders its answers could have come in. Always within [0, 1].
//! 6. **Ejection**: a balance under [`Rules::floor`] takes the model out of the consensus.
//!
//! With labelled data (`POST /evaluate`) the same rules run with the truth in place of the
//! consensus.

/// The constants of the rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Units emitted per prediction, shared among the agreeing models.
    pub emission: f64,
    /// Share of its balance a model loses per answer that deviates from the consensus.
    pub slash_deviation: f64,
    /// Share of its balance a model loses per failed or late answer.
    pub slash_failure: f64,
    /// Weight of each new answer in the weight's moving average.
    pub alpha: f64,
    /// A balance under this ejects the model.
    pub floor: f64,
    /// Deposit of a model registered without one.
    pub default_deposit: f64,
}

impl Default for Rules {
    fn default() -> Self {
        // Calibrated so that an honest model disagreeing on borderline samples (up to about a
        // third of the time) still gains, while an always-wrong one is out within ~70 answers.
        Self {
            emission: 5.0,
            slash_deviation: 0.01,
            slash_failure: 0.005,
            alpha: 0.05,
            floor: 500.0,
            default_deposit: 1000.0,
        }
    }
}

/// One model's answer to one question, with its voting power at the time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ballot {
    pub power: f64,
    /// `None`: the model failed or timed out.
    pub answer: Option<(usize, [f64; 3])>,
}

/// The consensus of one prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Consensus {
    pub class: usize,
    /// Share of the counted power behind `class`.
    pub support: f64,
}

/// The weighted vote over classes (rule 2). `None` when no model answered.
pub fn consensus(ballots: &[Ballot]) -> Option<Consensus> {
    let answered: Vec<(f64, usize, [f64; 3])> =
        ballots.iter().filter_map(|b| b.answer.map(|(c, p)| (b.power.max(0.0), c, p))).collect();
    if answered.is_empty() {
        return None;
    }
    let total: f64 = answered.iter().map(|(power, ..)| power).sum();
    let equal = total <= 0.0;
    let power = |p: f64| if equal { 1.0 } else { p };
    let (mut votes, mut mass) = ([0.0f64; 3], [0.0f64; 3]);
    for (p, class, probabilities) in &answered {
        votes[(*class).min(2)] += power(*p);
        for c in 0..3 {
            mass[c] += power(*p) * probabilities[c];
        }
    }
    let class = (0..3)
        .filter(|c| votes[*c] > 0.0)
        .max_by(|a, b| {
            votes[*a].total_cmp(&votes[*b]).then(mass[*a].total_cmp(&mass[*b])).then(b.cmp(a))
        })
        .expect("some class has a vote");
    let counted: f64 = votes.iter().sum();
    Some(Consensus { class, support: votes[class] / counted })
}

/// What one model did over a batch of predictions.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchTally {
    pub asked: u32,
    pub agreed: u32,
    pub deviated: u32,
    pub failed: u32,
    /// Its share of the emission over the batch (rule 3).
    pub earned: f64,
}

impl BatchTally {
    pub fn merge(&mut self, other: &BatchTally) {
        self.asked += other.asked;
        self.agreed += other.agreed;
        self.deviated += other.deviated;
        self.failed += other.failed;
        self.earned += other.earned;
    }
}

/// Score one prediction: each ballot's tally (same order as `ballots`) against `reference` (the
/// consensus, or the truth).
pub fn score(rules: &Rules, ballots: &[Ballot], reference: usize) -> Vec<BatchTally> {
    let agreeing: f64 = ballots
        .iter()
        .filter(|b| b.answer.is_some_and(|(c, _)| c == reference))
        .map(|b| b.power.max(0.0))
        .sum();
    let agreeing_count =
        ballots.iter().filter(|b| b.answer.is_some_and(|(c, _)| c == reference)).count();
    ballots
        .iter()
        .map(|b| match b.answer {
            None => BatchTally { asked: 1, failed: 1, ..BatchTally::default() },
            Some((c, _)) if c == reference => {
                // Shared by power; with no power anywhere, shared equally.
                let share = if agreeing > 0.0 {
                    b.power.max(0.0) / agreeing
                } else {
                    1.0 / agreeing_count as f64
                };
                BatchTally {
                    asked: 1,
                    agreed: 1,
                    earned: rules.emission * share,
                    ..BatchTally::default()
                }
            }
            Some(_) => BatchTally { asked: 1, deviated: 1, ..BatchTally::default() },
        })
        .collect()
}

/// A model's stake before a batch is settled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stake {
    pub balance: f64,
    pub weight: f64,
}

/// What settling a batch does to one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settlement {
    pub reward: f64,
    /// Positive: the amount taken.
    pub slash: f64,
    pub balance: f64,
    pub weight: f64,
    /// The balance fell under the floor in this batch.
    pub ejected: bool,
}

/// Apply rules 3-6 to a model's batch.
pub fn settle(rules: &Rules, stake: Stake, tally: &BatchTally) -> Settlement {
    let reward = tally.earned.max(0.0);
    let kept = (1.0 - rules.slash_deviation).powi(tally.deviated as i32)
        * (1.0 - rules.slash_failure).powi(tally.failed as i32);
    let after_reward = stake.balance + reward;
    let balance = after_reward * kept;
    let slash = after_reward - balance;
    let weight = if tally.asked == 0 {
        stake.weight
    } else {
        let rate = f64::from(tally.agreed) / f64::from(tally.asked);
        let keep = (1.0 - rules.alpha).powi(tally.asked as i32);
        (stake.weight * keep + rate * (1.0 - keep)).clamp(0.0, 1.0)
    };
    Settlement {
        reward,
        slash,
        balance,
        weight,
        ejected: stake.balance >= rules.floor && balance < rules.floor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ballot(power: f64, class: usize) -> Ballot {
        let mut p = [0.0; 3];
        p[class] = 1.0;
        Ballot { power, answer: Some((class, p)) }
    }

    #[test]
    fn classes_are_voted_never_averaged() {
        // The workshop's sample averaged a 0 and a 2 into a 1: a class nobody chose.
        let c = consensus(&[ballot(1.0, 0), ballot(1.0, 2), ballot(0.5, 2)]).unwrap();
        assert_eq!(c.class, 2);
        let c = consensus(&[ballot(1.0, 0), ballot(1.0, 2)]).unwrap();
        assert_ne!(c.class, 1);
    }

    #[test]
    fn power_outweighs_numbers() {
        let c = consensus(&[ballot(900.0, 1), ballot(200.0, 0), ballot(200.0, 0)]).unwrap();
        assert_eq!(c.class, 1);
        assert!((c.support - 900.0 / 1300.0).abs() < 1e-12);
    }

    #[test]
    fn no_answer_no_consensus_and_zero_power_counts_equally() {
        assert_eq!(consensus(&[Ballot { power: 5.0, answer: None }]), None);
        assert_eq!(consensus(&[ballot(0.0, 2), ballot(0.0, 2), ballot(0.0, 1)]).unwrap().class, 2);
    }

    #[test]
    fn agreeing_earns_deviating_and_failing_cost() {
        let rules = Rules::default();
        let ballots =
            [ballot(2.0, 1), ballot(1.0, 1), ballot(1.0, 0), Ballot { power: 1.0, answer: None }];
        let tallies = score(&rules, &ballots, 1);
        let e = rules.emission;
        assert!(
            (tallies[0].earned - e * 2.0 / 3.0).abs() < 1e-12
                && (tallies[1].earned - e / 3.0).abs() < 1e-12
        );
        assert_eq!((tallies[2].deviated, tallies[3].failed), (1, 1));
        let stake = Stake { balance: 1000.0, weight: 1.0 };
        let dev = settle(&rules, stake, &tallies[2]);
        assert!((dev.balance - 990.0).abs() < 1e-9 && (dev.slash - 10.0).abs() < 1e-9);
        assert!((dev.weight - 0.95).abs() < 1e-12);
        let failed = settle(&rules, stake, &tallies[3]);
        assert!((failed.balance - 995.0).abs() < 1e-9);
        let good = settle(&rules, stake, &tallies[0]);
        assert!((good.balance - (1000.0 + e * 2.0 / 3.0)).abs() < 1e-9 && good.weight == 1.0);
    }

    #[test]
    fn falling_under_the_floor_ejects_once() {
        let rules = Rules::default();
        let tally = BatchTally { asked: 80, deviated: 80, ..BatchTally::default() };
        let s = settle(&rules, Stake { balance: 1000.0, weight: 1.0 }, &tally);
        assert!(s.ejected && s.balance < rules.floor);
        let again = settle(&rules, Stake { balance: s.balance, weight: s.weight }, &tally);
        assert!(!again.ejected, "already under the floor: not ejected twice");
    }

    fn arb_ballot() -> impl Strategy<Value = Ballot> {
        (
            0.0f64..2000.0,
            proptest::option::weighted(0.9, (0usize..3, proptest::array::uniform3(0.0f64..1.0))),
        )
            .prop_map(|(power, answer)| Ballot { power, answer })
    }

    #[test]
    fn a_batch_of_alike_answers_moves_the_weight_as_answers_one_by_one_would() {
        let rules = Rules::default();
        let one = BatchTally { asked: 1, deviated: 1, ..BatchTally::default() };
        let mut stake = Stake { balance: 1000.0, weight: 1.0 };
        for _ in 0..30 {
            let s = settle(&rules, stake, &one);
            stake = Stake { balance: s.balance, weight: s.weight };
        }
        let thirty = settle(
            &rules,
            Stake { balance: 1000.0, weight: 1.0 },
            &BatchTally { asked: 30, deviated: 30, ..BatchTally::default() },
        );
        assert!((thirty.weight - stake.weight).abs() < 1e-12);
        assert!((thirty.balance - stake.balance).abs() < 1e-9);
    }

    proptest! {
        /// The consensus is a class some model chose, and a strict weighted majority always wins.
        #[test]
        fn the_weighted_vote_never_invents_a_class(ballots in proptest::collection::vec(arb_ballot(), 1..8)) {
            match consensus(&ballots) {
                None => prop_assert!(ballots.iter().all(|b| b.answer.is_none())),
                Some(c) => {
                    prop_assert!(ballots.iter().any(|b| b.answer.map(|(k, _)| k) == Some(c.class)));
                    let answered: Vec<_> = ballots.iter().filter(|b| b.answer.is_some()).collect();
                    let total: f64 = answered.iter().map(|b| b.power).sum();
                    if total > 0.0 {
                        for class in 0..3 {
                            let behind: f64 = answered.iter().filter(|b| b.answer.unwrap().0 == class).map(|b| b.power).sum();
                            if behind > total / 2.0 {
                                prop_assert_eq!(c.class, class);
                            }
                        }
                    }
                    prop_assert!(c.support > 0.0 && c.support <= 1.0 + 1e-12);
                }
            }
        }

        /// Weights stay in [0, 1]; balances never go negative; rewards and slashes add up.
        #[test]
        fn settling_keeps_stake_in_bounds(
            balance in 0.0f64..1e6, weight in 0.0f64..=1.0,
            agreed in 0u32..50, deviated in 0u32..50, failed in 0u32..50, earned in 0.0f64..500.0,
        ) {
            let tally = BatchTally { asked: agreed + deviated + failed, agreed, deviated, failed, earned };
            let s = settle(&Rules::default(), Stake { balance, weight }, &tally);
            prop_assert!((0.0..=1.0).contains(&s.weight));
            prop_assert!(s.balance >= 0.0);
            prop_assert!((balance + s.reward - s.slash - s.balance).abs() < 1e-6 * (1.0 + balance));
        }
    }
}
