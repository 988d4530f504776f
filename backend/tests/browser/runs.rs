//! The Runs page: a recording started and stopped from the page, a test started from its form
//! with a deliberate bug on, and the checker's verdict shown as a word beside its history.

use std::time::Duration;

use shared::control::{RunInfo, RunState};

use crate::support::browser::Browser;
use crate::support::{self, Lab};

async fn runs(lab: &Lab) -> Vec<RunInfo> {
    support::get_json(&lab.url("/api/recordings")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recording_and_a_test_started_from_the_page_show_their_verdicts() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let browser = Browser::start().await;
    browser.goto(&lab.url("/runs")).await;
    browser.wait_for_text("#recording-toggle", |t| t == "Start recording").await;

    browser.fill("#recording-name", "from the page").await;
    browser.click("#recording-toggle").await;
    browser.wait_for_text("#recording-toggle", |t| t == "Stop recording").await;
    let id = runs(&lab).await[0].id.clone();
    assert!(id.ends_with("from-the-page"), "{id}");
    let row = format!("#runs tr[data-run='{id}']");
    browser.wait_for_text(&format!("{row} td:nth-child(2)"), |t| t == "recording").await;
    browser.click("#recording-toggle").await;
    browser.wait_for_text(&format!("{row} td:nth-child(2)"), |t| t == "done").await;
    let link = browser
        .wait_for_text(&format!("{row} a[download]"), |t| t.starts_with("history.jsonl"))
        .await;
    assert!(link.starts_with("history.jsonl"));
    browser.wait_for_text(&format!("{row} a.open-run"), |t| t.starts_with("debugger")).await;

    // A 3-second crdt-set run with node merges that drop remote adds: the checker says invalid.
    browser.click("#test-workload option[value='crdt-set']").await;
    browser.fill("#test-time", "3").await;
    browser.click("#test-bug-crdt-forget-remote-adds").await;
    browser.click("#test-start").await;
    let mut test = None;
    support::wait_until("the page's test run", Duration::from_secs(60), async || {
        let run = runs(&lab).await.into_iter().find(|r| r.test.is_some());
        let over =
            run.as_ref().is_some_and(|r| matches!(r.state, RunState::Done | RunState::Failed));
        test = run;
        over
    })
    .await;
    let test = test.unwrap();
    let spec = test.test.as_ref().unwrap();
    assert_eq!((spec.workload.as_str(), spec.time_s, spec.bugs.len()), ("crdt-set", 3, 1));
    let row = format!("#runs tr[data-run='{}']", test.id);
    browser.wait_for_text(&format!("{row} .badge"), |t| t == "invalid").await;
    browser.wait_for_text(&format!("{row} td:nth-child(6)"), |t| t.contains("lost")).await;
    browser
        .wait_for_text(&format!("{row} td:nth-child(4)"), |t| t == "crdt-forget-remote-adds")
        .await;
    browser.screenshot(&support::repo_root().join("docs/screenshots/runs.png"), 1100).await;
    browser.close().await;
}
