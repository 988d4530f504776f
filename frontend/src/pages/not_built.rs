//! The frame of a page whose service has not landed yet — said plainly, not faked.

use yew::prelude::*;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub title: AttrValue,
    /// What the page will show once its services exist.
    pub what: AttrValue,
}

#[function_component(NotBuilt)]
pub fn not_built(props: &Props) -> Html {
    html! {
        <main>
            <h1>{ &props.title }</h1>
            <p class="not-built">
                { "Not built yet: this page will show " }{ &props.what }
                { ". Its services are not part of the lab yet; the Overview lists what runs now." }
            </p>
        </main>
    }
}
