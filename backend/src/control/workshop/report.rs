//! The student's report: per question, what was done (the requests, as curl commands), what the
//! lab measured, the chart, the verdict and when — as Markdown (charts as SVG files beside it,
//! `charts/<step>.svg`) or as one self-contained HTML file (charts inline, no script, printable).
//! Pure: the workshop in, text out.

use std::fmt::Write;

use shared::workshop::{duration, utc, Workshop};

use super::chart::{escape, svg};

/// Where the report came from and when: its first lines.
pub struct Origin<'a> {
    /// The dashboard's URL.
    pub lab: &'a str,
    /// When the report was made, in milliseconds since the Unix epoch.
    pub at_ms: u64,
}

const TITLE: &str = "Distributed computing & data redundancy — workshop report";

/// The path of a step's chart beside the Markdown report.
pub fn chart_path(step: &str) -> String {
    format!("charts/{step}.svg")
}

pub fn markdown(workshop: &Workshop, origin: &Origin) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {TITLE}\n");
    let _ = writeln!(
        out,
        "Made {} from the lab at {}. {} of {} steps done. Every figure below was measured on this lab by the step's own run.\n",
        utc(origin.at_ms),
        origin.lab,
        workshop.passed,
        workshop.steps.len()
    );
    for step in &workshop.steps {
        let _ = writeln!(out, "## {} — {}\n", step.label, step.title);
        let _ = writeln!(out, "> {}\n", step.asks);
        let Some(result) = &step.result else {
            let _ = writeln!(out, "**Not run yet**: this step has no evidence.\n");
            continue;
        };
        let _ = writeln!(
            out,
            "**Verdict: {}** — {}\n\n_{}, by “{}”, in {}._\n",
            result.word(),
            result.verdict,
            utc(result.at_ms),
            step.action_label(result),
            duration(result.took_ms)
        );
        if !result.measurements.is_empty() {
            out.push_str("| measured | value |\n|---|---|\n");
            for (what, value) in &result.measurements {
                let _ = writeln!(out, "| {} | {} |", cell(what), cell(value));
            }
            out.push('\n');
        }
        if let Some(chart) = &result.chart {
            let _ = writeln!(out, "![{}]({})\n", chart.title, chart_path(&step.id));
        }
        if let Some(run) = &result.recording {
            let _ = writeln!(out, "Recorded history: `{}/debugger/?run={run}`\n", origin.lab);
        }
        if !result.requests.is_empty() {
            out.push_str("What was done (re-run it):\n\n```sh\n");
            for exchange in &result.requests {
                let _ = writeln!(out, "{}", exchange.curl());
                let _ = writeln!(out, "# → {} {}", exchange.status, one_line(&exchange.answer));
            }
            out.push_str("```\n\n");
        }
    }
    out
}

pub fn html(workshop: &Workshop, origin: &Origin) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{TITLE}</title><style>{STYLE}</style></head><body><main><h1>{TITLE}</h1>"
    );
    let _ = write!(
        out,
        "<p>Made {} from the lab at {}. {} of {} steps done. Every figure below was measured on this lab by the step's own run.</p>",
        utc(origin.at_ms),
        escape(origin.lab),
        workshop.passed,
        workshop.steps.len()
    );
    for step in &workshop.steps {
        let _ = write!(
            out,
            "<section class=\"step\" data-step=\"{}\"><h2>{} — {}</h2><blockquote>{}</blockquote>",
            escape(&step.id),
            escape(&step.label),
            escape(&step.title),
            escape(&step.asks)
        );
        let Some(result) = &step.result else {
            out.push_str("<p class=\"none\"><strong>Not run yet</strong>: this step has no evidence.</p></section>");
            continue;
        };
        let _ = write!(
            out,
            "<p><span class=\"verdict {}\">{}</span> {}</p><p class=\"when\">{}, by “{}”, in {}.</p>",
            if result.passed { "passed" } else { "failed" },
            result.word(),
            escape(&result.verdict),
            utc(result.at_ms),
            escape(step.action_label(result)),
            duration(result.took_ms)
        );
        if !result.measurements.is_empty() {
            out.push_str("<table class=\"measurements\"><tr><th scope=\"col\">measured</th><th scope=\"col\">value</th></tr>");
            for (what, value) in &result.measurements {
                let _ = write!(
                    out,
                    "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                    escape(what),
                    escape(value)
                );
            }
            out.push_str("</table>");
        }
        if let Some(chart) = &result.chart {
            let _ = write!(out, "<figure>{}</figure>", svg(chart));
        }
        if !result.requests.is_empty() {
            out.push_str("<h3>What was done (re-run it)</h3><pre class=\"requests\">");
            for exchange in &result.requests {
                let _ = write!(
                    out,
                    "<code class=\"curl\">{}</code>\n<span class=\"answer\"># → {} {}</span>\n",
                    escape(&exchange.curl()),
                    exchange.status,
                    escape(&one_line(&exchange.answer))
                );
            }
            out.push_str("</pre>");
        }
        out.push_str("</section>");
    }
    out.push_str("</main></body></html>");
    out
}

const STYLE: &str = "body{font-family:sans-serif;color:#222;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.4}\
blockquote{color:#444;border-left:4px solid #ccc;margin:0;padding-left:1rem}\
.verdict{font-weight:bold;padding:0 .4rem;border-radius:3px;color:#fff}.passed{background:#1e6b30}.failed{background:#a32020}\
.when{color:#555;font-size:.9rem}table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}\
pre{background:#f4f4f4;padding:.5rem;white-space:pre-wrap;word-break:break-all}.answer{color:#555}\
section{break-inside:avoid;margin-bottom:2rem}";

/// A table cell's text: no line breaks, no column separators.
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use shared::workshop::{Bar, Chart, Exchange, Step, StepAction, StepResult};

    use super::*;

    fn workshop() -> Workshop {
        let step = |id: &str, result: Option<StepResult>| Step {
            id: id.into(),
            label: format!("Part B · {id}"),
            title: "Servers <and> DNS".into(),
            asks: "Does it share?".into(),
            actions: vec![StepAction {
                id: "get-server".into(),
                label: "Ask 12 times".into(),
                does: String::new(),
            }],
            result,
        };
        let result = StepResult {
            step: "b12".into(),
            action: "get-server".into(),
            at_ms: 1_796_684_585_000,
            took_ms: 1_250,
            passed: true,
            verdict: "12 answers shared between 2 servers.".into(),
            measurements: vec![("handed out localhost:3001".into(), "6 of 12".into())],
            requests: vec![Exchange {
                method: "GET".into(),
                url: "http://127.0.0.1:8000/getServer".into(),
                body: None,
                status: 200,
                answer: "{\"code\":200,\n\"server\":\"localhost:3001\"}".into(),
            }],
            chart: Some(Chart {
                title: "answers per server".into(),
                unit: "answers".into(),
                x_unit: String::new(),
                bars: vec![Bar { label: "localhost:3001".into(), value: 6.0 }],
                lines: Vec::new(),
            }),
            recording: Some("r1".into()),
        };
        Workshop {
            steps: vec![step("b12", Some(result)), step("b5", None)],
            passed: 1,
            running: None,
        }
    }

    const ORIGIN: Origin = Origin { lab: "http://localhost:8080", at_ms: 1_796_684_600_000 };

    #[test]
    fn the_markdown_has_a_section_per_step_with_its_figures_chart_and_commands() {
        let text = markdown(&workshop(), &ORIGIN);
        assert!(text.contains("## Part B · b12 — Servers <and> DNS"));
        assert!(text.contains("**Verdict: done** — 12 answers shared between 2 servers."));
        assert!(text.contains("_2026-12-07 23:03:05 UTC, by “Ask 12 times”, in 1.2 s._"), "{text}");
        assert!(text.contains("| handed out localhost:3001 | 6 of 12 |"));
        assert!(text.contains("![answers per server](charts/b12.svg)"));
        assert!(text.contains("curl -s 'http://127.0.0.1:8000/getServer'\n# → 200 {\"code\":200, \"server\":\"localhost:3001\"}"));
        assert!(text
            .contains("## Part B · b5 — Servers <and> DNS\n\n> Does it share?\n\n**Not run yet**"));
        assert!(text.contains("1 of 2 steps done"));
    }

    #[test]
    fn the_html_is_one_file_with_inline_charts_escaped_text_and_no_script() {
        let page = html(&workshop(), &ORIGIN);
        assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>"));
        assert_eq!(page.matches("<svg").count(), 1);
        assert_eq!(page.matches("<section class=\"step\"").count(), 2);
        assert!(page.contains("Servers &lt;and&gt; DNS"));
        assert!(!page.contains("<script") && !page.contains("src=") && !page.contains("href="));
        assert!(page.contains("<td>6 of 12</td>"));
    }
}
