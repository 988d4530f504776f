//! A recorded history read for the debugger (pure, unit-tested natively): the lanes of the
//! space-time diagram, its arrows, operation bars, fault marks and labels, the window of it
//! worth drawing, and the lab's state at any event.
//!
//! The history is the control plane's `history.jsonl` (see `shared::history`): one event per
//! line, sorted by time. Everything here is computed from it alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;
use shared::history::{Event, FaultKind, Message, OpEvent, Outcome};

/// One vertical lane of the diagram: a service, or a client process.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub name: String,
    /// A client process (its operations' bars), not a service (its messages).
    pub client: bool,
}

/// A message from its send to its receipt.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    /// The send's index among the events.
    pub event: usize,
    pub from: usize,
    pub to: usize,
    pub msg: String,
    pub sent: u64,
    /// `None`: never received (lost, cut, or its receiver died).
    pub received: Option<u64>,
}

/// A client operation from its invoke to its completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The invoke's index among the events (what a checker's anomalies name).
    pub event: usize,
    pub lane: usize,
    pub process: u64,
    pub f: String,
    pub invoke: u64,
    /// `None`: still open at the end.
    pub complete: Option<u64>,
    /// `None`: still open at the end.
    pub outcome: Option<Outcome>,
    /// The service it was sent to (its `node` field), when it says.
    pub node: Option<String>,
    /// `raise 42 → ok`, for people.
    pub text: String,
}

/// A fault the nemesis injected or healed, across the lanes it hits.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub event: usize,
    pub time: u64,
    pub f: FaultKind,
    pub lanes: Vec<usize>,
    pub text: String,
}

/// A service's note (a new leader, a mode switch), on its lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub event: usize,
    pub time: u64,
    pub lane: usize,
    pub f: String,
    pub text: String,
}

/// A history laid out for drawing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    pub events: Vec<Event>,
    pub lanes: Vec<Lane>,
    pub arrows: Vec<Arrow>,
    pub bars: Vec<Bar>,
    pub marks: Vec<Mark>,
    pub labels: Vec<Label>,
    /// Every message kind, sorted (the diagram's filter).
    pub kinds: Vec<String>,
    /// The last event's time.
    pub end: u64,
    /// Receipts whose send is not in the history (its sender was not recording).
    pub unpaired: usize,
}

/// Read a `history.jsonl` text; the first line that is not an event is named in the error.
pub fn parse(text: &str) -> Result<Vec<Event>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1)))
        .collect()
}

/// The services a fault's `target` names: a name, a `[from, to]` link, or an object of names.
fn targets(target: &Value) -> Vec<String> {
    match target {
        Value::String(name) => vec![name.clone()],
        Value::Array(names) => names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect(),
        Value::Object(fields) => {
            fields.values().filter_map(|n| n.as_str().map(str::to_owned)).collect()
        }
        _ => vec![],
    }
}

/// Short text of a JSON value: strings bare, `none` for null, the rest as JSON, cut at 40
/// characters.
pub fn brief(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => "none".to_owned(),
        other => other.to_string(),
    };
    if text.chars().count() > 40 {
        text.chars().take(39).chain(['…']).collect()
    } else {
        text
    }
}

fn node_of(op: &OpEvent) -> Option<String> {
    op.fields.get("node").and_then(Value::as_str).map(str::to_owned)
}

impl Timeline {
    /// Lay out `events` (in time order): service lanes sorted by name, then one lane per
    /// client process.
    pub fn new(events: Vec<Event>) -> Timeline {
        let mut services = BTreeSet::new();
        let mut processes = BTreeSet::new();
        for event in &events {
            match event {
                Event::Send(m) | Event::Recv(m) => {
                    services.insert(m.from.clone());
                    services.insert(m.to.clone());
                }
                Event::Note(note) => {
                    services.insert(note.service.clone());
                }
                Event::Nemesis(fault) => services.extend(targets(&fault.target)),
                Event::Invoke(op) | Event::Ok(op) | Event::Fail(op) | Event::Info(op) => {
                    processes.insert(op.process);
                }
            }
        }
        let mut lanes: Vec<Lane> =
            services.into_iter().map(|name| Lane { name, client: false }).collect();
        let first_client = lanes.len();
        lanes.extend(processes.iter().map(|p| Lane { name: format!("client {p}"), client: true }));
        let lane_of: HashMap<String, usize> =
            lanes.iter().enumerate().map(|(i, l)| (l.name.clone(), i)).collect();
        let client_lane: HashMap<u64, usize> =
            processes.iter().enumerate().map(|(i, p)| (*p, first_client + i)).collect();

        let mut timeline = Timeline { lanes, ..Timeline::default() };
        let mut kinds = BTreeSet::new();
        // A send's arrow, by message id, waiting for its receipt.
        let mut in_flight: HashMap<u64, usize> = HashMap::new();
        // A process's open operation: its bar.
        let mut open: HashMap<u64, usize> = HashMap::new();
        for (i, event) in events.iter().enumerate() {
            timeline.end = timeline.end.max(event.time());
            match event {
                Event::Send(m) => {
                    kinds.insert(m.msg.clone());
                    let arrow = Arrow {
                        event: i,
                        from: lane_of[&m.from],
                        to: lane_of[&m.to],
                        msg: m.msg.clone(),
                        sent: m.time,
                        received: None,
                    };
                    in_flight.insert(m.id, timeline.arrows.len());
                    timeline.arrows.push(arrow);
                }
                Event::Recv(m) => match in_flight.remove(&m.id) {
                    Some(a) => timeline.arrows[a].received = Some(m.time),
                    None => timeline.unpaired += 1,
                },
                Event::Invoke(op) => {
                    let bar = Bar {
                        event: i,
                        lane: client_lane[&op.process],
                        process: op.process,
                        f: op.f.clone(),
                        invoke: op.time,
                        complete: None,
                        outcome: None,
                        node: node_of(op),
                        text: match &op.value {
                            Value::Null => op.f.clone(),
                            value => format!("{} {}", op.f, brief(value)),
                        },
                    };
                    open.insert(op.process, timeline.bars.len());
                    timeline.bars.push(bar);
                }
                Event::Ok(op) | Event::Fail(op) | Event::Info(op) => {
                    let Some(b) = open.remove(&op.process) else { continue };
                    let outcome = match event {
                        Event::Ok(_) => Outcome::Ok,
                        Event::Fail(_) => Outcome::Fail,
                        _ => Outcome::Info,
                    };
                    let bar = &mut timeline.bars[b];
                    bar.complete = Some(op.time);
                    bar.outcome = Some(outcome);
                    let result =
                        if outcome == Outcome::Ok { brief(&op.value) } else { String::new() };
                    bar.text = format!("{} → {outcome} {result}", bar.text).trim_end().to_owned();
                }
                Event::Nemesis(fault) => {
                    let names = targets(&fault.target);
                    timeline.marks.push(Mark {
                        event: i,
                        time: fault.time,
                        f: fault.f,
                        lanes: names.iter().filter_map(|n| lane_of.get(n).copied()).collect(),
                        text: format!("{} {}", fault.f, names.join(" ↔ ")),
                    });
                }
                Event::Note(note) => timeline.labels.push(Label {
                    event: i,
                    time: note.time,
                    lane: lane_of[&note.service],
                    f: note.f.clone(),
                    text: format!("{}: {}", note.f, brief(&note.value)),
                }),
            }
        }
        timeline.kinds = kinds.into_iter().collect();
        timeline.events = events;
        timeline
    }

    /// The service lanes a run is not about, hidden at first: a run's focus is the services its
    /// operations went to and its faults hit, with the services they message; the rest (other
    /// subsystems' background traffic) only crowds the diagram. Nothing is hidden when a run
    /// names no service.
    pub fn quiet_lanes(&self) -> BTreeSet<usize> {
        let mut focus = BTreeSet::new();
        for event in &self.events {
            match event {
                Event::Invoke(op) => focus.extend(node_of(op)),
                Event::Nemesis(fault) => focus.extend(targets(&fault.target)),
                _ => {}
            }
        }
        let index: HashMap<&str, usize> =
            self.lanes.iter().enumerate().map(|(i, l)| (l.name.as_str(), i)).collect();
        let mut shown: BTreeSet<usize> =
            focus.iter().filter_map(|name| index.get(name.as_str()).copied()).collect();
        if shown.is_empty() {
            return BTreeSet::new();
        }
        let peers: Vec<usize> = self
            .arrows
            .iter()
            .filter_map(|a| match (shown.contains(&a.from), shown.contains(&a.to)) {
                (true, false) => Some(a.to),
                (false, true) => Some(a.from),
                _ => None,
            })
            .collect();
        shown.extend(peers);
        (0..self.lanes.len()).filter(|i| !self.lanes[*i].client && !shown.contains(i)).collect()
    }

    /// The index of the last event at or before `time` (0 when none is).
    pub fn event_at(&self, time: u64) -> usize {
        self.events.partition_point(|e| e.time() <= time).saturating_sub(1)
    }

    /// The time of event `index` (the end, past the last).
    pub fn time_of(&self, index: usize) -> u64 {
        self.events.get(index).map_or(self.end, Event::time)
    }
}

/// A drawable window of the timeline: `[from, to]` in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: u64,
    pub to: u64,
}

impl Window {
    /// `span` nanoseconds around `cursor` (a quarter before it), kept inside `[0, end]`.
    pub fn around(cursor: u64, span: u64, end: u64) -> Window {
        let span = span.max(1);
        let from = cursor.saturating_sub(span / 4).min(end.saturating_sub(span));
        Window { from, to: from + span }
    }

    pub fn overlaps(&self, start: u64, stop: u64) -> bool {
        start <= self.to && stop >= self.from
    }

    /// Where `time` falls, from 0 (the window's start) to 1 (its end).
    pub fn share(&self, time: u64) -> f64 {
        (time.saturating_sub(self.from)) as f64 / (self.to - self.from).max(1) as f64
    }
}

/// Arrows to draw: those in `window` whose kind is shown and whose lanes are not hidden,
/// with bursts collapsed — arrows of one kind between the same two lanes whose sends fall in
/// the same `bucket` (nanoseconds) are drawn once, with their count.
pub fn visible_arrows<'a>(
    timeline: &'a Timeline,
    window: Window,
    hidden_kinds: &BTreeSet<String>,
    hidden_lanes: &BTreeSet<usize>,
    bucket: u64,
) -> Vec<(&'a Arrow, usize)> {
    let mut drawn: Vec<(&Arrow, usize)> = Vec::new();
    let mut bursts: HashMap<(usize, usize, &str, u64), usize> = HashMap::new();
    // Arrows are in send order: the ones sent before the window that are still in flight
    // are few, so start a little before it.
    for arrow in &timeline.arrows {
        let end = arrow.received.unwrap_or(arrow.sent);
        if !window.overlaps(arrow.sent, end)
            || hidden_kinds.contains(&arrow.msg)
            || hidden_lanes.contains(&arrow.from)
            || hidden_lanes.contains(&arrow.to)
        {
            continue;
        }
        let key = (arrow.from, arrow.to, arrow.msg.as_str(), arrow.sent / bucket.max(1));
        match bursts.get(&key) {
            Some(&at) => drawn[at].1 += 1,
            None => {
                bursts.insert(key, drawn.len());
                drawn.push((arrow, 1));
            }
        }
    }
    drawn
}

/// What the history says about one service at a moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceState {
    /// `up`, or the last fault that took it down: `killed`, `paused`, `stopped`.
    pub process: String,
    /// Services its links are cut to.
    pub cut: BTreeSet<String>,
    /// Its latest note of each kind (`leader`, `mode`, `role`, `lag`, ...).
    pub notes: BTreeMap<String, Value>,
    /// The highest number a client saw acknowledged by it (a raise's or a read's), if any.
    pub highest: Option<u64>,
    /// The highest Paxos ballot it promised (from the `promise` replies it sent), if any.
    pub promised: Option<Value>,
    /// Persons its latest completed read returned, if one did.
    pub persons: Option<usize>,
    /// Messages it sent and received so far.
    pub sent: usize,
    pub received: usize,
}

/// Every service's state just after event `cursor` (inclusive), from the history alone.
pub fn state_at(timeline: &Timeline, cursor: usize) -> BTreeMap<String, ServiceState> {
    let mut states: BTreeMap<String, ServiceState> = timeline
        .lanes
        .iter()
        .filter(|l| !l.client)
        .map(|l| (l.name.clone(), ServiceState { process: "up".into(), ..Default::default() }))
        .collect();
    let end = (cursor + 1).min(timeline.events.len());
    for event in &timeline.events[..end] {
        match event {
            Event::Send(m) => {
                if let Some(s) = states.get_mut(&m.from) {
                    s.sent += 1;
                    if let Some(ballot) = promised(m) {
                        s.promised = Some(ballot);
                    }
                }
            }
            Event::Recv(m) => {
                if let Some(s) = states.get_mut(&m.to) {
                    s.received += 1;
                }
            }
            Event::Note(note) => {
                if let Some(s) = states.get_mut(&note.service) {
                    s.notes.insert(note.f.clone(), note.value.clone());
                }
            }
            Event::Nemesis(fault) => {
                let names = targets(&fault.target);
                let link = matches!(fault.f, FaultKind::Cut | FaultKind::Heal) && names.len() == 2;
                for (i, name) in names.iter().enumerate() {
                    let Some(s) = states.get_mut(name) else { continue };
                    if link {
                        let other = names[1 - i].clone();
                        if fault.f == FaultKind::Cut {
                            s.cut.insert(other);
                        } else {
                            s.cut.remove(&other);
                        }
                        continue;
                    }
                    s.process = match fault.f {
                        FaultKind::Kill => "killed".into(),
                        FaultKind::Pause => "paused".into(),
                        FaultKind::Stop => "stopped".into(),
                        FaultKind::Resume | FaultKind::Restart => "up".into(),
                        FaultKind::Heal => {
                            s.cut.clear();
                            continue;
                        }
                        _ => continue,
                    };
                }
            }
            Event::Ok(op) => {
                let Some(s) = node_of(op).and_then(|n| states.get_mut(&n)) else { continue };
                if let Some(n) = op.value.as_u64() {
                    s.highest = s.highest.max(Some(n));
                }
                if op.f == "read" {
                    if let Some(persons) = op.value.as_array() {
                        s.persons = Some(persons.len());
                    }
                }
            }
            Event::Invoke(_) | Event::Fail(_) | Event::Info(_) => {}
        }
    }
    states
}

/// The ballot a `promise` reply (or a message whose body promises) carries.
fn promised(message: &Message) -> Option<Value> {
    if !message.msg.starts_with("promise") && !message.msg.starts_with("prepare-reply") {
        return None;
    }
    let body = message.fields.get("body").unwrap_or(&Value::Null);
    body.get("ballot").or_else(|| body.get("promised")).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HISTORY: &str = r#"
{"type":"invoke","process":0,"f":"raise","value":5,"node":"node-1","time":10}
{"type":"send","from":"node-1","to":"node-2","msg":"accept","id":1,"clock":{"node-1":1},"time":20}
{"type":"recv","from":"node-1","to":"node-2","msg":"accept","id":1,"clock":{"node-1":1,"node-2":1},"time":30}
{"type":"note","service":"node-1","f":"leader","value":"node-1","time":35}
{"type":"send","from":"node-2","to":"node-3","msg":"accept","id":2,"clock":{"node-2":2},"time":36}
{"type":"ok","process":0,"f":"raise","value":5,"node":"node-1","time":40}
{"type":"nemesis","f":"cut","target":["node-1","node-3"],"time":50}
{"type":"nemesis","f":"kill","target":"node-2","time":60}
{"type":"invoke","process":1,"f":"read","value":null,"node":"node-3","time":70}
{"type":"recv","from":"node-9","to":"node-3","msg":"gossip","id":99,"clock":{},"time":75}
"#;

    fn timeline() -> Timeline {
        Timeline::new(parse(HISTORY).unwrap())
    }

    #[test]
    fn a_history_lays_out_as_lanes_arrows_bars_marks_and_labels() {
        let t = timeline();
        let names: Vec<&str> = t.lanes.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["node-1", "node-2", "node-3", "node-9", "client 0", "client 1"]);
        assert_eq!(t.arrows.len(), 2);
        assert_eq!((t.arrows[0].from, t.arrows[0].to, t.arrows[0].received), (0, 1, Some(30)));
        assert_eq!(t.arrows[1].received, None, "a send never received stays open");
        assert_eq!(t.unpaired, 1);
        assert_eq!(t.bars.len(), 2);
        assert_eq!(t.bars[0].text, "raise 5 → ok 5");
        assert_eq!((t.bars[0].lane, t.bars[0].complete), (4, Some(40)));
        assert_eq!((t.bars[1].outcome, t.bars[1].complete), (None, None));
        assert_eq!(t.marks[0].lanes, [0, 2]);
        assert_eq!(t.marks[1].text, "kill node-2");
        assert_eq!(t.labels[0].text, "leader: node-1");
        assert_eq!(t.kinds, ["accept"]);
        assert_eq!(t.end, 75);
        // The run is about node-1 and node-3 (operations, the cut) and node-2 (a fault, and
        // their peer); node-9's one message has no send in the history: it is quiet.
        assert_eq!(t.quiet_lanes(), BTreeSet::from([3]));
        let nothing_named = Timeline::new(parse(HISTORY.lines().nth(2).unwrap()).unwrap());
        assert_eq!(nothing_named.quiet_lanes(), BTreeSet::new());
    }

    #[test]
    fn a_line_that_is_not_an_event_is_named() {
        let err = parse("{\"type\":\"note\",\"service\":\"a\",\"f\":\"x\",\"time\":1}\nnope")
            .unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }

    #[test]
    fn the_state_at_an_event_is_what_the_history_says_by_then() {
        let t = timeline();
        let before = state_at(&t, t.event_at(34));
        assert_eq!(before["node-1"].notes.get("leader"), None);
        assert_eq!(before["node-1"].highest, None);
        let after = state_at(&t, t.event_at(65));
        assert_eq!(after["node-1"].notes["leader"], json!("node-1"));
        assert_eq!(after["node-1"].highest, Some(5));
        assert_eq!(after["node-1"].cut, BTreeSet::from(["node-3".to_owned()]));
        assert_eq!(after["node-2"].process, "killed");
        assert_eq!((after["node-2"].received, after["node-2"].sent), (1, 1));
        assert_eq!(after["node-3"].process, "up");
    }

    #[test]
    fn bursts_collapse_and_hidden_kinds_and_lanes_are_left_out() {
        let lines: String = (0..10u64)
            .map(|i| {
                let send = json!({"type":"send","from":"a","to":"b","msg":"gossip","id":i,"clock":{},"time":i * 10});
                format!("{send}\n")
            })
            .collect();
        let t = Timeline::new(parse(&lines).unwrap());
        let all = Window { from: 0, to: 100 };
        let none = BTreeSet::new();
        let drawn = visible_arrows(&t, all, &none, &BTreeSet::new(), 1);
        assert_eq!(drawn.len(), 10);
        let collapsed = visible_arrows(&t, all, &none, &BTreeSet::new(), 50);
        assert_eq!(collapsed.iter().map(|(_, n)| n).sum::<usize>(), 10);
        assert_eq!(collapsed.len(), 2);
        let window = Window { from: 35, to: 55 };
        assert_eq!(visible_arrows(&t, window, &none, &BTreeSet::new(), 1).len(), 2);
        let gossip = BTreeSet::from(["gossip".to_owned()]);
        assert!(visible_arrows(&t, all, &gossip, &BTreeSet::new(), 1).is_empty());
        assert!(visible_arrows(&t, all, &none, &BTreeSet::from([1]), 1).is_empty());
    }

    #[test]
    fn a_window_stays_inside_the_run() {
        assert_eq!(Window::around(0, 100, 1000), Window { from: 0, to: 100 });
        assert_eq!(Window::around(500, 100, 1000), Window { from: 475, to: 575 });
        assert_eq!(Window::around(1000, 100, 1000), Window { from: 900, to: 1000 });
        assert_eq!(Window::around(10, 5000, 1000), Window { from: 0, to: 5000 });
        assert_eq!(Window { from: 0, to: 100 }.share(50), 0.5);
    }
}
