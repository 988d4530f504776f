//! `set`: the sync nodes' CRDT persons, checked as a grow-only set (Maelstrom's g-set).
//!
//! Operations: `add` (value: the element, any JSON value) and `read` (its `ok` value: the list
//! of elements the process's node holds). Valid when every process's final `ok` read holds
//! every acknowledged (`ok`) add, and no read holds an element nobody tried to add. `info` adds
//! may or may not show up; a `fail`ed add that shows up is an anomaly too (`fail` means it did
//! not happen), and so is a read that holds an element twice (`duplicate`: the shop's orders,
//! read as a set, show an order placed twice).
//!
//! Valid — the add (still open, so it may have happened) shows in the final read:
//!
//! ```text
//! {"type":"invoke","process":0,"f":"add","value":"ada","time":0}
//! {"type":"invoke","process":1,"f":"read","value":null,"time":1}
//! {"type":"ok","process":1,"f":"read","value":["ada"],"time":2}
//! ```
//!
//! Not valid — `bob` was never added, a `phantom` (and had the add of `ada` been acknowledged,
//! `ada` would be `lost`):
//!
//! ```text
//! {"type":"invoke","process":0,"f":"add","value":"ada","time":0}
//! {"type":"invoke","process":1,"f":"read","value":null,"time":1}
//! {"type":"ok","process":1,"f":"read","value":["bob"],"time":2}
//! ```
//!
//! For every element in all final reads, the detail gives when it became visible everywhere:
//! for each process, the completion of the first read from which on all that process's reads
//! hold it; the latest of those over the processes (`visible`), and its distance from the
//! add's invoke (`latencyNs`).

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};
use shared::history::{Anomaly, Operation, OperationRef, Outcome};

use super::{anomaly, plural, Judgement, OPS_PER_ANOMALY};

/// Checks a history's operations as a grow-only set.
pub(crate) fn check(ops: &[OperationRef<'_>]) -> Judgement {
    let mut elements = Elements::default();
    let mut adds: Vec<Adds> = Vec::new();
    // Per process, its ok reads in order, as element ids.
    let mut reads: BTreeMap<u64, Vec<(usize, Vec<u32>)>> = BTreeMap::new();
    // Reads holding an element more than once: (op, the elements).
    let mut duplicates: Vec<(usize, Vec<u32>)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op.f {
            "add" => {
                if op.value.is_null() {
                    return Judgement::malformed("an add of null".into(), vec![op.to_operation()]);
                }
                let id = elements.id(op.value) as usize;
                if adds.len() <= id {
                    adds.resize(id + 1, Adds::default());
                }
                let add = &mut adds[id];
                add.first.get_or_insert(i);
                match op.outcome {
                    Outcome::Ok => {
                        add.acknowledged.get_or_insert(i);
                    }
                    Outcome::Info => add.maybe = true,
                    Outcome::Fail => {}
                }
            }
            "read" if op.outcome != Outcome::Ok => {}
            "read" => {
                let Value::Array(seen) = op.result else {
                    return Judgement::malformed(
                        format!("a read of {}, not a list", op.result),
                        vec![op.to_operation()],
                    );
                };
                let ids: Vec<u32> = seen.iter().map(|v| elements.id(v)).collect();
                let mut sorted = ids.clone();
                sorted.sort_unstable();
                let twice: Vec<u32> =
                    sorted.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
                if !twice.is_empty() {
                    duplicates.push((i, twice));
                }
                reads.entry(op.process).or_default().push((i, ids));
            }
            other => {
                return Judgement::malformed(
                    format!("set knows add and read, not {other:?}"),
                    vec![op.to_operation()],
                );
            }
        }
    }
    adds.resize(elements.len(), Adds::default());
    if reads.is_empty() {
        let why = anomaly("no-final-read", "no process read the set".into(), vec![]);
        return Judgement::from_findings(vec![], vec![why], Value::Null);
    }

    let mut anomalies = Vec::new();
    // Duplicate: a set holds an element once; a read showing it twice shows it added twice
    // (an order placed again by a client's retry).
    for (op, twice) in &duplicates {
        let mut dedup = twice.clone();
        dedup.dedup();
        anomalies.push(Anomaly {
            kind: "duplicate".into(),
            message: format!(
                "a read holds {} element{} more than once",
                dedup.len(),
                plural(dedup.len())
            ),
            ops: vec![ops[*op].to_operation()],
            detail: json!({"elements": elements.values(&dedup)}),
        });
    }
    // `in_final[e] == n` when element e is in the n-th process's final read (numbered, so
    // nothing needs clearing between processes).
    let mut in_final = vec![usize::MAX; elements.len()];

    // Lost: acknowledged, missing from a process's final read.
    let acknowledged: Vec<u32> =
        (0..adds.len() as u32).filter(|&e| adds[e as usize].acknowledged.is_some()).collect();
    for (n, (&process, process_reads)) in reads.iter().enumerate() {
        let (last, ids) = process_reads.last().expect("a process in `reads` has read");
        for &e in ids {
            in_final[e as usize] = n;
        }
        let lost: Vec<u32> =
            acknowledged.iter().copied().filter(|&e| in_final[e as usize] != n).collect();
        if lost.is_empty() {
            continue;
        }
        let mut shown = vec![ops[*last].to_operation()];
        shown.extend(
            lost.iter()
                .take(OPS_PER_ANOMALY)
                .map(|&e| ops[adds[e as usize].acknowledged.expect("acknowledged")].to_operation()),
        );
        anomalies.push(Anomaly {
            kind: "lost".into(),
            message: format!(
                "process {process}'s final read lacks {} acknowledged add{}",
                lost.len(),
                plural(lost.len())
            ),
            ops: shown,
            detail: json!({"process": process, "elements": elements.values(&lost)}),
        });
    }

    // Phantom (never attempted) and failed-but-seen: in some read. Reported with the first
    // read each was seen in.
    let mut first_seen: Vec<Option<usize>> = vec![None; elements.len()];
    for process_reads in reads.values() {
        for (op, ids) in process_reads {
            for &e in ids {
                let seen = &mut first_seen[e as usize];
                if seen.is_none_or(|s| ops[*op].invoke < ops[s].invoke) {
                    *seen = Some(*op);
                }
            }
        }
    }
    let phantom: Vec<u32> = (0..elements.len() as u32)
        .filter(|&e| adds[e as usize].first.is_none() && first_seen[e as usize].is_some())
        .collect();
    let failed: Vec<u32> = (0..elements.len() as u32)
        .filter(|&e| {
            let add = &adds[e as usize];
            add.first.is_some()
                && add.acknowledged.is_none()
                && !add.maybe
                && first_seen[e as usize].is_some()
        })
        .collect();
    for (kind, found, what) in [
        ("phantom", &phantom, "never added"),
        ("failed-add-visible", &failed, "whose every add failed"),
    ] {
        if found.is_empty() {
            continue;
        }
        let mut shown: Vec<Operation> = Vec::new();
        for &e in found.iter().take(OPS_PER_ANOMALY) {
            if let Some(add) = adds[e as usize].first {
                shown.push(ops[add].to_operation());
            }
            shown.push(ops[first_seen[e as usize].expect("seen")].to_operation());
        }
        anomalies.push(Anomaly {
            kind: kind.into(),
            message: format!("reads hold {} element{} {what}", found.len(), plural(found.len())),
            ops: shown,
            detail: json!({"elements": elements.values(found)}),
        });
    }

    let detail = visibility(ops, &reads, &adds, &elements, acknowledged.len());
    Judgement::from_findings(anomalies, vec![], detail)
}

/// When each element present in every final read became visible in all of them.
fn visibility(
    ops: &[OperationRef<'_>],
    reads: &BTreeMap<u64, Vec<(usize, Vec<u32>)>>,
    adds: &[Adds],
    elements: &Elements,
    acknowledged: usize,
) -> Value {
    let n = elements.len();
    // visible[e]: the latest, over processes, of when e became visible for good; `None` once
    // some process's final read lacks it.
    let mut visible: Vec<Option<u64>> = vec![Some(0); n];
    let mut in_read = vec![u32::MAX; n];
    let mut stamp = 0u32;
    for process_reads in reads.values() {
        // Walking back from the final read, `run` holds the elements every read so far holds,
        // and `since[e]` the completion of the earliest of them.
        let mut since: Vec<Option<u64>> = vec![None; n];
        let mut run: Vec<u32> = Vec::new();
        for (k, (op, ids)) in process_reads.iter().rev().enumerate() {
            stamp += 1;
            for &e in ids {
                in_read[e as usize] = stamp;
            }
            if k == 0 {
                run = ids.clone();
                run.sort_unstable();
                run.dedup();
            } else {
                run.retain(|&e| in_read[e as usize] == stamp);
            }
            let complete = ops[*op].complete.unwrap_or(ops[*op].invoke);
            for &e in &run {
                since[e as usize] = Some(complete);
            }
        }
        for (all, mine) in visible.iter_mut().zip(since) {
            *all = match (*all, mine) {
                (Some(a), Some(m)) => Some(a.max(m)),
                _ => None,
            };
        }
    }
    let mut latencies: Vec<u64> = Vec::new();
    let mut listed: Vec<Value> = Vec::new();
    for e in 0..n {
        let Some(add) = adds[e].first else { continue };
        let Some(visible) = visible[e] else { continue };
        let added = ops[add].invoke;
        let latency = visible.saturating_sub(added);
        if adds[e].acknowledged.is_some() {
            latencies.push(latency);
        }
        listed.push(json!({
            "element": elements.value(e as u32),
            "added": added,
            "visible": visible,
            "latencyNs": latency,
        }));
    }
    latencies.sort_unstable();
    let quantile = |q: f64| -> Value {
        if latencies.is_empty() {
            return Value::Null;
        }
        let i = ((latencies.len() - 1) as f64 * q).round() as usize;
        json!(latencies[i])
    };
    json!({
        "acknowledged": acknowledged,
        "finalReads": reads.len(),
        "latencyNs": {"median": quantile(0.5), "p95": quantile(0.95), "max": quantile(1.0)},
        "visibility": listed,
    })
}

/// What the history says about adds of one element.
#[derive(Debug, Clone, Default)]
struct Adds {
    /// The first add attempted (any outcome).
    first: Option<usize>,
    /// The first add acknowledged.
    acknowledged: Option<usize>,
    /// Some add ended `info` (or stayed open): it may have happened.
    maybe: bool,
}

/// Elements by id: JSON values interned, so a read of a thousand names is a thousand lookups,
/// not a thousand allocations.
#[derive(Debug, Default)]
struct Elements {
    strings: HashMap<String, u32>,
    /// Anything but a string, by its JSON text.
    others: HashMap<String, u32>,
    values: Vec<Value>,
}

impl Elements {
    fn id(&mut self, value: &Value) -> u32 {
        let next = self.values.len() as u32;
        let id = match value {
            Value::String(s) => match self.strings.get(s.as_str()) {
                Some(&id) => return id,
                None => *self.strings.entry(s.clone()).or_insert(next),
            },
            other => *self.others.entry(other.to_string()).or_insert(next),
        };
        if id == next {
            self.values.push(value.clone());
        }
        id
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn value(&self, id: u32) -> Value {
        self.values[id as usize].clone()
    }

    fn values(&self, ids: &[u32]) -> Value {
        Value::Array(ids.iter().map(|&e| self.value(e)).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use serde_json::{json, Value};
    use shared::history::{Event, Validity};

    use crate::check::build::{expect, fail, info, invoke, ok, timed as history, Case};
    use crate::check::{check, Budget, Model};

    fn add(process: u64, element: &str, from: u64, to: u64) -> [Event; 2] {
        [invoke(process, "add", json!(element), from), ok(process, "add", json!(element), to)]
    }

    fn read(process: u64, seen: &[&str], from: u64, to: u64) -> [Event; 2] {
        [invoke(process, "read", Value::Null, from), ok(process, "read", json!(seen), to)]
    }

    #[test]
    fn hand_made_histories() {
        let cases: Vec<Case> = vec![
            (
                "the module's valid example",
                vec![
                    invoke(0, "add", json!("ada"), 0),
                    invoke(1, "read", Value::Null, 1),
                    ok(1, "read", json!(["ada"]), 2),
                ],
                Validity::True,
                &[],
            ),
            (
                "the module's invalid example",
                vec![
                    invoke(0, "add", json!("ada"), 0),
                    invoke(1, "read", Value::Null, 1),
                    ok(1, "read", json!(["bob"]), 2),
                ],
                Validity::False,
                &["phantom"],
            ),
            (
                "acknowledged, and not read",
                history(&[add(0, "ada", 4, 5), read(1, &["bob"], 6, 7)]),
                Validity::False,
                &["lost", "phantom"],
            ),
            (
                "an add seen late is fine, if the final read has it",
                history(&[
                    add(0, "ada", 0, 1),
                    read(1, &[], 2, 3),
                    read(1, &["ada"], 4, 5),
                    read(0, &["ada"], 2, 3),
                ]),
                Validity::True,
                &[],
            ),
            (
                "one process's final read lacks it",
                history(&[
                    add(0, "ada", 0, 1),
                    read(1, &["ada"], 2, 3),
                    read(1, &[], 4, 5),
                    read(0, &["ada"], 2, 3),
                ]),
                Validity::False,
                &["lost"],
            ),
            (
                "an info add may or may not show",
                vec![
                    invoke(0, "add", json!("ada"), 0),
                    info(0, "add", json!("ada"), 1),
                    invoke(1, "add", json!("bob"), 0),
                    info(1, "add", json!("bob"), 1),
                    invoke(2, "read", Value::Null, 2),
                    ok(2, "read", json!(["ada"]), 3),
                ],
                Validity::True,
                &[],
            ),
            (
                "a failed add shows",
                vec![
                    invoke(0, "add", json!("ada"), 0),
                    fail(0, "add", json!("ada"), 1),
                    invoke(2, "read", Value::Null, 2),
                    ok(2, "read", json!(["ada"]), 3),
                ],
                Validity::False,
                &["failed-add-visible"],
            ),
            (
                "an element read twice was added twice",
                history(&[add(0, "ada", 0, 1), read(1, &["ada", "ada"], 2, 3)]),
                Validity::False,
                &["duplicate"],
            ),
            ("no read", history(&[add(0, "ada", 0, 1)]), Validity::Unknown, &["no-final-read"]),
            (
                "a read that is not a list",
                vec![invoke(0, "read", Value::Null, 0), ok(0, "read", json!("ada"), 1)],
                Validity::Unknown,
                &["malformed"],
            ),
        ];
        expect(Model::Set, Budget::default(), cases);
    }

    #[test]
    fn lost_and_phantom_name_their_elements() {
        let events = history(&[
            add(0, "ada", 0, 1),
            add(0, "cy", 2, 3),
            read(1, &["cy", "bob"], 4, 5),
            read(2, &["ada", "cy"], 4, 5),
        ]);
        let verdict = check(Model::Set, &events, Budget::default());
        assert_eq!(verdict.anomalies[0].detail, json!({"process": 1, "elements": ["ada"]}));
        assert_eq!(verdict.anomalies[1].detail, json!({"elements": ["bob"]}));
    }

    #[test]
    fn visible_when_every_final_read_holds_it_for_good() {
        let events = history(&[
            add(0, "ada", 0, 1),
            // Process 1 sees it at 3, loses it, has it for good from the read completed at 7.
            read(1, &["ada"], 2, 3),
            read(1, &[], 4, 5),
            read(1, &["ada"], 6, 7),
            read(1, &["ada"], 8, 9),
            // Process 2 reads once, late.
            read(2, &["ada"], 2, 12),
        ]);
        let verdict = check(Model::Set, &events, Budget::default());
        assert_eq!(verdict.valid, Validity::True);
        assert_eq!(
            verdict.detail["visibility"],
            json!([{"element": "ada", "added": 0, "visible": 12, "latencyNs": 12}])
        );
        assert_eq!(verdict.detail["latencyNs"]["max"], json!(12));
    }

    /// `cargo test --release -p backend --lib check:: -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a test: run it in release"]
    fn bench_set_100k_ops() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (nodes, reads_per_node, adds) = (5u64, 20u64, 100_000 - 5 * 20);
        // Element i is added by node i % 5 at 10·i ns and reaches node q after a random delay.
        let arrives: Vec<Vec<u64>> = (0..adds)
            .map(|i| (0..nodes).map(|_| 10 * i + rng.random_range(0..20_000)).collect())
            .collect();
        let mut events = Vec::new();
        for i in 0..adds {
            let element = json!(format!("person-{i}"));
            events.push((10 * i, invoke(i % nodes + 100, "add", element.clone(), 10 * i)));
            events.push((10 * i + 5, ok(i % nodes + 100, "add", element, 10 * i + 5)));
        }
        let end = 10 * adds + 20_000;
        for q in 0..nodes {
            for k in 1..=reads_per_node {
                let at = end * k / reads_per_node;
                let seen: Vec<Value> = (0..adds)
                    .filter(|&i| arrives[i as usize][q as usize] <= at)
                    .map(|i| json!(format!("person-{i}")))
                    .collect();
                events.push((at, invoke(q, "read", Value::Null, at)));
                events.push((at + 1, ok(q, "read", Value::Array(seen), at + 1)));
            }
        }
        events.sort_by_key(|(time, _)| *time);
        let events: Vec<Event> = events.into_iter().map(|(_, e)| e).collect();
        let started = Instant::now();
        let verdict = check(Model::Set, &events, Budget::default());
        eprintln!(
            "set: {} ops ({} elements read in all) checked in {:?} ({:?})",
            verdict.ops,
            nodes * reads_per_node * adds / 2,
            started.elapsed(),
            verdict.valid
        );
        assert_eq!(verdict.valid, Validity::True);
    }
}
