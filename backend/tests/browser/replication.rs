//! The Replication page: a write through the page makes the async mirror lag; Sync brings the
//! lag to 0.

use crate::support::browser::Browser;
use crate::support::Lab;

fn lag(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_makes_the_async_mirror_lag_until_sync() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let browser = Browser::start().await;
    browser.goto(&lab.url("/replication")).await;
    let lag_cell = "#async-status .lag-entries";
    browser.wait_for_text(lag_cell, |t| lag(t) == Some(0)).await;

    for name in ["first", "second"] {
        browser.fill("#async-name", name).await;
        browser.click("#async-write button").await;
        browser.wait_for_text("#async-message", |t| t.starts_with("written")).await;
    }
    browser.wait_for_text(lag_cell, |t| lag(t) == Some(2)).await;
    let front = lab.service("replication").await.url;
    let status: shared::replication::ReplicationStatus =
        crate::support::get_json(&format!("{front}/replication")).await;
    assert_eq!(status.lag_entries, 2, "the backend agrees: {status:?}");

    browser.click("#async-sync").await;
    browser.wait_for_text("#async-message", |t| t.starts_with("synced")).await;
    browser.wait_for_text(lag_cell, |t| lag(t) == Some(0)).await;
    browser.wait_for_text("#async-status", |t| t.contains("caught-up")).await;
    // The sync side never lags: each write was mirrored before it was acknowledged.
    browser.fill("#sync-name", "mirrored").await;
    browser.click("#sync-write button").await;
    browser.wait_for_text("#sync-message", |t| t.starts_with("written")).await;
    browser.wait_for_text("#sync-status .lag-entries", |t| lag(t) == Some(0)).await;
    browser.close().await;
}
