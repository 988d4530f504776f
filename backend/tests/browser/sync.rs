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

/// The original project's page, served by each node itself: with nothing reachable but this
/// machine it lists the three nodes, adds a person and saves a number alone, and the other
/// nodes' pages show both.
#[tokio::test(flavor = "multi_thread")]
async fn each_nodes_own_page_works_offline_and_shows_what_another_node_was_given() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let urls = lab.node_urls().await;
    let port = |url: &str| url.rsplit_once(':').unwrap().1.to_owned();
    let browser = Browser::start_offline().await;
    browser.goto(&format!("{}/", urls[0])).await;
    browser.wait_for_text("#state", |t| t == "live").await;
    let nodes = browser.wait_for_count("#nodes li", 3).await;
    for url in &urls {
        assert!(nodes.iter().any(|n| n.contains(&port(url))), "{url} listed: {nodes:?}");
    }

    browser.fill("#person-name", "Grace Hopper").await;
    browser.fill("#person-number", "1906").await;
    browser.click("#add-person button").await;
    browser.wait_for_text("#persons", |t| t.contains("Grace Hopper — 1906")).await;
    browser.fill("#only-number", "424242").await;
    browser.click("#save-number button").await;
    browser.wait_for_text("#highest", |t| t == "424242").await;

    // Everything the page loaded came from the node, and the outside is really cut off.
    let loaded = browser
        .client
        .execute("return performance.getEntriesByType('resource').map(e => e.name)", vec![])
        .await
        .unwrap();
    let origin = format!("{}/", urls[0]);
    for name in loaded.as_array().unwrap() {
        assert!(name.as_str().unwrap().starts_with(&origin), "loaded from outside: {name}");
    }
    let outside = browser
        .client
        .execute_async(
            "const done = arguments[0]; fetch('http://example.com/').then(() => done('reached'), () => done('cut off'))",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(outside, "cut off");

    for url in &urls[1..] {
        browser.goto(&format!("{url}/")).await;
        browser.wait_for_text("#persons", |t| t.contains("Grace Hopper — 1906")).await;
        browser.wait_for_text("#highest", |t| t == "424242").await;
    }
    browser.click("#sync button").await;
    browser.wait_for_text("#synced", |t| t.starts_with("Done (2 peers)")).await;
    browser.close().await;
}
