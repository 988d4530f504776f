//! A line chart (SVG) of several series over time, with a legend and the y range.

use yew::prelude::*;

use crate::state::series::Series;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub id: AttrValue,
    pub series: Vec<Series>,
    /// What y measures, shown on the axis.
    pub unit: AttrValue,
    /// A horizontal reference line (a floor, a target), if any.
    #[prop_or_default]
    pub reference: Option<f64>,
}

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 220.0;
const PAD: f64 = 40.0;
const COLOURS: [&str; 6] = ["#3558d6", "#1f9d55", "#d64545", "#b7791f", "#805ad5", "#2c7a7b"];

/// Scale `points` of all series into the plot area: (x0, x1, y0, y1) bounds.
pub fn bounds(series: &[Series], reference: Option<f64>) -> (f64, f64, f64, f64) {
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in points {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if let Some(r) = reference {
        y0 = y0.min(r);
        y1 = y1.max(r);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-9 {
        y0 -= 1.0;
        y1 += 1.0;
    }
    (x0, x1, y0, y1)
}

#[function_component(LineChart)]
pub fn line_chart(props: &Props) -> Html {
    let (x0, x1, y0, y1) = bounds(&props.series, props.reference);
    let sx = move |x: f64| PAD + (x - x0) / (x1 - x0) * (WIDTH - 2.0 * PAD);
    let sy = move |y: f64| HEIGHT - PAD / 2.0 - (y - y0) / (y1 - y0) * (HEIGHT - PAD);
    // The chart in words: each series' latest value, and the range shown.
    let latest: Vec<String> = props
        .series
        .iter()
        .map(|s| match s.points.last() {
            Some((_, y)) => format!("{} {y:.1}", s.name),
            None => format!("{} no data yet", s.name),
        })
        .collect();
    let summary =
        format!("{} over time, {y0:.0} to {y1:.0}; latest: {}", props.unit, latest.join(", "));
    html! {
        <svg id={props.id.clone()} class="chart line-chart" width={WIDTH.to_string()} height={HEIGHT.to_string()}
             viewBox={format!("0 0 {WIDTH} {HEIGHT}")} role="img" aria-label={summary.clone()}>
            <title>{ summary }</title>
            <line class="axis" x1={PAD.to_string()} y1={sy(y0).to_string()} x2={(WIDTH - PAD).to_string()} y2={sy(y0).to_string()} />
            <text class="chart-value" x="2" y={(sy(y1) + 4.0).to_string()}>{ format!("{y1:.0}") }</text>
            <text class="chart-value" x="2" y={(sy(y0) + 4.0).to_string()}>{ format!("{y0:.0}") }</text>
            <text class="chart-label" x={(WIDTH - PAD).to_string()} y={(HEIGHT - 4.0).to_string()} text-anchor="end">{ &props.unit }</text>
            if let Some(r) = props.reference {
                <line class="reference" x1={PAD.to_string()} y1={sy(r).to_string()} x2={(WIDTH - PAD).to_string()} y2={sy(r).to_string()} />
            }
            { for props.series.iter().enumerate().map(|(i, s)| {
                let colour = COLOURS[i % COLOURS.len()];
                let path: String = s.points.iter().map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y))).collect::<Vec<_>>().join(" ");
                html! {
                    <g class="series" data-series={s.name.clone()}>
                        <polyline points={path} fill="none" stroke={colour} stroke-width="2" />
                        <text x={(WIDTH - PAD + 4.0).to_string()} y={(16.0 + 14.0 * i as f64).to_string()} fill={colour} class="chart-label">{ &s.name }</text>
                    </g>
                }
            }) }
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_cover_every_point_and_the_reference() {
        let s = vec![Series { name: "a".into(), points: vec![(0.0, 10.0), (5.0, 20.0)] }];
        assert_eq!(bounds(&s, Some(5.0)), (0.0, 5.0, 5.0, 20.0));
        assert_eq!(bounds(&[], None), (0.0, 1.0, 0.0, 1.0));
        let flat = vec![Series { name: "a".into(), points: vec![(3.0, 7.0)] }];
        assert_eq!(bounds(&flat, None), (3.0, 4.0, 6.0, 8.0));
    }
}
