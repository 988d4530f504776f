//! Accessibility: axe-core (the engine of the browsers' dev tools) on every page of the
//! dashboard, on the run debugger and on the Workshop page (with a step's evidence shown),
//! against WCAG 2.1 A and AA and axe's best practices. The pages pass with no violation at all,
//! so any violation fails the test (the critical and serious ones first in its message).

use std::time::Duration;

use serde_json::json;

use crate::support::browser::Browser;
use crate::support::{self, Lab};

/// Each page, and what shows once it has loaded what it polls.
const PAGES: [(&str, &str); 6] = [
    ("/", "#services tbody tr"),
    ("/models", "h1"),
    ("/shop", "h1"),
    ("/replication", "h1"),
    ("/sync", "h1"),
    ("/runs", "#runs"),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_page_passes_axe_with_no_violation() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    // A run, for the Runs page's table and the debugger.
    let spec = json!({"workload": "crdt-set", "timeS": 2, "rate": 20, "seed": 3});
    let run = support::test_run(&lab, spec).await;

    // A workshop step with its evidence (verdict, figures, chart, curl commands).
    let (status, answer) = lab.post("/api/workshop/steps/b12/get-server").await;
    assert_eq!(status, 200, "{answer}");

    let browser = Browser::start().await;
    let debugger = format!("/debugger/?run={}", run.id);
    let pages = PAGES.iter().map(|(p, ready)| (p.to_string(), *ready));
    let bundles = [(debugger, "#spacetime"), ("/workshop/".to_owned(), "section.step .evidence")];
    let mut failures = Vec::new();
    for (page, ready) in pages.chain(bundles) {
        browser.goto(&lab.url(&page)).await;
        browser.wait_for_text(ready, |_| true).await;
        // What the page polls for has come in (tables filled, charts drawn).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if page == "/workshop/" {
            // The curl commands too, which are folded away at first.
            browser
                .eval("document.querySelectorAll('details').forEach(d => d.open = true)", vec![])
                .await;
        }
        for (rule, impact, count, examples) in browser.axe().await {
            let line =
                format!("{page}: {rule} ({impact}, {count} elements): {}", examples.join(" | "));
            eprintln!("axe {line}");
            failures.push((!matches!(impact.as_str(), "critical" | "serious"), line));
        }
    }
    browser.close().await;
    failures.sort();
    let listed: Vec<String> = failures.into_iter().map(|(_, line)| line).collect();
    assert!(listed.is_empty(), "accessibility violations:\n{}", listed.join("\n"));
}
