//! Which server answered each shop request.

use yew::prelude::*;

use crate::api::Trace;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub log: Vec<Trace>,
}

#[function_component(RequestLog)]
pub fn request_log(props: &Props) -> Html {
    html! {
        <table id="request-log" class="table compact">
            <thead><tr><th>{ "request" }</th><th>{ "answered by" }</th><th>{ "status" }</th><th>{ "failed first" }</th></tr></thead>
            <tbody>
                { for props.log.iter().map(|t| html! {
                    <tr>
                        <td>{ format!("{} {}", t.method, t.path) }</td>
                        <td class="server">{ t.server.clone().unwrap_or_else(|| "—".into()) }</td>
                        <td>{ t.status.map_or_else(|| "—".into(), |s| s.to_string()) }</td>
                        <td class="error">{ t.failed.join(", ") }</td>
                    </tr>
                }) }
            </tbody>
        </table>
    }
}
