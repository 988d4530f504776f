//! What a step's latest run measured: its verdict, the figures, the chart, when it ran, its
//! recorded run, and the requests it made as curl commands to run again.

use shared::workshop::{Step, StepResult};
use yew::prelude::*;

use shared::workshop::{duration, iso, utc};

use crate::state::workshop::{chart_src, reply};

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub step: Step,
    pub result: StepResult,
}

#[function_component(Evidence)]
pub fn evidence(props: &Props) -> Html {
    let (step, result) = (&props.step, &props.result);
    let outcome = if result.passed { "passed" } else { "failed" };
    html! {
        <div class="evidence" data-action={result.action.clone()} data-at={result.at_ms.to_string()}>
            <p class="outcome">
                <span class={classes!("verdict", outcome)}>{ result.word() }</span>{ " " }
                <time class="when" datetime={iso(result.at_ms)}>{ utc(result.at_ms) }</time>
                { format!(", by “{}”, in {}", step.action_label(result), duration(result.took_ms)) }
            </p>
            <p class="answer">{ &result.verdict }</p>
            if !result.measurements.is_empty() {
                <table class="measurements table compact">
                    <caption class="visually-hidden">{ format!("What {} measured", step.label) }</caption>
                    <thead><tr><th scope="col">{ "measured" }</th><th scope="col">{ "value" }</th></tr></thead>
                    <tbody>
                        { for result.measurements.iter().map(|(what, value)| html! {
                            <tr><th scope="row">{ what }</th><td>{ value }</td></tr>
                        }) }
                    </tbody>
                </table>
            }
            if let Some(chart) = &result.chart {
                <img class="chart" src={chart_src(&step.id, result.at_ms)} alt={chart.summary()}
                    width="560" height="260" />
            }
            if let Some(run) = &result.recording {
                <p><a class="recording" href={format!("/debugger/?run={run}")}>
                    { format!("The recorded run of {}, in the run debugger", step.label) }
                </a></p>
            }
            if !result.requests.is_empty() {
                <details class="requests">
                    <summary>{ format!("The requests it made, as curl commands ({})", result.requests.len()) }</summary>
                    { for result.requests.iter().map(|exchange| html! {
                        <>
                            <pre class="curl">{ exchange.curl() }</pre>
                            <p class="reply">{ reply(exchange.status, &exchange.answer) }</p>
                        </>
                    }) }
                </details>
            }
        </div>
    }
}
