//! A coloured badge for a service's health.

use shared::Health;
use yew::prelude::*;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub health: Health,
}

#[function_component(HealthBadge)]
pub fn health_badge(props: &Props) -> Html {
    let (class, text) = match props.health {
        Health::Up => ("badge up", "up"),
        Health::Down => ("badge down", "down"),
        Health::Unknown => ("badge unknown", "checking"),
    };
    html! { <span class={class}>{ text }</span> }
}
