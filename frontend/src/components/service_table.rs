//! The table of services on the Overview page.

use shared::ServiceStatus;
use yew::prelude::*;

use super::health_badge::HealthBadge;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub services: Vec<ServiceStatus>,
}

#[function_component(ServiceTable)]
pub fn service_table(props: &Props) -> Html {
    html! {
        <table id="services" class="table">
            <thead>
                <tr><th>{ "service" }</th><th>{ "kind" }</th><th>{ "URL" }</th><th>{ "PID" }</th><th>{ "health" }</th><th>{ "detail" }</th></tr>
            </thead>
            <tbody>
                { for props.services.iter().map(|s| html! {
                    <tr key={s.name.clone()} data-service={s.name.clone()}>
                        <td class="name">{ &s.name }</td>
                        <td>{ s.kind.as_str() }</td>
                        <td><a href={s.url.clone()} target="_blank">{ &s.url }</a></td>
                        <td class="pid">{ s.pid.map_or_else(|| "—".to_owned(), |p| p.to_string()) }</td>
                        <td><HealthBadge health={s.health} /></td>
                        <td class="detail">{ s.detail.clone().unwrap_or_default() }</td>
                    </tr>
                }) }
            </tbody>
        </table>
    }
}
