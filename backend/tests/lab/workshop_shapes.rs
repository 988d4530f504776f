//! The workshop's own curl list against a started lab, reading the fields its clients read:
//! shop servers A and B (B sees A's writes), the mirroring and replication fronts, the
//! registry, a model, and the meta-model.

use crate::support;

use reqwest::Method;
use serde_json::{json, Value};
use support::Lab;

/// One request as the workshop's clients send it: the status and the JSON answer.
async fn call(method: Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method.clone(), url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{method} {url} → {status}: not JSON: {text:?}"));
    (status, value)
}

/// `call`, expecting `status`.
async fn expect(status: u16, method: Method, url: &str, body: Option<Value>) -> Value {
    let (got, value) = call(method.clone(), url, body).await;
    assert_eq!(got, status, "{method} {url}: {value}");
    value
}

/// The names of a product list, in order.
fn names(list: &Value) -> Vec<&str> {
    list.as_array().expect("a list").iter().map(|p| p["name"].as_str().unwrap()).collect()
}

/// The shop's part of the curl list: every write goes to `writer`, every read to `reader`
/// (the same shop or the other server over the same store).
async fn shop_curl_list(writer: &str, reader: &str) {
    let post = |path: &str, body: Value| {
        let url = format!("{writer}{path}");
        async move { expect(201, Method::POST, &url, Some(body)).await }
    };
    let tablet = post(
        "/products",
        json!({"name": "Tablet", "price": 299.99, "category": "electronics", "inStock": true}),
    )
    .await;
    let tablet_id = tablet["id"].as_u64().expect("a product id");
    assert_eq!((&tablet["name"], &tablet["price"]), (&json!("Tablet"), &json!(299.99)), "{tablet}");
    let lamp = post(
        "/products",
        json!({"name": "Lamp", "price": 20, "category": "electronics", "inStock": false}),
    )
    .await["id"]
        .as_u64()
        .unwrap();
    let pen = post("/products", json!({"name": "Pen", "price": 1.5, "category": "office"})).await
        ["id"]
        .as_u64()
        .unwrap();

    // Filters, read on the other server.
    let listed = expect(
        200,
        Method::GET,
        &format!("{reader}/products?category=electronics&inStock=true"),
        None,
    )
    .await;
    assert_eq!(names(&listed), ["Tablet"], "{listed}");
    assert_eq!(
        names(
            &expect(200, Method::GET, &format!("{reader}/products?category=electronics"), None)
                .await
        ),
        ["Tablet", "Lamp"]
    );
    assert_eq!(
        names(&expect(200, Method::GET, &format!("{reader}/products"), None).await).len(),
        3
    );
    let one = expect(200, Method::GET, &format!("{reader}/products/{tablet_id}"), None).await;
    assert_eq!(
        (&one["name"], &one["category"], &one["inStock"]),
        (&json!("Tablet"), &json!("electronics"), &json!(true))
    );

    // A partial update.
    let updated = expect(
        200,
        Method::PUT,
        &format!("{writer}/products/{tablet_id}"),
        Some(json!({"price": 249.5})),
    )
    .await;
    assert_eq!((&updated["price"], &updated["name"]), (&json!(249.5), &json!("Tablet")));
    assert_eq!(
        expect(200, Method::GET, &format!("{reader}/products/{tablet_id}"), None).await["price"],
        249.5
    );

    // Orders: the workshop reads orderId, userId, items[].productId/quantity, total, status.
    let order =
        post("/orders", json!({"userId": 1, "items": [{"productId": tablet_id, "quantity": 2}]}))
            .await;
    let order_id = order["orderId"].as_u64().unwrap_or_else(|| panic!("no orderId: {order}"));
    assert_eq!(order["id"], order_id, "the lab's id is kept, the same number: {order}");
    assert_eq!(order["userId"], 1);
    assert_eq!(
        (&order["items"][0]["productId"], &order["items"][0]["quantity"]),
        (&json!(tablet_id), &json!(2))
    );
    assert_eq!(
        (&order["total"], &order["status"]),
        (&json!(499.0), &json!("confirmed")),
        "{order}"
    );
    let second =
        post("/orders", json!({"userId": 1, "items": [{"productId": pen, "quantity": 1}]})).await;
    assert_ne!(second["orderId"], order_id, "unique order ids");
    let orders = expect(200, Method::GET, &format!("{reader}/orders/1"), None).await;
    let orders = orders.as_array().unwrap();
    assert_eq!(orders.len(), 2, "{orders:?}");
    assert_eq!((&orders[0]["orderId"], &orders[0]["userId"]), (&json!(order_id), &json!(1)));
    assert_eq!(
        (&orders[0]["items"][0]["productId"], &orders[0]["items"][0]["quantity"]),
        (&json!(tablet_id), &json!(2))
    );
    assert_eq!((&orders[0]["total"], &orders[0]["status"]), (&json!(499.0), &json!("confirmed")));
    assert_eq!(orders[1]["orderId"], second["orderId"]);

    // The cart: the workshop's `cart` from POST and DELETE, details and total from GET.
    let cart_url = format!("{writer}/cart/1");
    let added =
        expect(200, Method::POST, &cart_url, Some(json!({"productId": tablet_id, "quantity": 1})))
            .await;
    assert_eq!(added["cart"], json!([{"productId": tablet_id, "quantity": 1}]), "{added}");
    let added =
        expect(200, Method::POST, &cart_url, Some(json!({"productId": pen, "quantity": 2}))).await;
    assert_eq!(
        added["cart"],
        json!([{"productId": tablet_id, "quantity": 1}, {"productId": pen, "quantity": 2}]),
        "{added}"
    );
    assert_eq!(added["total"], 252.5, "today's cart view beside `cart`: {added}");
    let cart = expect(200, Method::GET, &format!("{reader}/cart/1"), None).await;
    let items = cart["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{cart}");
    assert_eq!(
        (&items[0]["product"]["name"], &items[0]["product"]["price"]),
        (&json!("Tablet"), &json!(249.5))
    );
    assert_eq!(
        (&items[1]["product"]["name"], &items[1]["product"]["price"]),
        (&json!("Pen"), &json!(1.5))
    );
    assert_eq!(cart["total"], 252.5, "{cart}");
    let removed = expect(200, Method::DELETE, &format!("{writer}/cart/1/item/{pen}"), None).await;
    assert_eq!(removed["cart"], json!([{"productId": tablet_id, "quantity": 1}]), "{removed}");
    assert_eq!(expect(200, Method::GET, &format!("{reader}/cart/1"), None).await["total"], 249.5);

    // Delete: the workshop's {"message": "Deleted", "product": {...}}.
    let deleted = expect(200, Method::DELETE, &format!("{writer}/products/{lamp}"), None).await;
    assert_eq!(deleted["message"], "Deleted", "{deleted}");
    assert_eq!(
        (&deleted["product"]["id"], &deleted["product"]["name"]),
        (&json!(lamp), &json!("Lamp")),
        "{deleted}"
    );
    let gone = expect(404, Method::GET, &format!("{reader}/products/{lamp}"), None).await;
    assert_eq!(gone["code"], 404, "a JSON error: {gone}");
    assert!(gone["message"].as_str().is_some_and(|m| !m.is_empty()), "{gone}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workshops_curl_list_works_against_the_lab() {
    let lab = Lab::up();
    lab.wait_all_up().await;
    let url = |name: &'static str| {
        let lab = &lab;
        async move { lab.service(name).await.url }
    };
    let (shop_a, shop_b) = (url("shop-a").await, url("shop-b").await);

    // A (3001) writes, B (3002) reads: one store.
    shop_curl_list(&shop_a, &shop_b).await;
    // The fronts, each over stores of its own.
    let mirroring = url("mirroring").await;
    shop_curl_list(&mirroring, &mirroring).await;
    let replication = url("replication").await;
    shop_curl_list(&replication, &replication).await;

    // The registry hands out a shop server.
    let registry = lab.wait_registry_ready().await;
    let answer = expect(200, Method::GET, &format!("{registry}/getServer"), None).await;
    assert_eq!(answer["code"], 200, "{answer}");
    let port = |url: &str| url.rsplit_once(':').unwrap().1.to_owned();
    let servers = [format!("localhost:{}", port(&shop_a)), format!("localhost:{}", port(&shop_b))];
    assert!(
        servers.iter().any(|s| answer["server"] == s.as_str()),
        "{answer} not one of {servers:?}"
    );

    // A model.
    let setosa = "sl=5.1&sw=3.5&pl=1.4&pw=0.2";
    let model_a = url("model-a").await;
    let answer = expect(200, Method::GET, &format!("{model_a}/predict?{setosa}"), None).await;
    assert_eq!((&answer["model"], &answer["prediction"]), (&json!("A"), &json!(0)), "{answer}");

    // The meta-model. Its models have 300 ms to answer: on a busy machine one may be late, so
    // ask (a bounded number of times) until all three answered.
    let meta = url("meta-model").await;
    let keys = ["model_A", "model_B", "model_C"];
    let mut asked = None;
    for _ in 0..10 {
        let before = expect(200, Method::GET, &format!("{meta}/balances"), None).await;
        let answer = expect(200, Method::GET, &format!("{meta}/predict?{setosa}"), None).await;
        let individual = answer["individual_predictions"].as_object().cloned().unwrap_or_default();
        // A late model is there as null; a model missing is a wrong shape, not bad luck.
        assert!(keys.iter().all(|k| individual.contains_key(*k)), "by model_<name>: {answer}");
        if individual.values().all(Value::is_u64) {
            asked = Some((before, answer));
            break;
        }
    }
    let (before, answer) = asked.expect("a prediction all three models answered within 10 tries");
    assert_eq!(answer["consensus_prediction"], 0, "{answer}");
    assert_eq!(answer["prediction"], 0, "the lab's field is kept: {answer}");
    let after = expect(200, Method::GET, &format!("{meta}/balances"), None).await;
    for key in keys {
        assert_eq!(answer["individual_predictions"][key], 0, "{key}: {answer}");
        let updated = &answer["updated_balances"][key];
        let (balance, weight) = (updated["balance"].as_f64(), updated["weight"].as_f64());
        let (Some(balance), Some(weight)) = (balance, weight) else {
            panic!("updated_balances.{key}: {answer}")
        };
        assert!((0.0..=1.0).contains(&weight), "{key}: {updated}");
        let was = before[key]["balance"].as_f64().unwrap_or_else(|| panic!("/balances: {before}"));
        assert!(balance > was, "{key} agreed: rewarded in updated_balances ({was} → {balance})");
        // Nothing else asked the meta-model meanwhile: what it announced is what was settled.
        for field in ["balance", "weight"] {
            let settled =
                after[key][field].as_f64().unwrap_or_else(|| panic!("/balances: {after}"));
            let announced = updated[field].as_f64().unwrap();
            assert!(
                (settled - announced).abs() < 1e-9,
                "{key}.{field}: {announced} announced, {settled} settled"
            );
        }
    }
    assert_eq!(
        after.as_object().unwrap().keys().collect::<Vec<_>>(),
        keys,
        "the workshop's balances.json: {after}"
    );
}
