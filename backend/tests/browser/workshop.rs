//! The Workshop page (`/workshop/`, a bundle of its own): every step's every action clicked in
//! turn on a real lab, the evidence the page shows checked against what the control plane kept,
//! kept across a reload, and found again in the report — a section per question with the same
//! figures, charts actually drawn in a browser that reaches nothing but loopback, and GET
//! commands that answer as the report says.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use shared::workshop::{Step, Workshop};

use crate::support::browser::Browser;
use crate::support::{self, Lab};

/// The steps, in the workshop's order.
const STEPS: [&str; 10] = ["a1", "a2", "a3", "a4", "b12", "b34", "b5", "b6", "b7", "b8"];
/// How long one action may take on the page: a scenario kills processes and waits for them.
const ACTION_TIMEOUT: Duration = Duration::from_secs(120);

/// A bar or a line drawn in a chart: its tag, and its box's width and height on the page.
type Mark = (String, f64, f64);

/// What the page shows of one step (read from the DOM in one script).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Shown {
    id: String,
    heading: String,
    asks: String,
    actions: Vec<String>,
    running: bool,
    error: Option<String>,
    not_run: bool,
    evidence: Option<ShownEvidence>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ShownEvidence {
    action: String,
    at: u64,
    word: String,
    class: String,
    answer: String,
    datetime: String,
    measurements: Vec<(String, String)>,
    chart: Option<ShownChart>,
    curls: Vec<String>,
    replies: Vec<String>,
    recording: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ShownChart {
    src: String,
    alt: String,
}

const READ_STEPS: &str = "return [...document.querySelectorAll('section.step')].map(s => {
    const e = s.querySelector('.evidence');
    const text = (el) => el ? el.textContent : null;
    return {
      id: s.dataset.step,
      heading: text(s.querySelector('h2')),
      asks: text(s.querySelector('p.asks')),
      actions: [...s.querySelectorAll('button.run')].map(b => b.dataset.action),
      running: s.querySelector('.running') !== null,
      error: text(s.querySelector('p.error[role=alert]')),
      not_run: s.textContent.includes('not run yet'),
      evidence: e && {
        action: e.dataset.action,
        at: Number(e.dataset.at),
        word: text(e.querySelector('span.verdict')),
        class: e.querySelector('span.verdict').className,
        answer: text(e.querySelector('p.answer')),
        datetime: e.querySelector('time.when').getAttribute('datetime'),
        measurements: [...e.querySelectorAll('table.measurements tbody tr')]
          .map(r => [r.querySelector('th').textContent, r.querySelector('td').textContent]),
        chart: (i => i && {src: i.getAttribute('src'), alt: i.getAttribute('alt')})(e.querySelector('img.chart')),
        curls: [...e.querySelectorAll('details.requests pre.curl')].map(p => p.textContent),
        replies: [...e.querySelectorAll('details.requests .reply')].map(p => p.textContent),
        recording: (a => a && a.getAttribute('href'))(e.querySelector('a.recording')),
      },
    };
  });";

async fn shown(browser: &Browser) -> Vec<Shown> {
    serde_json::from_value(browser.eval(READ_STEPS, vec![]).await).expect("the steps as shown")
}

async fn shown_step(browser: &Browser, id: &str) -> Shown {
    let steps = shown(browser).await;
    steps.into_iter().find(|s| s.id == id).unwrap_or_else(|| panic!("no step {id} on the page"))
}

async fn workshop(lab: &Lab) -> Workshop {
    support::get_json(&lab.url("/api/workshop")).await
}

/// `GET url`: status, content type, content disposition, body.
async fn fetch(url: &str) -> (u16, String, String, String) {
    let answer = reqwest::get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let header = |name: &str| {
        answer.headers().get(name).map_or("", |v| v.to_str().unwrap_or_default()).to_owned()
    };
    let (kind, disposition) = (header("content-type"), header("content-disposition"));
    (answer.status().as_u16(), kind, disposition, answer.text().await.unwrap())
}

/// What the page must show of a step's result: what the control plane kept, as the page words
/// it (the chart's alt starts with its title; the rest is exact).
fn assert_shows(step: &Step, shown: &Shown) {
    let result = step.result.as_ref().unwrap_or_else(|| panic!("{}: no result kept", step.id));
    let evidence = shown.evidence.as_ref().unwrap_or_else(|| panic!("{}: no evidence", step.id));
    let word = if result.passed { "done" } else { "failed" };
    let class = if result.passed { "passed" } else { "failed" };
    assert_eq!((evidence.action.as_str(), evidence.at), (result.action.as_str(), result.at_ms));
    assert_eq!(evidence.word, word, "{}", step.id);
    assert!(evidence.class.split(' ').any(|c| c == "verdict"), "{}", evidence.class);
    assert!(evidence.class.split(' ').any(|c| c == class), "{}", evidence.class);
    assert_eq!(evidence.answer, result.verdict, "{}", step.id);
    assert_eq!(evidence.measurements, result.measurements, "{}", step.id);
    assert!(evidence.datetime.ends_with('Z') && evidence.datetime.len() == 20, "{evidence:?}");
    match (&result.chart, &evidence.chart) {
        (None, None) => {}
        (Some(chart), Some(img)) => {
            assert_eq!(img.src, format!("/api/workshop/charts/{}.svg?t={}", step.id, result.at_ms));
            assert!(img.alt.starts_with(&format!("{}: ", chart.title)), "{}", img.alt);
            for bar in &chart.bars {
                assert!(
                    img.alt.contains(&bar.label),
                    "{}: {} not in {}",
                    step.id,
                    bar.label,
                    img.alt
                );
            }
        }
        (kept, page) => panic!("{}: chart kept {kept:?}, shown {page:?}", step.id),
    }
    let curls: Vec<String> = result.requests.iter().map(|e| e.curl()).collect();
    assert_eq!(evidence.curls, curls, "{}", step.id);
    for (reply, exchange) in evidence.replies.iter().zip(&result.requests) {
        assert!(reply.starts_with(&format!("→ {}", exchange.status)), "{reply}");
    }
    assert_eq!(
        evidence.recording,
        result.recording.as_ref().map(|run| format!("/debugger/?run={run}"))
    );
}

/// The part of a Markdown report about one step: from its heading to the next.
fn md_section<'a>(report: &'a str, step: &Step) -> &'a str {
    let heading = format!("## {} — {}\n", step.label, step.title);
    let start = report.find(&heading).unwrap_or_else(|| panic!("no {heading:?} in the report"));
    let rest = &report[start + heading.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

/// The HTML report's section of one step.
fn html_section<'a>(report: &'a str, id: &str) -> &'a str {
    let open = format!("<section class=\"step\" data-step=\"{id}\">");
    let start = report.find(&open).unwrap_or_else(|| panic!("no {open} in the HTML report"));
    let rest = &report[start..];
    &rest[..rest.find("</section>").expect("the section ends")]
}

/// Text as a Markdown table cell holds it: one line, `|` escaped.
fn md_cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Click `action` of `step` and wait for the result it brings; fails on an error shown instead.
async fn run_on_page(browser: &Browser, step: &Step, action: &str, scenario: bool) -> Shown {
    let section = format!("section.step[data-step='{}']", step.id);
    let button = format!("{section} button.run[data-action='{action}']");
    let before = shown_step(browser, &step.id).await.evidence.map(|e| e.at);
    browser
        .wait_until(&format!("{button} enabled"), || async {
            let enabled = "return !document.querySelector(arguments[0]).disabled";
            browser.eval(enabled, vec![json!(button)]).await.as_bool().filter(|e| *e)
        })
        .await;
    browser.click(&button).await;
    if scenario {
        // It runs for seconds: the page says so, and no other action can start meanwhile.
        browser.wait_for_text(&format!("{section} p.running"), |t| t == "running…").await;
        let disabled = "return [...document.querySelectorAll('button.run')].every(b => b.disabled)";
        assert_eq!(browser.eval(disabled, vec![]).await, json!(true), "{} runs", step.id);
    }
    let what = format!("the result of {} {action}", step.id);
    browser
        .wait_until_within(&what, ACTION_TIMEOUT, || async {
            let now = shown_step(browser, &step.id).await;
            if let Some(error) = &now.error {
                panic!("{} {action}: the page shows the error {error:?}", step.id);
            }
            let evidence = now.evidence.as_ref()?;
            let new = evidence.action == action && Some(evidence.at) != before && !now.running;
            new.then_some(now)
        })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_step_runs_from_the_page_keeps_its_evidence_and_the_report_holds_it() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    lab.wait_registry_ready().await;
    let fresh = workshop(&lab).await;
    let ids: Vec<&str> = fresh.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, STEPS);

    let browser = Browser::start().await;
    browser.goto(&lab.url("/workshop/")).await;
    browser.wait_for_count("section.step", STEPS.len()).await;
    let progress = format!("0 of {} steps done", STEPS.len());
    browser.wait_for_text("p.progress", |t| t == progress).await;
    let page = shown(&browser).await;
    for (step, shown) in fresh.steps.iter().zip(&page) {
        assert_eq!(shown.id, step.id);
        assert_eq!(shown.heading, format!("{} — {}", step.label, step.title));
        assert_eq!(shown.asks, step.asks);
        let actions: Vec<&str> = step.actions.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(shown.actions, actions, "{}", step.id);
        assert!(shown.not_run && shown.evidence.is_none(), "{shown:?}");
    }
    let exports = "return [...document.querySelectorAll('a.export')].map(a => \
        [a.dataset.format, a.getAttribute('href'), a.hasAttribute('download'), a.textContent])";
    let exports: Vec<(String, String, bool, String)> =
        serde_json::from_value(browser.eval(exports, vec![]).await).unwrap();
    let formats: Vec<&str> = exports.iter().map(|(f, ..)| f.as_str()).collect();
    assert_eq!(formats, ["html", "md", "tar"]);
    for (format, href, download, text) in &exports {
        assert_eq!(href, &format!("/api/workshop/report?format={format}"));
        assert!(*download && !text.trim().is_empty(), "{format}: {text:?}");
    }

    // Another tab runs a scenario: a click here meanwhile is refused, the refusal shown on the
    // step; the page then sees the other run and shows its result when it ends.
    let other_tab = {
        let url = lab.url("/api/workshop/steps/b6/shop-failover");
        tokio::spawn(async move { reqwest::Client::new().post(url).send().await.unwrap() })
    };
    support::wait_until("b6 running", Duration::from_secs(10), async || {
        workshop(&lab).await.running.as_deref() == Some("b6")
    })
    .await;
    browser.click("section.step[data-step='a1'] button.run").await;
    let refused = browser
        .wait_for_text("section.step[data-step='a1'] p.error[role=alert]", |t| !t.is_empty())
        .await;
    assert!(refused.contains("is running"), "{refused}");
    browser.wait_for_text("section.step[data-step='b6'] p.running", |t| t == "running…").await;
    assert_eq!(other_tab.await.unwrap().status(), 200);
    browser
        .wait_until_within("b6's result from the other tab", ACTION_TIMEOUT, || async {
            let b6 = shown_step(&browser, "b6").await;
            (b6.evidence.is_some() && !b6.running).then_some(())
        })
        .await;

    // Every action of every step, in the workshop's order, from the page.
    for step in &fresh.steps {
        for action in &step.actions {
            let scenario = action.does.starts_with("Runs the ");
            let started = std::time::Instant::now();
            let after = run_on_page(&browser, step, &action.id, scenario).await;
            let evidence = after.evidence.as_ref().unwrap();
            eprintln!(
                "workshop {} {}: {} in {:.1} s: {} {:?}",
                step.id,
                action.id,
                evidence.word,
                started.elapsed().as_secs_f64(),
                evidence.answer,
                evidence.measurements
            );
            assert!(after.error.is_none(), "{after:?}");
        }
    }
    let kept = workshop(&lab).await;
    assert_eq!(kept.running, None);
    let page = shown(&browser).await;
    for (step, shown) in kept.steps.iter().zip(&page) {
        assert_shows(step, shown);
        let last = step.actions.last().unwrap();
        assert_eq!(shown.evidence.as_ref().unwrap().action, last.id, "the latest run is shown");
    }
    let failed: Vec<String> = kept
        .steps
        .iter()
        .filter_map(|s| {
            s.result.as_ref().filter(|r| !r.passed).map(|r| format!("{}: {}", s.id, r.verdict))
        })
        .collect();
    assert!(failed.is_empty(), "steps that failed on a healthy lab:\n{}", failed.join("\n"));
    let progress = format!("{} of {} steps done", kept.passed, STEPS.len());
    browser.wait_for_text("p.progress", |t| t == progress).await;
    // Each chart the page shows is an image the control plane serves.
    let loaded = "return [...document.querySelectorAll('img.chart')].map(i => i.complete && i.naturalWidth > 0)";
    let charts: Vec<bool> = browser
        .wait_until("the charts loaded", || async {
            let loaded: Vec<bool> =
                serde_json::from_value(browser.eval(loaded, vec![]).await).ok()?;
            loaded.iter().all(|l| *l).then_some(loaded)
        })
        .await;
    let with_chart =
        kept.steps.iter().filter(|s| s.result.as_ref().is_some_and(|r| r.chart.is_some()));
    assert_eq!(charts.len(), with_chart.count());

    // Kept on the server: a reload shows the very same evidence.
    browser.goto(&lab.url("/workshop/")).await;
    browser.wait_for_text("p.progress", |t| t == progress).await;
    let reloaded = shown(&browser).await;
    assert_eq!(reloaded, page, "the page after a reload");
    browser.screenshot(&support::repo_root().join("docs/screenshots/workshop.png"), 2400).await;
    browser.close().await;

    // The report: a section per question, holding the figures the page showed.
    let (status, kind, disposition, markdown) =
        fetch(&lab.url("/api/workshop/report?format=md")).await;
    assert_eq!((status, kind.as_str()), (200, "text/markdown; charset=utf-8"));
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let (status, kind, disposition, html) =
        fetch(&lab.url("/api/workshop/report?format=html")).await;
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(markdown.contains(&progress) && html.contains(&progress), "{progress}");
    for (step, shown) in kept.steps.iter().zip(&page) {
        let evidence = shown.evidence.as_ref().unwrap();
        let md = md_section(&markdown, step);
        let part = html_section(&html, &step.id);
        assert!(md.contains(&format!("**Verdict: {}** — {}", evidence.word, evidence.answer)));
        assert!(part.contains(&html_escape(&evidence.answer)), "{}: {part}", step.id);
        for (what, value) in &evidence.measurements {
            let row = format!("| {} | {} |", md_cell(what), md_cell(value));
            assert!(md.contains(&row), "{}: {row} not in\n{md}", step.id);
            let cell = format!("<td>{}</td>", html_escape(value));
            assert!(part.contains(&cell), "{}: {cell} not in\n{part}", step.id);
        }
        for curl in &evidence.curls {
            assert!(md.contains(curl.as_str()), "{}: {curl} not in\n{md}", step.id);
        }
        let chart = step.result.as_ref().and_then(|r| r.chart.as_ref());
        assert_eq!(md.contains(&format!("](charts/{}.svg)", step.id)), chart.is_some());
        assert_eq!(part.matches("<svg").count(), usize::from(chart.is_some()), "{}", step.id);
    }

    // The saved HTML report, opened where nothing but loopback is reachable: every chart is
    // in it and drawn.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("workshop-report.html");
    std::fs::write(&file, &html).unwrap();
    let offline = Browser::start_offline().await;
    offline.goto(&format!("file://{}", file.display())).await;
    offline.wait_for_count("section.step", STEPS.len()).await;
    let drawn = "return [...document.querySelectorAll('section.step')].map(s => [s.dataset.step, \
        [...s.querySelectorAll('svg')].map(svg => [...svg.querySelectorAll('rect.bar, polyline.line')] \
          .map(el => { const r = el.getBoundingClientRect(); return [el.tagName, r.width, r.height]; }))])";
    let drawn: Vec<(String, Vec<Vec<Mark>>)> =
        serde_json::from_value(offline.eval(drawn, vec![]).await).unwrap();
    let fetched = "return performance.getEntriesByType('resource').map(r => r.name)";
    assert_eq!(offline.eval(fetched, vec![]).await, json!([]), "the report fetches nothing");
    offline.close().await;
    let drawn: BTreeMap<String, Vec<Vec<Mark>>> = drawn.into_iter().collect();
    for step in &kept.steps {
        let svgs = &drawn[&step.id];
        let Some(chart) = step.result.as_ref().and_then(|r| r.chart.as_ref()) else {
            assert!(svgs.is_empty(), "{}: {svgs:?}", step.id);
            continue;
        };
        assert_eq!(svgs.len(), 1, "{}: one chart", step.id);
        let marks = &svgs[0];
        let bars = marks.iter().filter(|(tag, ..)| tag == "rect").count();
        let lines = marks.iter().filter(|(tag, ..)| tag == "polyline").count();
        assert_eq!((bars, lines), (chart.bars.len(), chart.lines.len()), "{}", step.id);
        // A bar of a value above zero has an area; a line spans some width.
        for ((_, width, height), value) in
            marks.iter().filter(|(tag, ..)| tag == "rect").zip(chart.bars.iter().map(|b| b.value))
        {
            assert!(*width > 0.0, "{}: {marks:?}", step.id);
            assert_eq!(*height > 0.0, value > 0.0, "{}: {value} drawn {height} high", step.id);
        }
        for (_, width, _) in marks.iter().filter(|(tag, ..)| tag == "polyline") {
            assert!(*width > 0.0, "{}: {marks:?}", step.id);
        }
    }

    // The report's GET commands, run as they are written, answer as the report says.
    let gets = support::run_reported_gets(&markdown);
    assert!(gets > 0, "{markdown}");
    eprintln!("workshop: the report's {gets} GET commands answered as it says");
}
