//! `ledger`: the meta-model's stakes — every balance explained by the ledger's events, and the
//! money conserved.
//!
//! Operations (client operations, `value` an object):
//!
//! - `deposit`, `emission`, `withdrawal`, `slash` — `{"model": "m1", "amount": 10.0}`: money
//!   into (deposit, emission) or out of (withdrawal, slash) one model's balance. `amount` is a
//!   magnitude: its sign is ignored, since the meta-model's own ledger writes slashes and
//!   withdrawals as negative changes. An `emission` is the share of a prediction's emission the
//!   model was credited (the meta-model's `reward`; `reward` and `withdraw` are read as
//!   `emission` and `withdrawal`). The `ok` value may add `"balance"`: the model's balance
//!   right after, as the ledger reported it.
//! - `balances` — a read; its `ok` value is every model's balance, `{"m1": 110.0, "m2": 0}`
//!   (a model it leaves out holds 0).
//!
//! What the ledger moves, and so what it conserves (as `backend/src/meta/ledger.rs` does it):
//! deposits come in, emissions are minted, withdrawals are paid out, and **slashes are
//! burned** — they leave the system, like withdrawals. So:
//!
//! - each model's balance is its deposits plus emissions, less withdrawals and slashes
//!   (`unexplained-balance` if not);
//! - no balance is negative (`negative-balance`);
//! - at a snapshot no operation overlaps, `Σ deposits + Σ emissions = Σ balances +
//!   Σ withdrawals + Σ slashes` (`not-conserved` if not: money appeared or vanished, rather
//!   than moved between models).
//!
//! Concurrency: for a snapshot (a `balances` read, or a balance a mutation reported), a
//! mutation counts for sure if it completed before the snapshot was invoked; perhaps, if it
//! overlaps the snapshot or ended `info` before the snapshot completed; not at all if it
//! began after, or failed. A balance is explained when the sure ones plus some of the perhaps
//! ones add up to it (within a millionth). With more than [`MAX_UNCERTAIN`] perhaps-mutations
//! of one model at one snapshot, that balance is undecided and the verdict at best `unknown`.
//!
//! Valid — a deposit whose reported balance it explains (and a slash still open):
//!
//! ```text
//! {"type":"invoke","process":0,"f":"deposit","value":{"model":"m1","amount":100},"time":0}
//! {"type":"ok","process":0,"f":"deposit","value":{"balance":100},"time":1}
//! {"type":"invoke","process":1,"f":"slash","value":{"model":"m1","amount":5},"time":2}
//! ```
//!
//! Not valid — the same deposit reported a balance of 120: 20 no event explains
//! (`unexplained-balance`):
//!
//! ```text
//! {"type":"invoke","process":0,"f":"deposit","value":{"model":"m1","amount":100},"time":0}
//! {"type":"ok","process":0,"f":"deposit","value":{"balance":120},"time":1}
//! {"type":"invoke","process":1,"f":"slash","value":{"model":"m1","amount":5},"time":2}
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};
use shared::history::{Anomaly, OperationRef, Outcome};

use super::{anomaly, ms, Judgement};

/// Perhaps-mutations of one model one snapshot may weigh (2^16 combinations).
pub const MAX_UNCERTAIN: usize = 16;

/// What a mutation does to a balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Deposit,
    Emission,
    Withdrawal,
    Slash,
}

impl Kind {
    fn of(f: &str) -> Option<Kind> {
        Some(match f {
            "deposit" => Kind::Deposit,
            "emission" | "reward" => Kind::Emission,
            "withdrawal" | "withdraw" => Kind::Withdrawal,
            "slash" => Kind::Slash,
            _ => return None,
        })
    }

    /// +1 for money in, −1 for money out.
    fn sign(self) -> f64 {
        match self {
            Kind::Deposit | Kind::Emission => 1.0,
            Kind::Withdrawal | Kind::Slash => -1.0,
        }
    }
}

/// A deposit, emission, withdrawal or slash that did not fail.
#[derive(Debug)]
struct Mutation {
    op: usize,
    kind: Kind,
    model: String,
    amount: f64,
    invoke: u64,
    /// `None`: `info`, it may take effect at any time after its invoke.
    complete: Option<u64>,
}

impl Mutation {
    /// The change it makes to its model's balance.
    fn delta(&self) -> f64 {
        self.kind.sign() * self.amount
    }
}

/// A moment some balances were seen.
#[derive(Debug)]
struct Snapshot {
    op: usize,
    invoke: u64,
    complete: u64,
    /// Every model's balance (a `balances` read), or one model's (a mutation's report; that
    /// mutation is `own`).
    balances: BTreeMap<String, f64>,
    own: Option<usize>,
}

/// How a mutation stands to a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counts {
    Surely,
    Perhaps,
    Not,
}

fn counts(mutation: &Mutation, snapshot: &Snapshot, index: usize) -> Counts {
    if snapshot.own == Some(index) {
        return Counts::Surely;
    }
    if mutation.invoke > snapshot.complete {
        return Counts::Not;
    }
    match mutation.complete {
        Some(done) if done < snapshot.invoke => Counts::Surely,
        _ => Counts::Perhaps,
    }
}

/// Checks a history's operations against the stake ledger.
pub(crate) fn check(ops: &[OperationRef<'_>]) -> Judgement {
    let (mutations, snapshots) = match read(ops) {
        Ok(read) => read,
        Err(malformed) => return malformed,
    };
    if snapshots.is_empty() {
        let why = anomaly("no-balance-seen", "no balance was read or reported".into(), vec![]);
        return Judgement::from_findings(vec![], vec![why], Value::Null);
    }
    let models: BTreeSet<&str> = mutations
        .iter()
        .map(|m| m.model.as_str())
        .chain(snapshots.iter().flat_map(|s| s.balances.keys().map(String::as_str)))
        .collect();

    let (mut anomalies, mut undecided) = (Vec::new(), Vec::new());
    let mut totals = Value::Null;
    for snapshot in &snapshots {
        let all_models = snapshot.own.is_none();
        let judged: Vec<&str> = if all_models {
            models.iter().copied().collect()
        } else {
            snapshot.balances.keys().map(String::as_str).collect()
        };
        let mut quiet = true;
        for model in judged {
            let seen = snapshot.balances.get(model).copied().unwrap_or(0.0);
            if seen < 0.0 {
                anomalies.push(balance_anomaly(
                    "negative-balance",
                    model,
                    seen,
                    snapshot,
                    ops,
                    &[],
                ));
            }
            let (mut surely, mut perhaps) = (0.0, Vec::new());
            for (i, m) in mutations.iter().enumerate().filter(|(_, m)| m.model == model) {
                match counts(m, snapshot, i) {
                    Counts::Surely => surely += m.delta(),
                    Counts::Perhaps => perhaps.push(i),
                    Counts::Not => {}
                }
            }
            quiet &= perhaps.is_empty();
            if perhaps.len() > MAX_UNCERTAIN {
                undecided.push(balance_anomaly(
                    "too-concurrent",
                    model,
                    seen,
                    snapshot,
                    ops,
                    &perhaps.iter().map(|&i| mutations[i].op).collect::<Vec<_>>(),
                ));
                continue;
            }
            let deltas: Vec<f64> = perhaps.iter().map(|&i| mutations[i].delta()).collect();
            if !some_subset_explains(surely, &deltas, seen) {
                let mut a = balance_anomaly(
                    "unexplained-balance",
                    model,
                    seen,
                    snapshot,
                    ops,
                    &perhaps.iter().map(|&i| mutations[i].op).collect::<Vec<_>>(),
                );
                a.detail["explained"] = json!(surely);
                a.detail["concurrent"] = json!(deltas);
                anomalies.push(a);
            }
        }
        if all_models && quiet {
            let mut sums: BTreeMap<Kind, f64> = BTreeMap::new();
            for (i, m) in mutations.iter().enumerate() {
                if counts(m, snapshot, i) == Counts::Surely {
                    *sums.entry(m.kind).or_default() += m.amount;
                }
            }
            let sum = |kind| sums.get(&kind).copied().unwrap_or(0.0);
            let balances: f64 = snapshot.balances.values().sum();
            let paid_in = sum(Kind::Deposit) + sum(Kind::Emission);
            let accounted = balances + sum(Kind::Withdrawal) + sum(Kind::Slash);
            totals = json!({
                "at": snapshot.complete,
                "deposits": sum(Kind::Deposit),
                "emissions": sum(Kind::Emission),
                "withdrawals": sum(Kind::Withdrawal),
                "slashes": sum(Kind::Slash),
                "balances": balances,
            });
            if !close(paid_in, accounted) {
                anomalies.push(Anomaly {
                    kind: "not-conserved".into(),
                    message: format!(
                        "at {}, deposits + emissions = {paid_in} but balances + withdrawals + \
                         slashes = {accounted}",
                        ms(snapshot.complete)
                    ),
                    ops: vec![ops[snapshot.op].to_operation()],
                    detail: totals.clone(),
                });
            }
        }
    }
    let detail = if totals.is_null() { Value::Null } else { json!({ "totals": totals }) };
    Judgement::from_findings(anomalies, undecided, detail)
}

/// The history's mutations and snapshots.
fn read(ops: &[OperationRef<'_>]) -> Result<(Vec<Mutation>, Vec<Snapshot>), Judgement> {
    let (mut mutations, mut snapshots) = (Vec::new(), Vec::new());
    for (i, op) in ops.iter().enumerate() {
        if op.outcome == Outcome::Fail {
            continue;
        }
        let complete = if op.outcome == Outcome::Ok { op.complete } else { None };
        if op.f == "balances" {
            let Some(complete) = complete else { continue };
            let balances = numbers(op.result).ok_or_else(|| {
                Judgement::malformed(
                    format!("balances read as {}, not an object of numbers", op.result),
                    vec![op.to_operation()],
                )
            })?;
            snapshots.push(Snapshot { op: i, invoke: op.invoke, complete, balances, own: None });
            continue;
        }
        let Some(kind) = Kind::of(op.f) else {
            return Err(Judgement::malformed(
                format!(
                    "ledger knows deposit, emission, withdrawal, slash and balances, not {:?}",
                    op.f
                ),
                vec![op.to_operation()],
            ));
        };
        let field = |name: &str| op.value.get(name).or_else(|| op.result.get(name));
        let (Some(model), Some(amount)) =
            (field("model").and_then(Value::as_str), field("amount").and_then(Value::as_f64))
        else {
            return Err(Judgement::malformed(
                format!("a {} without a model and an amount: {}", op.f, op.value),
                vec![op.to_operation()],
            ));
        };
        if let (Some(complete), Some(balance)) =
            (complete, op.result.get("balance").and_then(Value::as_f64))
        {
            snapshots.push(Snapshot {
                op: i,
                invoke: op.invoke,
                complete,
                balances: BTreeMap::from([(model.to_string(), balance)]),
                own: Some(mutations.len()),
            });
        }
        mutations.push(Mutation {
            op: i,
            kind,
            model: model.into(),
            amount: amount.abs(),
            invoke: op.invoke,
            complete,
        });
    }
    Ok((mutations, snapshots))
}

/// An object of numbers, as a map.
fn numbers(value: &Value) -> Option<BTreeMap<String, f64>> {
    let object: &Map<String, Value> = value.as_object()?;
    object.iter().map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect()
}

/// Whether `surely` plus some of `perhaps` comes to `seen`.
fn some_subset_explains(surely: f64, perhaps: &[f64], seen: f64) -> bool {
    (0u32..1 << perhaps.len()).any(|chosen| {
        let extra: f64 = perhaps
            .iter()
            .enumerate()
            .filter(|(i, _)| chosen & (1 << i) != 0)
            .map(|(_, d)| d)
            .sum();
        close(surely + extra, seen)
    })
}

/// Equal to a millionth (of the larger, or of 1 for small sums).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn balance_anomaly(
    kind: &str,
    model: &str,
    seen: f64,
    snapshot: &Snapshot,
    ops: &[OperationRef<'_>],
    involved: &[usize],
) -> Anomaly {
    let how = if snapshot.own.is_some() { "reported" } else { "read" };
    let message = match kind {
        "negative-balance" => format!("{model}'s balance {how} as {seen}, below 0"),
        "too-concurrent" => format!(
            "{model}'s balance {how} as {seen} overlaps {} of its mutations, too many to weigh",
            involved.len()
        ),
        _ => format!(
            "{model}'s balance {how} as {seen} at {}: no combination of its events explains it",
            ms(snapshot.complete)
        ),
    };
    let mut shown = vec![ops[snapshot.op].to_operation()];
    shown.extend(involved.iter().take(super::OPS_PER_ANOMALY).map(|&i| ops[i].to_operation()));
    Anomaly {
        kind: kind.into(),
        message,
        ops: shown,
        detail: json!({"model": model, "seen": seen}),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use shared::history::{Event, Validity};

    use crate::check::build::{expect, fail, info, invoke, ok, timed as history, Case};
    use crate::check::{check, Budget, Model};

    fn mutation(process: u64, f: &str, model: &str, amount: f64, from: u64, to: u64) -> [Event; 2] {
        let value = json!({"model": model, "amount": amount});
        [invoke(process, f, value.clone(), from), ok(process, f, value, to)]
    }

    fn balances(process: u64, seen: Value, from: u64, to: u64) -> [Event; 2] {
        [invoke(process, "balances", Value::Null, from), ok(process, "balances", seen, to)]
    }

    /// Deposit 100, emission 5, slash 1, withdrawal 50 of m1, one after another: 54 left.
    fn settled(seen: Value) -> Vec<Event> {
        history(&[
            mutation(0, "deposit", "m1", 100.0, 0, 1),
            mutation(0, "emission", "m1", 5.0, 2, 3),
            mutation(0, "slash", "m1", -1.0, 4, 5),
            mutation(0, "withdrawal", "m1", 50.0, 6, 7),
            balances(1, seen, 8, 9),
        ])
    }

    #[test]
    fn hand_made_histories() {
        let reported = |balance: f64| {
            vec![
                invoke(0, "deposit", json!({"model": "m1", "amount": 100}), 0),
                ok(0, "deposit", json!({"balance": balance}), 1),
                invoke(1, "slash", json!({"model": "m1", "amount": 5}), 2),
            ]
        };
        let concurrent = |seen: Value| {
            history(&[mutation(0, "deposit", "m1", 100.0, 0, 10), balances(1, seen, 5, 6)])
        };
        let perhaps = |seen: Value| {
            let mut events = vec![
                invoke(0, "deposit", json!({"model": "m1", "amount": 100}), 0),
                info(0, "deposit", Value::Null, 1),
            ];
            events.extend(balances(1, seen, 5, 6));
            events
        };
        let crowd: Vec<[Event; 2]> = (0..17)
            .map(|p| mutation(p, "deposit", "m1", 1.0, 0, 10))
            .chain([balances(99, json!({"m1": 3}), 5, 6)])
            .collect();
        let cases: Vec<Case> = vec![
            ("the module's valid example", reported(100.0), Validity::True, &[]),
            (
                "the module's invalid example",
                reported(120.0),
                Validity::False,
                &["unexplained-balance"],
            ),
            ("settled in turn", settled(json!({"m1": 54})), Validity::True, &[]),
            (
                "6 out of nowhere",
                settled(json!({"m1": 60})),
                Validity::False,
                &["unexplained-balance", "not-conserved"],
            ),
            (
                "moved between models: unexplained, yet conserved",
                history(&[
                    mutation(0, "deposit", "m1", 100.0, 0, 1),
                    mutation(0, "deposit", "m2", 50.0, 2, 3),
                    balances(1, json!({"m1": 90, "m2": 60}), 4, 5),
                ]),
                Validity::False,
                &["unexplained-balance", "unexplained-balance"],
            ),
            ("a concurrent deposit, not yet in", concurrent(json!({"m1": 0})), Validity::True, &[]),
            ("a concurrent deposit, in", concurrent(json!({"m1": 100})), Validity::True, &[]),
            ("an info deposit, in", perhaps(json!({"m1": 100})), Validity::True, &[]),
            ("an info deposit, not in", perhaps(json!({"m1": 0})), Validity::True, &[]),
            (
                "an info deposit, halfway",
                perhaps(json!({"m1": 50})),
                Validity::False,
                &["unexplained-balance"],
            ),
            (
                "a failed deposit does not count",
                vec![
                    invoke(0, "deposit", json!({"model": "m1", "amount": 100}), 0),
                    fail(0, "deposit", Value::Null, 1),
                    invoke(1, "balances", Value::Null, 2),
                    ok(1, "balances", json!({"m1": 100}), 3),
                ],
                Validity::False,
                &["unexplained-balance", "not-conserved"],
            ),
            (
                "a model a snapshot leaves out holds 0",
                history(&[mutation(0, "deposit", "m1", 100.0, 0, 1), balances(1, json!({}), 2, 3)]),
                Validity::False,
                &["unexplained-balance", "not-conserved"],
            ),
            (
                "below zero",
                history(&[
                    mutation(0, "withdrawal", "m1", 5.0, 0, 1),
                    balances(1, json!({"m1": -5}), 2, 3),
                ]),
                Validity::False,
                &["negative-balance"],
            ),
            (
                "too many overlapping to weigh",
                history(&crowd),
                Validity::Unknown,
                &["too-concurrent"],
            ),
            (
                "no balance seen",
                history(&[mutation(0, "deposit", "m1", 1.0, 0, 1)]),
                Validity::Unknown,
                &["no-balance-seen"],
            ),
            (
                "an operation the ledger does not have",
                history(&[mutation(0, "mint", "m1", 1.0, 0, 1)]),
                Validity::Unknown,
                &["malformed"],
            ),
        ];
        expect(Model::Ledger, Budget::default(), cases);
    }

    #[test]
    fn the_totals_of_the_last_quiet_snapshot() {
        let verdict = check(Model::Ledger, &settled(json!({"m1": 54})), Budget::default());
        assert_eq!(
            verdict.detail["totals"],
            json!({"at": 9, "deposits": 100.0, "emissions": 5.0, "withdrawals": 50.0, "slashes": 1.0, "balances": 54.0})
        );
    }
}
