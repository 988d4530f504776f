//! The run debugger (`/debugger/?run=<id>`, `&event=<index>` to open at an event): one
//! recorded history as a space-time diagram, a linearization chart and a state panel, all
//! moved by one time cursor — a slider, step buttons and replay at 1× to 50×; a run still
//! recording is followed live.
//!
//! Its own wasm bundle (`src/bin/debugger.rs`): the dashboard's first load does not carry it.
//! Everything drawn is computed from the history ([`crate::state::history`]) and the run's
//! verdict.

mod chart;
mod export;
mod panel;
mod spacetime;

use std::collections::BTreeSet;
use std::rc::Rc;

use gloo_timers::callback::Interval;
use shared::control::{RunInfo, RunState, Workload};
use shared::history::Event as HistoryEvent;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::api;
use crate::state::history::{self, Timeline, Window};

/// The diagram's time spans to choose from (nanoseconds; 0: the whole run).
const SPANS: [(u64, &str); 5] = [
    (100_000_000, "100 ms"),
    (1_000_000_000, "1 s"),
    (5_000_000_000, "5 s"),
    (20_000_000_000, "20 s"),
    (0, "whole run"),
];
/// Replay speeds: run time per wall-clock time.
const SPEEDS: [u64; 4] = [1, 5, 10, 50];
/// The replay's step, in milliseconds of wall-clock time.
const TICK_MS: u32 = 50;
/// How often a run that is still recording is fetched again.
const LIVE_MS: u32 = 2_000;

/// A timeline shared between views; equal when it is the same one (not compared deeply).
#[derive(Debug, Clone)]
pub struct Shared(pub Rc<Timeline>);

impl PartialEq for Shared {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// What every view draws besides the timeline and the cursor: the drawings are redrawn only
/// when this changes (the cursor is a layer of its own, so scrubbing a fixed window moves one
/// line).
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub window: Window,
    pub hidden_kinds: Rc<BTreeSet<String>>,
    pub hidden_lanes: Rc<BTreeSet<usize>>,
    /// The invokes (event indices) of the operations the checker names in its anomalies.
    pub flagged: Rc<BTreeSet<usize>>,
    /// The checker's linearization points: (invoke's event index, time).
    pub points: Rc<Vec<(usize, u64)>>,
}

/// What both drawings (the diagram and the chart) take: they are redrawn only when it changes.
#[derive(Debug, Properties, PartialEq)]
pub struct DrawingProps {
    pub timeline: Shared,
    pub view: View,
    pub onselect: Callback<usize>,
}

/// What a drawing with its cursor layer takes.
#[derive(Debug, Properties, PartialEq)]
pub struct LayeredProps {
    pub timeline: Shared,
    pub view: View,
    /// The cursor's time.
    pub time: u64,
    pub onselect: Callback<usize>,
}

/// A click that selects `event`.
pub fn select(onselect: &Callback<usize>, event: usize) -> Callback<MouseEvent> {
    let onselect = onselect.clone();
    Callback::from(move |_: MouseEvent| onselect.emit(event))
}

/// The cursor over a timeline.
#[derive(Clone, PartialEq, Default)]
struct Cursor {
    timeline: Option<Shared>,
    /// The event the cursor is on.
    index: usize,
    /// Its time (between events while replaying).
    time: u64,
    /// The lanes a run is not about, hidden when its timeline first loads.
    hidden_lanes: Rc<BTreeSet<usize>>,
}

enum Move {
    /// A (new) timeline; `follow`: put the cursor at its end.
    Load(Rc<Timeline>, bool),
    Seek(usize),
    Step(isize),
    /// Replay: move on by this many nanoseconds (stopping at the end).
    Advance(u64),
}

impl Reducible for Cursor {
    type Action = Move;

    fn reduce(self: Rc<Self>, action: Move) -> Rc<Self> {
        let last = |t: &Timeline| t.events.len().saturating_sub(1);
        let mut next = (*self).clone();
        match action {
            Move::Load(timeline, follow) => {
                let first = next.timeline.is_none();
                if first {
                    next.hidden_lanes = Rc::new(timeline.quiet_lanes());
                }
                // Following a live run keeps the cursor at the end, unless someone moved it
                // back to look at something.
                let at_end =
                    next.timeline.as_ref().is_none_or(|Shared(old)| next.index >= last(old));
                if follow && at_end {
                    next.index = last(&timeline);
                    next.time = timeline.time_of(next.index);
                } else if first {
                    next.index = 0;
                    next.time = timeline.time_of(0);
                }
                next.index = next.index.min(last(&timeline));
                next.timeline = Some(Shared(timeline));
            }
            Move::Seek(index) => {
                let Some(Shared(t)) = &next.timeline else { return self };
                next.index = index.min(last(t));
                next.time = t.time_of(next.index);
            }
            Move::Step(by) => {
                let Some(Shared(t)) = &next.timeline else { return self };
                next.index = next.index.saturating_add_signed(by).min(last(t));
                next.time = t.time_of(next.index);
            }
            Move::Advance(by) => {
                let Some(Shared(t)) = &next.timeline else { return self };
                next.time = (next.time + by).min(t.end);
                next.index = t.event_at(next.time);
            }
        }
        Rc::new(next)
    }
}

/// Parameter `name` of the page's address (`?run=<id>&event=<index>`).
fn param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

/// Milliseconds, for people.
pub fn ms(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// Fetch the run and its history; `follow` puts the cursor at the end.
fn load(
    id: String,
    run: UseStateHandle<Option<RunInfo>>,
    cursor: UseReducerHandle<Cursor>,
    error: UseStateHandle<Option<String>>,
    follow: bool,
) {
    spawn_local(async move {
        let loaded = async {
            let info = api::run(&id).await?;
            let text = api::history(&id).await?;
            let events = history::parse(&text).map_err(api::ApiError)?;
            Ok::<_, api::ApiError>((info, Timeline::new(events)))
        };
        match loaded.await {
            Ok((info, timeline)) => {
                run.set(Some(info));
                let first = cursor.timeline.is_none();
                cursor.dispatch(Move::Load(Rc::new(timeline), follow));
                // A link to a moment of the run: `&event=<index>`.
                if let Some(event) = param("event").and_then(|e| e.parse().ok()).filter(|_| first) {
                    cursor.dispatch(Move::Seek(event));
                }
                error.set(None);
            }
            Err(err) => error.set(Some(err.to_string())),
        }
    });
}

#[function_component(Debugger)]
pub fn debugger() -> Html {
    let id = use_memo((), |()| param("run"));
    let run = use_state(|| None::<RunInfo>);
    let cursor = use_reducer(Cursor::default);
    let error = use_state(|| None::<String>);
    let span = use_state(|| 1_000_000_000u64);
    let speed = use_state(|| None::<u64>);
    let hidden_kinds = use_state(|| Rc::new(BTreeSet::<String>::new()));
    // `None` until someone picks lanes: the run's quiet lanes are hidden at first.
    let hidden_lanes = use_state(|| None::<Rc<BTreeSet<usize>>>);
    let selected = use_state(|| None::<usize>);
    let live = run.as_ref().is_some_and(|r| r.state == RunState::Recording);
    // The same callback from render to render, so the drawings' props stay equal.
    let onselect = {
        let (selected, dispatch) = (selected.setter(), cursor.dispatcher());
        use_callback((), move |event: usize, ()| {
            selected.set(Some(event));
            dispatch.dispatch(Move::Seek(event));
        })
    };
    {
        let (run, cursor, error) = (run.clone(), cursor.clone(), error.clone());
        use_effect_with(((*id).clone(), live), move |(id, live)| {
            let timer = id.clone().map(|id| {
                load(id.clone(), run.clone(), cursor.clone(), error.clone(), *live);
                let live = *live;
                Interval::new(LIVE_MS, move || {
                    if live {
                        load(id.clone(), run.clone(), cursor.clone(), error.clone(), true);
                    }
                })
            });
            move || drop(timer)
        });
    }
    {
        let cursor = cursor.clone();
        use_effect_with(*speed, move |speed| {
            let timer = speed.map(|speed| {
                Interval::new(TICK_MS, move || {
                    cursor.dispatch(Move::Advance(speed * u64::from(TICK_MS) * 1_000_000))
                })
            });
            move || drop(timer)
        });
    }

    let Some(id) = (*id).clone() else {
        return page(
            html! { <p class="error" role="alert">{ "No run named: open a run from the Runs page (/debugger/?run=<id>)." }</p> },
        );
    };
    let (Some(Shared(timeline)), Some(info)) = (cursor.timeline.clone(), (*run).clone()) else {
        return page(html! {
            <>
                if let Some(err) = &*error { <p class="error" role="alert">{ err }</p> }
                else { <p class="summary" role="status">{ format!("Loading run {id}…") }</p> }
            </>
        });
    };

    let verdict = info.verdict.clone();
    let flagged: BTreeSet<usize> = verdict
        .iter()
        .flat_map(|v| v.anomalies.iter().flat_map(|a| a.ops.iter().map(|op| op.index)))
        .collect();
    let points: Vec<(usize, u64)> = verdict
        .as_ref()
        .and_then(|v| v.detail.get("linearization")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| Some((p.get("index")?.as_u64()? as usize, p.get("at")?.as_u64()?)))
        .collect();
    let lanes_hidden = (*hidden_lanes).clone().unwrap_or_else(|| cursor.hidden_lanes.clone());
    let whole = if *span == 0 { timeline.end.max(1) } else { *span };
    let view = View {
        window: Window::around(cursor.time, whole, timeline.end),
        hidden_kinds: (*hidden_kinds).clone(),
        hidden_lanes: lanes_hidden.clone(),
        flagged: Rc::new(flagged),
        points: Rc::new(points),
    };
    let shared = Shared(Rc::clone(&timeline));
    let onselect_row = onselect.clone();
    let is_register = verdict.as_ref().is_some_and(|v| v.model == "max-register")
        || info.test.as_ref().is_some_and(|t| t.workload == Workload::PaxosRegister);

    page(html! {
        <>
            <p class="summary">
                { format!("{} · {} events over {} · ", info.name, timeline.events.len(), ms(timeline.end)) }
                { verdict_badge(&info) }
                if live { <span class="badge unknown">{ " recording: following live" }</span> }
            </p>
            if let Some(err) = &*error { <p class="error" role="alert">{ err }</p> }
            <Scrubber timeline={shared.clone()} index={cursor.index} time={cursor.time}
                playing={*speed} onmove={cursor.dispatcher()} onplay={Callback::from(move |s| speed.set(s))}
                span={*span} onspan={Callback::from(move |s| span.set(s))} />
            <export::Export {id} {verdict} />
            <h2>{ "State at the cursor" }</h2>
            <panel::StatePanel timeline={shared.clone()} index={cursor.index} />
            <h2>{ "Space-time diagram" }</h2>
            <Filters timeline={shared.clone()} hidden_kinds={(*hidden_kinds).clone()} hidden_lanes={lanes_hidden}
                onkinds={Callback::from(move |k| hidden_kinds.set(k))}
                onlanes={Callback::from(move |l| hidden_lanes.set(Some(l)))} />
            <spacetime::SpaceTime timeline={shared.clone()} view={view.clone()} time={cursor.time} onselect={onselect.clone()} />
            if is_register {
                <h2>{ "Linearization chart (max-register)" }</h2>
                <chart::Linearization timeline={shared.clone()} view={view.clone()} time={cursor.time} onselect={onselect} />
            }
            <h2>{ "Selected" }</h2>
            <pre id="selected" class="detail">{ selected.and_then(|i| timeline.events.get(i)).map_or_else(
                || "Click an arrow, a bar or a mark (or step to an event) to see its fields.".to_owned(),
                |e| serde_json::to_string_pretty(e).unwrap_or_default()) }</pre>
            <EventTable timeline={shared} window={view.window} index={cursor.index} onselect={onselect_row} />
        </>
    })
}

fn page(body: Html) -> Html {
    html! {
        <main class="page debugger">
            <nav class="nav" aria-label="Back"><a href="/runs">{ "← Runs" }</a></nav>
            <h1>{ "Run debugger" }</h1>
            { body }
        </main>
    }
}

fn verdict_badge(run: &RunInfo) -> Html {
    let Some(v) = &run.verdict else {
        return html! { <span class="badge unknown">{ "not checked" }</span> };
    };
    let (class, word) = crate::pages::runs::validity_badge(v.valid);
    let kinds: BTreeSet<&str> = v.anomalies.iter().map(|a| a.kind.as_str()).collect();
    html! {
        <span id="verdict">
            <span class={classes!("badge", class)}>{ format!("{}: {word}", v.model) }</span>
            if !kinds.is_empty() { { format!(" ({})", kinds.into_iter().collect::<Vec<_>>().join(", ")) } }
        </span>
    }
}

#[derive(Properties, PartialEq)]
struct ScrubberProps {
    timeline: Shared,
    index: usize,
    time: u64,
    playing: Option<u64>,
    onmove: UseReducerDispatcher<Cursor>,
    onplay: Callback<Option<u64>>,
    span: u64,
    onspan: Callback<u64>,
}

/// The slider, step and play buttons, speed and span.
#[function_component(Scrubber)]
fn scrubber(props: &ScrubberProps) -> Html {
    let t = &props.timeline.0;
    let last = t.events.len().saturating_sub(1);
    let seek = {
        let onmove = props.onmove.clone();
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            onmove.dispatch(Move::Seek(input.value().parse().unwrap_or(0)));
        })
    };
    let step = |by: isize| {
        let onmove = props.onmove.clone();
        Callback::from(move |_: MouseEvent| onmove.dispatch(Move::Step(by)))
    };
    let toggle = {
        let (onplay, playing) = (props.onplay.clone(), props.playing);
        Callback::from(move |_: MouseEvent| {
            onplay.emit(if playing.is_some() { None } else { Some(1) })
        })
    };
    let speed = {
        let onplay = props.onplay.clone();
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            onplay.emit(select.value().parse().ok());
        })
    };
    let span = {
        let onspan = props.onspan.clone();
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            onspan.emit(select.value().parse().unwrap_or(0));
        })
    };
    let at = t.events.get(props.index).map(describe).unwrap_or_default();
    html! {
        <div class="scrubber form" role="group" aria-label="Time cursor">
            <label for="cursor">{ "Cursor" }</label>
            <input id="cursor" type="range" min="0" max={last.to_string()} value={props.index.to_string()}
                oninput={seek} aria-valuetext={format!("event {} at {}", props.index, ms(props.time))} />
            <button id="previous" onclick={step(-1)} aria-label="Previous event">{ "◀" }</button>
            <button id="next" onclick={step(1)} aria-label="Next event">{ "▶" }</button>
            <button id="play" onclick={toggle}>{ if props.playing.is_some() { "Pause" } else { "Play" } }</button>
            <label for="speed">{ "Speed" }</label>
            <select id="speed" onchange={speed}>
                { for SPEEDS.iter().map(|s| html! {
                    <option value={s.to_string()} selected={props.playing == Some(*s)}>{ format!("{s}×") }</option>
                }) }
            </select>
            <label for="span">{ "Window" }</label>
            <select id="span" onchange={span}>
                { for SPANS.iter().map(|(ns, name)| html! {
                    <option value={ns.to_string()} selected={props.span == *ns}>{ *name }</option>
                }) }
            </select>
            <p id="cursor-at" class="detail" aria-live="polite">
                { format!("t = {} · event {} of {}: {at}", ms(props.time), props.index, t.events.len()) }
            </p>
        </div>
    }
}

/// One event in words.
pub fn describe(event: &HistoryEvent) -> String {
    match event {
        HistoryEvent::Invoke(op) => {
            format!("client {} invokes {} {}", op.process, op.f, history::brief(&op.value))
                .replace(" none", "")
        }
        HistoryEvent::Ok(op) => {
            format!("client {} ok {} {}", op.process, op.f, history::brief(&op.value))
        }
        HistoryEvent::Fail(op) => format!("client {} fail {}", op.process, op.f),
        HistoryEvent::Info(op) => {
            format!("client {} info {} (may have happened)", op.process, op.f)
        }
        HistoryEvent::Send(m) => format!("{} sends {} to {}", m.from, m.msg, m.to),
        HistoryEvent::Recv(m) => format!("{} receives {} from {}", m.to, m.msg, m.from),
        HistoryEvent::Nemesis(f) => format!("nemesis: {} {}", f.f, history::brief(&f.target)),
        HistoryEvent::Note(n) => {
            format!("{} notes {}: {}", n.service, n.f, history::brief(&n.value))
        }
    }
}

#[derive(Properties, PartialEq)]
struct FilterProps {
    timeline: Shared,
    hidden_kinds: Rc<BTreeSet<String>>,
    hidden_lanes: Rc<BTreeSet<usize>>,
    onkinds: Callback<Rc<BTreeSet<String>>>,
    onlanes: Callback<Rc<BTreeSet<usize>>>,
}

/// Which message kinds and lanes the diagram shows.
#[function_component(Filters)]
fn filters(props: &FilterProps) -> Html {
    let t = &props.timeline.0;
    let kind = |kind: &String| {
        let (hidden, on) = (props.hidden_kinds.clone(), props.onkinds.clone());
        let kind = kind.clone();
        Callback::from(move |_: Event| {
            let mut next = (*hidden).clone();
            if !next.remove(&kind) {
                next.insert(kind.clone());
            }
            on.emit(Rc::new(next));
        })
    };
    let lane = |lane: usize| {
        let (hidden, on) = (props.hidden_lanes.clone(), props.onlanes.clone());
        Callback::from(move |_: Event| {
            let mut next = (*hidden).clone();
            if !next.remove(&lane) {
                next.insert(lane);
            }
            on.emit(Rc::new(next));
        })
    };
    html! {
        <details class="filters">
            <summary>{ "Filter: message kinds and lanes" }</summary>
            <fieldset>
                <legend>{ "Message kinds shown" }</legend>
                { for t.kinds.iter().map(|k| html! {
                    <label class="check"><input type="checkbox" class="kind-filter" value={k.clone()}
                        checked={!props.hidden_kinds.contains(k)} onchange={kind(k)} />{ k.clone() }</label>
                }) }
            </fieldset>
            <fieldset>
                <legend>{ "Lanes shown" }</legend>
                { for t.lanes.iter().enumerate().map(|(i, l)| html! {
                    <label class="check"><input type="checkbox" class="lane-filter" value={l.name.clone()}
                        checked={!props.hidden_lanes.contains(&i)} onchange={lane(i)} />{ l.name.clone() }</label>
                }) }
            </fieldset>
        </details>
    }
}

#[derive(Properties, PartialEq)]
struct TableProps {
    timeline: Shared,
    window: Window,
    index: usize,
    onselect: Callback<usize>,
}

/// The events behind the diagram, as a table (the window's, at most [`TABLE_ROWS`]); each
/// row's button selects its event (what clicking the diagram does, from the keyboard).
#[function_component(EventTable)]
fn event_table(props: &TableProps) -> Html {
    let t = &props.timeline.0;
    let from = t.events.partition_point(|e| e.time() < props.window.from);
    let rows: Vec<(usize, &HistoryEvent)> = t
        .events
        .iter()
        .enumerate()
        .skip(from)
        .take_while(|(_, e)| e.time() <= props.window.to)
        .take(TABLE_ROWS)
        .collect();
    html! {
        <details class="table-behind">
            <summary>{ format!("The events in the window, as a table (first {} of them)", rows.len()) }</summary>
            <table class="table">
                <caption>{ format!("Events from {} to {}", ms(props.window.from), ms(props.window.to)) }</caption>
                <thead><tr><th scope="col">{ "#" }</th><th scope="col">{ "time" }</th><th scope="col">{ "event" }</th></tr></thead>
                <tbody>
                    { for rows.into_iter().map(|(i, e)| {
                        html! {
                            <tr class={classes!((i == props.index).then_some("current"))}>
                                <td><button class="select-event" onclick={select(&props.onselect, i)}
                                    aria-label={format!("select event {i}")}>{ i }</button></td>
                                <td>{ ms(e.time()) }</td><td>{ describe(e) }</td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
        </details>
    }
}

/// Rows the event table shows at most.
const TABLE_ROWS: usize = 300;

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(times: &[u64]) -> Rc<Timeline> {
        let lines: String = times
            .iter()
            .map(|t| format!("{{\"type\":\"note\",\"service\":\"a\",\"f\":\"x\",\"time\":{t}}}\n"))
            .collect();
        Rc::new(Timeline::new(history::parse(&lines).unwrap()))
    }

    fn moved(cursor: &Rc<Cursor>, action: Move) -> Rc<Cursor> {
        Rc::clone(cursor).reduce(action)
    }

    #[test]
    fn the_cursor_seeks_steps_and_replays_within_the_run() {
        let start = Rc::new(Cursor::default());
        let c = moved(&start, Move::Load(timeline(&[0, 10, 20, 30]), false));
        assert_eq!((c.index, c.time), (0, 0));
        let c = moved(&c, Move::Step(2));
        assert_eq!((c.index, c.time), (2, 20));
        let c = moved(&c, Move::Step(-5));
        assert_eq!(c.index, 0);
        let c = moved(&c, Move::Seek(99));
        assert_eq!((c.index, c.time), (3, 30));
        let c = moved(&moved(&c, Move::Seek(0)), Move::Advance(15));
        assert_eq!((c.index, c.time), (1, 15), "between events, on the last one passed");
        let c = moved(&c, Move::Advance(1000));
        assert_eq!((c.index, c.time), (3, 30), "replay stops at the end");
    }

    #[test]
    fn a_live_run_is_followed_unless_the_cursor_was_moved_back() {
        let start = Rc::new(Cursor::default());
        let c = moved(&start, Move::Load(timeline(&[0, 10]), true));
        assert_eq!(c.index, 1, "a live run opens at its end");
        let c = moved(&c, Move::Load(timeline(&[0, 10, 20]), true));
        assert_eq!((c.index, c.time), (2, 20), "and follows it");
        let c = moved(&moved(&c, Move::Seek(0)), Move::Load(timeline(&[0, 10, 20, 30]), true));
        assert_eq!(c.index, 0, "someone looking back is left where they are");
    }
}
