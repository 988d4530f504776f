//! Every link between services, with buttons to cut, slow, make lossy and heal it.

use shared::control::LinkFault;
use shared::ServiceStatus;
use yew::prelude::*;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub services: Vec<ServiceStatus>,
    /// A fault chosen for a link: (from, to, fault); a healthy fault heals.
    pub onfault: Callback<(String, String, LinkFault)>,
}

#[function_component(LinkTable)]
pub fn link_table(props: &Props) -> Html {
    let links: Vec<(String, String, LinkFault)> = props
        .services
        .iter()
        .flat_map(|s| s.links.iter().map(move |l| (s.name.clone(), l.to.clone(), l.fault)))
        .collect();
    if links.is_empty() {
        return html! { <p class="summary">{ "No links between services yet." }</p> };
    }
    html! {
        <table id="links" class="table compact">
            <thead><tr><th>{ "link" }</th><th>{ "state" }</th><th><span class="visually-hidden">{ "actions" }</span></th></tr></thead>
            <tbody>
                { for links.into_iter().map(|(from, to, fault)| {
                    let button = |label: &'static str, fault: LinkFault, class: &'static str| {
                        let (from, to) = (from.clone(), to.clone());
                        let onclick = props.onfault.reform(move |_: MouseEvent| (from.clone(), to.clone(), fault));
                        html! { <button class={class} {onclick}>{ label }</button> }
                    };
                    html! {
                        <tr data-link={format!("{from}->{to}")}>
                            <td>{ format!("{from} → {to}") }</td>
                            <td class={if fault.is_healthy() { "detail" } else { "error" }}>{ fault.to_string() }</td>
                            <td class="actions">
                                { button("Cut", LinkFault { cut: true, ..LinkFault::default() }, "cut") }
                                { button("+300 ms", LinkFault { latency_ms: 300, ..LinkFault::default() }, "slow") }
                                { button("Lose 30%", LinkFault { drop_rate: 0.3, ..LinkFault::default() }, "lossy") }
                                { button("Heal", LinkFault::default(), "heal") }
                            </td>
                        </tr>
                    }
                }) }
            </tbody>
        </table>
    }
}
