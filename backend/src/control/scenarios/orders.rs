//! A client placing orders through the registry while a scenario breaks shop server A (the
//! shop-failover and registry-partition scenarios), and the registry's view of A.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use shared::registry::{RegistryStatus, ServerState};

use super::{get_json, wait_until, REACTION_LIMIT};
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

/// Place orders through the registry until `stop` fires (bounded: at most 2,000 orders).
fn order_load(
    client: ShopClient,
    product: u64,
    a_address: String,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Load>) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut load = Load::default();
        let order = json!({"userId": 999, "items": [{"productId": product, "quantity": 1}]});
        while stopped.try_recv().is_err() && load.sent < 2_000 {
            load.sent += 1;
            match client.send(Method::POST, "/orders", Some(&order)).await {
                Ok(answer) if answer.status == 201 => {
                    load.answered += 1;
                    load.retried += u32::from(!answer.failed.is_empty());
                    load.by_a += u32::from(answer.server == a_address);
                }
                Ok(answer) => load.failed.push(format!("{} {}", answer.status, answer.body)),
                Err(crate::shop_client::ClientError::Uncertain { .. }) => load.uncertain += 1,
                Err(err) => load.failed.push(err.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        load
    });
    (stop, task)
}

/// A client placing orders through the registry, started once the registry sees every shop
/// server up: (registry URL, A's address, stop, the load's counts).
pub(super) async fn start_orders(
    state: &ControlState,
) -> Result<
    (String, String, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Load>),
    ControlError,
> {
    let (registry, a_address) = shop_setup(state).await?;
    let client = ShopClient::new(&registry);
    let product = scenario_product(&client).await?;
    let (stop, load) = order_load(client, product, a_address.clone());
    Ok((registry, a_address, stop, load))
}

/// Stop the order load and collect its counts.
pub(super) async fn finish_orders(
    stop: tokio::sync::oneshot::Sender<()>,
    load: tokio::task::JoinHandle<Load>,
) -> Result<Load, ControlError> {
    let _ = stop.send(());
    load.await.map_err(|e| ControlError::Upstream(e.to_string()))
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
    serde_json::from_str::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["id"].as_u64())
        .ok_or_else(|| {
            ControlError::Upstream(format!("could not create a product: {}", answer.body))
        })
}
