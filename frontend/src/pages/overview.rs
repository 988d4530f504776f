//! Overview: the lab's topology and every service with its health, buttons that really signal
//! processes and fault links, scenarios with measured verdicts, and the live event timeline.

use shared::control::{LinkFault, ProcessAction};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::api;
use crate::components::link_table::LinkTable;
use crate::components::scenario_panel::ScenarioPanel;
use crate::components::service_table::ServiceTable;
use crate::components::timeline::Timeline;
use crate::components::topology::Topology;
use crate::hooks::use_polled;
use crate::state::services::{ServicesAction, ServicesState};

const REFRESH_MS: u32 = 1_000;

type Dispatch = UseReducerDispatcher<ServicesState>;

fn reload(dispatch: &Dispatch) {
    let dispatch = dispatch.clone();
    spawn_local(async move {
        dispatch.dispatch(match api::services().await {
            Ok(services) => ServicesAction::Loaded(services),
            Err(err) => ServicesAction::Failed(err.to_string()),
        });
    });
}

#[function_component(Overview)]
pub fn overview() -> Html {
    let state = use_reducer_eq(ServicesState::default);

    {
        let dispatch = state.dispatcher();
        use_polled((), REFRESH_MS, move |()| reload(&dispatch));
    }
    {
        let dispatch = state.dispatcher();
        use_effect_with((), move |()| {
            let live = {
                let dispatch = dispatch.clone();
                api::event_stream(move |event| {
                    let kind = event.kind;
                    dispatch.dispatch(ServicesAction::Event(event));
                    // A process event changes the table: show it now, not at the next poll.
                    if matches!(
                        kind,
                        shared::EventKind::Started
                            | shared::EventKind::Down
                            | shared::EventKind::Up
                            | shared::EventKind::Signal
                    ) {
                        reload(&dispatch);
                    }
                })
            };
            if let Err(err) = &live {
                dispatch.dispatch(ServicesAction::Failed(err.to_string()));
            }
            let d = dispatch;
            spawn_local(async move {
                if let Ok(events) = api::recent_events().await {
                    d.dispatch(ServicesAction::History(events));
                }
                if let Ok(scenarios) = api::scenarios().await {
                    d.dispatch(ServicesAction::Scenarios(scenarios));
                }
            });
            move || drop(live)
        });
    }

    let onaction = {
        let dispatch = state.dispatcher();
        Callback::from(move |(name, action): (String, ProcessAction)| {
            let dispatch = dispatch.clone();
            spawn_local(async move {
                let outcome = api::service_action(&name, action)
                    .await
                    .map(|o| o.message)
                    .map_err(|e| e.to_string());
                dispatch.dispatch(ServicesAction::Done(outcome));
                reload(&dispatch);
            });
        })
    };
    let onfault = {
        let dispatch = state.dispatcher();
        Callback::from(move |(from, to, fault): (String, String, LinkFault)| {
            let dispatch = dispatch.clone();
            spawn_local(async move {
                let outcome = api::set_link(&from, &to, fault)
                    .await
                    .map(|o| o.message)
                    .map_err(|e| e.to_string());
                dispatch.dispatch(ServicesAction::Done(outcome));
                reload(&dispatch);
            });
        })
    };
    let onrun = {
        let dispatch = state.dispatcher();
        Callback::from(move |name: String| {
            let dispatch = dispatch.clone();
            dispatch.dispatch(ServicesAction::ScenarioStarted(name.clone()));
            spawn_local(async move {
                match api::run_scenario(&name).await {
                    Ok(verdict) => dispatch.dispatch(ServicesAction::Verdict(verdict)),
                    Err(err) => dispatch.dispatch(ServicesAction::ScenarioFailed(err.to_string())),
                }
            });
        })
    };

    html! {
        <main>
            <h1>{ "Overview" }</h1>
            <p class="summary">{ state.summary() }</p>
            if let Some(error) = &state.error {
                <p class="error">{ format!("Cannot reach the control plane: {error}") }</p>
            }
            { match &state.outcome {
                Some(Ok(done)) => html! { <p id="outcome" class="notice">{ done }</p> },
                Some(Err(why)) => html! { <p id="outcome" class="error">{ why }</p> },
                None => html! {},
            } }
            <div class="columns">
                <Topology services={state.services.clone()} />
                <div>
                    <h2>{ "Links" }</h2>
                    <LinkTable services={state.services.clone()} {onfault} />
                </div>
            </div>
            <ServiceTable services={state.services.clone()} {onaction} />
            <h2>{ "Scenarios" }</h2>
            <ScenarioPanel scenarios={state.scenarios.clone()} verdicts={state.verdicts.clone()} running={state.running.clone()} {onrun} />
            <h2>{ "Timeline" }</h2>
            <Timeline events={state.events.clone()} />
        </main>
    }
}
