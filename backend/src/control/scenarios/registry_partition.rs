//! Cut the registry off from shop server A, which stays up: how long until clients stop being
//! sent to A, and until A is back after the link heals?

use std::time::Duration;

use shared::control::LinkFault;
use shared::registry::ServerState;

use super::orders::{finish_orders, start_orders, wait_for_state};
use super::{within, Finding};
use crate::control::{change_link, ControlError, ControlState};

pub(super) async fn run(state: &ControlState) -> Result<Finding, ControlError> {
    let orders = start_orders(state).await?;
    let (registry, a_address) = (orders.registry.clone(), orders.a_address.clone());

    tokio::time::sleep(Duration::from_millis(500)).await;
    change_link(state, "registry", "shop-a", LinkFault { cut: true, ..LinkFault::default() })
        .await?;
    let out = wait_for_state(state, &registry, &a_address, ServerState::Down).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    change_link(state, "registry", "shop-a", LinkFault::default()).await?;
    let back = wait_for_state(state, &registry, &a_address, ServerState::Up).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let load = finish_orders(state, orders).await?;

    let (out_in, back_in) = (within(out), within(back));
    Ok(Finding {
        verdict: format!(
            "A looked dead to the registry {out_in} after the cut although it never stopped; clients went to B, {} orders failed; A was back {back_in} after the heal.",
            load.failed.len()
        ),
        measurements: vec![
            ("orders sent".into(), load.sent.to_string()),
            ("failed".into(), load.failed.len().to_string()),
            ("answered by A".into(), load.by_a.to_string()),
            ("cut → A out of rotation".into(), out_in),
            ("heal → A back in rotation".into(), back_in),
        ],
        passed: load.failed.is_empty() && out.is_some() && back.is_some(),
    })
}
