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
