//! The Overview's list of services.

use std::rc::Rc;

use shared::{Health, ServiceStatus};
use yew::Reducible;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServicesState {
    pub services: Vec<ServiceStatus>,
    /// The last refresh's failure; cleared by the next success. The last list stays shown.
    pub error: Option<String>,
    /// Whether any answer has arrived yet.
    pub loaded: bool,
}

#[derive(Debug, Clone)]
pub enum ServicesAction {
    Loaded(Vec<ServiceStatus>),
    Failed(String),
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
    use shared::ServiceKind;

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
}
