//! A small horizontal bar chart (SVG): one labelled bar per entry.

use yew::prelude::*;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    /// (label, value) pairs, drawn in order.
    pub bars: Vec<(String, u32)>,
    pub id: AttrValue,
}

const ROW: u32 = 22;
const LABEL: u32 = 130;
const WIDTH: u32 = 420;

#[function_component(BarChart)]
pub fn bar_chart(props: &Props) -> Html {
    let max = props.bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let height = ROW * props.bars.len().max(1) as u32;
    let summary: Vec<String> =
        props.bars.iter().map(|(label, value)| format!("{label}: {value}")).collect();
    let summary = summary.join(", ");
    html! {
        <svg id={props.id.clone()} class="chart" width={WIDTH.to_string()} height={height.to_string()}
             viewBox={format!("0 0 {WIDTH} {height}")} role="img" aria-label={summary.clone()}>
            <title>{ summary }</title>
            { for props.bars.iter().enumerate().map(|(i, (label, value))| {
                let y = i as u32 * ROW;
                let w = (WIDTH - LABEL - 50) * value / max;
                html! {
                    <g data-label={label.clone()}>
                        <text x="0" y={(y + 15).to_string()} class="chart-label">{ label }</text>
                        <rect x={LABEL.to_string()} y={(y + 4).to_string()} width={w.to_string()} height="14" class="chart-bar" />
                        <text x={(LABEL + w + 6).to_string()} y={(y + 15).to_string()} class="chart-value">{ value }</text>
                    </g>
                }
            }) }
        </svg>
    }
}
