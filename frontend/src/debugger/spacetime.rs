//! The space-time diagram: one lane per service and client, time downward; each message an
//! arrow from its send to its receipt, operations as bars on the client lanes, faults as marks
//! across the lanes they hit, notes (leader, mode) as labels. Only the window is drawn, and
//! bursts (many arrows of one kind between two lanes within a few pixels) are drawn once with
//! their count.

use std::collections::BTreeMap;

use shared::history::Outcome;
use yew::prelude::*;

use super::{ms, select, DrawingProps, LayeredProps};
use crate::state::history::visible_arrows;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 640.0;
const TOP: f64 = 90.0;
const SIDE: f64 = 50.0;
/// Arrows whose sends fall within this many pixels (of one kind, between two lanes) are one.
const BURST_PX: f64 = 3.0;

/// A colour per message kind (a fixed palette, picked by the kind's name).
pub fn colour(kind: &str) -> &'static str {
    const PALETTE: [&str; 8] =
        ["#1f5fa8", "#b3541e", "#2e7d32", "#7b1fa2", "#00695c", "#8d6e00", "#c2185b", "#455a64"];
    let hash = kind.bytes().fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
    PALETTE[hash % PALETTE.len()]
}

/// The diagram with the cursor on a layer above it: moving the cursor over a fixed window
/// redraws one line, not the diagram.
#[function_component(SpaceTime)]
pub fn space_time(props: &LayeredProps) -> Html {
    let y = TOP + props.view.window.share(props.time).min(1.05) * HEIGHT;
    html! {
        <div class="layered">
            <Drawing timeline={props.timeline.clone()} view={props.view.clone()} onselect={props.onselect.clone()} />
            <svg class="cursor-layer" aria-hidden="true" viewBox={format!("0 0 {WIDTH} {}", TOP + HEIGHT + 20.0)}>
                <line class="cursor" x1="0" x2={WIDTH.to_string()} y1={y.to_string()} y2={y.to_string()} stroke="#000" stroke-width="1" />
            </svg>
        </div>
    }
}

#[function_component(Drawing)]
fn drawing(props: &DrawingProps) -> Html {
    let t = &props.timeline.0;
    let view = &props.view;
    let window = view.window;
    let shown: Vec<usize> = (0..t.lanes.len()).filter(|i| !view.hidden_lanes.contains(i)).collect();
    let gap = (WIDTH - 2.0 * SIDE) / (shown.len().max(2) - 1) as f64;
    let x_of: BTreeMap<usize, f64> =
        shown.iter().enumerate().map(|(n, &lane)| (lane, SIDE + n as f64 * gap)).collect();
    let y = |time: u64| TOP + window.share(time).min(1.05) * HEIGHT;
    let bucket = ((window.to - window.from) as f64 * BURST_PX / HEIGHT) as u64;
    let arrows = visible_arrows(t, window, &view.hidden_kinds, &view.hidden_lanes, bucket.max(1));
    let drawn_messages: usize = arrows.iter().map(|(_, n)| n).sum();

    // Lanes closer than a label's width: labels slant, so none overlaps its neighbour's.
    let crowded = gap < 80.0;
    let lanes = shown.iter().map(|&lane| {
        let x = x_of[&lane];
        let name = &t.lanes[lane].name;
        html! {
            <g class="lane" data-lane={name.clone()}>
                <line x1={x.to_string()} y1={(TOP - 8.0).to_string()} x2={x.to_string()} y2={(TOP + HEIGHT).to_string()}
                    stroke={if t.lanes[lane].client { "#999" } else { "#555" }} stroke-dasharray={t.lanes[lane].client.then_some("2 3")} />
                if crowded {
                    <text x={x.to_string()} y={(TOP - 10.0).to_string()} transform={format!("rotate(-35 {x} {})", TOP - 10.0)} class="lane-name">{ name.clone() }</text>
                } else {
                    <text x={x.to_string()} y={(TOP - 14.0).to_string()} text-anchor="middle" class="lane-name">{ name.clone() }</text>
                }
            </g>
        }
    });
    let arrow_lines = arrows.iter().map(|(a, count)| {
        let (x1, x2) = (x_of[&a.from], x_of[&a.to]);
        let (y1, y2) = (y(a.sent), a.received.map_or(y(a.sent) + 12.0, y));
        let lost = a.received.is_none();
        let x2 = if lost { x1 + (x2 - x1) * 0.5 } else { x2 };
        let title = format!(
            "{} {} → {} sent at {}, {}{}",
            a.msg,
            t.lanes[a.from].name,
            t.lanes[a.to].name,
            ms(a.sent),
            a.received.map_or_else(|| "never received".to_owned(), |r| format!("received at {}", ms(r))),
            if *count > 1 { format!(" (and {} more like it)", count - 1) } else { String::new() }
        );
        html! {
            <g class={classes!("arrow", lost.then_some("lost"))} data-kind={a.msg.clone()} data-count={count.to_string()} onclick={select(&props.onselect, a.event)}>
                <title>{ title }</title>
                <line x1={x1.to_string()} y1={y1.to_string()} x2={x2.to_string()} y2={y2.to_string()}
                    stroke={colour(&a.msg)} stroke-width={if *count > 1 { "2.5" } else { "1.2" }} marker-end={(!lost).then_some("url(#head)")} />
                if lost { <text x={x2.to_string()} y={(y2 + 4.0).to_string()} class="lost-mark" text-anchor="middle">{ "×" }</text> }
                if *count > 1 && (x2 - x1).abs() > 60.0 { <text x={((x1 + x2) / 2.0).to_string()} y={((y1 + y2) / 2.0 - 2.0).to_string()} class="burst">{ format!("×{count}") }</text> }
            </g>
        }
    });
    let bars = t.bars.iter().filter(|b| {
        !view.hidden_lanes.contains(&b.lane)
            && window.overlaps(b.invoke, b.complete.unwrap_or(t.end))
    });
    let bars = bars.map(|b| {
        let x = x_of[&b.lane];
        let (y1, y2) = (y(b.invoke), y(b.complete.unwrap_or(t.end)));
        let flagged = view.flagged.contains(&b.event);
        let outcome = b.outcome.map_or("open", Outcome::as_str);
        html! {
            <rect class={classes!("bar", outcome, flagged.then_some("flagged"))} data-event={b.event.to_string()}
                x={(x - 4.0).to_string()} y={y1.to_string()} width="8" height={(y2 - y1).max(2.0).to_string()} onclick={select(&props.onselect, b.event)}>
                <title>{ format!("client {}: {} ({} to {}){}", b.process, b.text, ms(b.invoke),
                    b.complete.map_or_else(|| "never completed".to_owned(), ms),
                    if flagged { " — named by the checker" } else { "" }) }</title>
            </rect>
        }
    });
    let marks = t.marks.iter().filter(|m| window.overlaps(m.time, m.time)).map(|m| {
        let xs: Vec<f64> = m.lanes.iter().filter_map(|l| x_of.get(l).copied()).collect();
        let (lo, hi) = xs.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let (lo, hi) = if xs.is_empty() { (SIDE, WIDTH - SIDE) } else { (lo - 10.0, hi + 10.0) };
        let yy = y(m.time);
        html! {
            <g class="fault" data-f={m.f.to_string()} onclick={select(&props.onselect, m.event)}>
                <title>{ format!("{} at {}", m.text, ms(m.time)) }</title>
                <line x1={lo.to_string()} y1={yy.to_string()} x2={hi.to_string()} y2={yy.to_string()} stroke="#c62828" stroke-width="3" stroke-dasharray="6 3" />
                <text x={(lo + 2.0).to_string()} y={(yy - 4.0).to_string()} class="fault-text">{ m.text.clone() }</text>
            </g>
        }
    });
    let labels = t.labels.iter().filter(|l| window.overlaps(l.time, l.time) && x_of.contains_key(&l.lane)).map(|l| {
        html! {
            <g class="note" data-f={l.f.clone()} onclick={select(&props.onselect, l.event)}>
                <circle cx={x_of[&l.lane].to_string()} cy={y(l.time).to_string()} r="4" fill="#6a1b9a" />
                <text x={(x_of[&l.lane] + 6.0).to_string()} y={(y(l.time) + 4.0).to_string()} class="note-text">{ l.text.clone() }</text>
            </g>
        }
    });
    let summary = format!(
        "Space-time diagram from {} to {}: {} lanes, {} messages drawn as {} arrows, {} operations, {} faults, {} notes in view.",
        ms(window.from), ms(window.to), shown.len(), drawn_messages, arrows.len(),
        t.bars.iter().filter(|b| window.overlaps(b.invoke, b.complete.unwrap_or(t.end))).count(),
        t.marks.iter().filter(|m| window.overlaps(m.time, m.time)).count(),
        t.labels.iter().filter(|l| window.overlaps(l.time, l.time)).count(),
    );
    html! {
        <figure class="diagram">
            <svg id="spacetime" role="img" aria-label={summary.clone()} viewBox={format!("0 0 {WIDTH} {}", TOP + HEIGHT + 20.0)}
                data-messages={drawn_messages.to_string()} xmlns="http://www.w3.org/2000/svg">
                <defs>
                    <marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                        <path d="M 0 0 L 10 5 L 0 10 z" fill="#333" />
                    </marker>
                </defs>
                { for lanes }
                { for arrow_lines }
                { for bars }
                { for marks }
                { for labels }
            </svg>
            <figcaption>{ summary }</figcaption>
        </figure>
    }
}
