//! Models: ask the meta-model for a consensus, see every model's answer, weight and balance,
//! watch balances move over time, make a model dishonest, register or withdraw models, and
//! evaluate everyone on the held-out Iris samples.

use std::future::Future;
use std::pin::Pin;

use shared::models::{Behavior, ModelState, RegisterModel, LABELS};
use shared::ServiceKind;
use wasm_bindgen_futures::spawn_local;
use web_sys::HtmlSelectElement;
use yew::prelude::*;

use crate::api;
use crate::components::field::Field;
use crate::components::line_chart::LineChart;
use crate::hooks::use_polled;
use crate::state::models::{ModelsAction, ModelsState};

type Dispatch = UseReducerDispatcher<ModelsState>;

/// Something to do with the meta-model's URL, after which the page reloads.
type MetaJob = Box<dyn FnOnce(Dispatch, String) -> Pin<Box<dyn Future<Output = ()>>>>;

/// Reload the registry of models, the ledger and each model service's own view of itself.
async fn refresh(dispatch: &Dispatch, meta: &str) {
    match api::meta_models(meta).await {
        Ok(models) => dispatch.dispatch(ModelsAction::Models(models)),
        Err(err) => dispatch.dispatch(ModelsAction::Failed(err.to_string())),
    }
    if let Ok(ledger) = api::ledger(meta).await {
        dispatch.dispatch(ModelsAction::Ledger(ledger));
    }
    if let Ok(services) = api::services().await {
        let mut rows = Vec::new();
        for s in services.into_iter().filter(|s| s.kind == ServiceKind::Model) {
            let info = api::model_info(&s.url).await.ok();
            rows.push((s.name, s.url, info));
        }
        dispatch.dispatch(ModelsAction::Services(rows));
    }
}

#[function_component(ModelsPage)]
pub fn models_page() -> Html {
    let state = use_reducer_eq(ModelsState::default);
    let meta = use_state(|| None::<String>);

    {
        let (meta, dispatch) = (meta.clone(), state.dispatcher());
        use_effect_with((), move |()| {
            spawn_local(async move {
                match api::service_url(ServiceKind::MetaModel).await {
                    Ok(url) => meta.set(Some(url)),
                    Err(err) => dispatch.dispatch(ModelsAction::Failed(err.to_string())),
                }
            });
        });
    }
    {
        let dispatch = state.dispatcher();
        use_polled((*meta).clone(), 2_000, move |meta: &Option<String>| {
            if let Some(url) = meta.clone() {
                let dispatch = dispatch.clone();
                spawn_local(async move { refresh(&dispatch, &url).await });
            }
        });
    }
    // The forms' fields, read at submit.
    let measures = [use_node_ref(), use_node_ref(), use_node_ref(), use_node_ref()];
    let (register_name, register_url, register_deposit) =
        (use_node_ref(), use_node_ref(), use_node_ref());

    let with_meta = {
        let (meta, dispatch) = (meta, state.dispatcher());
        move |job: MetaJob| {
            if let Some(url) = (*meta).clone() {
                let dispatch = dispatch.clone();
                spawn_local(async move {
                    job(dispatch.clone(), url.clone()).await;
                    refresh(&dispatch, &url).await;
                });
            }
        }
    };

    let onpredict = {
        let (with_meta, measures) = (with_meta.clone(), measures.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            // A field that is not a number goes as NaN: the meta-model names it in its answer.
            let x = measures
                .each_ref()
                .map(|field| crate::dom::text(field).trim().parse::<f64>().unwrap_or(f64::NAN));
            with_meta(Box::new(move |d, url| {
                Box::pin(async move {
                    match api::meta_predict(&url, x).await {
                        Ok(p) => d.dispatch(ModelsAction::Predicted(p)),
                        Err(err) => d.dispatch(ModelsAction::Failed(err.to_string())),
                    }
                })
            }));
        })
    };
    let onevaluate = {
        let with_meta = with_meta.clone();
        Callback::from(move |_: MouseEvent| {
            with_meta(Box::new(|d, url| {
                Box::pin(async move {
                    match api::evaluate(&url).await {
                        Ok(e) => d.dispatch(ModelsAction::Evaluated(e)),
                        Err(err) => d.dispatch(ModelsAction::Failed(err.to_string())),
                    }
                })
            }));
        })
    };
    let onregister = {
        let with_meta = with_meta.clone();
        let fields = (register_name.clone(), register_url.clone(), register_deposit.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (name, url, deposit) = &fields;
            let new = RegisterModel {
                name: crate::dom::text(name).trim().to_owned(),
                url: crate::dom::text(url).trim().to_owned(),
                deposit: crate::dom::text(deposit).trim().parse().ok(),
            };
            with_meta(Box::new(move |d, meta| {
                Box::pin(async move {
                    match api::register_model(&meta, &new).await {
                        Ok(m) => d.dispatch(ModelsAction::Notice(format!(
                            "{} registered with {}",
                            m.name, m.deposit
                        ))),
                        Err(err) => d.dispatch(ModelsAction::Failed(err.to_string())),
                    }
                })
            }));
        })
    };
    let onwithdraw = {
        let with_meta = with_meta.clone();
        Callback::from(move |id: u64| {
            with_meta(Box::new(move |d, meta| {
                Box::pin(async move {
                    match api::withdraw_model(&meta, id).await {
                        Ok(m) => d.dispatch(ModelsAction::Notice(format!("{} withdrew", m.name))),
                        Err(err) => d.dispatch(ModelsAction::Failed(err.to_string())),
                    }
                })
            }));
        })
    };
    let onbehavior = {
        let with_meta = with_meta.clone();
        Callback::from(move |(service, behavior): (String, Behavior)| {
            with_meta(Box::new(move |d, _| {
                Box::pin(async move {
                    match api::set_behavior(&service, behavior).await {
                        Ok(info) => d.dispatch(ModelsAction::Notice(format!(
                            "{} is now {}",
                            info.model,
                            behavior.as_str()
                        ))),
                        Err(err) => d.dispatch(ModelsAction::Failed(err.to_string())),
                    }
                })
            }));
        })
    };

    let floor = 500.0;

    html! {
        <main>
            <h1>{ "Models" }</h1>
            <p class="summary">{ "The meta-model asks every model at once and decides by a stake-weighted vote over classes. Agreeing earns a share of each prediction's reward; deviating is slashed 1% of the balance; a balance under 500 is ejected." }</p>
            if let Some(error) = &state.error { <p id="models-error" class="error">{ error }</p> }
            if let Some(notice) = &state.notice { <p id="models-notice" class="notice">{ notice }</p> }
            <form id="predict-form" class="form" onsubmit={onpredict}>
                <h2>{ "Measure an iris (cm)" }</h2>
                { "sepal length " }<Field id="sl" label="sepal length (cm)" class="narrow" initial="5.1" node={measures[0].clone()} />
                { "sepal width " }<Field id="sw" label="sepal width (cm)" class="narrow" initial="3.5" node={measures[1].clone()} />
                { "petal length " }<Field id="pl" label="petal length (cm)" class="narrow" initial="1.4" node={measures[2].clone()} />
                { "petal width " }<Field id="pw" label="petal width (cm)" class="narrow" initial="0.2" node={measures[3].clone()} />
                <button id="predict" type="submit">{ "Predict" }</button>
            </form>
            if let Some(p) = &state.prediction {
                <p id="consensus" class="consensus">
                    { format!("Consensus: {} (class {}), backed by {:.0}% of the voting power", p.label, p.prediction, p.support * 100.0) }
                </p>
                <table id="votes" class="table compact">
                    <thead><tr><th>{ "model" }</th><th>{ "answer" }</th><th>{ "probabilities" }</th><th>{ "weight" }</th><th>{ "balance" }</th><th>{ "power" }</th><th><span class="visually-hidden">{ "agreed" }</span></th></tr></thead>
                    <tbody>
                        { for p.votes.iter().map(|v| html! {
                            <tr data-model={v.model.clone()}>
                                <td>{ &v.model }</td>
                                <td class="answer">{ v.prediction.map_or_else(|| v.error.clone().unwrap_or_default(), |c| LABELS[c].to_owned()) }</td>
                                <td>{ v.probabilities.map(|p| format!("{:.2} / {:.2} / {:.2}", p[0], p[1], p[2])).unwrap_or_default() }</td>
                                <td>{ format!("{:.3}", v.weight) }</td>
                                <td>{ format!("{:.1}", v.balance) }</td>
                                <td>{ format!("{:.0}", v.power) }</td>
                                <td>{ if v.agreed { html!{ <span class="badge up">{ "agreed" }</span> } } else { html!{ <span class="badge down">{ "deviated" }</span> } } }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            }
            <div class="columns">
                <div>
                    <h2>{ "Stake" }</h2>
                    <table id="stakes" class="table compact">
                        <thead><tr><th>{ "model" }</th><th>{ "balance" }</th><th>{ "weight" }</th><th>{ "state" }</th><th><span class="visually-hidden">{ "actions" }</span></th></tr></thead>
                        <tbody>
                            { for state.models.iter().map(|m| {
                                let id = m.id;
                                let badge = match m.state { ModelState::Active => "badge up", ModelState::Ejected => "badge down", ModelState::Withdrawn => "badge unknown" };
                                html! {
                                    <tr data-model={m.name.clone()}>
                                        <td>{ &m.name }</td>
                                        <td class="balance">{ format!("{:.1}", m.balance) }</td>
                                        <td>{ format!("{:.3}", m.weight) }</td>
                                        <td><span class={badge}>{ m.state.as_str() }</span></td>
                                        <td>if m.state != ModelState::Withdrawn {
                                            <button class="withdraw" onclick={onwithdraw.reform(move |_: MouseEvent| id)}>{ "Withdraw" }</button>
                                        }</td>
                                    </tr>
                                }
                            }) }
                        </tbody>
                    </table>
                    <form id="register-form" class="form" onsubmit={onregister}>
                        <h3>{ "Register a model" }</h3>
                        <Field id="register-name" label="model name" placeholder="name" node={register_name} />
                        <Field id="register-url" label="model URL" placeholder="http://host:port" node={register_url} />
                        <Field id="register-deposit" label="deposit" class="narrow" initial="1000" node={register_deposit} />
                        <button type="submit">{ "Register" }</button>
                    </form>
                </div>
                <div>
                    <h2>{ "Balances over time" }</h2>
                    <LineChart id="balance-chart" series={state.balance_series()} unit="seconds" reference={Some(floor)} />
                </div>
            </div>
            <h2>{ "Model services" }</h2>
            <table id="model-services" class="table compact">
                <thead><tr><th>{ "service" }</th><th>{ "algorithm" }</th><th>{ "held-out accuracy" }</th><th>{ "behaviour" }</th></tr></thead>
                <tbody>
                    { for state.services.iter().map(|(name, _, info)| {
                        let service = name.clone();
                        let onchange = onbehavior.reform(move |e: Event| {
                            let value = e.target_unchecked_into::<HtmlSelectElement>().value();
                            (service.clone(), value.parse().unwrap_or_default())
                        });
                        let current = info.as_ref().map(|i| i.behavior).unwrap_or_default();
                        html! {
                            <tr data-service={name.clone()}>
                                <td>{ name }</td>
                                <td>{ info.as_ref().map(|i| i.algorithm.clone()).unwrap_or_else(|| "unreachable".into()) }</td>
                                <td>{ info.as_ref().map(|i| format!("{:.3}", i.accuracy)).unwrap_or_default() }</td>
                                <td>
                                    <select class="behavior" aria-label={format!("behaviour of {name}")} {onchange}>
                                        { for Behavior::ALL.iter().map(|b| html! {
                                            <option value={b.as_str()} selected={*b == current}>{ b.as_str() }</option>
                                        }) }
                                    </select>
                                </td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
            <h2>{ "Evaluation on the held-out samples" }</h2>
            <p><button id="evaluate" onclick={onevaluate}>{ "Evaluate" }</button></p>
            if let Some(e) = &state.evaluation {
                <table id="evaluation" class="table compact">
                    { for e.models.iter().map(|(m, acc)| html! { <tr><td>{ m }</td><td>{ format!("{:.3}", acc) }</td></tr> }) }
                    <tr class="consensus-row"><td>{ "consensus" }</td><td>{ format!("{:.3}", e.consensus) }</td></tr>
                </table>
                <p class="summary">{ format!("{} samples; answers were settled against the truth.", e.samples) }</p>
            }
        </main>
    }
}
