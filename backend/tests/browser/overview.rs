//! The Overview page shows what the control plane reports.

use crate::support::browser::Browser;
use crate::support::Lab;

#[tokio::test(flavor = "multi_thread")]
async fn overview_lists_every_service_the_control_plane_reports() {
    let lab = Lab::up();
    let services = lab.wait_all_up().await;
    assert!(services.len() >= 3, "the lab runs the control plane and two shop servers at least");

    let browser = Browser::start().await;
    browser.goto(&lab.url).await;
    let names = browser.wait_for_count("#services tbody tr td.name", services.len()).await;
    let expected: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, expected, "the page lists the services of /api/services, in order");

    for service in &services {
        let pid = service.pid.expect("a running service has a pid").to_string();
        let row = format!("#services tr[data-service='{}']", service.name);
        browser.wait_for_text(&format!("{row} td.pid"), |text| text == pid).await;
        browser.wait_for_text(&format!("{row} .badge"), |text| text == "up").await;
    }
    browser
        .wait_for_text(".summary", |text| text == format!("{0} of {0} services up", services.len()))
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_killed_from_the_page_shows_down_and_comes_back_on_restart() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let old_pid = lab.service("shop-b").await.pid.unwrap();

    let browser = Browser::start().await;
    browser.goto(&lab.url).await;
    let row = "#services tr[data-service='shop-b']";
    browser.wait_for_text(&format!("{row} .badge"), |t| t == "up").await;
    browser.click(&format!("{row} button.kill")).await;

    browser.wait_for_text(&format!("{row} .badge"), |t| t == "down").await;
    browser.wait_for_text(&format!("{row} td.pid"), |t| t == "—").await;
    assert!(
        crate::support::wait_gone(&[old_pid], std::time::Duration::from_secs(5)).await.is_empty(),
        "really killed"
    );
    browser.wait_for_text("#timeline", |t| t.contains("shop-b") && t.contains("SIGKILL")).await;
    browser.wait_for_text("[data-node='shop-b']", |_| true).await;

    browser.click(&format!("{row} button.restart")).await;
    browser.wait_for_text(&format!("{row} .badge"), |t| t == "up").await;
    let new_pid =
        browser.wait_for_text(&format!("{row} td.pid"), |t| t.parse::<u32>().is_ok()).await;
    assert_ne!(new_pid, old_pid.to_string());
    assert_eq!(
        lab.service("shop-b").await.pid.map(|p| p.to_string()),
        Some(new_pid),
        "the page shows the real PID"
    );
    browser.close().await;
}

/// The topology: all 17 services grouped by subsystem, no two labels overlapping in the real
/// browser's layout, a cut link and a killed service drawn as such.
#[tokio::test(flavor = "multi_thread")]
async fn the_topology_draws_every_service_by_subsystem_with_no_overlapping_labels() {
    let lab = Lab::up();
    let services = lab.wait_all_up().await;
    assert_eq!(services.len(), 17, "the control plane and its 16 services");
    let cut = reqwest::Client::new()
        .put(lab.url("/api/links/node-1/node-2"))
        .json(&serde_json::json!({"cut": true}))
        .send()
        .await
        .unwrap();
    assert!(cut.status().is_success(), "{}", cut.status());
    let killed = lab.post("/api/services/model-b/kill").await;
    assert_eq!(killed.0, 200, "{}", killed.1);

    let browser = Browser::start().await;
    browser.goto(&lab.url).await;
    browser.wait_for_count("#topology .node", 17).await;
    browser.wait_for_count("#topology .edge.cut[data-from='node-1'][data-to='node-2']", 1).await;
    browser.wait_for_count("#topology .node.down[data-node='model-b']", 1).await;
    let boxes = browser
        .eval(
            "return [...document.querySelectorAll('#topology .node .label')].map(t => { \
               const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.top, r.right, r.bottom]; })",
            vec![],
        )
        .await;
    let boxes: Vec<(String, f64, f64, f64, f64)> = serde_json::from_value(boxes).unwrap();
    assert_eq!(boxes.len(), 17);
    for (i, a) in boxes.iter().enumerate() {
        assert!(a.3 > a.1 && a.4 > a.2, "{} is drawn", a.0);
        for b in &boxes[i + 1..] {
            let apart = a.3 <= b.1 || b.3 <= a.1 || a.4 <= b.2 || b.4 <= a.2;
            assert!(apart, "labels {a:?} and {b:?} overlap");
        }
    }
    let groups = browser.texts("#topology .group-name").await;
    assert_eq!(groups.len(), 6, "{groups:?}");
    browser
        .screenshot(&crate::support::repo_root().join("docs/screenshots/overview.png"), 1400)
        .await;
    browser.close().await;
}
