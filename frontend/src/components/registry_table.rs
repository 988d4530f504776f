//! The registry's live view of the shop servers.

use shared::registry::{RegistryStatus, ServerState};
use yew::prelude::*;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub status: Option<RegistryStatus>,
}

#[function_component(RegistryTable)]
pub fn registry_table(props: &Props) -> Html {
    let Some(status) = &props.status else {
        return html! { <p class="summary">{ "Asking the registry…" }</p> };
    };
    html! {
        <>
            <p class="summary">{ format!(
                "Checked every {} ms; down after {} failed checks, back after {} passed. DNS: {} (udp {}).",
                status.interval_ms, status.fall, status.rise, status.dns_name,
                status.dns_port.map_or_else(|| "off".into(), |p| p.to_string()),
            ) }</p>
            <table id="registry" class="table compact">
                <thead><tr><th>{ "server" }</th><th>{ "state" }</th><th>{ "last error" }</th></tr></thead>
                <tbody>
                    { for status.servers.iter().map(|s| {
                        let (class, text) = match s.state {
                            ServerState::Up => ("badge up", "up"),
                            ServerState::Down => ("badge down", "down"),
                            ServerState::Checking => ("badge unknown", "checking"),
                        };
                        html! {
                            <tr data-server={s.address.clone()}>
                                <td>{ &s.address }</td>
                                <td><span class={class}>{ text }</span></td>
                                <td class="detail">{ s.last_error.clone().unwrap_or_default() }</td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
        </>
    }
}
