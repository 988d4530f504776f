//! The workshop's questions as one-click experiments, each with its measured verdict.

use std::collections::BTreeMap;

use shared::control::{ScenarioInfo, Verdict};
use yew::prelude::*;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub scenarios: Vec<ScenarioInfo>,
    pub verdicts: BTreeMap<String, Verdict>,
    pub running: Option<String>,
    pub onrun: Callback<String>,
}

#[function_component(ScenarioPanel)]
pub fn scenario_panel(props: &Props) -> Html {
    html! {
        <div id="scenarios">
            { for props.scenarios.iter().map(|s| {
                let name = s.name.clone();
                let running = props.running.as_deref() == Some(s.name.as_str());
                let onclick = props.onrun.reform(move |_: MouseEvent| name.clone());
                html! {
                    <div class="scenario" data-scenario={s.name.clone()}>
                        <p><button class="run" disabled={props.running.is_some()} {onclick}>
                            { if running { "Running…" } else { "Run" } }
                        </button>{ " " }{ &s.question }</p>
                        if let Some(v) = props.verdicts.get(&s.name) {
                            <div class={classes!("verdict", if v.passed { "passed" } else { "failed" })}>
                                <p class="verdict-text">{ &v.verdict }</p>
                                <table class="table compact">
                                    { for v.measurements.iter().map(|(what, value)| html! {
                                        <tr><td>{ what }</td><td class="value">{ value }</td></tr>
                                    }) }
                                </table>
                            </div>
                        }
                    </div>
                }
            }) }
        </div>
    }
}
