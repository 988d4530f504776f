//! The Sync page: a person added on node 1 through the form appears in all three lists, which
//! the page keeps live over Socket.IO (its own codec, over websockets), and the page shows who
//! leads Paxos.

use crate::support::browser::Browser;
use crate::support::Lab;

#[tokio::test(flavor = "multi_thread")]
async fn a_person_added_on_node_1_appears_in_all_three_lists() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let browser = Browser::start().await;
    browser.goto(&lab.url("/sync")).await;
    for n in 1..=3 {
        browser.wait_for_text(&format!("#node-{n}-view .badge"), |t| t == "live").await;
    }
    browser.fill("#person-name", "Ada Lovelace").await;
    browser.fill("#person-number", "1815").await;
    browser.click("#person-node option[value='0']").await;
    browser.click("#person-submit").await;
    browser
        .wait_for_text("#sync-outcome", |t| {
            t.contains("added on node-1; the nodes agree the highest number is 1815")
        })
        .await;
    for n in 1..=3 {
        browser
            .wait_for_text(&format!("#node-{n}-persons"), |t| t.contains("Ada Lovelace — 1815"))
            .await;
        browser.wait_for_text(&format!("#node-{n}-view .highest"), |t| t.ends_with("1815")).await;
    }
    // The page's lists are the nodes' own data.
    let node3 = lab.service("node-3").await.url;
    let data: shared::sync::NodeData = crate::support::get_json(&format!("{node3}/get_data")).await;
    assert!(data.persons.iter().any(|p| p.name == "Ada Lovelace" && p.number == Some(1815)));
    browser.wait_for_text("#paxos-log", |t| t.contains("accepted")).await;
    // Node 1 ran phase 1 for that number and leads; the others follow it.
    browser.wait_for_text("#node-1-view .paxos-role", |t| t.starts_with("Paxos leader")).await;
    for n in 2..=3 {
        browser
            .wait_for_text(&format!("#node-{n}-view .paxos-role"), |t| {
                t.starts_with("follower of node 1")
            })
            .await;
    }
    browser.close().await;
}
