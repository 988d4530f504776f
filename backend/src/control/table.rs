//! The control plane's view of the lab: one [`ServiceStatus`] per service.

use std::sync::{Arc, RwLock};

use shared::{Health, ServiceStatus};

/// Shared, cheap-to-clone table of every service the control plane knows.
///
/// A std `RwLock`: it is never held across an `.await`.
#[derive(Debug, Clone, Default)]
pub struct ServiceTable {
    rows: Arc<RwLock<Vec<ServiceStatus>>>,
}

impl ServiceTable {
    /// Add a service, or replace the row of the service with the same name.
    pub fn upsert(&self, status: ServiceStatus) {
        let mut rows = self.rows.write().expect("service table lock poisoned");
        match rows.iter_mut().find(|row| row.name == status.name) {
            Some(row) => *row = status,
            None => rows.push(status),
        }
    }

    pub fn snapshot(&self) -> Vec<ServiceStatus> {
        self.rows.read().expect("service table lock poisoned").clone()
    }

    pub fn get(&self, name: &str) -> Option<ServiceStatus> {
        self.rows
            .read()
            .expect("service table lock poisoned")
            .iter()
            .find(|r| r.name == name)
            .cloned()
    }

    /// Change one row in place; returns what the closure returned, or `None` for an unknown name.
    pub fn update<T>(&self, name: &str, change: impl FnOnce(&mut ServiceStatus) -> T) -> Option<T> {
        let mut rows = self.rows.write().expect("service table lock poisoned");
        rows.iter_mut().find(|row| row.name == name).map(change)
    }

    /// Record the outcome of a health check. Returns the previous health when it changed.
    pub fn record_health(
        &self,
        name: &str,
        health: Health,
        detail: Option<String>,
        at_ms: u64,
    ) -> Option<Health> {
        self.update(name, |row| {
            let before = row.health;
            row.last_check_ms = Some(at_ms);
            // A process that ended stays down: a check that began before its death and answered
            // after it is stale (it would show a dead process up, and erase how it ended).
            if row.pid.is_none() && row.detail.as_deref().is_some_and(ended) {
                return None;
            }
            row.health = health;
            // A process that has ended keeps saying why; otherwise show the check's reason.
            if row.pid.is_some() || health == Health::Up {
                row.detail = detail;
            }
            (before != health).then_some(before)
        })
        .flatten()
    }
}

/// Whether a row's detail is the supervisor's word that its process ended.
fn ended(detail: &str) -> bool {
    detail.starts_with("process ended") || detail.starts_with("process lost")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ServiceKind;

    fn row(name: &str) -> ServiceStatus {
        ServiceStatus {
            name: name.into(),
            kind: ServiceKind::Shop,
            url: "http://127.0.0.1:1".into(),
            pid: Some(1),
            health: Health::Unknown,
            last_check_ms: None,
            detail: None,
            paused: false,
            links: Vec::new(),
        }
    }

    #[test]
    fn upsert_replaces_by_name() {
        let table = ServiceTable::default();
        table.upsert(row("a"));
        table.upsert(row("b"));
        table.upsert(ServiceStatus { pid: Some(7), ..row("a") });
        let rows = table.snapshot();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].pid, Some(7));
    }

    #[test]
    fn record_health_reports_transitions_only() {
        let table = ServiceTable::default();
        table.upsert(row("a"));
        assert_eq!(table.record_health("a", Health::Up, None, 1), Some(Health::Unknown));
        assert_eq!(table.record_health("a", Health::Up, None, 2), None);
        assert_eq!(
            table.record_health("a", Health::Down, Some("refused".into()), 3),
            Some(Health::Up)
        );
        assert_eq!(table.get("a").unwrap().detail.as_deref(), Some("refused"));
        assert_eq!(table.record_health("nobody", Health::Up, None, 4), None);
    }

    #[test]
    fn a_check_answered_after_the_process_ended_leaves_it_down() {
        let table = ServiceTable::default();
        let how = "process ended: signal: 9 (SIGKILL)";
        let dead =
            ServiceStatus { pid: None, health: Health::Down, detail: Some(how.into()), ..row("a") };
        table.upsert(dead);
        assert_eq!(table.record_health("a", Health::Up, None, 5), None);
        let a = table.get("a").unwrap();
        assert_eq!(
            (a.health, a.detail.as_deref(), a.last_check_ms),
            (Health::Down, Some(how), Some(5))
        );
    }
}
