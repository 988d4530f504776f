//! The Models page's state.

use std::rc::Rc;

use shared::models::{Evaluation, LedgerEvent, MetaPrediction, ModelEntry, ModelInfo};
use yew::Reducible;

use crate::state::series::Series;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelsState {
    pub prediction: Option<MetaPrediction>,
    pub models: Vec<ModelEntry>,
    pub ledger: Vec<LedgerEvent>,
    /// The lab's model services: (service name, URL, what it says about itself).
    pub services: Vec<(String, String, Option<ModelInfo>)>,
    pub evaluation: Option<Evaluation>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Debug, Clone)]
pub enum ModelsAction {
    Predicted(MetaPrediction),
    Models(Vec<ModelEntry>),
    Ledger(Vec<LedgerEvent>),
    Services(Vec<(String, String, Option<ModelInfo>)>),
    Evaluated(Evaluation),
    Failed(String),
    Notice(String),
}

impl Reducible for ModelsState {
    type Action = ModelsAction;

    fn reduce(self: Rc<Self>, action: Self::Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            ModelsAction::Predicted(p) => {
                next.prediction = Some(p);
                next.error = None;
            }
            ModelsAction::Models(m) => next.models = m,
            ModelsAction::Ledger(l) => next.ledger = l,
            ModelsAction::Services(s) => next.services = s,
            ModelsAction::Evaluated(e) => next.evaluation = Some(e),
            ModelsAction::Failed(e) => {
                next.error = Some(e);
                next.notice = None;
            }
            ModelsAction::Notice(n) => {
                next.notice = Some(n);
                next.error = None;
            }
        }
        Rc::new(next)
    }
}

impl ModelsState {
    /// Each model's balance over time (seconds since the first ledger event), from the ledger.
    pub fn balance_series(&self) -> Vec<Series> {
        let start = self.ledger.first().map_or(0, |e| e.at_ms);
        let mut series: Vec<Series> = Vec::new();
        for event in &self.ledger {
            let point = ((event.at_ms - start) as f64 / 1000.0, event.balance);
            match series.iter_mut().find(|s| s.name == event.model) {
                Some(s) => s.points.push(point),
                None => series.push(Series { name: event.model.clone(), points: vec![point] }),
            }
        }
        series
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at_ms: u64, model: &str, balance: f64) -> LedgerEvent {
        LedgerEvent {
            id: 0,
            at_ms,
            model: model.into(),
            kind: shared::models::LedgerKind::Reward,
            amount: 0.0,
            balance,
            weight: 1.0,
            reason: String::new(),
            batch: None,
        }
    }

    #[test]
    fn the_ledger_becomes_one_balance_line_per_model() {
        let state = ModelsState {
            ledger: vec![
                event(1_000, "A", 1000.0),
                event(1_000, "B", 1000.0),
                event(3_000, "A", 1010.0),
            ],
            ..ModelsState::default()
        };
        let series = state.balance_series();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].points, [(0.0, 1000.0), (2.0, 1010.0)]);
        assert_eq!(series[1].name, "B");
    }
}
