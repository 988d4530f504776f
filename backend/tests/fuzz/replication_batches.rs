//! A mirror store's `POST /replication/apply`: the batch of logged changes a front ships from the
//! primary's log, parsed and applied by the real store router (`shop::store_router` over a
//! temporary SQLite mirror, as `lab serve store` runs). Whatever the bytes:
//! - never a panic or a 5xx; a refusal is a 4xx `{code, message}` and leaves the store exactly
//!   as it was (the batch is one transaction);
//! - a batch is applied by the log's rule — changes at or below the store's seq skipped, the
//!   next applied, a gap refused — and only a batch whose every change a primary can have
//!   logged is applied (seqs and ids
//!   from 1 to 2^53 - 1, prices above 0 and at most the shop's maximum, quantities from 1 to
//!   10,000, an order's totals its lines' sums);
//! - after an applied batch the store is sound (`PRAGMA quick_check`, a gap-free log) and reads
//!   back what the changes said: products, carts and orders, through the shop's own routes.
//!
//! Each input runs against an empty mirror (the previous input's changes are reset away through
//! `POST /replication/reset`), so the rules above are checked against a model of the changes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use shared::replication::{Change, LoggedChange, StorePosition, StoreState};
use shared::shop::{Cart, Money, Order, PlacedOrder, Product};
use tower::ServiceExt;

use super::harness::{fuzz, gist, rejection_gist, scratch_dir, Verdict};

const WORDS: &[&str] = &[
    "\"seq\"",
    "\"atMs\"",
    "\"change\"",
    "\"op\"",
    "\"put-product\"",
    "\"delete-product\"",
    "\"place-order\"",
    "\"set-cart-item\"",
    "\"remove-cart-item\"",
    "\"product\"",
    "\"order\"",
    "\"id\"",
    "\"userId\"",
    "\"productId\"",
    "\"quantity\"",
    "\"price\"",
    "\"items\"",
    "\"unitPrice\"",
    "\"lineTotal\"",
    "\"total\"",
];

/// The shop's own limits, as its validation states them (`shop::validate`, private to it).
const MAX_ID: u64 = (1 << 53) - 1;
const MAX_QUANTITY: u32 = 10_000;

const PATIENCE: Duration = Duration::from_secs(10);

struct Mirror {
    runtime: tokio::runtime::Runtime,
    app: Router,
    _dir: tempfile::TempDir,
}

impl Drop for Mirror {
    /// The store's connection pool must be dropped inside the runtime it was made in.
    fn drop(&mut self) {
        let _inside = self.runtime.enter();
        self.app = Router::new();
    }
}

fn fresh() -> Mirror {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = scratch_dir();
    let path = dir.path().join("mirror.sqlite3");
    let app = runtime.block_on(async {
        let store = backend::shop::ShopStore::open_logged(&path).await.expect("a store");
        store.init_role(true).await.expect("the mirror role");
        backend::shop::store_router("store-fuzz", store)
    });
    Mirror { runtime, app, _dir: dir }
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    body: Vec<u8>,
) -> Result<(StatusCode, Vec<u8>), String> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .map_err(|e| format!("request: {e}"))?;
    let response = tokio::time::timeout(PATIENCE, app.clone().oneshot(request))
        .await
        .map_err(|_| format!("{uri}: no answer within {PATIENCE:?}"))?
        .map_err(|e| format!("the router failed: {e}"))?;
    let status = response.status();
    let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, bytes.to_vec()))
}

/// A read that must answer 200 with `T`.
async fn read<T: serde::de::DeserializeOwned>(app: &Router, uri: &str) -> Result<T, String> {
    let (status, body) = call(app, Method::GET, uri, Vec::new()).await?;
    let text = String::from_utf8_lossy(&body);
    if status != StatusCode::OK {
        return Err(format!("GET {uri} answered {status}: {text}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET {uri}: {e}: {text}"))
}

/// What the mirror should hold after the changes applied (it starts empty).
#[derive(Debug, Default)]
struct Model {
    products: BTreeMap<u64, Product>,
    carts: BTreeMap<(u64, u64), u32>,
    orders: BTreeMap<u64, Order>,
}

impl Model {
    fn apply(&mut self, change: &Change) {
        match change {
            Change::PutProduct { product } => {
                drop(self.products.insert(product.id, product.clone()))
            }
            Change::DeleteProduct { id } => {
                self.products.remove(id);
                self.carts.retain(|(_, product), _| product != id);
            }
            Change::PlaceOrder { order } => drop(self.orders.insert(order.id, order.clone())),
            Change::SetCartItem { user_id, product_id, quantity } => {
                self.carts.insert((*user_id, *product_id), *quantity);
            }
            Change::RemoveCartItem { user_id, product_id } => {
                self.carts.remove(&(*user_id, *product_id));
            }
        }
    }
}

/// Could a primary have logged `change`? (What its validation lets through.)
fn plausible(change: &Change) -> Result<(), String> {
    let id = |what: &str, id: u64| {
        if (1..=MAX_ID).contains(&id) {
            Ok(())
        } else {
            Err(format!("{what} {id} out of range"))
        }
    };
    let quantity = |q: u32| {
        if (1..=MAX_QUANTITY).contains(&q) {
            Ok(())
        } else {
            Err(format!("quantity {q} out of range"))
        }
    };
    let price = |what: &str, m: Money| {
        if m > Money(0) && m <= Money::MAX {
            Ok(())
        } else {
            Err(format!("{what} {m} out of range"))
        }
    };
    match change {
        Change::PutProduct { product } => {
            id("product id", product.id)?;
            price("price", product.price)
        }
        Change::DeleteProduct { id: product } => id("product id", *product),
        Change::PlaceOrder { order } => {
            id("order id", order.id)?;
            id("user id", order.user_id)?;
            if order.items.is_empty() {
                return Err("an order without lines".into());
            }
            let mut total = Money(0);
            for line in &order.items {
                id("product id", line.product_id)?;
                // A line holds every line that named its product: up to 100 × 10,000.
                if !(1..=MAX_QUANTITY * 100).contains(&line.quantity) {
                    return Err(format!("line quantity {} out of range", line.quantity));
                }
                price("unit price", line.unit_price)?;
                if line.unit_price.checked_mul(line.quantity) != Some(line.line_total) {
                    return Err("a line total that is not price × quantity".into());
                }
                total = total.checked_add(line.line_total).unwrap_or(Money::MAX);
            }
            if order.total != total || total > Money::MAX {
                return Err("an order total that is not its lines' sum".into());
            }
            Ok(())
        }
        Change::SetCartItem { user_id, product_id, quantity: q } => {
            id("user id", *user_id)?;
            id("product id", *product_id)?;
            quantity(*q)
        }
        Change::RemoveCartItem { user_id, product_id } => {
            id("user id", *user_id)?;
            id("product id", *product_id)
        }
    }
}

/// What the mirror must do with `batch` from seq `last`: refuse it (why), or apply it (its new
/// seq and contents).
fn expected(batch: &[LoggedChange], mut last: u64) -> Result<(u64, Model), String> {
    // Every change is checked first, the re-sent ones too: one no primary could have logged
    // (a seq of 0 or past 2^53 - 1, a time past 2^53 - 1, an implausible change) refuses the
    // batch, whatever the store holds already.
    for logged in batch {
        if !(1..=MAX_ID).contains(&logged.seq) || logged.at_ms > MAX_ID {
            return Err(format!("seq {} at {} ms: not from a primary", logged.seq, logged.at_ms));
        }
        plausible(&logged.change).map_err(|why| format!("change {}: {why}", logged.seq))?;
    }
    let mut model = Model::default();
    for logged in batch {
        if logged.seq <= last {
            continue;
        }
        if logged.seq != last + 1 {
            return Err(format!("a gap: seq {} after {last}", logged.seq));
        }
        model.apply(&logged.change);
        last = logged.seq;
    }
    Ok((last, model))
}

/// The mirror's state and contents, to compare before and after a refused batch.
async fn snapshot(app: &Router) -> Result<(StoreState, Value), String> {
    Ok((read(app, "/replication/state").await?, read(app, "/products").await?))
}

/// The store holds exactly what `model` says.
async fn holds(app: &Router, model: &Model, last: u64) -> Result<(), String> {
    let state: StoreState = read(app, "/replication/state?check=true").await?;
    let counts = (state.last_seq, state.products, state.orders, state.cart_items);
    let want =
        (last, model.products.len() as u64, model.orders.len() as u64, model.carts.len() as u64);
    if counts != want || !state.log_contiguous || state.integrity != "ok" {
        return Err(format!("after the batch the store is {state:?}; (seq, products, orders, cart items) should be {want:?}"));
    }
    let products: Vec<Product> = read(app, "/products").await?;
    if products.iter().ne(model.products.values()) {
        return Err(format!(
            "GET /products is {products:?}, the changes said {:?}",
            model.products
        ));
    }
    let users: BTreeSet<u64> = model
        .carts
        .keys()
        .map(|(user, _)| *user)
        .chain(model.orders.values().map(|o| o.user_id))
        .take(20)
        .collect();
    for user in users {
        let cart: Cart = read(app, &format!("/cart/{user}")).await?;
        let got: BTreeSet<(u64, u32)> =
            cart.items.iter().map(|l| (l.product_id, l.quantity)).collect();
        let want: BTreeSet<(u64, u32)> = model
            .carts
            .iter()
            .filter(|((u, p), _)| *u == user && model.products.contains_key(p))
            .map(|((_, p), q)| (*p, *q))
            .collect();
        if got != want
            || cart.items.iter().any(|l| model.products.get(&l.product_id) != Some(&l.product))
        {
            return Err(format!("GET /cart/{user} is {cart:?}, the changes said {want:?}"));
        }
        let orders: Vec<PlacedOrder> = read(app, &format!("/orders/{user}")).await?;
        let want: Vec<&Order> = model.orders.values().filter(|o| o.user_id == user).collect();
        if orders.iter().map(|o| &o.order).ne(want.iter().copied()) {
            return Err(format!("GET /orders/{user} is {orders:?}, the changes said {want:?}"));
        }
    }
    Ok(())
}

/// An outcome's name: the status, the message's first words (without the input's own text),
/// and which kinds of change were applied.
fn outcome(status: StatusCode, body: &[u8], batch: Option<&[LoggedChange]>) -> String {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = json["message"].as_str().unwrap_or_default();
    let message = rejection_gist(message).unwrap_or_else(|| gist(message, 100));
    let kinds: BTreeSet<&str> = batch
        .unwrap_or_default()
        .iter()
        .map(|c| match c.change {
            Change::PutProduct { .. } => "put",
            Change::DeleteProduct { .. } => "delete",
            Change::PlaceOrder { .. } => "order",
            Change::SetCartItem { .. } => "cart",
            Change::RemoveCartItem { .. } => "uncart",
        })
        .collect();
    format!("{} {message} {kinds:?}", status.as_u16())
}

async fn check(app: &Router, input: &[u8]) -> Verdict {
    let mut before = snapshot(app).await?;
    if before.0.last_seq != 0 {
        let (status, body) = call(app, Method::POST, "/replication/reset", Vec::new()).await?;
        if status != StatusCode::OK {
            return Err(format!("reset answered {status}: {}", String::from_utf8_lossy(&body)));
        }
        before = snapshot(app).await?;
    }
    let (status, body) = call(app, Method::POST, "/replication/apply", input.to_vec()).await?;
    let text = String::from_utf8_lossy(&body);
    if status.is_server_error() {
        return Err(format!("apply answered {status}: {text}"));
    }
    let batch: Option<Vec<LoggedChange>> = serde_json::from_slice(input).ok();
    let want = match &batch {
        None => Err("not a batch of logged changes".to_owned()),
        Some(batch) => expected(batch, before.0.last_seq),
    };
    match want {
        Err(why) => {
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if !status.is_client_error()
                || json["code"] != status.as_u16()
                || !json["message"].is_string()
            {
                return Err(format!("{why}, yet apply answered {status}: {text}"));
            }
            let after = snapshot(app).await?;
            if after != before {
                return Err(format!(
                    "a refused batch changed the store: {before:?} became {after:?}"
                ));
            }
        }
        Ok((last, model)) => {
            let position: Option<StorePosition> = serde_json::from_slice(&body).ok();
            if status != StatusCode::OK || position.as_ref().map(|p| p.last_seq) != Some(last) {
                return Err(format!("the batch should take the mirror to seq {last}; apply answered {status}: {text}"));
            }
            holds(app, &model, last).await?;
        }
    }
    Ok(outcome(status, &body, batch.as_deref()))
}

#[test]
fn fuzz_replication_batches() {
    fuzz("replication_batches", WORDS, fresh, |mirror, input| {
        let app = mirror.app.clone();
        mirror.runtime.block_on(check(&app, input))
    });
}
