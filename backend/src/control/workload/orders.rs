//! `shop-orders`: clients place orders through the registry, as the workshop's client does
//! (`lab client`'s [`ShopClient`]: ask `GET /getServer`, send, try the next server when one fails
//! before the request reached it), while the nemesis kills, pauses or cuts off a shop server.
//! Judged as a `set`: after the heal, one client reads every client's orders, which must hold
//! every acknowledged order, none that was never placed, and none twice (`duplicate`).
//!
//! Each client is a shop user of its own (`userId` unique to the run); its n-th order is one
//! line of the run's product with quantity n, so the order reads back as `u<user>-q<n>`. An
//! order whose server failed after receiving it is `info` (it may have been stored), as the
//! client reports it; the client does not resend it, which is what keeps orders from doubling.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Map, Value};
use shared::ServiceKind;

use super::{nemesis, Done, Run};
use crate::control::{row, ControlError};
use crate::shop_client::{ClientError, ShopClient};

/// Clients, each a user of the shop.
const PROCESSES: u64 = 4;

/// The process that reads every user's orders at the end.
const READER: u64 = PROCESSES;

/// Quantities encode the order's number; the shop takes at most this many of a product.
const MAX_ORDERS: u64 = 10_000;

pub(super) async fn run(run: &Run<'_>) -> Result<(), ControlError> {
    let registry = row(run.state, "registry")?.url;
    let shops: Vec<String> =
        run.urls(ServiceKind::Shop).into_iter().map(|(name, _)| name).collect();
    if shops.len() < 2 {
        return Err(ControlError::Conflict("shop-orders needs both shop servers".into()));
    }
    let client = ShopClient::new(&registry);
    let product = json!({ "name": format!("{} product", run.id), "price": 1.0 });
    let created = client.send(Method::POST, "/products", Some(&product)).await.map_err(|err| {
        ControlError::Conflict(format!("could not create the run's product: {err}"))
    })?;
    let product_id = serde_json::from_str::<Value>(&created.body)
        .ok()
        .and_then(|p| p.get("id").and_then(Value::as_u64))
        .ok_or_else(|| {
            ControlError::Upstream(format!("the new product has no id: {}", created.body))
        })?;
    // Users unique to the run: its start in ms, times ten, plus the client.
    let base =
        run.state.recordings.get(run.id).map(|r| r.started_ms).unwrap_or(1) % 100_000_000_000 * 10;
    let users: Vec<u64> = (0..PROCESSES).map(|p| base + p + 1).collect();
    // The registry's side of a partition: it stops reaching the cut-off server.
    let planned = nemesis::plan(&run.spec.nemesis, &shops, run.time(), &mut run.rng(0));
    let clients = (0..PROCESSES).map(|p| orderer(run, &client, p, users[p as usize], product_id));
    let peers = ["registry".to_owned()];
    tokio::join!(futures::future::join_all(clients), nemesis::execute(run, planned, &peers));
    run.healing();
    nemesis::heal_all(run, &shops, &peers).await;
    // The registry checks its servers every 500 ms: let it see them back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let read = async {
        let mut seen = Vec::new();
        for user in &users {
            match client.send(Method::GET, &format!("/orders/{user}"), None).await {
                Ok(answer) if answer.status == 200 => {
                    let Ok(orders) = serde_json::from_str::<Vec<Value>>(&answer.body) else {
                        return Done::Fail(format!("unreadable orders of user {user}"));
                    };
                    seen.extend(orders.iter().flat_map(|order| elements(*user, order)));
                }
                Ok(answer) => {
                    return Done::Fail(format!("orders of user {user}: {}", answer.status))
                }
                Err(err) => return Done::Fail(err.to_string()),
            }
        }
        Done::Ok(json!(seen))
    };
    run.op(READER, "read", Value::Null, Map::new(), read).await;
    Ok(())
}

/// What an order reads back as: one element per line of it (`u<user>-q<quantity>`); the
/// shop scenarios read their orders the same way.
pub(crate) fn elements(user: u64, order: &Value) -> Vec<Value> {
    let lines = order.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    lines
        .iter()
        .filter_map(|line| line.get("quantity")?.as_u64())
        .map(|q| json!(format!("u{user}-q{q}")))
        .collect()
}

async fn orderer(run: &Run<'_>, client: &ShopClient, process: u64, user: u64, product: u64) {
    let pace = run.pace(PROCESSES as usize);
    let deadline = tokio::time::Instant::now() + run.time();
    let mut n = 0;
    while tokio::time::Instant::now() < deadline && n < MAX_ORDERS {
        let began = tokio::time::Instant::now();
        n += 1;
        let element = format!("u{user}-q{n}");
        let order = async {
            let body =
                json!({ "userId": user, "items": [{ "productId": product, "quantity": n }] });
            match client.send(Method::POST, "/orders", Some(&body)).await {
                Ok(answer) if answer.status == 201 => Done::Ok(json!(element)),
                Ok(answer) if answer.status >= 500 => {
                    Done::Info(format!("{}: {}", answer.server, answer.status))
                }
                Ok(answer) => {
                    Done::Fail(format!("{}: {} {}", answer.server, answer.status, answer.body))
                }
                Err(err @ ClientError::Uncertain { .. }) => Done::Info(err.to_string()),
                Err(err) => Done::Fail(err.to_string()),
            }
        };
        let fields = Map::from_iter([("user".to_owned(), Value::from(user))]);
        run.op(process, "add", json!(element), fields, order).await;
        tokio::time::sleep_until(began + pace).await;
    }
}
