//! Runs: every recording and test run with its verdict, and the forms that start them — a
//! recording by hand, or a test (workload, nemesis, bugs) as `lab test` runs it.

use shared::bugs::Bug;
use shared::control::{Nemesis, ReadPath, RunInfo, RunState, TestSpec, Workload};
use shared::history::Validity;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::api;
use crate::dom;
use crate::hooks::use_polled;

const REFRESH_MS: u32 = 1_500;

#[function_component(RunsPage)]
pub fn runs_page() -> Html {
    let runs = use_state(Vec::<RunInfo>::new);
    let error = use_state(|| None::<String>);
    let notice = use_state(|| None::<String>);
    {
        let (runs, error) = (runs.clone(), error.clone());
        use_polled((), REFRESH_MS, move |()| {
            let (runs, error) = (runs.clone(), error.clone());
            spawn_local(async move {
                match api::runs().await {
                    Ok(list) => runs.set(list),
                    Err(err) => error.set(Some(err.to_string())),
                }
            });
        });
    }
    // What a started or stopped run says, or why it was refused.
    let report = {
        let (notice, error) = (notice.clone(), error.clone());
        Callback::from(move |outcome: Result<RunInfo, api::ApiError>| match outcome {
            Ok(run) => {
                error.set(None);
                notice.set(Some(format!("{}: {}", run.id, state_word(run.state))));
            }
            Err(err) => error.set(Some(err.to_string())),
        })
    };
    let recording =
        runs.iter().find(|r| r.state == RunState::Recording && r.test.is_none()).cloned();
    let name = use_node_ref();
    let toggle = {
        let (report, name, recording) = (report.clone(), name.clone(), recording.clone());
        Callback::from(move |_: MouseEvent| {
            let report = report.clone();
            let (name, recording) = (dom::text(&name), recording.clone());
            spawn_local(async move {
                report.emit(match recording {
                    Some(run) => api::stop_recording(&run.id).await,
                    None => api::start_recording(name.trim()).await,
                });
            });
        })
    };
    html! {
        <main class="page">
            <h1>{ "Runs" }</h1>
            <p class="summary">
                { "Every recording and test run of this lab, with the checker's verdict and its history (one JSON event per line: what `lab check` reads). They are kept across restarts." }
            </p>
            if let Some(err) = &*error { <p class="error" role="alert">{ err }</p> }
            if let Some(text) = &*notice { <p class="notice" role="status">{ text }</p> }
            <h2>{ "Record by hand" }</h2>
            <div class="form">
                <label for="recording-name">{ "Name" }</label>
                <input id="recording-name" ref={name} type="text" placeholder="my run" maxlength="60" />
                <button id="recording-toggle" onclick={toggle}>
                    { if recording.is_some() { "Stop recording" } else { "Start recording" } }
                </button>
            </div>
            <h2>{ "Run a test" }</h2>
            <TestForm onstarted={report} />
            <h2>{ "Recordings and runs" }</h2>
            <RunTable runs={(*runs).clone()} />
        </main>
    }
}

#[derive(Debug, Properties, PartialEq)]
struct TestFormProps {
    onstarted: Callback<Result<RunInfo, api::ApiError>>,
}

/// The options of `lab test`, as a form.
#[function_component(TestForm)]
fn test_form(props: &TestFormProps) -> Html {
    let workload = use_node_ref();
    let read = use_node_ref();
    let (time, rate, seed) = (use_node_ref(), use_node_ref(), use_node_ref());
    let crdt_only = use_node_ref();
    let nemesis: Vec<NodeRef> = Nemesis::ALL.iter().map(|_| NodeRef::default()).collect();
    let nemesis = use_memo((), move |()| nemesis);
    let bugs = use_memo((), |()| Bug::ALL.iter().map(|_| NodeRef::default()).collect::<Vec<_>>());
    let onsubmit = {
        let onstarted = props.onstarted.clone();
        let (workload, read, time, rate, seed, crdt_only) = (
            workload.clone(),
            read.clone(),
            time.clone(),
            rate.clone(),
            seed.clone(),
            crdt_only.clone(),
        );
        let (nemesis, bugs) = (nemesis.clone(), bugs.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let number = |node: &NodeRef| dom::text(node).trim().parse::<u64>().ok();
            let spec = TestSpec {
                workload: dom::selected(&workload).parse().unwrap_or(Workload::PaxosRegister),
                nemesis: Nemesis::ALL
                    .iter()
                    .zip(nemesis.iter())
                    .filter(|(_, node)| dom::checked(node))
                    .map(|(n, _)| *n)
                    .collect(),
                time_s: number(&time).unwrap_or(0) as u32,
                rate: number(&rate).unwrap_or(0) as u32,
                seed: number(&seed).unwrap_or(0),
                read: dom::selected(&read).parse().unwrap_or_default(),
                bugs: Bug::ALL
                    .iter()
                    .zip(bugs.iter())
                    .filter(|(_, n)| dom::checked(n))
                    .map(|(b, _)| *b)
                    .collect(),
                crdt_only: dom::checked(&crdt_only),
            };
            if let Err(why) = spec.validate() {
                onstarted.emit(Err(api::ApiError(why)));
                return;
            }
            let onstarted = onstarted.clone();
            spawn_local(async move { onstarted.emit(api::start_test(&spec).await) });
        })
    };
    html! {
        <form id="test-form" class="form" {onsubmit}>
            <label for="test-workload">{ "Workload" }</label>
            <select id="test-workload" ref={workload}>
                { for Workload::ALL.iter().map(|w| html! { <option value={w.as_str()}>{ w.as_str() }</option> }) }
            </select>
            <fieldset>
                <legend>{ "Nemesis" }</legend>
                { for Nemesis::ALL.iter().zip(nemesis.iter()).map(|(n, node)| {
                    let id = format!("test-nemesis-{n}");
                    html! { <><input type="checkbox" id={id.clone()} ref={node.clone()} /><label for={id}>{ n.as_str() }</label></> }
                }) }
            </fieldset>
            <label for="test-time">{ "Seconds" }</label>
            <input id="test-time" ref={time} type="number" min="1" max="600" value="10" />
            <label for="test-rate">{ "Operations/s" }</label>
            <input id="test-rate" ref={rate} type="number" min="1" max="2000" value="50" />
            <label for="test-seed">{ "Seed" }</label>
            <input id="test-seed" ref={seed} type="number" min="0" value="1" />
            <label for="test-read">{ "Reads (paxos-register)" }</label>
            <select id="test-read" ref={read}>
                { for ReadPath::ALL.iter().map(|r| html! {
                    <option value={r.as_str()} selected={*r == ReadPath::default()}>{ r.as_str() }</option>
                }) }
            </select>
            <input type="checkbox" id="test-crdt-only" ref={crdt_only} />
            <label for="test-crdt-only">{ "CRDT-only nodes" }</label>
            <fieldset>
                <legend>{ "Deliberate bugs" }</legend>
                { for Bug::ALL.iter().zip(bugs.iter()).map(|(b, node)| {
                    let id = format!("test-bug-{b}");
                    html! { <><input type="checkbox" id={id.clone()} ref={node.clone()} /><label for={id}>{ b.as_str() }</label></> }
                }) }
            </fieldset>
            <button type="submit" id="test-start">{ "Start the test" }</button>
        </form>
    }
}

#[derive(Debug, Properties, PartialEq)]
struct RunTableProps {
    runs: Vec<RunInfo>,
}

#[function_component(RunTable)]
fn run_table(props: &RunTableProps) -> Html {
    if props.runs.is_empty() {
        return html! { <p class="summary">{ "No run yet: start a recording or a test above." }</p> };
    }
    html! {
        <table id="runs" class="table">
            <thead><tr>
                <th scope="col">{ "Run" }</th><th scope="col">{ "State" }</th>
                <th scope="col">{ "Test" }</th><th scope="col">{ "Bugs on" }</th>
                <th scope="col">{ "Recorded" }</th><th scope="col">{ "Verdict" }</th>
                <th scope="col">{ "History" }</th>
            </tr></thead>
            <tbody>
                { for props.runs.iter().map(|run| html! {
                    <tr data-run={run.id.clone()}>
                        <td>{ &run.id }</td>
                        <td>{ state_word(run.state) }{ run.error.as_ref().map(|e| html! { <div class="error">{ e }</div> }) }</td>
                        <td>{ run.test.as_ref().map_or_else(|| "by hand".to_owned(), describe) }</td>
                        <td>{ bugs(run) }</td>
                        <td>{ format!("{:.1} s, {} events", run.duration_ms as f64 / 1000.0, run.events) }
                            { (run.dropped > 0).then(|| format!(" ({} dropped)", run.dropped)) }</td>
                        <td>{ verdict(run) }</td>
                        <td>
                            <a class="open-run" href={format!("/debugger/?run={}", run.id)}>
                                { "debugger" }<span class="visually-hidden">{ format!(" of {}", run.id) }</span>
                            </a>
                            { " · " }
                            <a href={format!("/api/recordings/{}/history.jsonl", run.id)} download="">
                                { "history.jsonl" }<span class="visually-hidden">{ format!(" of {}", run.id) }</span>
                            </a>
                        </td>
                    </tr>
                }) }
            </tbody>
        </table>
    }
}

fn state_word(state: RunState) -> &'static str {
    match state {
        RunState::Recording => "recording",
        RunState::Healing => "healing",
        RunState::Checking => "checking",
        RunState::Done => "done",
        RunState::Failed => "failed",
    }
}

fn describe(test: &TestSpec) -> String {
    let nemesis: Vec<&str> = test.nemesis.iter().map(|n| n.as_str()).collect();
    let nemesis = if nemesis.is_empty() { "no fault".to_owned() } else { nemesis.join("+") };
    format!(
        "{} · {} · {} s at {}/s · seed {}",
        test.workload, nemesis, test.time_s, test.rate, test.seed
    )
}

fn bugs(run: &RunInfo) -> String {
    let mut on: Vec<String> = run.bugs.values().flatten().map(ToString::to_string).collect();
    on.sort();
    on.dedup();
    if on.is_empty() {
        "none".into()
    } else {
        on.join(", ")
    }
}

/// A verdict's badge: its class (the colour) and its word (never colour alone).
pub fn validity_badge(valid: Validity) -> (&'static str, &'static str) {
    match valid {
        Validity::True => ("up", "valid"),
        Validity::False => ("down", "invalid"),
        Validity::Unknown => ("unknown", "unknown"),
    }
}

/// The verdict as a coloured word (never colour alone), with the anomalies' kinds.
fn verdict(run: &RunInfo) -> Html {
    let Some(v) = &run.verdict else { return html! { <span class="summary">{ "—" }</span> } };
    let (class, word) = validity_badge(v.valid);
    let mut kinds: Vec<&str> = v.anomalies.iter().map(|a| a.kind.as_str()).collect();
    kinds.dedup();
    html! {
        <>
            <span class={classes!("badge", class)}>{ word }</span>
            { format!(" {} · {} ops", v.model, v.ops) }
            if !kinds.is_empty() { <div class="detail">{ kinds.join(", ") }</div> }
        </>
    }
}
