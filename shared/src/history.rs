//! Histories: what happened during a run, as the lab records it and its checkers judge it.
//!
//! A history is JSON lines, one [`Event`] per line, `time` in nanoseconds since the recording
//! began:
//!
//! ```text
//! {"type":"invoke","process":0,"f":"raise","value":5,"time":1000}
//! {"type":"send","from":"node-1","to":"node-2","msg":"accept","id":7,"clock":{"node-1":3},"time":1200}
//! {"type":"nemesis","f":"kill","target":"node-2","time":1500}
//! {"type":"ok","process":0,"f":"raise","value":5,"time":2000}
//! {"type":"note","service":"node-1","f":"leader","value":"node-1","time":2100}
//! ```
//!
//! Client operations follow Jepsen: `invoke` opens an operation, and `ok` (it happened), `fail`
//! (it certainly did not happen) or `info` (it may have happened; its completion is unknown)
//! closes it; a process has at most one open operation. [`operations`] pairs them. A checker's
//! answer is a [`Verdict`].
//!
//! [`parse_history`] reads a whole history and names the line it cannot read;
//! [`write_history`] writes one that reads back the same.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// A client began an operation.
    Invoke(OpEvent),
    /// The operation happened; `value` is what it returned (what a read saw).
    Ok(OpEvent),
    /// The operation certainly did not happen.
    Fail(OpEvent),
    /// The operation may or may not have happened, now or at any later time.
    Info(OpEvent),
    /// A service sent a message to another.
    Send(Message),
    /// A service received a message.
    Recv(Message),
    /// A fault was injected or healed.
    Nemesis(Fault),
    /// A service reported a change of its own (leader, mode, role, lag, failover).
    Note(Note),
}

impl Event {
    /// Nanoseconds since the recording began.
    pub fn time(&self) -> u64 {
        match self {
            Event::Invoke(op) | Event::Ok(op) | Event::Fail(op) | Event::Info(op) => op.time,
            Event::Send(m) | Event::Recv(m) => m.time,
            Event::Nemesis(fault) => fault.time,
            Event::Note(note) => note.time,
        }
    }

    /// The event as one line of JSON (without the newline).
    pub fn to_line(&self) -> String {
        // An enum of plain structs with string keys always serializes.
        serde_json::to_string(self).expect("a history event serializes")
    }
}

/// A client operation's invocation or completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpEvent {
    /// The client that performs it (one open operation per process).
    pub process: u64,
    /// What it does: `raise`, `read`, `add`, `write`, `read-all`, `deposit`, ...
    pub f: String,
    /// The argument on `invoke`; the result on `ok` (a read's value).
    #[serde(default)]
    pub value: Value,
    /// When it was recorded, in nanoseconds since the recording began.
    pub time: u64,
    /// Whatever else the recorder noted (an `error`, the `node` it went to).
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A message between two services, with the sender's vector clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
// Named apart in OpenAPI documents: a sync node's document also has its Paxos `Message`.
#[cfg_attr(feature = "openapi", schema(as = HistoryMessage))]
pub struct Message {
    /// The sending service's name in the lab (`node-1`).
    pub from: String,
    /// The receiving service's name.
    pub to: String,
    /// The message's kind (`prepare`, `accept`, `merge`, `replicate`, ...).
    pub msg: String,
    /// Pairs a `recv` with its `send`.
    pub id: u64,
    /// The vector clock the message carries: events per service.
    #[serde(default)]
    pub clock: BTreeMap<String, u64>,
    /// When it was sent (or received), in nanoseconds since the recording began.
    pub time: u64,
    /// The message's own fields (a ballot, a value).
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A fault the nemesis injected, or its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fault {
    /// What was done.
    pub f: FaultKind,
    /// The service (or the pair of services, for a link) it hits.
    #[serde(default)]
    pub target: Value,
    /// When it was done, in nanoseconds since the recording began.
    pub time: u64,
    /// Its parameters (a delay, a loss rate).
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// What the nemesis did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// SIGKILL: the target dies at once.
    Kill,
    /// SIGSTOP: the target is frozen, its connections open.
    Pause,
    /// SIGCONT: a paused target runs again.
    Resume,
    /// The target is started again (after a kill or a stop).
    Restart,
    /// A link (or every link of a service) fails every call.
    Cut,
    /// A link's fault is taken away.
    Heal,
    /// A link gets latency (`fields` says how much).
    Slow,
    /// A link drops a share of its calls (`fields` says how many).
    Loss,
    /// A clean stop (SIGTERM), as opposed to a `kill` (SIGKILL).
    Stop,
}

/// A service's report about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Note {
    /// The reporting service's name in the lab (`node-2`).
    pub service: String,
    /// What it is about: `leader`, `mode`, `role`, `lag`, `failover`, ...
    pub f: String,
    /// What it reports (the new leader's name, the mode, the lag in entries).
    #[serde(default)]
    pub value: Value,
    /// When it reported it, in nanoseconds since the recording began.
    pub time: u64,
}

/// Why a history could not be read or paired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryError {
    /// 1-based. For [`operations`], the event's position, which is its line in a history
    /// [`write_history`] wrote.
    pub line: usize,
    /// What could not be read or paired, for a person.
    pub message: String,
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for HistoryError {}

/// Reads a JSON-lines history. Blank lines are skipped (and still counted).
pub fn parse_history(text: &str) -> Result<Vec<Event>, HistoryError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| HistoryError { line: i + 1, message: e.to_string() })
        })
        .collect()
}

/// Writes a history as JSON lines, each line ending in a newline.
pub fn write_history(events: &[Event]) -> String {
    let mut text = String::new();
    for event in events {
        text.push_str(&event.to_line());
        text.push('\n');
    }
    text
}

/// How a client operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened: its effect is in the system, and `result` is what it returned.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// Unknown: it may take effect at any time after its invoke, or never. An operation still
    /// open when the history ends counts as this.
    Info,
}

named!(Outcome { Ok => "ok", Fail => "fail", Info => "info" });
named!(FaultKind {
    Kill => "kill",
    Pause => "pause",
    Resume => "resume",
    Restart => "restart",
    Cut => "cut",
    Heal => "heal",
    Slow => "slow",
    Loss => "loss",
    Stop => "stop",
});

/// A client operation: its invoke and completion, paired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// Where its invoke is among the history's events (0-based).
    pub index: usize,
    /// The client that performed it.
    pub process: u64,
    /// What it did: `raise`, `read`, `add`, ...
    pub f: String,
    /// The invoke's argument (a raise's number; `null` for a read).
    pub value: Value,
    /// The completion's value (what a read returned); `null` when it never completed.
    pub result: Value,
    /// How it ended: `ok`, `fail` or `info`.
    pub outcome: Outcome,
    /// When it was invoked.
    pub invoke: u64,
    /// When its completion was recorded (`None`: still open at the end). For an `info`
    /// operation this is when the client gave up, not when the operation took effect.
    pub complete: Option<u64>,
}

/// An [`Operation`] that borrows its values from the history's events: what checkers walk, so
/// a read of a hundred thousand elements is not copied to be judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperationRef<'a> {
    /// Where its invoke is among the history's events (0-based).
    pub index: usize,
    /// The client that performed it.
    pub process: u64,
    /// What it did: `raise`, `read`, `add`, ...
    pub f: &'a str,
    /// The invoke's argument (`null` for a read).
    pub value: &'a Value,
    /// `null` when it never completed.
    pub result: &'a Value,
    /// How it ended.
    pub outcome: Outcome,
    /// When it was invoked, in nanoseconds since the recording began.
    pub invoke: u64,
    /// When its completion was recorded (`None`: still open at the end).
    pub complete: Option<u64>,
}

impl OperationRef<'_> {
    /// An owned copy (for an anomaly to show).
    pub fn to_operation(&self) -> Operation {
        Operation {
            index: self.index,
            process: self.process,
            f: self.f.to_string(),
            value: self.value.clone(),
            result: self.result.clone(),
            outcome: self.outcome,
            invoke: self.invoke,
            complete: self.complete,
        }
    }
}

/// What an operation that never completed returned.
static NOTHING: Value = Value::Null;

/// Pairs every invoke with its process's next completion, in invoke order. Operations still
/// open at the end are `info`. Refuses a completion without an open invoke, a second invoke
/// while one is open, a completion of another `f`, and a completion before its invoke.
pub fn pair_operations(events: &[Event]) -> Result<Vec<OperationRef<'_>>, HistoryError> {
    let mut ops: Vec<OperationRef<'_>> = Vec::new();
    // Process → its open operation's position in `ops`.
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, event) in events.iter().enumerate() {
        let error = |message: String| HistoryError { line: i + 1, message };
        let (op, outcome) = match event {
            Event::Invoke(op) => {
                if let Some(&prior) = open.get(&op.process) {
                    return Err(error(format!(
                        "process {} invokes {} while its {} (line {}) is open",
                        op.process,
                        op.f,
                        ops[prior].f,
                        ops[prior].index + 1
                    )));
                }
                open.insert(op.process, ops.len());
                ops.push(OperationRef {
                    index: i,
                    process: op.process,
                    f: &op.f,
                    value: &op.value,
                    result: &NOTHING,
                    outcome: Outcome::Info,
                    invoke: op.time,
                    complete: None,
                });
                continue;
            }
            Event::Ok(op) => (op, Outcome::Ok),
            Event::Fail(op) => (op, Outcome::Fail),
            Event::Info(op) => (op, Outcome::Info),
            _ => continue,
        };
        let Some(at) = open.remove(&op.process) else {
            return Err(error(format!(
                "process {} completes {} it never invoked",
                op.process, op.f
            )));
        };
        let invoked = &mut ops[at];
        if invoked.f != op.f {
            return Err(error(format!(
                "process {} completes {} but invoked {}",
                op.process, op.f, invoked.f
            )));
        }
        if op.time < invoked.invoke {
            return Err(error(format!(
                "process {} completes {} at {} ns, before its invoke at {} ns",
                op.process, op.f, op.time, invoked.invoke
            )));
        }
        invoked.result = &op.value;
        invoked.outcome = outcome;
        invoked.complete = Some(op.time);
    }
    Ok(ops)
}

/// [`pair_operations`], owned.
pub fn operations(events: &[Event]) -> Result<Vec<Operation>, HistoryError> {
    Ok(pair_operations(events)?.iter().map(OperationRef::to_operation).collect())
}

/// A checker's answer: `valid` is `true`, `false` or `"unknown"` (it could not tell: out of
/// time, or a history it cannot read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
// Named apart in OpenAPI documents: the control plane's also has a scenario's `Verdict`.
#[cfg_attr(feature = "openapi", schema(as = CheckVerdict))]
pub struct Verdict {
    /// Whether the history is valid under the model: `true`, `false` or `"unknown"`.
    pub valid: Validity,
    /// `max-register`, `set`, `ledger` or `mirror`.
    pub model: String,
    /// Client operations in the history.
    pub ops: u64,
    /// What is wrong (for `false`), or why it could not tell (for `unknown`).
    pub anomalies: Vec<Anomaly>,
    /// How long the check took, in milliseconds (a budget may cut it short: `unknown`).
    pub elapsed_ms: f64,
    /// What the model found besides anomalies (the set's visibility times, the ledger's
    /// totals); `null` when nothing.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub detail: Value,
}

/// One thing a checker found wrong, with the operations that show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Anomaly {
    /// `stale-read`, `never-raised`, `lost`, `phantom`, `unexplained-balance`, ...
    pub kind: String,
    /// One sentence for a person.
    pub message: String,
    /// The operations involved.
    #[serde(default)]
    pub ops: Vec<Operation>,
    /// Facts for a program (elements, amounts, a prefix's extent); `null` when none.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub detail: Value,
}

/// `true`, `false` or `"unknown"` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validity {
    /// The history is valid under the model.
    True,
    /// It is not: `anomalies` say why.
    False,
    /// The checker could not tell (out of time, or a history it cannot read).
    Unknown,
}

impl Validity {
    /// The exit code of `lab check`: 0, 1 or 2.
    pub fn exit_code(self) -> i32 {
        match self {
            Validity::True => 0,
            Validity::False => 1,
            Validity::Unknown => 2,
        }
    }
}

impl Serialize for Validity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::True => serializer.serialize_bool(true),
            Validity::False => serializer.serialize_bool(false),
            Validity::Unknown => serializer.serialize_str("unknown"),
        }
    }
}

impl<'de> Deserialize<'de> for Validity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Validity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"true, false or "unknown""#)
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Validity, E> {
                Ok(if v { Validity::True } else { Validity::False })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Validity, E> {
                match v {
                    "unknown" => Ok(Validity::Unknown),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Validity {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["unknown"])))
            .description(Some(r#"true, false, or "unknown" when the checker could not tell"#))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Validity {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn op(process: u64, f: &str, value: Value, time: u64) -> OpEvent {
        OpEvent { process, f: f.into(), value, time, fields: Map::new() }
    }

    #[test]
    fn every_kind_of_line_reads() {
        let text = r#"
{"type":"invoke","process":0,"f":"raise","value":5,"time":1000}
{"type":"send","from":"node-1","to":"node-2","msg":"accept","id":7,"clock":{"node-1":3},"time":1200,"ballot":4}
{"type":"recv","from":"node-1","to":"node-2","msg":"accept","id":7,"clock":{"node-1":3,"node-2":1},"time":1300}
{"type":"nemesis","f":"cut","target":["node-1","node-2"],"time":1500}
{"type":"info","process":0,"f":"raise","value":5,"time":2000,"error":"timeout"}
{"type":"note","service":"node-1","f":"leader","value":"node-1","time":2100}
"#;
        let events = parse_history(text).unwrap();
        assert_eq!(events.len(), 6);
        let Event::Send(send) = &events[1] else { panic!("{:?}", events[1]) };
        assert_eq!((send.id, send.clock["node-1"], &send.fields["ballot"]), (7, 3, &json!(4)));
        let Event::Nemesis(cut) = &events[3] else { panic!("{:?}", events[3]) };
        assert_eq!(cut.f, FaultKind::Cut);
        let Event::Info(info) = &events[4] else { panic!("{:?}", events[4]) };
        assert_eq!(info.fields["error"], json!("timeout"));
        assert_eq!(events.iter().map(Event::time).max(), Some(2100));
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let text =
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\",\"time\":1}\n\n{\"type\":\"ok\"}\n";
        let error = parse_history(text).unwrap_err();
        assert_eq!(error.line, 3, "{error}");
        assert!(error.to_string().starts_with("line 3: "), "{error}");
        let unknown = parse_history(r#"{"type":"nemesis","f":"flood","time":1}"#).unwrap_err();
        assert!(unknown.message.contains("flood"), "{unknown}");
    }

    #[test]
    fn operations_pair_and_open_ones_are_info() {
        let events = vec![
            Event::Invoke(op(1, "raise", json!(3), 10)),
            Event::Invoke(op(2, "read", Value::Null, 11)),
            Event::Ok(op(2, "read", json!(3), 12)),
            Event::Fail(op(1, "raise", json!(3), 13)),
            Event::Invoke(op(1, "raise", json!(4), 14)),
        ];
        let ops = operations(&events).unwrap();
        let summary: Vec<_> =
            ops.iter().map(|o| (o.index, o.process, o.outcome, o.complete)).collect();
        assert_eq!(
            summary,
            [
                (0, 1, Outcome::Fail, Some(13)),
                (1, 2, Outcome::Ok, Some(12)),
                (4, 1, Outcome::Info, None)
            ]
        );
        assert_eq!(ops[1].result, json!(3));
    }

    #[test]
    fn operations_refuse_what_jepsen_would() {
        let twice = [
            Event::Invoke(op(1, "read", Value::Null, 1)),
            Event::Invoke(op(1, "read", Value::Null, 2)),
        ];
        assert_eq!(operations(&twice).unwrap_err().line, 2);
        let orphan = [Event::Ok(op(1, "read", json!(1), 1))];
        assert!(operations(&orphan).unwrap_err().message.contains("never invoked"));
        let other =
            [Event::Invoke(op(1, "read", Value::Null, 1)), Event::Ok(op(1, "raise", json!(1), 2))];
        assert!(operations(&other).unwrap_err().message.contains("invoked read"));
        let early =
            [Event::Invoke(op(1, "read", Value::Null, 5)), Event::Ok(op(1, "read", json!(1), 4))];
        assert!(operations(&early).unwrap_err().message.contains("before its invoke"));
    }

    #[test]
    fn validity_is_true_false_or_unknown_on_the_wire() {
        let all = [Validity::True, Validity::False, Validity::Unknown];
        let text = serde_json::to_string(&all).unwrap();
        assert_eq!(text, r#"[true,false,"unknown"]"#);
        assert_eq!(serde_json::from_str::<Vec<Validity>>(&text).unwrap(), all);
        assert!(serde_json::from_str::<Validity>(r#""maybe""#).is_err());
        let verdict = Verdict {
            valid: Validity::Unknown,
            model: "set".into(),
            ops: 0,
            anomalies: vec![],
            elapsed_ms: 0.5,
            detail: Value::Null,
        };
        assert_eq!(
            serde_json::to_value(&verdict).unwrap(),
            json!({"valid": "unknown", "model": "set", "ops": 0, "anomalies": [], "elapsedMs": 0.5})
        );
    }

    /// JSON values as recorders write them: no floats (a float survives too, but proptest's
    /// floats include NaN, which JSON has no word for).
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            "[a-z0-9 é\"\\\\]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Extra fields, with names no field of the event's own uses.
    fn fields() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map("x[a-z]{0,3}", value(), 0..3)
            .prop_map(|m| m.into_iter().collect())
    }

    fn op_event() -> impl Strategy<Value = OpEvent> {
        (any::<u64>(), "[a-z-]{1,8}", value(), any::<u64>(), fields()).prop_map(
            |(process, f, value, time, fields)| OpEvent { process, f, value, time, fields },
        )
    }

    fn message() -> impl Strategy<Value = Message> {
        let clock = prop::collection::btree_map("node-[1-3]", any::<u64>(), 0..3);
        ("node-[1-3]", "node-[1-3]", "[a-z]{1,8}", any::<u64>(), clock, any::<u64>(), fields())
            .prop_map(|(from, to, msg, id, clock, time, fields)| Message {
                from,
                to,
                msg,
                id,
                clock,
                time,
                fields,
            })
    }

    fn event() -> impl Strategy<Value = Event> {
        let kind = prop_oneof![
            Just(FaultKind::Kill),
            Just(FaultKind::Pause),
            Just(FaultKind::Resume),
            Just(FaultKind::Restart),
            Just(FaultKind::Cut),
            Just(FaultKind::Heal),
            Just(FaultKind::Slow),
            Just(FaultKind::Loss),
        ];
        let fault = (kind, value(), any::<u64>(), fields())
            .prop_map(|(f, target, time, fields)| Fault { f, target, time, fields });
        let note = ("[a-z-]{1,8}", "[a-z]{1,8}", value(), any::<u64>())
            .prop_map(|(service, f, value, time)| Note { service, f, value, time });
        prop_oneof![
            op_event().prop_map(Event::Invoke),
            op_event().prop_map(Event::Ok),
            op_event().prop_map(Event::Fail),
            op_event().prop_map(Event::Info),
            message().prop_map(Event::Send),
            message().prop_map(Event::Recv),
            fault.prop_map(Event::Nemesis),
            note.prop_map(Event::Note),
        ]
    }

    proptest! {
        #[test]
        fn a_written_history_reads_back_the_same(events in prop::collection::vec(event(), 0..20)) {
            let text = write_history(&events);
            prop_assert_eq!(text.lines().count(), events.len());
            prop_assert_eq!(parse_history(&text).unwrap(), events);
        }
    }
}

/// What the control plane tells a service when a recording starts (`PUT /admin/recording`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordingStart {
    /// The recording's id (the control plane's).
    pub id: String,
    /// When the recording began, in microseconds since the Unix epoch (a whole number every
    /// JSON client holds exactly until the year 2255): every service of the lab runs on one
    /// machine, so its clock is the control plane's, and `time` is measured from here.
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 9007199254740991_u64))]
    pub epoch_us: u64,
    /// Each service's `host:port` and name, so a message's `to` can name the service it goes to.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
}

/// The events a service recorded since `after` (`GET /admin/recording/events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvents {
    /// The recording the service takes part in; `null` when it records nothing (not started,
    /// stopped, or restarted since the recording began).
    pub recording: Option<String>,
    /// The events recorded after `after`, oldest first (at most the `limit` asked for).
    pub events: Vec<Event>,
    /// Ask with `after=next` for the events that follow.
    pub next: u64,
    /// Events dropped because nobody fetched them in time (the service keeps a bounded buffer).
    pub dropped: u64,
}

impl fmt::Display for Validity {
    /// As the verdict's JSON says it: `true`, `false` or `unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Validity::True => "true",
            Validity::False => "false",
            Validity::Unknown => "unknown",
        })
    }
}
