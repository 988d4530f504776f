//! A step's [`Chart`] drawn as a standalone SVG document: the same drawing on the Workshop page
//! (`GET /api/workshop/charts/{step}.svg`), inline in the HTML report, and as a file beside the
//! Markdown one. Pure: a chart in, text out.

use std::fmt::Write;

use shared::workshop::{number, Chart};

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 260.0;
/// Room for the y axis's numbers (left), the title (top) and the labels or the legend (bottom).
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 46.0;
/// Colours with at least 3:1 contrast on white, one per bar or line in turn.
const PALETTE: [&str; 6] = ["#1f5fa8", "#b3541e", "#2e7d32", "#7b3fa0", "#a8326e", "#4d5b6a"];

/// The chart as an SVG document, with its numbers also in its `<title>` (for screen readers
/// and for whoever hovers it).
pub fn svg(chart: &Chart) -> String {
    let mut out = String::new();
    let summary = chart.summary();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{label}" font-family="sans-serif" font-size="12">"#,
        label = escape(&summary)
    );
    let _ = write!(out, "<title>{}</title>", escape(&summary));
    let _ = write!(out, r##"<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>"##);
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="20" font-size="14" font-weight="bold" fill="#222">{}</text>"##,
        escape(&chart.title)
    );
    let top = if chart.bars.is_empty() { line_top(chart) } else { bar_top(chart) };
    axis(&mut out, top, &chart.unit);
    if chart.bars.is_empty() {
        lines(&mut out, chart, top);
    } else {
        bars(&mut out, chart, top);
    }
    out.push_str("</svg>");
    out
}

/// The top of the y axis: a round number at or above the highest value.
fn bar_top(chart: &Chart) -> f64 {
    round_up(chart.bars.iter().map(|b| b.value).fold(0.0, f64::max))
}

fn line_top(chart: &Chart) -> f64 {
    let points = chart.lines.iter().flat_map(|l| l.points.iter());
    round_up(points.map(|p| p.1).fold(0.0, f64::max))
}

/// 1, 2 or 5 times a power of ten, at or above `value` (1 for nothing above zero).
fn round_up(value: f64) -> f64 {
    if !value.is_finite() || value <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|t| *t >= value).unwrap_or(10.0 * power)
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

fn y_of(value: f64, top: f64) -> f64 {
    TOP + plot_height() * (1.0 - (value / top).clamp(0.0, 1.0))
}

/// The y axis with four grid lines and their numbers.
fn axis(out: &mut String, top: f64, unit: &str) {
    for step in 0..=4 {
        let value = top * f64::from(step) / 4.0;
        let y = y_of(value, top);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{tx}" y="{ty:.1}" text-anchor="end" fill="#444">{}</text>"##,
            number(value),
            x2 = WIDTH - RIGHT,
            tx = LEFT - 6.0,
            ty = y + 4.0,
        );
    }
    if !unit.is_empty() {
        let _ = write!(
            out,
            r##"<text x="8" y="{y}" fill="#444" transform="rotate(-90 8 {y})" text-anchor="middle" dy="6">{}</text>"##,
            escape(unit),
            y = TOP + plot_height() / 2.0,
        );
    }
}

fn bars(out: &mut String, chart: &Chart, top: f64) {
    let slot = (WIDTH - LEFT - RIGHT) / chart.bars.len() as f64;
    let width = (slot * 0.6).min(80.0);
    for (i, bar) in chart.bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - width) / 2.0;
        let y = y_of(bar.value, top);
        let height = (TOP + plot_height() - y).max(0.0);
        let colour = PALETTE[i % PALETTE.len()];
        let _ = write!(
            out,
            r##"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{height:.1}" fill="{colour}"><title>{title}</title></rect><text x="{cx:.1}" y="{vy:.1}" text-anchor="middle" fill="#222">{value}</text><text x="{cx:.1}" y="{ly:.1}" text-anchor="middle" fill="#222">{label}</text>"##,
            title = escape(&format!("{}: {} {}", bar.label, number(bar.value), chart.unit)),
            cx = x + width / 2.0,
            vy = y - 4.0,
            value = number(bar.value),
            ly = TOP + plot_height() + 16.0,
            label = escape(&bar.label),
        );
    }
}

fn lines(out: &mut String, chart: &Chart, top: f64) {
    let xs = chart.lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (low, high) =
        xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (low, span) = if low.is_finite() && high > low { (low, high - low) } else { (0.0, 1.0) };
    let x_of = |x: f64| LEFT + (WIDTH - LEFT - RIGHT) * (x - low) / span;
    for (i, line) in chart.lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let points: Vec<String> = line
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", x_of(*x), y_of(*y, top)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="line" points="{}" fill="none" stroke="{colour}" stroke-width="2"><title>{}</title></polyline>"#,
            points.join(" "),
            escape(&line.name)
        );
        let legend_x = LEFT + 140.0 * i as f64;
        let legend_y = HEIGHT - 10.0;
        let _ = write!(
            out,
            r##"<rect x="{legend_x}" y="{ry}" width="12" height="4" fill="{colour}"/><text x="{tx}" y="{legend_y}" fill="#222">{}</text>"##,
            escape(&line.name),
            ry = legend_y - 6.0,
            tx = legend_x + 16.0,
        );
    }
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="{y}" fill="#444">{}</text><text x="{x}" y="{y}" text-anchor="end" fill="#444">{} {}</text>"##,
        number(low),
        number(low + span),
        escape(&chart.x_unit),
        y = TOP + plot_height() + 16.0,
        x = WIDTH - RIGHT,
    );
}

/// Text safe inside an SVG (or HTML) element or attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use shared::workshop::{Bar, Line};

    use super::*;

    fn bars_of(values: &[(&str, f64)]) -> Chart {
        Chart {
            title: "Accuracy <held-out>".into(),
            unit: "%".into(),
            x_unit: String::new(),
            bars: values.iter().map(|(l, v)| Bar { label: (*l).into(), value: *v }).collect(),
            lines: Vec::new(),
        }
    }

    #[test]
    fn bars_are_as_tall_as_their_values_on_a_round_axis() {
        let drawn = svg(&bars_of(&[("A", 100.0), ("B", 50.0)]));
        assert!(drawn.starts_with("<svg") && drawn.ends_with("</svg>"));
        let heights: Vec<f64> = drawn
            .split(r#"class="bar""#)
            .skip(1)
            .map(|rest| {
                let h = rest.split("height=\"").nth(1).unwrap();
                h[..h.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert_eq!(heights.len(), 2);
        assert!((heights[0] - plot_height()).abs() < 0.1, "100 is the top of a 100 axis");
        assert!((heights[1] - plot_height() / 2.0).abs() < 0.1, "50 is half of it");
        assert!(drawn.contains("Accuracy &lt;held-out&gt;"), "text is escaped");
        assert!(drawn.contains("<title>Accuracy &lt;held-out&gt;: A 100 %, B 50 %</title>"));
    }

    #[test]
    fn lines_span_the_width_and_say_where_they_start_and_end() {
        let chart = Chart {
            title: "C's balance".into(),
            unit: "stake".into(),
            x_unit: "event".into(),
            bars: Vec::new(),
            lines: vec![Line { name: "C".into(), points: vec![(1.0, 1000.0), (5.0, 40.5)] }],
        };
        let drawn = svg(&chart);
        let points = drawn.split("points=\"").nth(1).unwrap();
        let points: Vec<&str> = points[..points.find('"').unwrap()].split(' ').collect();
        assert_eq!(
            points,
            [
                format!("{LEFT:.1},{TOP:.1}"),
                format!("{:.1},{:.1}", WIDTH - RIGHT, y_of(40.5, 1000.0))
            ]
        );
        assert_eq!(chart.summary(), "C's balance: C from 1000 stake to 40.5 stake");
    }

    #[test]
    fn axes_round_up_to_one_two_or_five() {
        assert_eq!(round_up(0.0), 1.0);
        assert_eq!(round_up(0.93), 1.0);
        assert_eq!(round_up(1.2), 2.0);
        assert_eq!(round_up(312.0), 500.0);
        assert_eq!(round_up(5000.0), 5000.0);
    }
}
