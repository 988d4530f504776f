//! Make model C answer wrong on purpose (inverted): how many answers until the meta-model
//! ejects it, and does the consensus stay right meanwhile?

use serde_json::json;
use shared::models::{MetaPrediction, ModelEntry};

use super::{get_json, Finding};
use crate::control::{row, ControlError, ControlState};

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
            if !answer.votes.iter().any(|v| v.model == "C") {
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
        ],
        passed: ejected_after.is_some() && accuracy >= 0.9,
    })
}
