//! The Workshop page's state: the steps as the control plane keeps them, the step this page is
//! running, and each step's latest error; and the page's words for a result (its date, its
//! chart's numbers, the start of an answer). Pure, tested natively.

use std::collections::BTreeMap;
use std::rc::Rc;

use shared::workshop::{Step, StepResult, Workshop};
use yew::Reducible;

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Notebook {
    /// The steps and their latest results; `None` until the first answer.
    pub workshop: Option<Workshop>,
    /// Why the steps could not be fetched (the last try).
    pub load_error: Option<String>,
    /// The step whose action this page started and is waiting for. Kept apart from the
    /// server's `running` so that the buttons stay disabled from the click on, before any
    /// poll has seen the step start.
    pub started: Option<String>,
    /// Each step's latest failure to run, by step id (cleared when it runs again).
    pub errors: BTreeMap<String, String>,
}

#[derive(Debug)]
pub enum Action {
    /// `GET /api/workshop` answered.
    Loaded(Workshop),
    /// `GET /api/workshop` failed.
    LoadFailed(String),
    /// An action of this step was clicked.
    Started(String),
    /// The action answered its result (boxed: it is the biggest action by far).
    Finished(Box<StepResult>),
    /// The action answered an error.
    Failed { step: String, message: String },
}

impl Reducible for Notebook {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            Action::Loaded(mut loaded) => {
                // A poll sent before a result came back must not take that result away.
                if let Some(shown) = &self.workshop {
                    for step in &mut loaded.steps {
                        let kept = shown.steps.iter().find(|s| s.id == step.id);
                        if let Some(newer) = kept.and_then(|s| s.result.as_ref()).filter(|r| {
                            step.result.as_ref().is_none_or(|fetched| fetched.at_ms < r.at_ms)
                        }) {
                            step.result = Some(newer.clone());
                        }
                    }
                }
                loaded.passed = passed(&loaded.steps);
                next.workshop = Some(loaded);
                next.load_error = None;
            }
            Action::LoadFailed(message) => next.load_error = Some(message),
            Action::Started(step) => {
                next.errors.remove(&step);
                next.started = Some(step);
            }
            Action::Finished(result) => {
                let result = *result;
                next.started = None;
                next.errors.remove(&result.step);
                if let Some(workshop) = &mut next.workshop {
                    if workshop.running.as_deref() == Some(result.step.as_str()) {
                        workshop.running = None;
                    }
                    if let Some(step) = workshop.steps.iter_mut().find(|s| s.id == result.step) {
                        step.result = Some(result);
                    }
                    workshop.passed = passed(&workshop.steps);
                }
            }
            Action::Failed { step, message } => {
                if next.started.as_deref() == Some(step.as_str()) {
                    next.started = None;
                }
                next.errors.insert(step, message);
            }
        }
        Rc::new(next)
    }
}

impl Notebook {
    /// The step running now, on this page's click or (another tab's, or before a reload) on the
    /// server's word: while one runs, no action can start.
    pub fn running(&self) -> Option<&str> {
        self.started
            .as_deref()
            .or_else(|| self.workshop.as_ref().and_then(|w| w.running.as_deref()))
    }
}

/// How many steps have a result that passed.
fn passed(steps: &[Step]) -> usize {
    steps.iter().filter(|s| s.result.as_ref().is_some_and(|r| r.passed)).count()
}

/// `3 of 10 steps done`.
pub fn progress(workshop: &Workshop) -> String {
    format!("{} of {} steps done", workshop.passed, workshop.steps.len())
}

/// The address of a step's chart; `at_ms` makes each new result's chart a new address, so a
/// browser never shows a cached older one.
pub fn chart_src(step: &str, at_ms: u64) -> String {
    format!("/api/workshop/charts/{step}.svg?t={at_ms}")
}

/// How many characters of an answer the page shows after its status.
const ANSWER_SHOWN: usize = 160;

/// The start of an answer, on one line: whitespace runs as one space, at most
/// [`ANSWER_SHOWN`] characters, `…` when cut.
pub fn answer_start(answer: &str) -> String {
    let line = answer.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= ANSWER_SHOWN {
        return line;
    }
    let cut: String = line.chars().take(ANSWER_SHOWN).collect();
    format!("{cut}…")
}

/// `→ 200 {"server":...}`: what came back, after a curl command.
pub fn reply(status: u16, answer: &str) -> String {
    let answer = answer_start(answer);
    match (status, answer.is_empty()) {
        (0, _) => "→ 0 (no answer: the connection failed)".to_owned(),
        (_, true) => format!("→ {status}"),
        (_, false) => format!("→ {status} {answer}"),
    }
}

#[cfg(test)]
mod tests {
    use shared::workshop::StepAction;

    use super::*;

    fn result(step: &str, at_ms: u64, passed: bool) -> StepResult {
        StepResult {
            step: step.into(),
            action: "go".into(),
            at_ms,
            took_ms: 1,
            passed,
            verdict: format!("{step} at {at_ms}"),
            measurements: Vec::new(),
            requests: Vec::new(),
            chart: None,
            recording: None,
        }
    }

    fn workshop(results: &[(&str, Option<StepResult>)], running: Option<&str>) -> Workshop {
        let steps: Vec<Step> = results
            .iter()
            .map(|(id, result)| Step {
                id: (*id).into(),
                label: format!("Part · {id}"),
                title: "T".into(),
                asks: "?".into(),
                actions: vec![StepAction { id: "go".into(), label: "Go".into(), does: "".into() }],
                result: result.clone(),
            })
            .collect();
        Workshop { passed: passed(&steps), steps, running: running.map(str::to_owned) }
    }

    fn after(state: Notebook, actions: Vec<Action>) -> Notebook {
        let mut state = Rc::new(state);
        for action in actions {
            state = state.reduce(action);
        }
        (*state).clone()
    }

    #[test]
    fn a_result_replaces_the_steps_and_counts_once_it_passes() {
        let loaded = workshop(&[("a1", None), ("b8", Some(result("b8", 5, false)))], None);
        let state = after(Notebook::default(), vec![Action::Loaded(loaded)]);
        assert_eq!(progress(state.workshop.as_ref().unwrap()), "0 of 2 steps done");

        let state = after(state, vec![Action::Started("b8".into())]);
        assert_eq!(state.running(), Some("b8"), "disabled from the click on");
        let state = after(state, vec![Action::Finished(Box::new(result("b8", 9, true)))]);
        assert_eq!(state.running(), None);
        let w = state.workshop.as_ref().unwrap();
        assert_eq!(w.steps[1].result.as_ref().unwrap().at_ms, 9);
        assert_eq!(progress(w), "1 of 2 steps done");
    }

    #[test]
    fn a_poll_sent_before_a_result_came_back_does_not_take_it_away() {
        let state = after(
            Notebook::default(),
            vec![
                Action::Loaded(workshop(&[("b6", None)], None)),
                Action::Started("b6".into()),
                Action::Finished(Box::new(result("b6", 20, true))),
                // Answered by the server while b6 was still running.
                Action::Loaded(workshop(&[("b6", None)], Some("b6"))),
            ],
        );
        let w = state.workshop.as_ref().unwrap();
        assert_eq!(w.steps[0].result.as_ref().map(|r| r.at_ms), Some(20));
        assert_eq!(w.passed, 1);
        // A newer result from the server (another tab ran it again) wins.
        let state = after(
            state,
            vec![Action::Loaded(workshop(&[("b6", Some(result("b6", 30, false)))], None))],
        );
        let w = state.workshop.as_ref().unwrap();
        assert_eq!(w.steps[0].result.as_ref().map(|r| r.at_ms), Some(30));
        assert_eq!(w.passed, 0);
    }

    #[test]
    fn the_servers_running_step_disables_the_actions_until_it_ends() {
        let state = after(
            Notebook::default(),
            vec![Action::Loaded(workshop(&[("a1", None), ("b6", None)], Some("b6")))],
        );
        assert_eq!(state.running(), Some("b6"), "started before a reload, or in another tab");
        let state = after(state, vec![Action::Loaded(workshop(&[("a1", None)], None))]);
        assert_eq!(state.running(), None);
    }

    #[test]
    fn an_error_shows_on_its_step_until_the_step_runs_again() {
        let state = after(
            Notebook::default(),
            vec![
                Action::Loaded(workshop(&[("a1", None), ("b7", None)], None)),
                Action::Started("b7".into()),
                Action::Failed { step: "b7".into(), message: "b7: busy".into() },
            ],
        );
        assert_eq!(state.running(), None);
        assert_eq!(state.errors.get("b7").map(String::as_str), Some("b7: busy"));
        let state = after(state, vec![Action::Started("b7".into())]);
        assert!(state.errors.is_empty());
        let state = after(state, vec![Action::LoadFailed("GET /api/workshop: down".into())]);
        assert_eq!(state.load_error.as_deref(), Some("GET /api/workshop: down"));
        assert!(state.workshop.is_some(), "what was shown stays");
    }

    #[test]
    fn a_charts_address_changes_with_each_result() {
        assert_eq!(chart_src("b8", 17), "/api/workshop/charts/b8.svg?t=17");
    }

    #[test]
    fn an_answer_is_shown_from_its_start_on_one_line() {
        assert_eq!(reply(200, "{\"a\":\n  1}"), "→ 200 {\"a\": 1}");
        assert_eq!(reply(204, ""), "→ 204");
        assert_eq!(reply(0, ""), "→ 0 (no answer: the connection failed)");
        let long = "é".repeat(500);
        let shown = answer_start(&long);
        assert_eq!(shown.chars().count(), ANSWER_SHOWN + 1);
        assert!(shown.ends_with('…'));
    }
}
