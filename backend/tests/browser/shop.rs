//! The Shop page: forms write through the registry to the real store; killing server A moves
//! the page's requests to B.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::browser::Browser;
use crate::support::Lab;

#[tokio::test(flavor = "multi_thread")]
async fn a_product_added_through_the_form_is_served_by_the_backend_and_failover_shows() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    lab.wait_registry_ready().await;
    let (shop_a, shop_b) = (lab.service("shop-a").await, lab.service("shop-b").await);

    let browser = Browser::start().await;
    browser.goto(&lab.url("/shop")).await;
    browser.wait_for_text("#registry", |t| t.matches("up").count() >= 2).await;
    browser.fill("#product-name", "Lab Tablet").await;
    browser.fill("#product-price", "299.99").await;
    browser.fill("#product-category", "electronics").await;
    browser.click("#product-submit").await;
    browser
        .wait_for_text("#shop-notice", |t| t.contains("Added product") && t.contains("Lab Tablet"))
        .await;

    // The backend really stored it: ask shop server B directly, not through the page.
    let products: Vec<shared::shop::Product> =
        crate::support::get_json(&format!("{}/products", shop_b.url)).await;
    let stored =
        products.iter().find(|p| p.name == "Lab Tablet").expect("the product is in the store");
    assert_eq!(stored.price, shared::shop::Money(29_999));
    assert_eq!(stored.category, "electronics");
    let row = format!("#products tr[data-product='{}'] td.name", stored.id);
    browser.wait_for_text(&row, |t| t == "Lab Tablet").await;

    // Kill A: once the registry notices, every request the page makes is answered by B.
    let b_address = format!("localhost:{}", shop_b.url.rsplit_once(':').unwrap().1);
    kill(Pid::from_raw(shop_a.pid.unwrap() as i32), Signal::SIGKILL).unwrap();
    browser.wait_for_text("#registry", |t| t.contains("down")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    browser.click("#reload").await;
    // (The wait is the check: it fails unless the three newest rows name B.)
    browser
        .wait_until("the reload's three requests answered by B", || async {
            let texts = browser.texts("#request-log tbody tr td.server").await;
            (texts.len() >= 3 && texts[..3].iter().all(|s| *s == b_address)).then_some(())
        })
        .await;
    browser.close().await;
}
