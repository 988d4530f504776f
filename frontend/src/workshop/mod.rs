//! The Workshop page (`/workshop/`): one step per question of the workshop, in its order, each
//! with its actions and the evidence its latest run measured; the report to download.
//!
//! Its own wasm bundle (`src/bin/workshop.rs`), like the run debugger: the dashboard's first
//! load carries only a link to it. The results live on the control plane
//! (`<data>/workshop.json`), so the page shows them again after a reload or a lab restart; what
//! the page shows about them is worded in [`crate::state::workshop`].

mod evidence;
mod step;

use gloo_timers::callback::Interval;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::api;
use crate::state::workshop::{self, Action, Notebook};

/// How often the steps are fetched again while one runs (to see it end when another tab, or
/// this page before a reload, started it).
const RUNNING_POLL_MS: u32 = 2_000;

/// The report's formats: (format, link text).
const EXPORTS: [(&str, &str); 3] = [
    ("html", "Report as HTML (one file, charts inline)"),
    ("md", "Report as Markdown"),
    ("tar", "Report as tar (Markdown and its charts)"),
];

/// Fetch the steps and hand them to the page.
fn load(notebook: UseReducerDispatcher<Notebook>) {
    spawn_local(async move {
        match api::workshop().await {
            Ok(loaded) => notebook.dispatch(Action::Loaded(loaded)),
            Err(err) => notebook.dispatch(Action::LoadFailed(err.to_string())),
        }
    });
}

#[function_component(WorkshopPage)]
pub fn workshop_page() -> Html {
    let notebook = use_reducer(Notebook::default);
    let running = notebook.running().map(str::to_owned);
    // The steps are fetched when the page opens, again every so often while a step runs, and
    // once more when it ends (here or elsewhere): the server's word on every step, also after
    // an error (one may come after the step kept its result, e.g. a timeout on the way back).
    {
        let dispatch = notebook.dispatcher();
        use_effect_with(running.is_some(), move |running| {
            load(dispatch.clone());
            let timer =
                running.then(|| Interval::new(RUNNING_POLL_MS, move || load(dispatch.clone())));
            move || drop(timer)
        });
    }
    let onrun = {
        let dispatch = notebook.dispatcher();
        use_callback((), move |(step, action): (String, String), ()| {
            dispatch.dispatch(Action::Started(step.clone()));
            let dispatch = dispatch.clone();
            spawn_local(async move {
                match api::run_workshop_step(&step, &action).await {
                    Ok(result) => dispatch.dispatch(Action::Finished(Box::new(result))),
                    Err(err) => {
                        dispatch.dispatch(Action::Failed { step, message: err.to_string() })
                    }
                }
            });
        })
    };

    let Some(steps) = notebook.workshop.as_ref() else {
        return page(html! {
            <>
                if let Some(err) = &notebook.load_error { <p class="error" role="alert">{ err }</p> }
                else { <p class="summary" role="status">{ "Loading the workshop…" }</p> }
            </>
        });
    };
    page(html! {
        <>
            <header class="workshop-header">
                <p class="progress" role="status">{ workshop::progress(steps) }</p>
                <p class="exports">
                    { "Download the report: " }
                    { for EXPORTS.iter().map(|(format, text)| html! {
                        <a class="export" data-format={*format}
                            href={format!("/api/workshop/report?format={format}")} download="">{ *text }</a>
                    }) }
                </p>
                <p class="summary">
                    { "Each step runs on this lab and keeps what it measured, here and in the report. \
                       Steps can run in any order and again; one runs at a time." }
                </p>
            </header>
            if let Some(err) = &notebook.load_error { <p class="error" role="alert">{ err }</p> }
            { for steps.steps.iter().map(|s| html! {
                <step::StepView key={s.id.clone()} step={s.clone()} running={running.clone()}
                    error={notebook.errors.get(&s.id).cloned()} onrun={onrun.clone()} />
            }) }
        </>
    })
}

fn page(body: Html) -> Html {
    html! {
        <main class="page workshop">
            <nav class="nav" aria-label="Back"><a href="/">{ "← Dashboard" }</a></nav>
            <h1>{ "Workshop" }</h1>
            { body }
        </main>
    }
}
