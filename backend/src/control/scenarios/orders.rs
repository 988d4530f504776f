//! A client placing orders through the registry while a scenario breaks shop server A (the
//! shop-failover and registry-partition scenarios), and the registry's view of A. The orders
//! are recorded as a set's adds and read back at the end, for the `set` checker (no
//! acknowledged order lost, none twice).

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Map, Value};
use shared::registry::{RegistryStatus, ServerState};

use super::{get_json, wait_until, REACTION_LIMIT};
use crate::control::recording::{OpKind, Recordings};
use crate::control::workload::orders::elements;
use crate::control::{row, ControlError, ControlState};
use crate::shop_client::ShopClient;

/// Counts of a client's requests while the scenario runs.
#[derive(Debug, Default)]
pub(super) struct Load {
    pub sent: u32,
    pub answered: u32,
    /// Answered only after a failed attempt on another server.
    pub retried: u32,
    /// Orders in flight to a server that died under them: the client cannot know whether they
    /// were placed, and must not retry them (they could be placed twice).
    pub uncertain: u32,
    pub failed: Vec<String>,
    /// Answered by server A.
    pub by_a: u32,
}

/// The registry's URL and the address it hands out for shop server A, once it sees all up.
async fn shop_setup(state: &ControlState) -> Result<(String, String), ControlError> {
    let registry = row(state, "registry")?;
    let shop_a = row(state, "shop-a")?;
    for needed in [&registry, &shop_a, &row(state, "shop-b")?] {
        if needed.pid.is_none() || needed.paused {
            return Err(ControlError::Conflict(format!(
                "{} must be running (restart it first)",
                needed.name
            )));
        }
    }
    let a_address = format!("localhost:{}", shop_a.url.rsplit_once(':').map_or("", |(_, p)| p));
    wait_for_state(state, &registry.url, &a_address, ServerState::Up)
        .await?
        .ok_or_else(|| ControlError::Conflict("the registry does not see shop-a up".into()))?;
    Ok((registry.url, a_address))
}

/// Poll the registry until `address` is in `wanted` state: how long that took, if it happened
/// within [`REACTION_LIMIT`].
pub(super) async fn wait_for_state(
    state: &ControlState,
    registry: &str,
    address: &str,
    wanted: ServerState,
) -> Result<Option<Duration>, ControlError> {
    let seen = || async {
        let status = get_json::<RegistryStatus>(state, format!("{registry}/servers")).await.ok();
        let seen = status
            .and_then(|s| s.servers.into_iter().find(|x| x.address == address))
            .map(|x| x.state);
        Ok(seen == Some(wanted))
    };
    let what = format!("the registry sees {address} {wanted:?}");
    wait_until(&what, REACTION_LIMIT, Duration::from_millis(10), seen).await
}

/// The order client's process in the recording; the final read of its orders is [`READER`].
const ORDERER: u64 = 0;
const READER: u64 = 1;

/// Place orders through the registry until `stop` fires (bounded: at most 2,000 orders), each
/// recorded as a set `add`: the n-th order is one line of quantity n for `user` (the scenario's
/// own user), so it reads back as `u<user>-q<n>` (see [`read_orders`]).
fn order_load(
    client: ShopClient,
    recordings: Recordings,
    (user, product): (u64, u64),
    a_address: String,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Load>) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut load = Load::default();
        while stopped.try_recv().is_err() && load.sent < 2_000 {
            load.sent += 1;
            let n = load.sent;
            let order = json!({"userId": user, "items": [{"productId": product, "quantity": n}]});
            let element = json!(format!("u{user}-q{n}"));
            recordings.op(OpKind::Invoke, ORDERER, "add", element.clone(), Map::new());
            let (kind, why) = match client.send(Method::POST, "/orders", Some(&order)).await {
                Ok(answer) if answer.status == 201 => {
                    load.answered += 1;
                    load.retried += u32::from(!answer.failed.is_empty());
                    load.by_a += u32::from(answer.server == a_address);
                    (OpKind::Ok, None)
                }
                Ok(answer) => {
                    let why = format!("{} {}", answer.status, answer.body);
                    load.failed.push(why.clone());
                    (if answer.status >= 500 { OpKind::Info } else { OpKind::Fail }, Some(why))
                }
                Err(err @ crate::shop_client::ClientError::Uncertain { .. }) => {
                    load.uncertain += 1;
                    (OpKind::Info, Some(err.to_string()))
                }
                Err(err) => {
                    load.failed.push(err.to_string());
                    (OpKind::Fail, Some(err.to_string()))
                }
            };
            let fields = why.map(|why| Map::from_iter([("error".to_owned(), Value::from(why))]));
            recordings.op(kind, ORDERER, "add", element, fields.unwrap_or_default());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        load
    });
    (stop, task)
}

/// Read every order of `user` back, recorded as the set's final read.
async fn read_orders(
    state: &ControlState,
    client: &ShopClient,
    user: u64,
) -> Result<(), ControlError> {
    let read = async {
        let answer = client
            .send(Method::GET, &format!("/orders/{user}"), None)
            .await
            .map_err(|e| ControlError::Upstream(e.to_string()))?;
        serde_json::from_str::<Vec<Value>>(&answer.body)
            .map_err(|e| ControlError::Upstream(format!("unreadable orders: {e}")))
    };
    let elements = |orders: &Vec<Value>| {
        let seen: Vec<Value> = orders.iter().flat_map(|order| elements(user, order)).collect();
        Some(json!(seen))
    };
    super::recorded(state, READER, "read", Value::Null, false, elements, read).await.map(|_| ())
}

/// A client placing orders through the registry, started once the registry sees every shop
/// server up.
pub(super) struct Orders {
    pub registry: String,
    /// The address the registry hands out for shop server A.
    pub a_address: String,
    client: ShopClient,
    user: u64,
    stop: tokio::sync::oneshot::Sender<()>,
    load: tokio::task::JoinHandle<Load>,
}

pub(super) async fn start_orders(state: &ControlState) -> Result<Orders, ControlError> {
    let (registry, a_address) = shop_setup(state).await?;
    let client = ShopClient::new(&registry);
    let product = scenario_product(&client).await?;
    // A user of the scenario's own, so that its orders are this run's only.
    let user = crate::service::now_ms();
    let recordings = state.recordings.clone();
    let (stop, load) = order_load(client.clone(), recordings, (user, product), a_address.clone());
    Ok(Orders { registry, a_address, client, user, stop, load })
}

/// Stop the order load, read the user's orders back (recorded), and collect the counts.
pub(super) async fn finish_orders(
    state: &ControlState,
    orders: Orders,
) -> Result<Load, ControlError> {
    let _ = orders.stop.send(());
    let load = orders.load.await.map_err(|e| ControlError::Upstream(e.to_string()))?;
    read_orders(state, &orders.client, orders.user).await?;
    Ok(load)
}

async fn scenario_product(client: &ShopClient) -> Result<u64, ControlError> {
    let answer = client
        .send(
            Method::POST,
            "/products",
            Some(&json!({"name": "scenario widget", "price": 1.0, "category": "scenario"})),
        )
        .await
        .map_err(|e| ControlError::Upstream(e.to_string()))?;
    serde_json::from_str::<Value>(&answer.body).ok().and_then(|v| v["id"].as_u64()).ok_or_else(
        || ControlError::Upstream(format!("could not create a product: {}", answer.body)),
    )
}
