//! The run debugger over a real run: a `paxos-register` test under a partition, with the
//! stale-allowed local reads, so the checker finds stale reads. The diagram must hold what the
//! history holds (lanes, arrows counted against its messages, the partition's marks, the
//! leader labels), the state panel must say at each moment what the history says, and the
//! operations the checker names must be the highlighted ones — there, and in a `crdt-set` run
//! with a deliberate bug on.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use shared::history::{Event, FaultKind, Validity};

use crate::support::browser::Browser;
use crate::support::{self, Lab};

/// What the history says about `node` just after event `at`: the leader it last noted, and
/// the highest number a client saw it acknowledge.
fn expected(events: &[Event], node: &str, at: usize) -> (String, String) {
    let (mut leader, mut highest) = ("—".to_owned(), None::<u64>);
    for event in &events[..=at] {
        match event {
            Event::Note(n) if n.service == node && n.f == "leader" => {
                leader = match &n.value {
                    Value::Null => "none".to_owned(),
                    value => value.as_str().map_or_else(|| value.to_string(), str::to_owned),
                };
            }
            Event::Ok(op) if op.fields.get("node").and_then(Value::as_str) == Some(node) => {
                highest = highest.max(op.value.as_u64());
            }
            _ => {}
        }
    }
    (leader, highest.map_or_else(|| "—".to_owned(), |n| n.to_string()))
}

/// Move the cursor to event `index`, as dragging the slider does.
async fn seek(browser: &Browser, index: usize) {
    let script = "const c = document.getElementById('cursor'); c.value = arguments[0]; \
                  c.dispatchEvent(new Event('input', {bubbles: true}));";
    browser.eval(script, vec![json!(index)]).await;
    browser.wait_for_text("#cursor-at", |t| t.contains(&format!("event {index} of"))).await;
}

/// The state panel's leader and highest number of `node`.
async fn panel(browser: &Browser, node: &str) -> (String, String) {
    let row = format!("#state-panel tr[data-service='{node}']");
    let leader = browser.texts(&format!("{row} .leader")).await.remove(0);
    let highest = browser.texts(&format!("{row} .highest")).await.remove(0);
    (leader, highest)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_debugger_draws_a_partitioned_run_as_its_history_says_and_marks_what_the_checker_names()
{
    let lab = Lab::up();
    lab.wait_all_up().await;
    let spec = json!({"workload": "paxos-register", "nemesis": ["partition"], "timeS": 8,
        "rate": 120, "seed": 1, "read": "local"});
    let run = support::test_run(&lab, spec).await;
    let verdict = run.verdict.clone().expect("the run was checked");
    assert_eq!(verdict.valid, Validity::False, "local reads under a partition: {verdict:?}");
    let events = support::history(&lab, &run.id).await;
    let cut = events
        .iter()
        .position(|e| matches!(e, Event::Nemesis(f) if f.f == FaultKind::Cut))
        .expect("the partition is in the history");
    let leader_notes = events
        .iter()
        .filter(
            |e| matches!(e, Event::Note(n) if n.f == "leader" && n.service.starts_with("node-")),
        )
        .count();
    assert!(leader_notes > 0, "a leader was noted during the run");

    let browser = Browser::start().await;
    browser.goto(&lab.url(&format!("/debugger/?run={}", run.id))).await;
    browser.wait_for_text("#verdict", |t| t.contains("invalid")).await;
    browser.click("#span option[value='0']").await;
    browser
        .wait_for_text("#spacetime + figcaption", |t| {
            t.starts_with("Space-time diagram from 0.0 ms")
        })
        .await;

    // The lanes: the three nodes (the other services' background traffic hidden at first).
    let lanes: BTreeSet<String> = browser
        .eval(
            "return [...document.querySelectorAll('#spacetime .lane')].map(l => l.dataset.lane)",
            vec![],
        )
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    for node in ["node-1", "node-2", "node-3"] {
        assert!(lanes.contains(node), "{node} has a lane: {lanes:?}");
    }
    assert!(!lanes.contains("shop-a"), "a subsystem the run is not about is hidden: {lanes:?}");
    // Every message between the lanes shown is drawn: the arrows' counts (a burst is one arrow
    // with its count) add up to the history's sends.
    let sends = events
        .iter()
        .filter(|e| matches!(e, Event::Send(m) if lanes.contains(&m.from) && lanes.contains(&m.to)))
        .count();
    let drawn = browser
        .eval("return [...document.querySelectorAll('#spacetime .arrow')].reduce((n, a) => n + Number(a.dataset.count), 0)", vec![])
        .await;
    assert_eq!(drawn.as_u64(), Some(sends as u64), "arrows drawn for the {sends} messages");
    assert!(sends > 100, "a run's worth of Paxos messages: {sends}");
    let faults = events.iter().filter(|e| matches!(e, Event::Nemesis(_))).count();
    assert_eq!(browser.texts("#spacetime .fault").await.len(), faults);
    assert!(
        !browser.texts("#spacetime .fault[data-f='cut']").await.is_empty(),
        "the partition's mark"
    );
    let labels = browser.texts("#spacetime .note[data-f='leader']").await;
    assert_eq!(labels.len(), leader_notes, "{labels:?}");
    assert!(
        labels.iter().all(|l| l.starts_with("leader: node-") || l == "leader: none"),
        "{labels:?}"
    );

    // The state panel before the partition and at the end says what the history says there.
    let mut seen = BTreeMap::new();
    for at in [cut - 1, events.len() - 1] {
        seek(&browser, at).await;
        for node in ["node-1", "node-2", "node-3"] {
            let shown = panel(&browser, node).await;
            assert_eq!(shown, expected(&events, node, at), "{node} at event {at}");
            seen.insert((at, node), shown);
        }
    }
    assert!(
        ["node-1", "node-2", "node-3"]
            .iter()
            .any(|n| seen[&(cut - 1, *n)] != seen[&(events.len() - 1, *n)]),
        "the panel changed between before the partition and the end: {seen:?}"
    );

    // The operations the checker names are the highlighted ones, in the chart and the diagram.
    let named: BTreeSet<u64> =
        verdict.anomalies.iter().flat_map(|a| a.ops.iter().map(|op| op.index as u64)).collect();
    let flagged = |css: &str| {
        let script = format!(
            "return [...document.querySelectorAll('{css}')].map(b => Number(b.dataset.event))"
        );
        let browser = &browser;
        async move {
            let found = browser.eval(&script, vec![]).await;
            found.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect::<BTreeSet<u64>>()
        }
    };
    assert_eq!(flagged("#linearization .op.flagged").await, named);
    assert_eq!(flagged("#spacetime .bar.flagged").await, named);

    // Scrubbing: frames while the cursor steps through the whole run (reported, not asserted:
    // this machine is shared).
    let script = "const done = arguments[arguments.length - 1]; const c = document.getElementById('cursor'); \
        const max = Number(c.max); const frames = []; let i = 0; \
        function step() { const t0 = performance.now(); c.value = Math.floor(i * max / 40); \
          c.dispatchEvent(new Event('input', {bubbles: true})); \
          requestAnimationFrame(() => { frames.push(performance.now() - t0); \
            if (++i <= 40) { step(); } else { done(frames); } }); } step();";
    let frames: Vec<f64> =
        serde_json::from_value(browser.eval_async(script, vec![]).await).unwrap();
    let mut sorted = frames.clone();
    sorted.sort_by(f64::total_cmp);
    eprintln!(
        "debugger: {} events, {sends} messages drawn; scrubbing 41 positions over the whole run: frame median {:.1} ms, max {:.1} ms",
        events.len(),
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1]
    );

    // The export: one self-contained HTML file with the verdict, the diagram and the chart as
    // drawn (the file the page offers is caught as it is made).
    let script = "const done = arguments[arguments.length - 1]; const made = URL.createObjectURL; \
        URL.createObjectURL = blob => { blob.text().then(done); return made(blob); }; \
        document.getElementById('export').click();";
    let exported = browser.eval_async(script, vec![]).await;
    let exported = exported.as_str().expect("the exported file's text");
    for part in
        ["<svg id=\"spacetime\"", "<svg id=\"linearization\"", "id=\"verdict\"", "stale-read"]
    {
        assert!(exported.contains(part), "the export has {part}");
    }
    assert!(!exported.contains("<script") && !exported.contains("src=\"http"), "self-contained");

    // The README's screenshots, taken here so they stay current.
    let shots = support::repo_root().join("docs/screenshots");
    browser.click("#span option[value='100000000']").await;
    seek(&browser, named.iter().next().copied().unwrap_or(0) as usize).await;
    browser.screenshot(&shots.join("debugger.png"), 2300).await;

    // A run with a deliberate bug on (merges drop what a peer added): the adds the `set`
    // checker finds lost are the highlighted bars.
    let spec = json!({"workload": "crdt-set", "timeS": 4, "rate": 40, "seed": 7,
        "bugs": ["crdt-forget-remote-adds"]});
    let buggy = support::test_run(&lab, spec).await;
    let verdict = buggy.verdict.clone().expect("the run was checked");
    assert_eq!(verdict.valid, Validity::False, "{verdict:?}");
    let named: BTreeSet<u64> =
        verdict.anomalies.iter().flat_map(|a| a.ops.iter().map(|op| op.index as u64)).collect();
    assert!(!named.is_empty(), "the checker names the lost adds: {verdict:?}");
    browser.goto(&lab.url(&format!("/debugger/?run={}", buggy.id))).await;
    browser.wait_for_text("#verdict", |t| t.contains("set: invalid") && t.contains("lost")).await;
    browser.click("#span option[value='0']").await;
    browser
        .wait_for_text("#spacetime + figcaption", |t| {
            t.starts_with("Space-time diagram from 0.0 ms")
        })
        .await;
    assert_eq!(flagged("#spacetime .bar.flagged").await, named);
    browser.close().await;
}
