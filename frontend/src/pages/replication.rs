//! Replication: synchronous mirroring (3010) and asynchronous replication (3020) side by side —
//! primary vs mirror, lag over time, Sync, kill/restart either store, failover with the data lost
//! (RPO) and the time to recover (RTO).

use shared::control::ProcessAction;
use shared::replication::ReplicationStatus;
use shared::shop::{Money, NewProduct};
use shared::ServiceKind;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::api;
use crate::components::field::Field;
use crate::components::line_chart::LineChart;
use crate::hooks::use_polled;
use crate::state::replication::{stores_by_role, ReplicationAction, ReplicationState, Side, Which};

type Dispatch = UseReducerDispatcher<ReplicationState>;

/// The two fronts' URLs, and every store process's name and URL, from the control plane.
#[derive(Debug, Clone, Default, PartialEq)]
struct Fronts {
    sync: Option<String>,
    r#async: Option<String>,
    stores: Vec<(String, String)>,
}

impl Fronts {
    fn of(&self, which: Which) -> Option<String> {
        match which {
            Which::Sync => self.sync.clone(),
            Which::Async => self.r#async.clone(),
        }
    }
}

/// The side's title, and its store processes: the one started as the primary, then the mirror.
fn names(which: Which) -> (&'static str, &'static str, &'static str) {
    match which {
        Which::Sync => ("Synchronous mirroring", "store-sync-primary", "store-sync-mirror"),
        Which::Async => ("Asynchronous replication", "store-async-primary", "store-async-mirror"),
    }
}

async fn sample(dispatch: &Dispatch, which: Which, front: &str, at: f64) {
    if let Ok(status) = api::replication_status(front).await {
        dispatch.dispatch(ReplicationAction::Status(which, status, at));
    }
    if let Ok(diff) = api::replication_diff(front).await {
        dispatch.dispatch(ReplicationAction::Diff(which, diff));
    }
}

/// Seconds on the page's clock.
fn now_s() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now()) / 1000.0
}

#[derive(Debug, Properties, PartialEq)]
struct SideProps {
    which: Which,
    side: Side,
    front: Option<String>,
    /// Every store process's name and URL (to tell which one is the primary now).
    stores: Vec<(String, String)>,
    dispatch: Dispatch,
}

fn row(label: &str, value: String) -> Html {
    html! { <tr><td>{ label.to_owned() }</td><td class="value">{ value }</td></tr> }
}

fn status_rows(s: &ReplicationStatus) -> Html {
    // In a conflict neither store is the primary: the front reads from the first one.
    let (first, second) = if s.conflict.is_some() {
        ("store read from", "other store")
    } else {
        ("primary", "mirror")
    };
    html! {
        <>
            { row("state", s.state.as_str().to_owned()) }
            { row(first, format!("{} — seq {}{}", s.primary, s.primary_seq, if s.primary_up { "" } else { " (down)" })) }
            { row(second, format!("{} — seq {}{}", s.mirror.clone().unwrap_or_else(|| "none".into()), s.mirror_seq, if s.mirror_up { "" } else { " (down)" })) }
            <tr class="lag"><td>{ "lag" }</td><td class="value lag-entries">{ format!("{} entries, {} ms", s.lag_entries, s.lag_ms) }</td></tr>
            { row("acknowledged up to", format!("seq {}", s.acked_seq)) }
        </>
    }
}

#[function_component(SidePanel)]
fn side_panel(props: &SideProps) -> Html {
    // The write form's fields, read at submit.
    let (name_field, price_field) = (use_node_ref(), use_node_ref());
    let (title, started_primary, started_mirror) = names(props.which);
    let url_of =
        |name: &str| props.stores.iter().find(|(n, _)| n == name).map(|(_, url)| url.as_str());
    // The buttons act on the store that is the primary now, whichever it was started as.
    let (primary, mirror) = stores_by_role(
        props.side.status.as_ref(),
        [(started_primary, url_of(started_primary)), (started_mirror, url_of(started_mirror))],
    );
    let which = props.which;
    let act = |job: std::rc::Rc<dyn Fn(String, Dispatch)>| {
        let (front, dispatch) = (props.front.clone(), props.dispatch.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(front) = front.clone() {
                job(front, dispatch.clone());
            }
        })
    };
    let process = |service: &'static str, action: ProcessAction| {
        act(std::rc::Rc::new(move |_, dispatch: Dispatch| {
            spawn_local(async move {
                let outcome = api::service_action(service, action)
                    .await
                    .map(|o| o.message)
                    .map_err(|e| e.to_string());
                dispatch.dispatch(ReplicationAction::Message(which, outcome));
            });
        }))
    };
    let onsync = act(std::rc::Rc::new(move |front, dispatch: Dispatch| {
        spawn_local(async move {
            let outcome = api::sync_now(&front)
                .await
                .map(|s| format!("synced: mirror at seq {}, lag {}", s.mirror_seq, s.lag_entries))
                .map_err(|e| e.to_string());
            dispatch.dispatch(ReplicationAction::Message(which, outcome));
        });
    }));
    let onfailover = act(std::rc::Rc::new(move |front, dispatch: Dispatch| {
        spawn_local(async move {
            match api::failover(&front, false).await {
                Ok(report) => dispatch.dispatch(ReplicationAction::Failover(which, report)),
                Err(err) => {
                    dispatch.dispatch(ReplicationAction::Message(which, Err(err.to_string())))
                }
            }
        });
    }));
    let onrebuild = act(std::rc::Rc::new(move |front, dispatch: Dispatch| {
        spawn_local(async move {
            let outcome = api::rebuild(&front)
                .await
                .map(|_| "old primary rebuilt as the mirror".to_owned())
                .map_err(|e| e.to_string());
            dispatch.dispatch(ReplicationAction::Message(which, outcome));
        });
    }));
    let id =
        |suffix: &str| format!("{}-{suffix}", if which == Which::Sync { "sync" } else { "async" });
    let onwrite = {
        let (front, dispatch) = (props.front.clone(), props.dispatch.clone());
        let (name_field, price_field) = (name_field.clone(), price_field.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (Some(front), dispatch) = (front.clone(), dispatch.clone()) else { return };
            let price = match Money::parse_decimal(crate::dom::text(&price_field).trim()) {
                Ok(price) => price,
                Err(why) => {
                    return dispatch
                        .dispatch(ReplicationAction::Message(which, Err(format!("price: {why}"))))
                }
            };
            let product = NewProduct {
                name: crate::dom::text(&name_field).trim().to_owned(),
                description: String::new(),
                price,
                category: "general".into(),
                in_stock: true,
            };
            spawn_local(async move {
                let outcome = api::add_product_via(&front, &product)
                    .await
                    .map(|p| format!("written: product {}", p.id))
                    .map_err(|e| e.to_string());
                dispatch.dispatch(ReplicationAction::Message(which, outcome));
            });
        })
    };
    let side = &props.side;
    html! {
        <section id={id("side")} class="replica">
            <h2>{ title }{ props.front.as_deref().and_then(|u| u.rsplit_once(':')).map(|(_, port)| format!(" ({port})")).unwrap_or_default() }</h2>
            <form id={id("write")} class="form" onsubmit={onwrite}>
                <Field id={id("name")} label="product name" initial="Tablet" node={name_field} />
                <Field id={id("price")} label="price" class="narrow" initial="9.99" node={price_field} />
                <button type="submit">{ "Write" }</button>
            </form>
            if let Some(conflict) = side.status.as_ref().and_then(|s| s.conflict.as_ref()) {
                <p id={id("conflict")} class="error">{ format!("Writes refused: {conflict}") }</p>
            }
            <table id={id("status")} class="table compact">
                if let Some(s) = &side.status { { status_rows(s) } }
                if let Some(d) = &side.diff {
                    { row("rows (primary / mirror)", format!(
                        "{} / {} products",
                        d.primary.as_ref().map_or("—".into(), |p| p.products.to_string()),
                        d.mirror.as_ref().map_or("—".into(), |m| m.products.to_string()),
                    )) }
                    { row("differs", if d.missing_on_mirror.is_empty() && d.extra_on_mirror.is_empty() && d.different.is_empty() {
                        "nothing".into()
                    } else {
                        format!("missing on mirror {:?}, extra {:?}, changed {:?}", d.missing_on_mirror, d.extra_on_mirror, d.different)
                    }) }
                }
            </table>
            <p class="actions">
                if which == Which::Async { <button id={id("sync")} onclick={onsync}>{ "Sync" }</button> }
                <button class="kill-primary" title={primary} onclick={process(primary, ProcessAction::Kill)}>{ "Kill primary" }</button>
                <button title={primary} onclick={process(primary, ProcessAction::Restart)}>{ "Restart primary" }</button>
                <button class="kill-mirror" title={mirror} onclick={process(mirror, ProcessAction::Kill)}>{ "Kill mirror" }</button>
                <button title={mirror} onclick={process(mirror, ProcessAction::Restart)}>{ "Restart mirror" }</button>
                <button id={id("failover")} onclick={onfailover}>{ "Failover" }</button>
                <button onclick={onrebuild}>{ "Rebuild old primary as mirror" }</button>
            </p>
            { match &side.message {
                Some(Ok(m)) => html! { <p id={id("message")} class="notice">{ m }</p> },
                Some(Err(m)) => html! { <p id={id("message")} class="error">{ m }</p> },
                None => html! {},
            } }
            if let Some(f) = &side.failover {
                <p id={id("failover-report")} class="verdict-text">
                    { format!(
                        "Failover: {} promoted. Data lost (RPO): {} acknowledged entries (lag reported before: {}). Time to recover (RTO): {}.",
                        f.promoted, f.entries_lost, f.lag_before, f.rto_ms.map_or("—".into(), |ms| format!("{ms} ms"))
                    ) }
                </p>
            }
        </section>
    }
}

#[function_component(ReplicationPage)]
pub fn replication_page() -> Html {
    let state = use_reducer_eq(ReplicationState::default);
    let fronts = use_state(Fronts::default);
    let opened = use_state(now_s);

    {
        let fronts = fronts.clone();
        use_effect_with((), move |()| {
            spawn_local(async move {
                let services = api::services().await.unwrap_or_default();
                let url_of = |kind: ServiceKind| {
                    services.iter().find(|s| s.kind == kind).map(|s| s.url.clone())
                };
                let stores = services
                    .iter()
                    .filter(|s| s.kind == ServiceKind::Store)
                    .map(|s| (s.name.clone(), s.url.clone()))
                    .collect();
                fronts.set(Fronts {
                    sync: url_of(ServiceKind::Mirroring),
                    r#async: url_of(ServiceKind::Replication),
                    stores,
                });
            });
        });
    }
    {
        let (dispatch, opened) = (state.dispatcher(), *opened);
        use_polled((*fronts).clone(), 500, move |fronts: &Fronts| {
            for which in [Which::Sync, Which::Async] {
                if let Some(front) = fronts.of(which) {
                    let dispatch = dispatch.clone();
                    spawn_local(
                        async move { sample(&dispatch, which, &front, now_s() - opened).await },
                    );
                }
            }
        });
    }

    html! {
        <main>
            <h1>{ "Replication" }</h1>
            <p class="summary">{ "Sync: a write is acknowledged only once primary and mirror have both committed it (fsync'd) — zero data loss, and no write while the mirror is down. Async: acknowledged once the primary has it; the change log reaches the mirror on Sync (or an interval) — fast, and a failover loses the lag." }</p>
            <div class="columns">
                <SidePanel which={Which::Sync} side={state.sync.clone()} front={fronts.sync.clone()} stores={fronts.stores.clone()} dispatch={state.dispatcher()} />
                <SidePanel which={Which::Async} side={state.r#async.clone()} front={fronts.r#async.clone()} stores={fronts.stores.clone()} dispatch={state.dispatcher()} />
            </div>
            <h2>{ "Replication lag over time (entries)" }</h2>
            <LineChart id="lag-chart" series={state.lag_series()} unit="seconds since the page opened" />
        </main>
    }
}
