//! Kill shop server A (SIGKILL) while a client places orders through the registry: how many
//! orders fail, and how long until A is handed out again?

use std::time::{Duration, Instant};

use shared::control::ProcessAction;
use shared::registry::ServerState;

use super::orders::{finish_orders, start_orders, wait_for_state};
use super::{ms, within, Finding};
use crate::control::{ControlError, ControlState};

pub(super) async fn run(state: &ControlState) -> Result<Finding, ControlError> {
    let orders = start_orders(state).await?;
    let (registry, a_address) = (orders.registry.clone(), orders.a_address.clone());

    tokio::time::sleep(Duration::from_millis(800)).await;
    state.supervisor.act("shop-a", ProcessAction::Kill).await?;
    let killed = Instant::now();
    let detected = wait_for_state(state, &registry, &a_address, ServerState::Down).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    state.supervisor.act("shop-a", ProcessAction::Restart).await?;
    let restarted = Instant::now();
    let back = wait_for_state(state, &registry, &a_address, ServerState::Up).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let load = finish_orders(state, orders).await?;

    let (detected, back_in) = (within(detected), within(back));
    let passed = load.failed.is_empty() && back.is_some();
    let verdict = if load.failed.is_empty() {
        let unknown = match load.uncertain {
            0 => String::new(),
            n => format!(" {n} was in flight to A when it died: its outcome is unknown, and it was not retried (it could be placed twice)."),
        };
        format!(
            "No order failed: {} retried on server B while the registry took {detected} to notice A was dead.{unknown}",
            load.retried
        )
    } else {
        format!("{} of {} orders failed while A died.", load.failed.len(), load.sent)
    };
    Ok(Finding {
        verdict,
        measurements: vec![
            ("orders sent".into(), load.sent.to_string()),
            ("orders placed".into(), load.answered.to_string()),
            ("failed".into(), load.failed.len().to_string()),
            ("in flight when A died (outcome unknown)".into(), load.uncertain.to_string()),
            ("placed after a retry".into(), load.retried.to_string()),
            ("answered by A".into(), load.by_a.to_string()),
            ("kill → registry stops handing out A".into(), detected),
            ("restart → A handed out again".into(), back_in),
            (
                "A down in total".into(),
                ms(killed.elapsed() - restarted.elapsed() + back.unwrap_or_default()),
            ),
        ],
        passed,
    })
}
