//! `mirror`: a mirrored (`sync`) or replicated (`async`) store across a failover — do the
//! acknowledged writes survive?
//!
//! Operations and notes:
//!
//! - `write` (value: the key written — a seq number, `"k7"`); `ok` means the front
//!   acknowledged it.
//! - `read-all` (its `ok` value: the list of keys the store holds), after the failover.
//! - note `mode` (value `"sync"` or `"async"`), note `lag` (value: the entries the mirror
//!   lacked, as the front reported them), and note `failover` (value: the lag the front last
//!   reported before the primary was lost, or its failover report `{"lagBefore": n, ...}`,
//!   which may name the `mode` too).
//!
//! For each failover, the first `read-all` invoked after it (and before the next) is judged:
//! the acknowledged writes it lacks that were acknowledged before the failover are the writes
//! the failover lost. Under `sync`, none may be lost (`lost`). Under `async`, at most as many as
//! the lag reported before the failure (`lost-beyond-lag`) — **at most, not exactly**: the
//! replicator may ship more between the report and the crash. Writes acknowledged after the
//! last `lag` note (and before the failover) are allowed on top, since the lag could not count
//! them; with no `lag` note, the failover's `lagBefore` is taken to be the lag at the failure.
//! Replication ships in order, so a lost write acknowledged before a surviving write was even
//! invoked is a `gap`. In any mode: an acknowledged write missing from a read-all that no
//! failover explains (acknowledged after the last failover, or with no failover at all) is
//! `lost`; a key never written is a `phantom`; a write that `fail`ed yet is there is
//! `failed-write-present`.
//!
//! Valid — nothing was written, nothing is there:
//!
//! ```text
//! {"type":"note","service":"mirror","f":"failover","value":{"mode":"async","lagBefore":1},"time":10}
//! {"type":"invoke","process":1,"f":"read-all","value":null,"time":11}
//! {"type":"ok","process":1,"f":"read-all","value":[],"time":12}
//! ```
//!
//! Not valid — `k9` was never written (`phantom`):
//!
//! ```text
//! {"type":"note","service":"mirror","f":"failover","value":{"mode":"sync","lagBefore":0},"time":10}
//! {"type":"invoke","process":1,"f":"read-all","value":null,"time":11}
//! {"type":"ok","process":1,"f":"read-all","value":["k9"],"time":12}
//! ```

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use shared::history::{Anomaly, Event, OperationRef, Outcome};

use super::{anomaly, ms, plural, whole, Judgement, OPS_PER_ANOMALY};

/// A failover, with what the history says about the mirror just before it.
#[derive(Debug)]
struct Failover {
    time: u64,
    /// `sync` or `async`; `None` when the history never says.
    mode: Option<String>,
    /// The lag last reported before the failure, and when (`None`: by the failover note only).
    lag: Option<u64>,
    lag_at: Option<u64>,
}

/// Checks a history's writes and read-alls across its failovers.
pub(crate) fn check(ops: &[OperationRef<'_>], events: &[Event]) -> Judgement {
    let failovers = match failovers(events) {
        Ok(failovers) => failovers,
        Err(malformed) => return malformed,
    };
    // Writes by key; read-alls as (op, keys).
    let mut writes: HashMap<String, Vec<usize>> = HashMap::new();
    let mut reads: Vec<(usize, HashSet<String>)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op.f {
            "write" => writes.entry(op.value.to_string()).or_default().push(i),
            "read-all" if op.outcome != Outcome::Ok => {}
            "read-all" => {
                let Value::Array(keys) = op.result else {
                    return Judgement::malformed(
                        format!("a read-all of {}, not a list", op.result),
                        vec![op.to_operation()],
                    );
                };
                reads.push((i, keys.iter().map(Value::to_string).collect()));
            }
            other => {
                return Judgement::malformed(
                    format!("mirror knows write and read-all, not {other:?}"),
                    vec![op.to_operation()],
                );
            }
        }
    }
    let acknowledged: Vec<usize> =
        (0..ops.len()).filter(|&i| ops[i].f == "write" && ops[i].outcome == Outcome::Ok).collect();

    // The read-alls judged: before the first failover, all; after each failover, its first.
    let first = failovers.first().map_or(u64::MAX, |f| f.time);
    let mut judged: Vec<(usize, Option<usize>)> = reads
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| ops[*op].invoke < first)
        .map(|(r, _)| (r, None))
        .collect();
    let (mut anomalies, mut undecided) = (Vec::new(), Vec::new());
    for (k, failover) in failovers.iter().enumerate() {
        let until = failovers.get(k + 1).map_or(u64::MAX, |f| f.time);
        let after = reads.iter().position(|(op, _)| {
            let invoke = ops[*op].invoke;
            invoke > failover.time && invoke < until
        });
        match after {
            Some(r) => judged.push((r, Some(k))),
            None => undecided.push(anomaly(
                "no-read-after-failover",
                format!("no read-all followed the failover at {}", ms(failover.time)),
                vec![],
            )),
        }
    }

    let mut lost_before: HashSet<usize> = HashSet::new();
    let mut reports = Vec::new();
    for (r, failover) in judged {
        let (read_op, keys) = &reads[r];
        let read = &ops[*read_op];
        let missing: Vec<usize> = acknowledged
            .iter()
            .copied()
            .filter(|&w| {
                ops[w].complete.is_some_and(|t| t < read.invoke)
                    && !keys.contains(&ops[w].value.to_string())
                    && !lost_before.contains(&w)
            })
            .collect();
        // Lost by this failover (acknowledged before it), or by nothing at all.
        let (explained, unexplained): (Vec<usize>, Vec<usize>) = match failover {
            Some(k) => missing
                .iter()
                .partition(|&&w| ops[w].complete.is_some_and(|t| t < failovers[k].time)),
            None => (vec![], missing),
        };
        if !unexplained.is_empty() {
            anomalies.push(writes_anomaly(
                "lost",
                format!(
                    "{} acknowledged write{} missing from the read-all at {} with no failover \
                     to explain {}",
                    unexplained.len(),
                    plural(unexplained.len()),
                    ms(read.invoke),
                    if unexplained.len() == 1 { "it" } else { "them" }
                ),
                read,
                &unexplained,
                ops,
            ));
        }
        if let Some(k) = failover {
            match judge_failover(&failovers[k], &explained, keys, &acknowledged, ops, read) {
                Ok((mut found, report)) => {
                    anomalies.append(&mut found);
                    reports.push(report);
                }
                Err(why) => undecided.push(why),
            }
            lost_before.extend(explained.iter().copied());
        }
        anomalies.extend(strangers(keys, &writes, ops, read));
    }
    if reads.is_empty() {
        undecided.push(anomaly("no-read-all", "no read-all completed".into(), vec![]));
    }
    let detail = if reports.is_empty() { Value::Null } else { json!({ "failovers": reports }) };
    Judgement::from_findings(anomalies, undecided, detail)
}

/// The anomalies of one failover's losses, and its report for the detail; `Err` when the
/// history lacks what judging it takes.
fn judge_failover(
    failover: &Failover,
    lost: &[usize],
    keys: &HashSet<String>,
    acknowledged: &[usize],
    ops: &[OperationRef<'_>],
    read: &OperationRef<'_>,
) -> Result<(Vec<Anomaly>, Value), Anomaly> {
    let at = ms(failover.time);
    let Some(mode) = failover.mode.as_deref() else {
        return Err(anomaly("no-mode", format!("the failover at {at} names no mode"), vec![]));
    };
    let mut found = Vec::new();
    let mut report = json!({"time": failover.time, "mode": mode, "lost": lost.len()});
    match mode {
        "sync" => {
            if !lost.is_empty() {
                found.push(writes_anomaly(
                    "lost",
                    format!(
                        "the failover at {at} lost {} acknowledged write{} of a synchronous mirror",
                        lost.len(),
                        plural(lost.len())
                    ),
                    read,
                    lost,
                    ops,
                ));
            }
        }
        "async" => {
            let Some(lag) = failover.lag else {
                return Err(anomaly("no-lag", format!("no lag was reported before {at}"), vec![]));
            };
            // Acknowledged after the lag was reported: the lag could not count them.
            let late = failover.lag_at.map_or(0, |reported| {
                acknowledged
                    .iter()
                    .filter(|&&w| {
                        ops[w].complete.is_some_and(|t| t > reported && t < failover.time)
                    })
                    .count() as u64
            });
            let allowed = lag + late;
            report["lag"] = json!(lag);
            report["late"] = json!(late);
            report["exactlyTheLag"] = json!(lost.len() as u64 == lag);
            if lost.len() as u64 > allowed {
                found.push(writes_anomaly(
                    "lost-beyond-lag",
                    format!(
                        "the failover at {at} lost {} acknowledged writes; the lag reported \
                         before it was {lag}{}",
                        lost.len(),
                        if late > 0 {
                            format!(", and {late} were acknowledged after that")
                        } else {
                            String::new()
                        }
                    ),
                    read,
                    lost,
                    ops,
                ));
            }
            if let Some(gap) = gap(lost, keys, acknowledged, ops, failover.time) {
                found.push(gap);
            }
        }
        other => {
            return Err(anomaly(
                "no-mode",
                format!("the failover at {at} names mode {other:?}"),
                vec![],
            ));
        }
    }
    report["lostKeys"] = Value::Array(lost.iter().map(|&w| ops[w].value.clone()).collect());
    Ok((found, report))
}

/// A lost write acknowledged before a surviving write was invoked: shipped out of order.
fn gap(
    lost: &[usize],
    keys: &HashSet<String>,
    acknowledged: &[usize],
    ops: &[OperationRef<'_>],
    failover: u64,
) -> Option<Anomaly> {
    let earliest_lost = lost.iter().copied().min_by_key(|&w| ops[w].complete)?;
    let lost_at = ops[earliest_lost].complete?;
    let survivor = acknowledged.iter().copied().find(|&w| {
        ops[w].invoke > lost_at
            && ops[w].complete.is_some_and(|t| t < failover)
            && keys.contains(&ops[w].value.to_string())
    })?;
    Some(anomaly(
        "gap",
        format!(
            "the write of {} was lost although the write of {}, invoked after it was \
             acknowledged, survived: replication went out of order",
            ops[earliest_lost].value, ops[survivor].value
        ),
        vec![ops[earliest_lost].to_operation(), ops[survivor].to_operation()],
    ))
}

/// Keys a read-all holds that were never written, or whose every write failed.
fn strangers(
    keys: &HashSet<String>,
    writes: &HashMap<String, Vec<usize>>,
    ops: &[OperationRef<'_>],
    read: &OperationRef<'_>,
) -> Vec<Anomaly> {
    let mut phantom: Vec<&String> = Vec::new();
    let mut failed: Vec<usize> = Vec::new();
    for key in keys {
        match writes.get(key) {
            None => phantom.push(key),
            Some(ws) if ws.iter().all(|&w| ops[w].outcome == Outcome::Fail) => failed.push(ws[0]),
            Some(_) => {}
        }
    }
    phantom.sort();
    failed.sort_unstable();
    let mut found = Vec::new();
    if !phantom.is_empty() {
        let keys: Vec<Value> =
            phantom.iter().map(|k| serde_json::from_str(k).unwrap_or(Value::Null)).collect();
        found.push(Anomaly {
            kind: "phantom".into(),
            message: format!(
                "the read-all at {} holds {} key{} never written",
                ms(read.invoke),
                keys.len(),
                plural(keys.len())
            ),
            ops: vec![read.to_operation()],
            detail: json!({"keys": keys}),
        });
    }
    if !failed.is_empty() {
        found.push(writes_anomaly(
            "failed-write-present",
            format!(
                "the read-all at {} holds {} key{} whose write failed",
                ms(read.invoke),
                failed.len(),
                plural(failed.len())
            ),
            read,
            &failed,
            ops,
        ));
    }
    found
}

/// The failovers in time order, each with the mode and lag reported before it.
fn failovers(events: &[Event]) -> Result<Vec<Failover>, Judgement> {
    let mut notes: Vec<&shared::history::Note> = events
        .iter()
        .filter_map(|e| match e {
            Event::Note(note) => Some(note),
            _ => None,
        })
        .collect();
    notes.sort_by_key(|n| n.time);
    let (mut mode, mut lag): (Option<String>, Option<(u64, u64)>) = (None, None);
    let mut failovers = Vec::new();
    for note in notes {
        let bad = |what: &str| {
            Judgement::malformed(format!("a {} note of {}: {what}", note.f, note.value), vec![])
        };
        match note.f.as_str() {
            "mode" => {
                mode = Some(note.value.as_str().ok_or_else(|| bad("not a string"))?.to_string());
            }
            "lag" => {
                lag = Some((whole(&note.value).ok_or_else(|| bad("not a number"))?, note.time))
            }
            "failover" => {
                let reported = match &note.value {
                    Value::Object(report) => {
                        report.get("lagBefore").map(|v| whole(v).ok_or_else(|| bad("lagBefore")))
                    }
                    Value::Null => None,
                    number => Some(whole(number).ok_or_else(|| bad("not a lag"))),
                }
                .transpose()?;
                let named = note.value.get("mode").and_then(Value::as_str).map(String::from);
                failovers.push(Failover {
                    time: note.time,
                    mode: named.or_else(|| mode.clone()),
                    lag: reported.or(lag.map(|(n, _)| n)),
                    lag_at: lag.map(|(_, t)| t),
                });
                // What was reported before this failure says nothing about the next one.
                lag = None;
            }
            _ => {}
        }
    }
    Ok(failovers)
}

fn writes_anomaly(
    kind: &str,
    message: String,
    read: &OperationRef<'_>,
    writes: &[usize],
    ops: &[OperationRef<'_>],
) -> Anomaly {
    let mut shown = vec![read.to_operation()];
    shown.extend(writes.iter().take(OPS_PER_ANOMALY).map(|&w| ops[w].to_operation()));
    let keys: Vec<Value> = writes.iter().map(|&w| ops[w].value.clone()).collect();
    Anomaly { kind: kind.into(), message, ops: shown, detail: json!({ "keys": keys }) }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use shared::history::{Event, Validity};

    use crate::check::build::{expect, fail, info, invoke, note, ok, Case};
    use crate::check::{check, Budget, Model};

    fn write(process: u64, key: &str, from: u64, to: u64) -> Vec<Event> {
        vec![invoke(process, "write", json!(key), from), ok(process, "write", json!(key), to)]
    }

    fn read_all(keys: &[&str], from: u64) -> Vec<Event> {
        vec![invoke(9, "read-all", Value::Null, from), ok(9, "read-all", json!(keys), from + 1)]
    }

    fn failover(value: Value, time: u64) -> Vec<Event> {
        vec![note("mirror", "failover", value, time)]
    }

    fn history(parts: &[Vec<Event>]) -> Vec<Event> {
        let mut events: Vec<Event> = parts.iter().flatten().cloned().collect();
        events.sort_by_key(Event::time);
        events
    }

    /// k1, k2, k3 acknowledged one after another (done by 6), then a lag report, a failover at
    /// 10 and a read-all at 11.
    fn async_run(lag: u64, survived: &[&str]) -> Vec<Event> {
        history(&[
            vec![note("mirror", "mode", json!("async"), 0)],
            write(0, "k1", 1, 2),
            write(0, "k2", 3, 4),
            write(0, "k3", 5, 6),
            vec![note("mirror", "lag", json!(lag), 7)],
            failover(json!({"lagBefore": lag, "entriesLost": lag}), 10),
            read_all(survived, 11),
        ])
    }

    #[test]
    fn hand_made_histories() {
        let sync_run = |survived: &[&str]| {
            history(&[
                vec![note("mirror", "mode", json!("sync"), 0)],
                write(0, "k1", 1, 2),
                write(1, "k2", 1, 3),
                failover(json!({"lagBefore": 0}), 10),
                read_all(survived, 11),
            ])
        };
        let cases: Vec<Case> = vec![
            (
                "the module's valid example",
                history(&[
                    failover(json!({"mode": "async", "lagBefore": 1}), 10),
                    read_all(&[], 11),
                ]),
                Validity::True,
                &[],
            ),
            (
                "the module's invalid example",
                history(&[
                    failover(json!({"mode": "sync", "lagBefore": 0}), 10),
                    read_all(&["k9"], 11),
                ]),
                Validity::False,
                &["phantom"],
            ),
            ("sync keeps everything", sync_run(&["k1", "k2"]), Validity::True, &[]),
            ("sync lost one", sync_run(&["k1"]), Validity::False, &["lost"]),
            ("async lost what the lag said", async_run(1, &["k1", "k2"]), Validity::True, &[]),
            ("async lost less than the lag", async_run(2, &["k1", "k2"]), Validity::True, &[]),
            (
                "async lost more than the lag",
                async_run(1, &["k1"]),
                Validity::False,
                &["lost-beyond-lag"],
            ),
            ("async lost out of order", async_run(1, &["k1", "k3"]), Validity::False, &["gap"]),
            (
                "acknowledged after the lag report: the lag could not count it",
                history(&[
                    vec![note("mirror", "mode", json!("async"), 0)],
                    write(0, "k1", 1, 2),
                    vec![note("mirror", "lag", json!(0), 3)],
                    write(0, "k2", 4, 5),
                    failover(json!(0), 10),
                    read_all(&["k1"], 11),
                ]),
                Validity::True,
                &[],
            ),
            (
                "acknowledged after the failover, and gone",
                history(&[
                    failover(json!({"mode": "async", "lagBefore": 0}), 1),
                    write(0, "k1", 2, 3),
                    read_all(&[], 4),
                ]),
                Validity::False,
                &["lost"],
            ),
            (
                "no failover, and an acknowledged write gone",
                history(&[write(0, "k1", 1, 2), read_all(&[], 3)]),
                Validity::False,
                &["lost"],
            ),
            (
                "an unacknowledged write may be gone, or not",
                history(&[
                    vec![invoke(0, "write", json!("k1"), 1), info(0, "write", json!("k1"), 2)],
                    vec![invoke(1, "write", json!("k2"), 1), info(1, "write", json!("k2"), 2)],
                    failover(json!({"mode": "sync", "lagBefore": 0}), 5),
                    read_all(&["k2"], 6),
                ]),
                Validity::True,
                &[],
            ),
            (
                "a failed write is there",
                history(&[
                    vec![invoke(0, "write", json!("k1"), 1), fail(0, "write", json!("k1"), 2)],
                    read_all(&["k1"], 6),
                ]),
                Validity::False,
                &["failed-write-present"],
            ),
            (
                "no read-all after the failover",
                history(&[read_all(&[], 1), failover(json!({"mode": "sync", "lagBefore": 0}), 5)]),
                Validity::Unknown,
                &["no-read-after-failover"],
            ),
            (
                "no mode",
                history(&[write(0, "k1", 1, 2), failover(json!(0), 5), read_all(&["k1"], 6)]),
                Validity::Unknown,
                &["no-mode"],
            ),
        ];
        expect(Model::Mirror, Budget::default(), cases);
    }

    #[test]
    fn the_failover_report_says_what_was_lost() {
        let verdict = check(Model::Mirror, &async_run(1, &["k1", "k2"]), Budget::default());
        assert_eq!(
            verdict.detail,
            json!({"failovers": [{
                "time": 10, "mode": "async", "lost": 1, "lag": 1, "late": 0,
                "exactlyTheLag": true, "lostKeys": ["k3"],
            }]})
        );
    }
}
