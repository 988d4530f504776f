//! One step: the question, its actions, whether it runs, its error, and its latest evidence.

use shared::workshop::Step;
use yew::prelude::*;

use super::evidence::Evidence;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub step: Step,
    /// The step running now (this one or another): no action can start meanwhile.
    pub running: Option<String>,
    /// Why its latest run failed, if it did.
    pub error: Option<String>,
    /// Run (step, action).
    pub onrun: Callback<(String, String)>,
}

#[function_component(StepView)]
pub fn step_view(props: &Props) -> Html {
    let step = &props.step;
    let this_runs = props.running.as_deref() == Some(step.id.as_str());
    html! {
        <section class="step" data-step={step.id.clone()} aria-busy={this_runs.to_string()}>
            <h2>{ format!("{} — {}", step.label, step.title) }</h2>
            <p class="asks">{ &step.asks }</p>
            <ul class="step-actions">
                { for step.actions.iter().map(|action| {
                    let does = format!("does-{}-{}", step.id, action.id);
                    let onclick = props.onrun.reform({
                        let run = (step.id.clone(), action.id.clone());
                        move |_: MouseEvent| run.clone()
                    });
                    html! {
                        <li>
                            <button class="run" data-action={action.id.clone()} disabled={props.running.is_some()}
                                aria-describedby={does.clone()} {onclick}>{ &action.label }</button>
                            { " " }<span class="does" id={does}>{ &action.does }</span>
                        </li>
                    }
                }) }
            </ul>
            if this_runs { <p class="running" role="status">{ "running…" }</p> }
            if let Some(message) = &props.error { <p class="error" role="alert">{ message }</p> }
            if let Some(result) = &step.result {
                <Evidence step={step.clone()} result={result.clone()} />
            } else if !this_runs {
                <p class="not-run">{ "not run yet" }</p>
            }
        </section>
    }
}
