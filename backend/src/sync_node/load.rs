//! The dynamic method's switch: CRDT + Paxos while client load is low, CRDT-only when more than
//! `high` requests arrive within a window, back once fewer than `low` do (the gap between the
//! two keeps it from flapping), unless a switch was forced by hand. Pure: the time is passed in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use shared::sync::{LoadInfo, SyncMode};

/// The thresholds and the requests seen.
#[derive(Debug, Clone)]
pub struct LoadSwitch {
    window: Duration,
    high: u64,
    low: u64,
    /// When each request of the current window arrived.
    hits: VecDeque<Instant>,
    mode: SyncMode,
    /// CRDT-only by hand: load no longer switches back.
    forced: bool,
    switches: u64,
}

/// A change of mode, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switched {
    pub to: SyncMode,
    pub why: String,
}

impl LoadSwitch {
    pub fn new(window: Duration, high: u64, low: u64) -> Self {
        Self {
            window,
            high,
            low,
            hits: VecDeque::new(),
            mode: SyncMode::CrdtPaxos,
            forced: false,
            switches: 0,
        }
    }

    pub fn mode(&self) -> SyncMode {
        self.mode
    }

    /// Count a client request that arrived at `now`; switch if the load crossed a threshold.
    pub fn hit(&mut self, now: Instant) -> Option<Switched> {
        self.hits.push_back(now);
        self.reevaluate(now)
    }

    /// Forget requests older than the window and switch if the load says so.
    pub fn reevaluate(&mut self, now: Instant) -> Option<Switched> {
        while self.hits.front().is_some_and(|t| now.duration_since(*t) > self.window) {
            self.hits.pop_front();
        }
        let count = self.hits.len() as u64;
        let (high, low, window) = (self.high, self.low, self.window);
        if self.mode == SyncMode::CrdtPaxos && count > high {
            self.switch(SyncMode::CrdtOnly, format!("load {count} > {high} per {window:?}"))
        } else if self.mode == SyncMode::CrdtOnly && !self.forced && count < low {
            self.switch(SyncMode::CrdtPaxos, format!("load {count} < {low} per {window:?}"))
        } else {
            None
        }
    }

    /// Force CRDT-only (`true`), or release the force and let load decide (`false`).
    pub fn force(&mut self, force: bool) -> Option<Switched> {
        self.forced = force;
        match (force, self.mode) {
            (true, SyncMode::CrdtPaxos) => self.switch(SyncMode::CrdtOnly, "forced".into()),
            (false, SyncMode::CrdtOnly) => {
                self.switch(SyncMode::CrdtPaxos, "force released".into())
            }
            _ => None,
        }
    }

    fn switch(&mut self, to: SyncMode, why: String) -> Option<Switched> {
        self.mode = to;
        self.switches += 1;
        Some(Switched { to, why })
    }

    /// The load as `GET /get_load` reports it at `now` (requests within the window).
    pub fn info(&self, now: Instant) -> LoadInfo {
        let recent =
            self.hits.iter().filter(|t| now.duration_since(**t) <= self.window).count() as u64;
        LoadInfo {
            load: recent,
            requests: recent,
            window_ms: self.window.as_millis() as u64,
            high: self.high,
            low: self.low,
            mode: self.mode,
            forced: self.forced,
            switches: self.switches,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn high_load_switches_to_crdt_only_and_low_load_back() {
        let start = Instant::now();
        let mut load = LoadSwitch::new(1_000 * MS, 3, 2);
        for i in 0..3 {
            assert_eq!(load.hit(start + i * MS), None, "3 requests are not more than 3");
        }
        let switched = load.hit(start + 3 * MS).expect("the 4th is");
        assert_eq!(switched.to, SyncMode::CrdtOnly);
        assert!(switched.why.contains("load 4 > 3"), "{}", switched.why);
        // Hysteresis: 2 requests in the window is not below 2.
        assert_eq!(load.reevaluate(start + 1_002 * MS), None);
        assert_eq!(load.info(start + 1_002 * MS).load, 2);
        let back = load.reevaluate(start + 1_004 * MS).expect("1 request left in the window");
        assert_eq!((back.to, load.info(start + 1_004 * MS).switches), (SyncMode::CrdtPaxos, 2));
    }

    #[test]
    fn a_forced_switch_holds_until_released() {
        let start = Instant::now();
        let mut load = LoadSwitch::new(1_000 * MS, 3, 2);
        assert_eq!(load.force(true).map(|s| s.to), Some(SyncMode::CrdtOnly));
        assert_eq!(load.reevaluate(start + 10_000 * MS), None, "no load, but forced");
        assert!(load.info(start).forced);
        assert_eq!(load.force(true), None, "already forced");
        assert_eq!(load.force(false).map(|s| s.to), Some(SyncMode::CrdtPaxos));
        assert_eq!(load.mode(), SyncMode::CrdtPaxos);
    }
}
