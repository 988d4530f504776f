//! The lab's topology as a picture: services grouped by subsystem (the layout in
//! [`crate::state::topology`], where no two labels can overlap), each coloured by its
//! process's state, and the links between them coloured by their fault.

use shared::{Health, ServiceStatus};
use yew::prelude::*;

use crate::state::topology::{layout, LABEL_X, RADIUS, TITLE};

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub services: Vec<ServiceStatus>,
}

/// up / paused / down / unknown: the word drawn beside the colour (never colour alone).
fn state_of(service: &ServiceStatus) -> &'static str {
    if service.paused {
        return "paused";
    }
    match (service.pid, service.health) {
        (None, _) | (_, Health::Down) => "down",
        (_, Health::Up) => "up",
        (_, Health::Unknown) => "unknown",
    }
}

#[function_component(Topology)]
pub fn topology(props: &Props) -> Html {
    let (placed, boxes, (width, height)) = layout(&props.services);
    let at = |name: &str| {
        let i = props.services.iter().position(|s| s.name == name)?;
        placed.iter().find(|p| p.service == i)
    };
    let edges = props.services.iter().enumerate().flat_map(|(i, s)| {
        let from = placed.iter().find(|p| p.service == i);
        s.links.iter().filter_map(move |l| Some((from?, at(&l.to)?, &s.name, l)))
    });
    let (mut cut, mut degraded) = (0, 0);
    let edges: Vec<Html> = edges
        .map(|(a, b, from, link)| {
            let class = if link.fault.cut {
                cut += 1;
                "edge cut"
            } else if link.fault.latency_ms > 0 {
                degraded += 1;
                "edge slow"
            } else if link.fault.drop_rate > 0.0 {
                degraded += 1;
                "edge lossy"
            } else {
                "edge"
            };
            // Links within a group (all of the lab's) bow out to the left of its column, away
            // from the labels; the two directions of a pair bow apart.
            let bow = if b.y > a.y { 18.0 } else { 32.0 } + (b.y - a.y).abs() * 0.15;
            let d = format!(
                "M {} {} Q {} {} {} {}",
                a.x - RADIUS,
                a.y,
                a.x.min(b.x) - bow,
                (a.y + b.y) / 2.0,
                b.x - RADIUS,
                b.y
            );
            html! {
                <path class={class} data-from={from.clone()} data-to={link.to.clone()} {d}>
                    <title>{ format!("{from} → {}: {}", link.to, link.fault) }</title>
                </path>
            }
        })
        .collect();
    let down = props.services.iter().filter(|s| state_of(s) != "up").count();
    let summary = format!(
        "The lab's {} services in {} subsystems: {} not up; links cut: {}, slow or lossy: {}.",
        props.services.len(),
        boxes.len(),
        down,
        cut,
        degraded
    );
    html! {
        <figure class="diagram">
            <svg id="topology" class="topology" role="img" aria-label={summary.clone()}
                viewBox={format!("0 0 {width} {height}")} width={width.to_string()} height={height.to_string()}>
                { for boxes.iter().map(|g| html! {
                    <g class="group">
                        <rect x={g.x.to_string()} y={g.y.to_string()} width={g.width.to_string()} height={g.height.to_string()} rx="6" />
                        <text class="group-name" x={(g.x + 8.0).to_string()} y={(g.y + TITLE - 7.0).to_string()}>{ g.name }</text>
                    </g>
                }) }
                { for edges }
                { for placed.iter().map(|p| {
                    let service = &props.services[p.service];
                    let state = state_of(service);
                    html! {
                        <g class={classes!("node", state)} data-node={service.name.clone()}>
                            <title>{ format!("{}: {state}", service.name) }</title>
                            <circle cx={p.x.to_string()} cy={p.y.to_string()} r={RADIUS.to_string()} />
                            <text class="label" x={(p.x - RADIUS + LABEL_X).to_string()} y={(p.y + 4.0).to_string()}>{ p.label.clone() }</text>
                        </g>
                    }
                }) }
            </svg>
            <figcaption>{ summary }</figcaption>
        </figure>
    }
}
