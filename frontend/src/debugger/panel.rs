//! The state panel: each service as the history says it stood at the cursor.

use yew::prelude::*;

use super::Shared;
use crate::state::history::{brief, state_at};

#[derive(Properties, PartialEq)]
pub struct Props {
    pub timeline: Shared,
    pub index: usize,
}

#[function_component(StatePanel)]
pub fn state_panel(props: &Props) -> Html {
    let states = state_at(&props.timeline.0, props.index);
    let note = |s: &crate::state::history::ServiceState, f: &str| {
        s.notes.get(f).map(brief).unwrap_or_else(|| "—".into())
    };
    html! {
        <table id="state-panel" class="table">
            <caption>{ "Each service at the cursor, from the history: its process, cut links, latest notes, the highest number clients saw it acknowledge, and messages so far" }</caption>
            <thead><tr>
                <th scope="col">{ "service" }</th><th scope="col">{ "process" }</th><th scope="col">{ "links cut to" }</th>
                <th scope="col">{ "leader" }</th><th scope="col">{ "mode" }</th><th scope="col">{ "role" }</th>
                <th scope="col">{ "promised" }</th><th scope="col">{ "highest number" }</th><th scope="col">{ "persons" }</th>
                <th scope="col">{ "sent / received" }</th>
            </tr></thead>
            <tbody>
                { for states.iter().map(|(name, s)| html! {
                    <tr data-service={name.clone()}>
                        <th scope="row">{ name.clone() }</th>
                        <td class={classes!("process", if s.process == "up" { "up" } else { "down" })}>{ s.process.clone() }</td>
                        <td>{ if s.cut.is_empty() { "—".to_owned() } else { s.cut.iter().cloned().collect::<Vec<_>>().join(", ") } }</td>
                        <td class="leader">{ note(s, "leader") }</td>
                        <td>{ note(s, "mode") }</td>
                        <td>{ note(s, "role") }</td>
                        <td>{ s.promised.as_ref().map(brief).unwrap_or_else(|| "—".into()) }</td>
                        <td class="highest">{ s.highest.map_or_else(|| "—".into(), |n| n.to_string()) }</td>
                        <td>{ s.persons.map_or_else(|| "—".into(), |n| n.to_string()) }</td>
                        <td>{ format!("{} / {}", s.sent, s.received) }</td>
                    </tr>
                }) }
            </tbody>
        </table>
    }
}
