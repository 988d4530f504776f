//! Overview: every service of the lab with its health, refreshed every two seconds.

use gloo_timers::callback::Interval;
use yew::prelude::*;

use crate::api;
use crate::components::service_table::ServiceTable;
use crate::state::services::{ServicesAction, ServicesState};

const REFRESH_MS: u32 = 2_000;

#[function_component(Overview)]
pub fn overview() -> Html {
    let state = use_reducer(ServicesState::default);

    {
        let state = state.dispatcher();
        use_effect_with((), move |()| {
            let load = move || {
                let state = state.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    state.dispatch(match api::services().await {
                        Ok(services) => ServicesAction::Loaded(services),
                        Err(err) => ServicesAction::Failed(err.to_string()),
                    });
                });
            };
            load();
            let interval = Interval::new(REFRESH_MS, load);
            move || drop(interval)
        });
    }

    html! {
        <main>
            <h1>{ "Overview" }</h1>
            <p class="summary">{ state.summary() }</p>
            if let Some(error) = &state.error {
                <p class="error">{ format!("Cannot reach the control plane: {error}") }</p>
            }
            <ServiceTable services={state.services.clone()} />
        </main>
    }
}
