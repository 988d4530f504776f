//! Every shop route, in-process, with the bad inputs the workshop's sample got wrong.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Shop {
    app: axum::Router,
    _dir: tempfile::TempDir,
}

impl Shop {
    async fn new() -> Shop {
        let dir = tempfile::tempdir().unwrap();
        let store = backend::shop::ShopStore::open(&dir.path().join("shop.sqlite3")).await.unwrap();
        Shop { app: backend::shop::router("shop-test", store), _dir: dir }
    }

    async fn call(&self, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request =
            request.body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned()))).unwrap();
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("{method} {uri}: not JSON: {bytes:?}"));
        (status, value)
    }

    async fn ok(&self, method: &str, uri: &str, body: Option<Value>) -> Value {
        let text = body.map(|b| b.to_string());
        let (status, value) = self.call(method, uri, text.as_deref()).await;
        assert!(status.is_success(), "{method} {uri} → {status}: {value}");
        value
    }

    /// Expect a 4xx JSON error whose message mentions `needle`.
    async fn refused(
        &self,
        method: &str,
        uri: &str,
        body: Option<&str>,
        status: StatusCode,
        needle: &str,
    ) {
        let (got, value) = self.call(method, uri, body).await;
        assert_eq!(got, status, "{method} {uri} {body:?}: {value}");
        assert_eq!(value["code"], status.as_u16(), "{value}");
        let message = value["message"].as_str().unwrap();
        assert!(message.contains(needle), "{method} {uri}: {message:?} should mention {needle:?}");
    }

    async fn product(&self, name: &str, price: f64, category: &str) -> u64 {
        let body = json!({"name": name, "price": price, "category": category});
        self.ok("POST", "/products", Some(body)).await["id"].as_u64().unwrap()
    }
}

#[tokio::test]
async fn products_are_created_listed_filtered_updated_and_deleted() {
    let shop = Shop::new().await;
    let tablet = shop.product("Tablet", 299.99, "electronics").await;
    let pen = shop.product("Pen", 1.5, "office").await;
    let (status, created) =
        shop.call("POST", "/products", Some(r#"{"name":"Lamp","price":20,"inStock":false}"#)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["category"], "general");
    assert_eq!(created["inStock"], false);

    assert_eq!(shop.ok("GET", "/products", None).await.as_array().unwrap().len(), 3);
    let electronics = shop.ok("GET", "/products?category=electronics", None).await;
    assert_eq!(electronics.as_array().unwrap().len(), 1);
    assert_eq!(electronics[0]["price"], 299.99);
    assert_eq!(shop.ok("GET", "/products?inStock=false", None).await[0]["name"], "Lamp");
    assert_eq!(shop.ok("GET", "/products?inStock=true&category=office", None).await[0]["id"], pen);

    let updated =
        shop.ok("PUT", &format!("/products/{tablet}"), Some(json!({"price": 249.5}))).await;
    assert_eq!(
        (updated["price"].as_f64(), updated["name"].as_str()),
        (Some(249.5), Some("Tablet"))
    );
    assert_eq!(shop.ok("GET", &format!("/products/{tablet}"), None).await["price"], 249.5);

    let deleted = shop.ok("DELETE", &format!("/products/{pen}"), None).await;
    assert_eq!(deleted["message"], "Deleted", "the workshop's shape: {deleted}");
    assert_eq!(
        (&deleted["product"]["id"], &deleted["product"]["name"]),
        (&json!(pen), &json!("Pen"))
    );
    assert_eq!(deleted["name"], "Pen", "the product's fields at the top level, as before");
    shop.refused("GET", &format!("/products/{pen}"), None, StatusCode::NOT_FOUND, "no product")
        .await;
    shop.refused("DELETE", &format!("/products/{pen}"), None, StatusCode::NOT_FOUND, "no product")
        .await;
}

#[tokio::test]
async fn ids_are_never_reused_after_a_delete() {
    // The workshop's sample used `length + 1`: delete the last product, add one, and two
    // products had the same id.
    let shop = Shop::new().await;
    let first = shop.product("A", 1.0, "c").await;
    let second = shop.product("B", 1.0, "c").await;
    shop.ok("DELETE", &format!("/products/{second}"), None).await;
    let third = shop.product("C", 1.0, "c").await;
    assert!(third > second && second > first, "ids {first}, {second}, {third}");
}

#[tokio::test]
async fn bad_products_are_refused_and_write_nothing() {
    let shop = Shop::new().await;
    let cases: &[(&str, StatusCode, &str)] = &[
        (r#"{"price":1}"#, StatusCode::UNPROCESSABLE_ENTITY, "missing field `name`"),
        (r#"{"name":"x"}"#, StatusCode::UNPROCESSABLE_ENTITY, "missing field `price`"),
        (r#"{"name":"x","price":"cheap"}"#, StatusCode::UNPROCESSABLE_ENTITY, "price"),
        (r#"{"name":"x","price":0}"#, StatusCode::BAD_REQUEST, "greater than 0"),
        (r#"{"name":"x","price":-3}"#, StatusCode::BAD_REQUEST, "greater than 0"),
        (r#"{"name":"x","price":1.999}"#, StatusCode::UNPROCESSABLE_ENTITY, "two decimals"),
        (r#"{"name":"   ","price":1}"#, StatusCode::BAD_REQUEST, "name must not be empty"),
        (
            r#"{"name":"x","price":1,"colour":"red"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field `colour`",
        ),
        (r#"{"name":"x","price":1,"inStock":"yes"}"#, StatusCode::UNPROCESSABLE_ENTITY, "inStock"),
        (r#"{"name":"x","price":1"#, StatusCode::BAD_REQUEST, "JSON"),
        (r#"[1,2]"#, StatusCode::UNPROCESSABLE_ENTITY, "invalid type"),
    ];
    for (body, status, needle) in cases {
        shop.refused("POST", "/products", Some(body), *status, needle).await;
    }
    // No content type at all.
    let request = Request::post("/products").body(Body::from(r#"{"name":"x","price":1}"#)).unwrap();
    let response = shop.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(shop.ok("GET", "/products", None).await, json!([]), "nothing was written");

    let id = shop.product("Tablet", 10.0, "c").await;
    let uri = format!("/products/{id}");
    let unchanged = shop.ok("GET", &uri, None).await;
    assert_eq!(
        shop.ok("PUT", &uri, Some(json!({}))).await,
        unchanged,
        "an empty patch changes nothing"
    );
    shop.refused("PUT", &uri, Some(r#"{"price":0}"#), StatusCode::BAD_REQUEST, "greater than 0")
        .await;
    shop.refused(
        "PUT",
        "/products/999",
        Some(r#"{"price":2}"#),
        StatusCode::NOT_FOUND,
        "no product with id 999",
    )
    .await;
    shop.refused("GET", "/products/abc", None, StatusCode::BAD_REQUEST, "").await;
    shop.refused("GET", "/products/0", None, StatusCode::BAD_REQUEST, "between 1").await;
    shop.refused("GET", "/products?inStock=maybe", None, StatusCode::BAD_REQUEST, "").await;
    shop.refused("GET", "/products?colour=red", None, StatusCode::BAD_REQUEST, "unknown field")
        .await;
    assert_eq!(
        shop.ok("GET", &uri, None).await["price"],
        10.0,
        "the refused updates changed nothing"
    );
}

#[tokio::test]
async fn orders_are_priced_exactly_and_listed_per_user() {
    let shop = Shop::new().await;
    let a = shop.product("A", 0.1, "c").await;
    let b = shop.product("B", 0.2, "c").await;
    let order = json!({"userId": 7, "items": [{"productId": a, "quantity": 1}, {"productId": b, "quantity": 1}]});
    let (status, placed) = shop.call("POST", "/orders", Some(&order.to_string())).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(placed["total"], 0.3, "0.1 + 0.2 is 0.3 in a shop");
    assert_eq!(placed["status"], "confirmed");
    assert_eq!((&placed["orderId"], &placed["userId"]), (&placed["id"], &json!(7)), "{placed}");
    assert!(placed["orderId"].is_u64(), "{placed}");
    assert_eq!(
        (&placed["items"][0]["productId"], &placed["items"][0]["quantity"]),
        (&json!(a), &json!(1))
    );
    assert_eq!(placed["items"][1]["lineTotal"], 0.2);

    // The same product twice is one line; prices are kept as they were when ordered.
    let twice = json!({"userId": 7, "items": [{"productId": a, "quantity": 2}, {"productId": a, "quantity": 3}]});
    let placed2 = shop.ok("POST", "/orders", Some(twice)).await;
    assert_eq!(placed2["items"].as_array().unwrap().len(), 1);
    assert_eq!(placed2["total"], 0.5);
    assert_ne!(placed2["id"], placed["id"]);
    assert_ne!(placed2["orderId"], placed["orderId"]);
    shop.ok("PUT", &format!("/products/{a}"), Some(json!({"price": 9}))).await;

    let orders = shop.ok("GET", "/orders/7", None).await;
    assert_eq!(orders.as_array().unwrap().len(), 2);
    assert_eq!(orders[1]["items"][0]["unitPrice"], 0.1);
    assert_eq!((&orders[1]["orderId"], &orders[1]["id"]), (&placed2["id"], &placed2["id"]));
    assert_eq!(shop.ok("GET", "/orders/8", None).await, json!([]));
}

#[tokio::test]
async fn bad_orders_are_refused_and_write_nothing() {
    let shop = Shop::new().await;
    let a = shop.product("A", 5.0, "c").await;
    let out = shop.product("Out", 5.0, "c").await;
    shop.ok("PUT", &format!("/products/{out}"), Some(json!({"inStock": false}))).await;
    let line = |id: u64, q: i64| {
        json!({"userId": 1, "items": [{"productId": a, "quantity": 1}, {"productId": id, "quantity": q}]}).to_string()
    };
    let cases = [
        (line(999, 1), StatusCode::NOT_FOUND, "no product with id 999".to_owned()),
        (line(out, 1), StatusCode::CONFLICT, "out of stock".to_owned()),
        (line(a, 0), StatusCode::BAD_REQUEST, "items[1]: quantity".to_owned()),
        (line(a, -1), StatusCode::UNPROCESSABLE_ENTITY, "quantity".to_owned()),
        (line(a, 20_000), StatusCode::BAD_REQUEST, "quantity".to_owned()),
        (
            r#"{"userId":1,"items":[]}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "at least one item".to_owned(),
        ),
        (
            r#"{"items":[{"productId":1,"quantity":1}]}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "userId".to_owned(),
        ),
        (
            r#"{"userId":"me","items":[]}"#.to_owned(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "userId".to_owned(),
        ),
        (
            r#"{"userId":0,"items":[{"productId":1,"quantity":1}]}"#.to_owned(),
            StatusCode::BAD_REQUEST,
            "userId".to_owned(),
        ),
        ("not json".to_owned(), StatusCode::BAD_REQUEST, "JSON".to_owned()),
    ];
    for (body, status, needle) in &cases {
        shop.refused("POST", "/orders", Some(body), *status, needle).await;
    }
    assert_eq!(shop.ok("GET", "/orders/1", None).await, json!([]), "no partial order was written");
    shop.refused("GET", "/orders/x", None, StatusCode::BAD_REQUEST, "").await;
}

#[tokio::test]
async fn carts_add_up_show_details_and_remove_items() {
    let shop = Shop::new().await;
    let a = shop.product("A", 2.25, "c").await;
    let b = shop.product("B", 10.0, "c").await;
    let first = shop.ok("POST", "/cart/3", Some(json!({"productId": a, "quantity": 1}))).await;
    assert_eq!(first["cart"], json!([{"productId": a, "quantity": 1}]), "{first}");
    shop.ok("POST", "/cart/3", Some(json!({"productId": a, "quantity": 2}))).await;
    let mut cart = shop.ok("POST", "/cart/3", Some(json!({"productId": b, "quantity": 1}))).await;
    let workshop = cart.as_object_mut().unwrap().remove("cart");
    assert_eq!(
        workshop,
        Some(json!([{"productId": a, "quantity": 3}, {"productId": b, "quantity": 1}])),
        "the workshop's cart"
    );
    assert_eq!(cart["items"][0]["quantity"], 3);
    assert_eq!(cart["items"][0]["product"]["name"], "A");
    assert_eq!(cart["items"][0]["lineTotal"], 6.75);
    assert_eq!(cart["total"], 16.75);
    assert_eq!(shop.ok("GET", "/cart/3", None).await, cart, "GET answers the same, without `cart`");
    assert_eq!(shop.ok("GET", "/cart/4", None).await["items"], json!([]));

    let cart = shop.ok("DELETE", &format!("/cart/3/item/{a}"), None).await;
    assert_eq!(cart["cart"], json!([{"productId": b, "quantity": 1}]), "{cart}");
    assert_eq!(cart["total"], 10.0);
    shop.refused(
        "DELETE",
        &format!("/cart/3/item/{a}"),
        None,
        StatusCode::NOT_FOUND,
        "not in the cart",
    )
    .await;

    // Deleting a product takes it out of every cart.
    shop.ok("DELETE", &format!("/products/{b}"), None).await;
    assert_eq!(shop.ok("GET", "/cart/3", None).await["items"], json!([]));
}

#[tokio::test]
async fn bad_cart_requests_are_refused_and_write_nothing() {
    let shop = Shop::new().await;
    let a = shop.product("A", 1.0, "c").await;
    shop.refused(
        "POST",
        "/cart/1",
        Some(r#"{"productId":42,"quantity":1}"#),
        StatusCode::NOT_FOUND,
        "no product with id 42",
    )
    .await;
    shop.refused(
        "POST",
        "/cart/1",
        Some(&format!(r#"{{"productId":{a},"quantity":0}}"#)),
        StatusCode::BAD_REQUEST,
        "quantity",
    )
    .await;
    shop.refused(
        "POST",
        "/cart/1",
        Some(&format!(r#"{{"productId":{a}}}"#)),
        StatusCode::UNPROCESSABLE_ENTITY,
        "quantity",
    )
    .await;
    shop.refused(
        "POST",
        "/cart/0",
        Some(&format!(r#"{{"productId":{a},"quantity":1}}"#)),
        StatusCode::BAD_REQUEST,
        "userId",
    )
    .await;
    shop.refused("POST", "/cart/1", Some("{"), StatusCode::BAD_REQUEST, "JSON").await;
    shop.ok("POST", "/cart/1", Some(json!({"productId": a, "quantity": 9_999}))).await;
    shop.refused(
        "POST",
        "/cart/1",
        Some(&format!(r#"{{"productId":{a},"quantity":2}}"#)),
        StatusCode::CONFLICT,
        "at most",
    )
    .await;
    assert_eq!(shop.ok("GET", "/cart/1", None).await["items"][0]["quantity"], 9_999);
    shop.refused("DELETE", "/cart/1/item/abc", None, StatusCode::BAD_REQUEST, "").await;
}

#[tokio::test]
async fn a_cached_product_list_never_hides_a_write_made_by_the_other_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.sqlite3");
    let open = |name: &'static str| {
        let db = db.clone();
        async move {
            let store = backend::shop::ShopStore::open(&db).await.unwrap();
            Shop { app: backend::shop::router(name, store), _dir: tempfile::tempdir().unwrap() }
        }
    };
    let (a, b) = (open("shop-a").await, open("shop-b").await);
    for round in 0..20 {
        // A caches its answer; B writes; A's very next answer has B's write.
        let before = a.ok("GET", "/products", None).await.as_array().unwrap().len();
        assert_eq!(a.ok("GET", "/products", None).await.as_array().unwrap().len(), before);
        b.product(&format!("p{round}"), 1.0, "c").await;
        assert_eq!(a.ok("GET", "/products", None).await.as_array().unwrap().len(), before + 1);
        let id = b.product("gone", 2.0, "c").await;
        b.ok("DELETE", &format!("/products/{id}"), None).await;
        let names: Vec<Value> = a
            .ok("GET", "/products", None)
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].clone())
            .collect();
        assert!(!names.contains(&json!("gone")), "round {round}: {names:?}");
    }
}

/// A database that fails under a request (its table dropped by another connection): the client
/// gets a 500 `{code, message}` in the service's words, and SQLite's own text stays in the log.
#[tokio::test]
async fn a_failing_database_answers_in_the_services_words_not_sqlites() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.sqlite3");
    let store = backend::shop::ShopStore::open(&db).await.unwrap();
    let shop = Shop { app: backend::shop::router("shop-test", store), _dir: dir };
    shop.ok("POST", "/products", Some(json!({"name": "Lamp", "price": 9.5}))).await;
    let other = backend::sqlite::rusqlite::Connection::open(&db).unwrap();
    other.execute_batch("DROP TABLE products").unwrap();
    let (status, body) =
        shop.call("POST", "/products", Some(r#"{"name": "Desk", "price": 120}"#)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["code"], 500, "{body}");
    let text = body.to_string().to_lowercase();
    for sqlite_words in ["no such table", "sqlite", "products"] {
        assert!(!text.contains(sqlite_words), "{sqlite_words:?} reached the client: {body}");
    }
}
