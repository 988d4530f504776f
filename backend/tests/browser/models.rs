//! The Models page: the consensus it shows is the meta-model's, behaviour changes reach the
//! model, and stake moves on the chart.

use crate::support::browser::Browser;
use crate::support::Lab;

#[tokio::test(flavor = "multi_thread")]
async fn the_predict_form_shows_the_consensus_the_backend_returned() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let meta = lab.service("meta-model").await.url;
    let browser = Browser::start().await;
    browser.goto(&lab.url("/models")).await;
    browser.wait_for_count("#stakes tbody tr", 3).await;

    for (id, value) in [("#sl", "5.9"), ("#sw", "3.0"), ("#pl", "4.2")] {
        browser.fill(id, value).await;
    }
    // A field emptied, then the page re-renders (it polls every 2 s), then typed into: what was
    // typed must be what is sent. (A field bound to state got its old text back from that
    // re-render — WebDriver's clear sends no input event — and sent "0.21.5", i.e. NaN.)
    browser.fill("#pw", "").await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    browser.type_text("#pw", "1.5").await;
    browser.click("#predict").await;
    let shown = browser.wait_for_text("#consensus", |t| t.starts_with("Consensus:")).await;
    let answer: shared::models::MetaPrediction =
        crate::support::get_json(&format!("{meta}/predict?sl=5.9&sw=3.0&pl=4.2&pw=1.5")).await;
    assert!(
        shown.contains(&format!("{} (class {})", answer.label, answer.prediction)),
        "page: {shown:?}, backend: {answer:?}"
    );
    assert_eq!(browser.texts("#votes tbody tr").await.len(), 3);

    // Make model C dishonest from the page: its next answers deviate, and it is slashed.
    browser
        .click(
            "#model-services tr[data-service='model-c'] select.behavior option[value='inverted']",
        )
        .await;
    browser.wait_for_text("#models-notice", |t| t.contains("C is now inverted")).await;
    browser.click("#predict").await;
    browser.wait_for_text("#votes tr[data-model='C'] .badge", |t| t == "deviated").await;
    let info: shared::models::ModelInfo =
        crate::support::get_json(&format!("{}/info", lab.service("model-c").await.url)).await;
    assert_eq!(
        info.behavior,
        shared::models::Behavior::Inverted,
        "the change reached the model itself"
    );
    browser
        .wait_for_text("#stakes tr[data-model='C'] .balance", |t| {
            t.parse::<f64>().is_ok_and(|b| b < 1000.0)
        })
        .await;
    browser.wait_for_text("#balance-chart [data-series='C']", |_| true).await;
    browser.close().await;
}
