//! The lab's topology as a picture: services as nodes coloured by state, links as arrows
//! coloured by their fault.

use shared::{Health, ServiceStatus};
use yew::prelude::*;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub services: Vec<ServiceStatus>,
}

const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 300.0;
const RADIUS: f64 = 22.0;

#[function_component(Topology)]
pub fn topology(props: &Props) -> Html {
    let n = props.services.len().max(1) as f64;
    // Nodes on an ellipse, the control plane first (at the top).
    let position = |i: usize| {
        let angle = -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * i as f64 / n;
        (
            WIDTH / 2.0 + (WIDTH / 2.0 - 70.0) * angle.cos(),
            HEIGHT / 2.0 + (HEIGHT / 2.0 - 40.0) * angle.sin(),
        )
    };
    let index = |name: &str| props.services.iter().position(|s| s.name == name);
    let edges = props.services.iter().enumerate().flat_map(|(i, s)| {
        s.links.iter().filter_map(move |l| index(&l.to).map(|j| (i, j, l.fault)))
    });
    html! {
        <svg id="topology" class="topology" viewBox={format!("0 0 {WIDTH} {HEIGHT}")} width={WIDTH.to_string()} height={HEIGHT.to_string()}>
            <defs>
                <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
                    <path d="M 0 0 L 10 5 L 0 10 z" class="arrow-head" />
                </marker>
            </defs>
            { for edges.map(|(i, j, fault)| {
                let ((x1, y1), (x2, y2)) = (position(i), position(j));
                let (dx, dy) = (x2 - x1, y2 - y1);
                let len = (dx * dx + dy * dy).sqrt().max(1.0);
                let (ux, uy) = (dx / len, dy / len);
                let class = if fault.cut { "edge cut" } else if fault.is_healthy() { "edge" } else { "edge degraded" };
                html! {
                    <line class={class} marker-end="url(#arrow)"
                        x1={(x1 + ux * RADIUS).to_string()} y1={(y1 + uy * RADIUS).to_string()}
                        x2={(x2 - ux * RADIUS).to_string()} y2={(y2 - uy * RADIUS).to_string()} />
                }
            }) }
            { for props.services.iter().enumerate().map(|(i, s)| {
                let (x, y) = position(i);
                let state = if s.paused { "paused" } else {
                    match s.health { Health::Up => "up", Health::Down => "down", Health::Unknown => "unknown" }
                };
                html! {
                    <g class={classes!("node", state)} data-node={s.name.clone()}>
                        <circle cx={x.to_string()} cy={y.to_string()} r={RADIUS.to_string()} />
                        <text x={x.to_string()} y={(y + RADIUS + 14.0).to_string()} text-anchor="middle">{ &s.name }</text>
                    </g>
                }
            }) }
        </svg>
    }
}
