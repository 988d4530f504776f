//! The Replication page's state: one side per front (sync mirroring, async replication).

use std::rc::Rc;

use shared::replication::{FailoverReport, ReplicationStatus, StoreDiff};
use yew::Reducible;

use crate::state::series::Series;

/// Lag samples kept per side (one every half second: two minutes).
pub const HISTORY: usize = 240;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Side {
    pub status: Option<ReplicationStatus>,
    pub diff: Option<StoreDiff>,
    /// (seconds since the page opened, lag in entries).
    pub history: Vec<(f64, f64)>,
    pub failover: Option<FailoverReport>,
    pub message: Option<Result<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicationState {
    pub sync: Side,
    pub r#async: Side,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Sync,
    Async,
}

#[derive(Debug, Clone)]
pub enum ReplicationAction {
    /// A status sample taken `at` seconds after the page opened.
    Status(Which, ReplicationStatus, f64),
    Diff(Which, StoreDiff),
    Failover(Which, FailoverReport),
    Message(Which, Result<String, String>),
}

impl ReplicationState {
    fn side_mut(&mut self, which: Which) -> &mut Side {
        match which {
            Which::Sync => &mut self.sync,
            Which::Async => &mut self.r#async,
        }
    }

    /// The lag of both sides over time, for one chart.
    pub fn lag_series(&self) -> Vec<Series> {
        vec![
            Series { name: "sync".into(), points: self.sync.history.clone() },
            Series { name: "async".into(), points: self.r#async.history.clone() },
        ]
    }
}

/// A URL's port (the fronts name their stores `localhost:P`, the control plane `127.0.0.1:P`).
fn port(url: &str) -> Option<&str> {
    url.trim_end_matches('/').rsplit_once(':').map(|(_, port)| port)
}

/// A front's two store processes, primary first, as the front reports the roles (the stores'
/// own): after a failover the process started as the mirror is the primary. `started` holds each
/// process's name and URL, the one started as the primary first. Without a status, or during a
/// conflict (no primary), the order they were started in.
pub fn stores_by_role<'a>(
    status: Option<&ReplicationStatus>,
    started: [(&'a str, Option<&str>); 2],
) -> (&'a str, &'a str) {
    let [(first, _), (second, second_url)] = started;
    let swapped = status.filter(|s| s.conflict.is_none()).is_some_and(|s| {
        second_url.and_then(port).is_some_and(|second| port(&s.primary) == Some(second))
    });
    if swapped {
        (second, first)
    } else {
        (first, second)
    }
}

impl Reducible for ReplicationState {
    type Action = ReplicationAction;

    fn reduce(self: Rc<Self>, action: Self::Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            ReplicationAction::Status(which, status, at) => {
                let side = next.side_mut(which);
                side.history.push((at, status.lag_entries as f64));
                if side.history.len() > HISTORY {
                    side.history.remove(0);
                }
                side.status = Some(status);
            }
            ReplicationAction::Diff(which, diff) => next.side_mut(which).diff = Some(diff),
            ReplicationAction::Failover(which, report) => {
                next.side_mut(which).failover = Some(report)
            }
            ReplicationAction::Message(which, message) => {
                next.side_mut(which).message = Some(message)
            }
        }
        Rc::new(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(lag: u64) -> ReplicationStatus {
        ReplicationStatus {
            mode: shared::replication::ReplicationMode::Async,
            primary: String::new(),
            mirror: None,
            primary_seq: lag,
            mirror_seq: 0,
            lag_entries: lag,
            lag_ms: 0,
            last_sync_ms: None,
            state: shared::replication::ReplicationState::Behind,
            interval_ms: 0,
            acked_seq: lag,
            primary_up: true,
            mirror_up: true,
            conflict: None,
        }
    }

    #[test]
    fn the_primary_process_is_the_one_the_front_names() {
        let started = [
            ("store-sync-primary", Some("http://127.0.0.1:3011")),
            ("store-sync-mirror", Some("http://127.0.0.1:3012")),
        ];
        let mut s = status(0);
        s.primary = "http://localhost:3011".into();
        assert_eq!(stores_by_role(Some(&s), started), ("store-sync-primary", "store-sync-mirror"));
        s.primary = "http://localhost:3012".into();
        assert_eq!(
            stores_by_role(Some(&s), started),
            ("store-sync-mirror", "store-sync-primary"),
            "after a failover"
        );
        s.conflict = Some("two stores claim to be the primary".into());
        assert_eq!(
            stores_by_role(Some(&s), started).0,
            "store-sync-primary",
            "no primary: as started"
        );
        assert_eq!(stores_by_role(None, started).0, "store-sync-primary");
    }

    #[test]
    fn lag_samples_are_kept_per_side_and_bounded() {
        let mut state = Rc::new(ReplicationState::default());
        for n in 0..HISTORY + 10 {
            state = state.reduce(ReplicationAction::Status(
                Which::Async,
                status(n as u64),
                n as f64 * 0.5,
            ));
        }
        assert_eq!(state.r#async.history.len(), HISTORY);
        assert_eq!(
            state.r#async.history.last(),
            Some(&((HISTORY + 9) as f64 * 0.5, (HISTORY + 9) as f64))
        );
        assert!(state.sync.history.is_empty());
        assert_eq!(state.lag_series()[1].points.len(), HISTORY);
    }
}
