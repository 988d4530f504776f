//! Make model C answer wrong on purpose (inverted): how many answers until the meta-model
//! ejects it, and does the consensus stay right meanwhile?
//!
//! The `ledger` checker judges the stakes afterwards. Rewards, slashes and ejections are the
//! meta-model's own doing, not client operations, so the scenario reads the whole stake ledger
//! back once it is done (`GET /ledger/events`, from the first event) and records each event as
//! an operation of [`LEDGER_PROCESS`] — its change and the balance the ledger says it left —
//! then the balances themselves (`GET /balances`). The checker then sees whether every
//! balance is what its events add up to, and whether the money is conserved.

use serde_json::{json, Map, Value};
use shared::models::{workshop_key, Balances, LedgerEvent, LedgerKind, MetaPrediction, ModelEntry};

use super::{get_json, Finding};
use crate::control::recording::OpKind;
use crate::control::{row, ControlError, ControlState};

/// The process the ledger's events are recorded under: the meta-model's ledger, read back.
pub(super) const LEDGER_PROCESS: u64 = 1000;

/// Ledger events per page (the route's maximum).
const PAGE: usize = 5000;

/// Every ledger event after `after`, oldest first.
async fn events_after(
    state: &ControlState,
    meta: &str,
    mut after: u64,
) -> Result<Vec<LedgerEvent>, ControlError> {
    let mut all = Vec::new();
    loop {
        let url = format!("{meta}/ledger/events?after={after}&limit={PAGE}");
        let page: Vec<LedgerEvent> = get_json(state, url).await?;
        let full = page.len() == PAGE;
        after = page.last().map_or(after, |e| e.id);
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// Read the whole ledger and the balances it should explain, such that no event was written
/// between the two reads (bounded: a lab kept busy by someone else gets three tries, then the
/// last reads are recorded as they are and the checker says what does not add up).
async fn read_ledger(
    state: &ControlState,
    meta: &str,
) -> Result<(Vec<LedgerEvent>, Balances), ControlError> {
    let mut events = events_after(state, meta, 0).await?;
    let mut balances = Balances::new();
    for _ in 0..3 {
        balances = get_json(state, format!("{meta}/balances")).await?;
        let last = events.last().map_or(0, |e| e.id);
        let later = events_after(state, meta, last).await?;
        if later.is_empty() {
            break;
        }
        events.extend(later);
    }
    Ok((events, balances))
}

/// One ledger event as the `ledger` model's operation: its `f` and invoke value, or `None` for
/// an ejection (it moves no money; the balance it reports is checked with the slash before it).
fn ledger_op(event: &LedgerEvent) -> Option<(&'static str, Value)> {
    let f = match event.kind {
        LedgerKind::Deposit => "deposit",
        LedgerKind::Reward => "emission",
        LedgerKind::Slash => "slash",
        LedgerKind::Withdraw => "withdrawal",
        LedgerKind::Eject => return None,
    };
    Some((f, json!({"model": workshop_key(&event.model), "amount": event.amount.abs()})))
}

/// Record the ledger and the balances for the `ledger` checker.
async fn record_ledger(state: &ControlState, meta: &str) -> Result<usize, ControlError> {
    let (events, balances) = read_ledger(state, meta).await?;
    let recordings = &state.recordings;
    for event in &events {
        let Some((f, value)) = ledger_op(event) else { continue };
        let fields = Map::from_iter([
            ("ledgerId".to_owned(), Value::from(event.id)),
            ("reason".to_owned(), Value::from(event.reason.clone())),
        ]);
        recordings.op(OpKind::Invoke, LEDGER_PROCESS, f, value, fields);
        let after = json!({"balance": event.balance});
        recordings.op(OpKind::Ok, LEDGER_PROCESS, f, after, Map::new());
    }
    recordings.op(OpKind::Invoke, LEDGER_PROCESS, "balances", Value::Null, Map::new());
    let seen: Map<String, Value> =
        balances.iter().map(|(model, b)| (model.clone(), Value::from(b.balance))).collect();
    recordings.op(OpKind::Ok, LEDGER_PROCESS, "balances", Value::Object(seen), Map::new());
    Ok(events.len())
}

/// Set model C's behaviour through its admin route.
async fn set_behavior(state: &ControlState, url: &str, behavior: &str) -> Result<(), ControlError> {
    let response = state
        .client
        .put(format!("{url}/admin/behavior"))
        .json(&json!({ "behavior": behavior }))
        .send()
        .await
        .map_err(|e| ControlError::Upstream(format!("model-c: {e}")))?;
    if !response.status().is_success() {
        return Err(ControlError::Upstream(format!("model-c refused: {}", response.status())));
    }
    Ok(())
}

pub(super) async fn run(state: &ControlState) -> Result<Finding, ControlError> {
    let meta = row(state, "meta-model")?;
    let model_c = row(state, "model-c")?;
    if meta.pid.is_none() || model_c.pid.is_none() {
        return Err(ControlError::Conflict("meta-model and model-c must be running".into()));
    }
    let entries: Vec<ModelEntry> = get_json(state, format!("{}/models", meta.url)).await?;
    let c = entries
        .iter()
        .find(|m| m.name == "C" && m.state == shared::models::ModelState::Active)
        .cloned()
        .ok_or_else(|| ControlError::Conflict("model C must be registered and active".into()))?;

    set_behavior(state, &model_c.url, "inverted").await?;
    let holdout = crate::iris::rows(&crate::iris::split().test);
    let (mut asked, mut right, mut ejected_after) = (0u32, 0u32, None);
    // Bounded: at most four passes over the held-out samples.
    'passes: for _ in 0..4 {
        for (x, truth) in &holdout {
            let url =
                format!("{}/predict?sl={}&sw={}&pl={}&pw={}", meta.url, x[0], x[1], x[2], x[3]);
            let Ok(answer) = get_json::<MetaPrediction>(state, url).await else { continue };
            asked += 1;
            right += u32::from(answer.prediction == *truth);
            // The meta-model settles its tallies on a timer, and at once when its models are
            // listed: listed after every answer, C's ejection is counted at the answer that
            // caused it, not at whichever the timer happened to follow.
            let models: Vec<ModelEntry> = get_json(state, format!("{}/models", meta.url)).await?;
            let active = |m: &ModelEntry| m.state == shared::models::ModelState::Active;
            if !models.iter().any(|m| m.id == c.id && active(m)) {
                ejected_after = Some(asked);
                break 'passes;
            }
        }
    }
    // Put things back: C honest again, with a fresh deposit.
    set_behavior(state, &model_c.url, "honest").await?;
    let _ = state.client.delete(format!("{}/models/{}", meta.url, c.id)).send().await;
    let _ = state
        .client
        .post(format!("{}/models", meta.url))
        .json(&json!({"name": "C", "url": c.url}))
        .send()
        .await;

    let audited = record_ledger(state, &meta.url).await?;
    let accuracy = f64::from(right) / f64::from(asked.max(1));
    let verdict = match ejected_after {
        Some(n) => format!(
            "C was ejected after {n} answers; the consensus was right on {:.0}% of them meanwhile.",
            accuracy * 100.0
        ),
        None => format!(
            "C was not ejected within {asked} answers (consensus right on {:.0}%).",
            accuracy * 100.0
        ),
    };
    Ok(Finding {
        verdict,
        measurements: vec![
            (
                "answers until ejection".into(),
                ejected_after.map_or_else(|| "not ejected".into(), |n| n.to_string()),
            ),
            ("consensus accuracy meanwhile".into(), format!("{:.3}", accuracy)),
            ("afterwards".into(), "C honest again, re-registered with a fresh deposit".into()),
            ("ledger events read back for the checker".into(), audited.to_string()),
        ],
        passed: ejected_after.is_some() && accuracy >= 0.9,
    })
}
