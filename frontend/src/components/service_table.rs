//! The table of services on the Overview page, with a button for each process action.

use shared::control::ProcessAction;
use shared::ServiceStatus;
use yew::prelude::*;

use super::health_badge::HealthBadge;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub services: Vec<ServiceStatus>,
    /// A button was pressed: (service, action).
    pub onaction: Callback<(String, ProcessAction)>,
}

#[function_component(ServiceTable)]
pub fn service_table(props: &Props) -> Html {
    html! {
        <table id="services" class="table">
            <thead>
                <tr><th>{ "service" }</th><th>{ "kind" }</th><th>{ "URL" }</th><th>{ "PID" }</th><th>{ "health" }</th><th>{ "detail" }</th><th><span class="visually-hidden">{ "actions" }</span></th></tr>
            </thead>
            <tbody>
                { for props.services.iter().map(|s| {
                    let button = |action: ProcessAction, label: &'static str| {
                        let name = s.name.clone();
                        let onclick = props.onaction.reform(move |_: MouseEvent| (name.clone(), action));
                        html! { <button class={classes!("act", action.as_str())} {onclick}>{ label }</button> }
                    };
                    let running = s.pid.is_some();
                    html! {
                        <tr key={s.name.clone()} data-service={s.name.clone()}>
                            <td class="name">{ &s.name }</td>
                            <td>{ s.kind.as_str() }</td>
                            <td><a href={s.url.clone()} target="_blank">{ &s.url }</a></td>
                            <td class="pid">{ s.pid.map_or_else(|| "—".to_owned(), |p| p.to_string()) }</td>
                            <td>
                                <HealthBadge health={s.health} />
                                if s.paused { <span class="badge paused">{ "paused" }</span> }
                            </td>
                            <td class="detail">{ s.detail.clone().unwrap_or_default() }</td>
                            <td class="actions">
                                if s.kind != shared::ServiceKind::Control {
                                    if running {
                                        { button(ProcessAction::Stop, "Stop") }
                                        { button(ProcessAction::Kill, "Kill") }
                                        if s.paused { { button(ProcessAction::Resume, "Resume") } }
                                        else { { button(ProcessAction::Pause, "Pause") } }
                                        { button(ProcessAction::Restart, "Restart") }
                                    } else {
                                        { button(ProcessAction::Restart, "Start") }
                                    }
                                }
                            </td>
                        </tr>
                    }
                }) }
            </tbody>
        </table>
    }
}
