//! Sync nodes: add a person to a chosen node and watch the three nodes' lists update live — over
//! Socket.IO, spoken by this wasm app itself — with each node's highest number, mode and load,
//! buttons to cut a node off or stop it, and the Paxos message log.

use shared::control::{LinkFault, ProcessAction};
use shared::sync::{PaxosRole, PersonRecord, SyncMode};
use shared::ServiceKind;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::api;
use crate::components::field::Field;
use crate::hooks::use_polled;
use crate::state::sync::{SyncAction, SyncState};

#[function_component(SyncPage)]
pub fn sync_page() -> Html {
    let state = use_reducer_eq(SyncState::default);
    let nodes = use_state(Vec::<(String, String)>::new);

    {
        let (nodes, dispatch) = (nodes.clone(), state.dispatcher());
        use_effect_with((), move |()| {
            spawn_local(async move {
                if let Ok(services) = api::services().await {
                    let list: Vec<(String, String)> = services
                        .into_iter()
                        .filter(|s| s.kind == ServiceKind::SyncNode)
                        .map(|s| (s.name, s.url))
                        .collect();
                    dispatch.dispatch(SyncAction::Nodes(list.clone()));
                    nodes.set(list);
                }
            });
        });
    }
    {
        // One Socket.IO connection per node.
        let dispatch = state.dispatcher();
        use_effect_with((*nodes).clone(), move |nodes| {
            let sockets: Vec<api::NodeSocket> = nodes
                .iter()
                .filter_map(|(name, url)| {
                    let (d1, d2, n1, n2) =
                        (dispatch.clone(), dispatch.clone(), name.clone(), name.clone());
                    api::node_socket(
                        url,
                        move |data| d1.dispatch(SyncAction::Data(n1.clone(), data)),
                        move |up| d2.dispatch(SyncAction::Connected(n2.clone(), up)),
                    )
                    .ok()
                })
                .collect();
            move || drop(sockets)
        });
    }
    {
        // Loads and Paxos logs, polled every second.
        let dispatch = state.dispatcher();
        use_polled((*nodes).clone(), 1_000, move |nodes: &Vec<(String, String)>| {
            for (name, url) in nodes.clone() {
                let dispatch = dispatch.clone();
                spawn_local(async move {
                    if let Ok(load) = api::node_load(&url).await {
                        dispatch.dispatch(SyncAction::Load(name.clone(), load));
                    }
                    if let Ok(status) = api::paxos_status(&url).await {
                        dispatch.dispatch(SyncAction::Paxos(name.clone(), status));
                    }
                    if let Ok(log) = api::paxos_log(&url).await {
                        dispatch.dispatch(SyncAction::Log(log));
                    }
                });
            }
        });
    }
    // The form's fields, read at submit.
    let (person_name, person_number, person_node) =
        (use_node_ref(), use_node_ref(), use_node_ref());

    let onsubmit = {
        let (nodes, dispatch) = ((*nodes).clone(), state.dispatcher());
        let fields = (person_name.clone(), person_number.clone(), person_node.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (name_field, number_field, node_field) = &fields;
            let target: usize = crate::dom::selected(node_field).parse().unwrap_or(0);
            let Some((node, url)) = nodes.get(target).cloned() else { return };
            // No number: a name alone, as the original's /add_name takes it.
            let typed = crate::dom::text(number_field);
            let number = match typed.trim() {
                "" => None,
                text => match text.parse::<u64>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        return dispatch.dispatch(SyncAction::Done(Err(
                            "the account number must be a whole number".into(),
                        )))
                    }
                },
            };
            let person =
                PersonRecord { name: crate::dom::text(name_field).trim().to_owned(), number };
            let dispatch = dispatch.clone();
            spawn_local(async move {
                let outcome = api::add_person(&url, &person)
                    .await
                    .map(|added| match added.agreed {
                        Some(true) => format!(
                            "{} added on {node}; the nodes agree the highest number is {}",
                            person.name, added.highest_number
                        ),
                        Some(false) => format!(
                            "{} added on {node}; no majority agreed on {} in time (the decision follows)",
                            person.name, person.number.unwrap_or_default()
                        ),
                        None => format!(
                            "{} added on {node} (CRDT-only: the number spreads by CRDT, nothing is agreed)",
                            person.name
                        ),
                    })
                    .map_err(|e| e.to_string());
                dispatch.dispatch(SyncAction::Done(outcome));
            });
        })
    };
    let act = |service: String, action: ProcessAction| {
        let dispatch = state.dispatcher();
        Callback::from(move |_: MouseEvent| {
            let (service, dispatch) = (service.clone(), dispatch.clone());
            spawn_local(async move {
                let outcome = api::service_action(&service, action)
                    .await
                    .map(|o| o.message)
                    .map_err(|e| e.to_string());
                dispatch.dispatch(SyncAction::Done(outcome));
            });
        })
    };
    let isolate = |service: String, cut: bool| {
        let (dispatch, others): (_, Vec<String>) = (
            state.dispatcher(),
            nodes.iter().map(|(n, _)| n.clone()).filter(|n| *n != service).collect(),
        );
        Callback::from(move |_: MouseEvent| {
            let (service, others, dispatch) = (service.clone(), others.clone(), dispatch.clone());
            spawn_local(async move {
                let fault = LinkFault { cut, ..LinkFault::default() };
                let mut failures = Vec::new();
                for other in &others {
                    for (from, to) in [(&service, other), (other, &service)] {
                        if let Err(err) = api::set_link(from, to, fault).await {
                            failures.push(err.to_string());
                        }
                    }
                }
                let done = if cut {
                    format!("{service} cut off")
                } else {
                    format!("{service} reconnected")
                };
                dispatch.dispatch(SyncAction::Done(if failures.is_empty() {
                    Ok(done)
                } else {
                    Err(failures.join("; "))
                }));
            });
        })
    };

    html! {
        <main>
            <h1>{ "Sync nodes" }</h1>
            <p class="summary">{ "Names converge through an add-wins OR-Set CRDT; the highest account number is agreed by Paxos — or by a max-register CRDT when a node is loaded past HIGH_REQUEST (or forced). The lists below update live over Socket.IO." }</p>
            <form id="person-form" class="form" {onsubmit}>
                <Field id="person-name" label="person name" placeholder="name" node={person_name} />
                <Field id="person-number" label="account number (optional)" class="narrow" placeholder="account number (optional)" node={person_number} />
                <select id="person-node" ref={person_node} aria-label="the node to add on">
                    { for nodes.iter().enumerate().map(|(i, (n, _))| html! { <option value={i.to_string()}>{ n }</option> }) }
                </select>
                <button id="person-submit" type="submit">{ "Add" }</button>
            </form>
            { match &state.outcome {
                Some(Ok(m)) => html! { <p id="sync-outcome" class="notice">{ m }</p> },
                Some(Err(m)) => html! { <p id="sync-outcome" class="error">{ m }</p> },
                None => html! {},
            } }
            <div class="nodes">
                { for state.nodes.iter().map(|n| {
                    let data = n.data.as_ref();
                    let mode = match data.map(|d| d.mode) {
                        Some(SyncMode::CrdtOnly) => "CRDT-only",
                        Some(SyncMode::CrdtPaxos) => "CRDT + Paxos",
                        None => "—",
                    };
                    html! {
                        <section class="replica" id={format!("{}-view", n.name)}>
                            <h2>{ &n.name }{ " " }
                                if n.connected { <span class="badge up">{ "live" }</span> } else { <span class="badge down">{ "offline" }</span> }
                            </h2>
                            <p class="highest">{ format!("highest number: {}", data.map_or_else(|| "—".into(), |d| d.highest_number.to_string())) }</p>
                            <p class="summary paxos-role">{ n.paxos.as_ref().map(|p| match (p.role, p.leader) {
                                (PaxosRole::Leader, _) => format!("Paxos leader (ballot {}) · {} decided", p.ballot.clone().unwrap_or_default(), p.decided),
                                (PaxosRole::Preparing, _) => format!("running phase 1 (ballot {}) · {} decided", p.ballot.clone().unwrap_or_default(), p.decided),
                                (_, Some(leader)) => format!("follower of node {leader} · {} decided", p.decided),
                                _ => format!("follower, no leader yet · {} decided", p.decided),
                            }).unwrap_or_default() }</p>
                            <p class="summary">{ format!("mode: {mode}") }{ n.load.as_ref().map(|l| format!(" · load {} / {} per {} ms{}", l.requests, l.high, l.window_ms, if l.forced { " (forced)" } else { "" })).unwrap_or_default() }</p>
                            <ul id={format!("{}-persons", n.name)} class="persons">
                                { for data.into_iter().flat_map(|d| d.persons.iter()).map(|p| html! { <li>{ p.number.map_or_else(|| p.name.clone(), |n| format!("{} — {n}", p.name)) }</li> }) }
                            </ul>
                            <p class="actions">
                                <button onclick={isolate(n.name.clone(), true)}>{ "Cut off" }</button>
                                <button onclick={isolate(n.name.clone(), false)}>{ "Reconnect" }</button>
                                <button onclick={act(n.name.clone(), ProcessAction::Kill)}>{ "Kill" }</button>
                                <button onclick={act(n.name.clone(), ProcessAction::Restart)}>{ "Restart" }</button>
                            </p>
                        </section>
                    }
                }) }
            </div>
            <h2>{ "Paxos messages" }</h2>
            <p class="summary">{ "Multi-Paxos: a leader runs phase 1 (prepare → promise) once, for every later instance; after that each number costs one accept → accepted round to a majority. The other nodes forward their numbers to the leader; when it goes silent, one of them runs phase 1 with a higher ballot and takes over." }</p>
            <table id="paxos-log" class="table compact">
                <thead><tr><th>{ "time" }</th><th>{ "from → to" }</th><th>{ "message" }</th><th>{ "instance" }</th><th>{ "ballot" }</th><th>{ "value" }</th><th><span class="visually-hidden">{ "outcome" }</span></th></tr></thead>
                <tbody>
                    { for state.log.iter().map(|e| html! {
                        <tr>
                            <td class="time">{ crate::components::timeline::clock(e.at_ms) }</td>
                            <td>{ format!("{} → {}", e.from, e.to) }</td>
                            <td>{ &e.kind }</td>
                            <td>{ e.instance.map(|i| i.to_string()).unwrap_or_default() }</td>
                            <td>{ e.ballot.clone().unwrap_or_default() }</td>
                            <td>{ e.value.map(|v| v.to_string()).unwrap_or_default() }</td>
                            <td>{ e.note.clone().unwrap_or_default() }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
        </main>
    }
}
