//! The Overview's state: the services, the lab's event timeline, scenarios and their verdicts.

use std::collections::BTreeMap;
use std::rc::Rc;

use shared::control::{ScenarioInfo, Verdict};
use shared::{Health, LabEvent, ServiceStatus};
use yew::Reducible;

/// Events kept on the timeline.
pub const TIMELINE_LEN: usize = 150;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServicesState {
    pub services: Vec<ServiceStatus>,
    /// The last refresh's failure; cleared by the next success. The last list stays shown.
    pub error: Option<String>,
    /// Whether any answer has arrived yet.
    pub loaded: bool,
    /// Newest first.
    pub events: Vec<LabEvent>,
    pub scenarios: Vec<ScenarioInfo>,
    pub verdicts: BTreeMap<String, Verdict>,
    /// The scenario running now, if any.
    pub running: Option<String>,
    /// The outcome of the last button pressed: `Ok` what was done, `Err` why not.
    pub outcome: Option<Result<String, String>>,
}

#[derive(Debug, Clone)]
pub enum ServicesAction {
    Loaded(Vec<ServiceStatus>),
    Failed(String),
    /// Events from before the page opened, oldest first.
    History(Vec<LabEvent>),
    Event(LabEvent),
    Scenarios(Vec<ScenarioInfo>),
    ScenarioStarted(String),
    Verdict(Verdict),
    ScenarioFailed(String),
    Done(Result<String, String>),
}

impl Reducible for ServicesState {
    type Action = ServicesAction;

    fn reduce(self: Rc<Self>, action: Self::Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            ServicesAction::Loaded(services) => {
                next.services = services;
                next.error = None;
                next.loaded = true;
            }
            ServicesAction::Failed(error) => next.error = Some(error),
            ServicesAction::History(events) => {
                // Live events may have arrived first: keep them, add older ones behind.
                let newest = next.events.last().map_or(u64::MAX, |e| e.at_ms);
                next.events.extend(events.into_iter().rev().filter(|e| e.at_ms < newest));
                next.events.truncate(TIMELINE_LEN);
            }
            ServicesAction::Event(event) => {
                next.events.insert(0, event);
                next.events.truncate(TIMELINE_LEN);
            }
            ServicesAction::Scenarios(scenarios) => next.scenarios = scenarios,
            ServicesAction::ScenarioStarted(name) => {
                next.verdicts.remove(&name);
                next.running = Some(name);
            }
            ServicesAction::Verdict(verdict) => {
                next.running = None;
                next.verdicts.insert(verdict.scenario.clone(), verdict);
            }
            ServicesAction::ScenarioFailed(why) => {
                next.running = None;
                next.outcome = Some(Err(why));
            }
            ServicesAction::Done(outcome) => next.outcome = Some(outcome),
        }
        Rc::new(next)
    }
}

impl ServicesState {
    /// One line: how many services are up.
    pub fn summary(&self) -> String {
        if !self.loaded {
            return "Loading services…".to_owned();
        }
        let up = self.services.iter().filter(|s| s.health == Health::Up).count();
        format!("{up} of {} services up", self.services.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{EventKind, ServiceKind};

    fn service(name: &str, health: Health) -> ServiceStatus {
        ServiceStatus {
            name: name.into(),
            kind: ServiceKind::Shop,
            url: String::new(),
            pid: None,
            health,
            last_check_ms: None,
            detail: None,
            paused: false,
            links: Vec::new(),
        }
    }

    fn event(at_ms: u64) -> LabEvent {
        LabEvent { at_ms, service: "s".into(), kind: EventKind::Info, message: at_ms.to_string() }
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_list() {
        let state = Rc::new(ServicesState::default());
        assert_eq!(state.summary(), "Loading services…");
        let state = state.reduce(ServicesAction::Loaded(vec![
            service("a", Health::Up),
            service("b", Health::Down),
        ]));
        assert_eq!(state.summary(), "1 of 2 services up");
        let state = state.reduce(ServicesAction::Failed("offline".into()));
        assert_eq!(state.services.len(), 2);
        assert_eq!(state.error.as_deref(), Some("offline"));
        let state = state.reduce(ServicesAction::Loaded(vec![]));
        assert_eq!(state.error, None);
    }

    #[test]
    fn the_timeline_is_newest_first_without_duplicates_from_history() {
        let state = Rc::new(ServicesState::default())
            .reduce(ServicesAction::Event(event(5)))
            .reduce(ServicesAction::Event(event(6)))
            // History overlaps the live events: only the older ones are added.
            .reduce(ServicesAction::History(vec![event(1), event(2), event(5)]));
        let times: Vec<u64> = state.events.iter().map(|e| e.at_ms).collect();
        assert_eq!(times, [6, 5, 2, 1]);
        let mut state = state;
        for n in 0..TIMELINE_LEN as u64 {
            state = state.reduce(ServicesAction::Event(event(100 + n)));
        }
        assert_eq!(state.events.len(), TIMELINE_LEN);
    }

    #[test]
    fn a_scenario_runs_then_reports_its_verdict() {
        let state =
            Rc::new(ServicesState::default()).reduce(ServicesAction::ScenarioStarted("x".into()));
        assert_eq!(state.running.as_deref(), Some("x"));
        let verdict = Verdict {
            scenario: "x".into(),
            question: String::new(),
            verdict: "fine".into(),
            measurements: vec![],
            passed: true,
            recording: None,
            check: None,
        };
        let state = state.reduce(ServicesAction::Verdict(verdict));
        assert_eq!(state.running, None);
        assert!(state.verdicts["x"].passed);
    }
}
