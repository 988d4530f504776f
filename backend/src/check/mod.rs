//! Checkers: judges of a recorded history (`shared::history`) — pure code, no I/O.
//!
//! [`check`] takes a model and a history's events and returns a [`Verdict`]: `valid` is
//! `true`, `false` (with the anomalies that prove it) or `"unknown"` (out of budget, or a history
//! the model cannot read). One file per model, each documenting its operations with a valid
//! and an invalid example:
//!
//! - [`max_register`] — the sync nodes' highest number: linearizability of `raise` / `read`,
//!   by the search in [`linearizable`].
//! - [`set`] — the CRDT persons: every acknowledged `add` in every process's final `read`.
//! - [`ledger`] — the meta-model's stakes: balances explained by deposits, emissions,
//!   withdrawals and slashes, and the money conserved.
//! - [`mirror`] — a mirrored or replicated store: acknowledged writes that survive a failover.
//!
//! Searches are bounded by a [`Budget`] (steps, and optionally time), so a hard history yields
//! `unknown` instead of hanging.

pub mod ledger;
pub mod linearizable;
pub mod max_register;
pub mod mirror;
pub mod set;

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::history::{self, Anomaly, Event, Operation, Validity, Verdict};

/// What a history is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Model {
    MaxRegister,
    Set,
    Ledger,
    Mirror,
}

impl Model {
    pub const ALL: [Model; 4] = [Model::MaxRegister, Model::Set, Model::Ledger, Model::Mirror];

    /// Its name on the command line and in a verdict.
    pub fn name(self) -> &'static str {
        match self {
            Model::MaxRegister => "max-register",
            Model::Set => "set",
            Model::Ledger => "ledger",
            Model::Mirror => "mirror",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Model::ALL.into_iter().find(|m| m.name() == name).ok_or_else(|| {
            let names: Vec<_> = Model::ALL.iter().map(|m| m.name()).collect();
            format!("no model {name:?} (one of: {})", names.join(", "))
        })
    }
}

/// How much work a checker may do before it answers `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Search steps (one step: one attempt to linearize or to undo one operation).
    pub steps: u64,
    /// Wall-clock time; `None` for steps alone (deterministic, for tests).
    pub time: Option<Duration>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { steps: 200_000_000, time: Some(Duration::from_secs(30)) }
    }
}

impl Budget {
    /// A share of this budget (for work after the verdict is known, like shrinking a witness).
    fn fraction(self, divisor: u32) -> Budget {
        Budget { steps: self.steps / u64::from(divisor), time: self.time.map(|t| t / divisor) }
    }
}

/// A budget being spent.
#[derive(Debug)]
pub struct Meter {
    steps_left: u64,
    deadline: Option<Instant>,
    /// Steps until the clock is read again (reading it every step would cost more than a step).
    until_clock: u32,
    exhausted: bool,
}

impl Meter {
    pub fn new(budget: Budget) -> Meter {
        Meter {
            steps_left: budget.steps,
            deadline: budget.time.map(|t| Instant::now() + t),
            until_clock: 0,
            exhausted: false,
        }
    }

    /// Spends one step; `false` once the budget is spent (and from then on).
    pub fn tick(&mut self) -> bool {
        if self.exhausted {
            return false;
        }
        if self.steps_left == 0 {
            self.exhausted = true;
            return false;
        }
        self.steps_left -= 1;
        if self.until_clock == 0 {
            self.until_clock = 4096;
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.exhausted = true;
                return false;
            }
        }
        self.until_clock -= 1;
        true
    }
}

/// A model's findings, before [`check`] adds what every verdict says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Judgement {
    pub valid: Validity,
    pub anomalies: Vec<Anomaly>,
    pub detail: Value,
}

impl Judgement {
    /// `false` when there are anomalies, else `true` — or `unknown` when something could not
    /// be decided (`undecided`: why).
    pub(crate) fn from_findings(
        anomalies: Vec<Anomaly>,
        undecided: Vec<Anomaly>,
        detail: Value,
    ) -> Judgement {
        let valid = if !anomalies.is_empty() {
            Validity::False
        } else if !undecided.is_empty() {
            Validity::Unknown
        } else {
            Validity::True
        };
        let anomalies = if anomalies.is_empty() { undecided } else { anomalies };
        Judgement { valid, anomalies, detail }
    }

    /// A history this model cannot read: the verdict is `unknown`.
    pub(crate) fn malformed(message: String, ops: Vec<Operation>) -> Judgement {
        Judgement {
            valid: Validity::Unknown,
            anomalies: vec![anomaly("malformed", message, ops)],
            detail: Value::Null,
        }
    }
}

/// An anomaly without detail.
pub(crate) fn anomaly(kind: &str, message: String, ops: Vec<Operation>) -> Anomaly {
    Anomaly { kind: kind.into(), message, ops, detail: Value::Null }
}

/// A whole number ≥ 0, written `7` or `7.0` (JavaScript clients send either).
pub(crate) fn whole(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let f = value.as_f64()?;
        (f >= 0.0 && f.fract() == 0.0 && f <= 9_007_199_254_740_992.0).then_some(f as u64)
    })
}

/// A history time for a person: nanoseconds as milliseconds.
pub(crate) fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

/// "s" for a count other than one.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// At most this many operations are copied into one anomaly (its detail says the rest).
pub(crate) const OPS_PER_ANOMALY: usize = 20;

/// Judges `events` as a history of `model`.
pub fn check(model: Model, events: &[Event], budget: Budget) -> Verdict {
    let started = Instant::now();
    let (ops, judgement) = match history::pair_operations(events) {
        Ok(ops) => {
            let judgement = match model {
                Model::MaxRegister => max_register::check(&ops, budget),
                Model::Set => set::check(&ops),
                Model::Ledger => ledger::check(&ops),
                Model::Mirror => mirror::check(&ops, events),
            };
            (ops.len(), judgement)
        }
        Err(e) => (0, Judgement::malformed(e.to_string(), vec![])),
    };
    Verdict {
        valid: judgement.valid,
        model: model.name().into(),
        ops: ops as u64,
        anomalies: judgement.anomalies,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        detail: judgement.detail,
    }
}

/// Judges a JSON-lines history; a line that does not read makes the verdict `unknown`.
pub fn check_text(model: Model, text: &str, budget: Budget) -> Verdict {
    match history::parse_history(text) {
        Ok(events) => check(model, &events, budget),
        Err(e) => Verdict {
            valid: Validity::Unknown,
            model: model.name().into(),
            ops: 0,
            anomalies: vec![anomaly("malformed", e.to_string(), vec![])],
            elapsed_ms: 0.0,
            detail: Value::Null,
        },
    }
}

/// Builders for hand-made histories, shared by the models' tests.
#[cfg(test)]
pub(crate) mod build {
    use serde_json::{Map, Value};
    use shared::history::{Event, Note, OpEvent, Validity};

    use super::{check, Budget, Model};

    /// A hand-made case: its name, its events, the validity and anomaly kinds expected.
    pub type Case<'a> = (&'a str, Vec<Event>, Validity, &'a [&'a str]);

    /// The verdict of `model` on `events`, as the validity and its anomalies' kinds.
    pub fn judged(model: Model, events: &[Event], budget: Budget) -> (Validity, Vec<String>) {
        let verdict = check(model, events, budget);
        (verdict.valid, verdict.anomalies.into_iter().map(|a| a.kind).collect())
    }

    /// Each case's verdict is the one it expects.
    pub fn expect(model: Model, budget: Budget, cases: Vec<Case<'_>>) {
        for (name, events, valid, kinds) in cases {
            let expected = (valid, kinds.iter().map(|k| k.to_string()).collect());
            assert_eq!(judged(model, &events, budget), expected, "{name}");
        }
    }

    /// Operations' events in time order (a completion after an invoke at the same time).
    pub fn timed(pairs: &[[Event; 2]]) -> Vec<Event> {
        let mut events: Vec<Event> = pairs.iter().flatten().cloned().collect();
        events.sort_by_key(|e| (e.time(), !matches!(e, Event::Invoke(_))));
        events
    }

    fn op(process: u64, f: &str, value: Value, time: u64) -> OpEvent {
        OpEvent { process, f: f.into(), value, time, fields: Map::new() }
    }

    pub fn invoke(process: u64, f: &str, value: Value, time: u64) -> Event {
        Event::Invoke(op(process, f, value, time))
    }

    pub fn ok(process: u64, f: &str, value: Value, time: u64) -> Event {
        Event::Ok(op(process, f, value, time))
    }

    pub fn fail(process: u64, f: &str, value: Value, time: u64) -> Event {
        Event::Fail(op(process, f, value, time))
    }

    pub fn info(process: u64, f: &str, value: Value, time: u64) -> Event {
        Event::Info(op(process, f, value, time))
    }

    pub fn note(service: &str, f: &str, value: Value, time: u64) -> Event {
        Event::Note(Note { service: service.into(), f: f.into(), value, time })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_by_name() {
        for model in Model::ALL {
            assert_eq!(model.name().parse::<Model>(), Ok(model));
        }
        assert!("register".parse::<Model>().unwrap_err().contains("max-register"));
    }

    #[test]
    fn a_history_that_does_not_read_is_unknown() {
        let verdict = check_text(Model::MaxRegister, "{\"type\":\"ok\"}\n", Budget::default());
        assert_eq!(verdict.valid, Validity::Unknown);
        assert!(verdict.anomalies[0].message.starts_with("line 1:"), "{verdict:?}");
        let orphan = r#"{"type":"ok","process":1,"f":"read","value":3,"time":1}"#;
        let verdict = check_text(Model::MaxRegister, orphan, Budget::default());
        assert_eq!(
            (verdict.valid, verdict.anomalies[0].kind.as_str()),
            (Validity::Unknown, "malformed")
        );
    }

    #[test]
    fn a_meter_stops_at_its_steps() {
        let mut meter = Meter::new(Budget { steps: 3, time: None });
        assert_eq!(
            [meter.tick(), meter.tick(), meter.tick(), meter.tick(), meter.tick()],
            [true, true, true, false, false]
        );
    }
}
