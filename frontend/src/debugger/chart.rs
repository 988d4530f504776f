//! The linearization chart (Porcupine's): one row per client process, each operation a bar
//! from invoke to completion, the checker's linearization points as dots, the operations the
//! checker names in an invalid verdict highlighted, and the faults and leader changes as
//! vertical marks on the same time axis as the diagram's window.

use std::collections::BTreeMap;

use shared::history::Outcome;
use yew::prelude::*;

use super::{ms, select, DrawingProps, LayeredProps};

const WIDTH: f64 = 960.0;
const LEFT: f64 = 80.0;
const ROW: f64 = 22.0;
const TOP: f64 = 20.0;

/// The chart with the cursor on a layer above it (see the diagram's).
#[function_component(Linearization)]
pub fn linearization(props: &LayeredProps) -> Html {
    let processes: std::collections::BTreeSet<u64> =
        props.timeline.0.bars.iter().map(|b| b.process).collect();
    let height = TOP + processes.len() as f64 * ROW + 20.0;
    let x = LEFT + props.view.window.share(props.time).min(1.02) * (WIDTH - LEFT - 10.0);
    html! {
        <div class="layered">
            <Chart timeline={props.timeline.clone()} view={props.view.clone()} onselect={props.onselect.clone()} />
            <svg class="cursor-layer" aria-hidden="true" viewBox={format!("0 0 {WIDTH} {}", height + 10.0)}>
                <line class="cursor" x1={x.to_string()} x2={x.to_string()} y1="0" y2={height.to_string()} stroke="#000" />
            </svg>
        </div>
    }
}

#[function_component(Chart)]
fn chart(props: &DrawingProps) -> Html {
    let t = &props.timeline.0;
    let view = &props.view;
    let window = view.window;
    let rows: BTreeMap<u64, usize> = t
        .bars
        .iter()
        .map(|b| b.process)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, i))
        .collect();
    let height = TOP + rows.len() as f64 * ROW + 20.0;
    let x = |time: u64| LEFT + window.share(time).min(1.02) * (WIDTH - LEFT - 10.0);
    let point_of: BTreeMap<usize, u64> = view.points.iter().copied().collect();
    let in_view: Vec<_> =
        t.bars.iter().filter(|b| window.overlaps(b.invoke, b.complete.unwrap_or(t.end))).collect();
    let flagged_in_view = in_view.iter().filter(|b| view.flagged.contains(&b.event)).count();
    let row_labels = rows.iter().map(|(p, &row)| {
        let y = TOP + row as f64 * ROW + ROW * 0.65;
        html! { <text x="4" y={y.to_string()} class="lane-name">{ format!("client {p}") }</text> }
    });
    let bars = in_view.iter().map(|b| {
        let row = rows[&b.process];
        let y = TOP + row as f64 * ROW + 4.0;
        let (x1, x2) = (x(b.invoke), x(b.complete.unwrap_or(t.end)));
        let flagged = view.flagged.contains(&b.event);
        let outcome = b.outcome.map_or("open", Outcome::as_str);
        let point = point_of.get(&b.event).map(|&at| x(at));
        html! {
            <g class={classes!("op", outcome, flagged.then_some("flagged"))} data-event={b.event.to_string()} onclick={select(&props.onselect, b.event)}>
                <title>{ format!("client {}: {} ({} to {}){}{}", b.process, b.text, ms(b.invoke),
                    b.complete.map_or_else(|| "never completed".to_owned(), ms),
                    point_of.get(&b.event).map_or_else(String::new, |&at| format!(", linearized at {}", ms(at))),
                    if flagged { " — cannot be linearized (named by the checker)" } else { "" }) }</title>
                <rect x={x1.to_string()} y={y.to_string()} width={(x2 - x1).max(2.0).to_string()} height={(ROW - 8.0).to_string()} rx="3" />
                if let Some(px) = point { <circle class="point" cx={px.to_string()} cy={(y + (ROW - 8.0) / 2.0).to_string()} r="3" /> }
            </g>
        }
    });
    let bottom = TOP + rows.len() as f64 * ROW;
    let marks = t.marks.iter().filter(|m| window.overlaps(m.time, m.time)).map(|m| {
        let mx = x(m.time);
        html! {
            <g class="fault" data-f={m.f.to_string()}>
                <title>{ format!("{} at {}", m.text, ms(m.time)) }</title>
                <line x1={mx.to_string()} x2={mx.to_string()} y1={TOP.to_string()} y2={bottom.to_string()} stroke="#c62828" stroke-width="2" stroke-dasharray="5 3" />
                <text x={(mx + 2.0).to_string()} y={(bottom + 14.0).to_string()} class="fault-text">{ m.text.clone() }</text>
            </g>
        }
    });
    let leaders = t.labels.iter().filter(|l| l.f == "leader" && window.overlaps(l.time, l.time)).map(|l| {
        let lx = x(l.time);
        html! {
            <g class="note" data-f="leader">
                <title>{ format!("{} at {}", l.text, ms(l.time)) }</title>
                <line x1={lx.to_string()} x2={lx.to_string()} y1={TOP.to_string()} y2={bottom.to_string()} stroke="#6a1b9a" stroke-dasharray="2 2" />
                <text x={(lx + 2.0).to_string()} y={(TOP - 6.0).to_string()} class="note-text">{ format!("{}: {}", t.lanes[l.lane].name, l.text) }</text>
            </g>
        }
    });
    let summary = format!(
        "Linearization chart from {} to {}: {} operations of {} clients in view, {} of them named by the checker.",
        ms(window.from), ms(window.to), in_view.len(), rows.len(), flagged_in_view
    );
    html! {
        <figure class="diagram">
            <svg id="linearization" role="img" aria-label={summary.clone()} viewBox={format!("0 0 {WIDTH} {}", height + 10.0)}
                xmlns="http://www.w3.org/2000/svg">
                { for row_labels }
                { for bars }
                { for marks }
                { for leaders }
            </svg>
            <figcaption>{ summary }</figcaption>
        </figure>
    }
}
