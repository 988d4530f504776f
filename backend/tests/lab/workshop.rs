//! Workshop mode against a real lab, through the control plane's API (the page's own test is
//! `browser/workshop.rs`): steps answered with measured figures, kept across a lab restart, one
//! at a time, refused with clear JSON errors, and reported with curl commands that answer as the
//! report says.

use crate::support;

use std::time::Duration;

use shared::workshop::{StepResult, Workshop};
use support::Lab;

async fn workshop(lab: &Lab) -> Workshop {
    support::get_json(&lab.url("/api/workshop")).await
}

async fn text(url: &str) -> (u16, String, String) {
    let answer = reqwest::get(url).await.expect("GET");
    let status = answer.status().as_u16();
    let kind = answer.headers().get("content-type").map_or("", |v| v.to_str().unwrap()).to_owned();
    (status, kind, answer.text().await.unwrap())
}

fn measured<'a>(result: &'a StepResult, what: &str) -> &'a str {
    let found = result.measurements.iter().find(|(w, _)| w == what);
    &found.unwrap_or_else(|| panic!("no {what:?} in {result:?}")).1
}

/// The part of a Markdown report about one step: from its heading to the next.
fn section<'a>(report: &'a str, heading: &str) -> &'a str {
    let start = report.find(heading).unwrap_or_else(|| panic!("no {heading:?} in the report"));
    let rest = &report[start + heading.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

#[tokio::test(flavor = "multi_thread")]
async fn steps_measure_the_lab_keep_their_results_and_report_commands_that_answer_as_reported() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    lab.wait_registry_ready().await;
    let fresh = workshop(&lab).await;
    let ids: Vec<&str> = fresh.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2", "a3", "a4", "b12", "b34", "b5", "b6", "b7", "b8"]);
    assert!(fresh.steps.iter().all(|s| s.result.is_none()) && fresh.passed == 0);

    // Bad requests: JSON errors that say what is wrong, and nothing kept.
    let (status, error) = lab.post("/api/workshop/steps/b9/sync").await;
    assert_eq!((status, error["message"].as_str()), (404, Some("no workshop step named \"b9\"")));
    let (status, error) = lab.post("/api/workshop/steps/b8/sync").await;
    assert_eq!(status, 404);
    assert!(error["message"].as_str().unwrap().contains("write-then-sync, async-primary-loss"));
    let (status, _, body) = text(&lab.url("/api/workshop/report?format=pdf")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown variant `pdf`"), "{body}");
    assert_eq!(text(&lab.url("/api/workshop/charts/b8.svg")).await.0, 404);

    // Asynchronous replication: 10 writes show a lag of 10, a sync brings it to 0.
    let (status, answer) = lab.post("/api/workshop/steps/b8/write-then-sync").await;
    assert_eq!(status, 200, "{answer}");
    let b8: StepResult = serde_json::from_value(answer).unwrap();
    assert!(b8.passed, "{b8:?}");
    assert_eq!(measured(&b8, "lag after 10 writes (entries)"), "10");
    assert_eq!(measured(&b8, "lag after POST /sync (entries)"), "0");
    let (status, kind, svg) = text(&lab.url("/api/workshop/charts/b8.svg")).await;
    assert_eq!((status, kind.as_str()), (200, "image/svg+xml"));
    assert_eq!(svg.matches(r#"class="bar""#).count(), 3, "{svg}");

    // One at a time: a step that kills a shop server holds the lab while it runs.
    let long = {
        let url = lab.url("/api/workshop/steps/b6/shop-failover");
        tokio::spawn(async move { reqwest::Client::new().post(url).send().await.unwrap() })
    };
    support::wait_until("the step running", Duration::from_secs(10), async || {
        workshop(&lab).await.running.as_deref() == Some("b6")
    })
    .await;
    let (status, refused) = lab.post("/api/workshop/steps/b12/get-server").await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("is running"), "{refused}");
    let long = long.await.unwrap();
    assert_eq!(long.status(), 200);
    let b6: StepResult = long.json().await.unwrap();
    assert_eq!(workshop(&lab).await.running, None);
    assert!(b6.passed, "{b6:?}");
    assert_eq!(measured(&b6, "failed"), "0");
    assert!(b6.recording.is_some());
    let (status, answer) = lab.post("/api/workshop/steps/b12/get-server").await;
    assert_eq!(status, 200, "{answer}");

    // The report: a section per question, the figures measured, the commands that answer so.
    let (status, kind, report) = text(&lab.url("/api/workshop/report?format=md")).await;
    assert_eq!((status, kind.as_str()), (200, "text/markdown; charset=utf-8"));
    let kept = workshop(&lab).await;
    assert_eq!(kept.passed, 3);
    for step in &kept.steps {
        let part = section(&report, &format!("## {} — {}\n", step.label, step.title));
        match &step.result {
            None => assert!(part.contains("**Not run yet**"), "{}: {part}", step.id),
            Some(result) => {
                assert!(part.contains(&format!("**Verdict: done** — {}", result.verdict)));
                for (what, value) in &result.measurements {
                    assert!(part.contains(&format!("| {what} | {value} |")), "{what}: {part}");
                }
                assert_eq!(
                    part.contains(&format!("charts/{}.svg", step.id)),
                    result.chart.is_some()
                );
            }
        }
    }
    assert!(support::run_reported_gets(&report) >= 5, "{report}");
    let (status, kind, _) = text(&lab.url("/api/workshop/report?format=tar")).await;
    assert_eq!((status, kind.as_str()), (200, "application/x-tar"));
    let tar = reqwest::get(lab.url("/api/workshop/report?format=tar")).await.unwrap();
    let mut archive = tar::Archive::new(std::io::Cursor::new(tar.bytes().await.unwrap()));
    let mut names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["charts/b12.svg", "charts/b6.svg", "charts/b8.svg", "report.md"]);

    // Kept across a restart of the whole lab.
    let data = lab.stop();
    let lab = Lab::up_in(data);
    let again = workshop(&lab).await;
    let b8_again = again.steps.iter().find(|s| s.id == "b8").and_then(|s| s.result.clone());
    assert_eq!(b8_again, Some(b8));
    assert_eq!(again.passed, 3);
}
