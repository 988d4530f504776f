//! Which shop servers are healthy, decided from active health checks — pure logic, no I/O.
//!
//! Like HAProxy's `check fall F rise R`: a server that is up is declared down after `fall`
//! failed checks in a row, and a server that is down comes back after `rise` passed checks in a
//! row. A server starts in `Checking`: it is up after its first passed check (no point making a
//! freshly started lab wait `rise` intervals), and down only after `fall` failed checks in a row
//! (a shop that is still starting when the registry first asks is not down: it would then need
//! `rise` passes to come back, and a fresh lab would answer 503 meanwhile). Only up servers are
//! handed out, in round robin.

use shared::registry::RegistryServer;
pub use shared::registry::ServerState;

/// Fall/rise thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Failed checks in a row that take an up server down.
    pub fall: u32,
    /// Passed checks in a row that bring a down server back.
    pub rise: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        // HAProxy's `rise 2`; `fall 2` (HAProxy: 3) with a 200 ms interval takes a dead server
        // out within ~0.4 s.
        Self { fall: 2, rise: 2 }
    }
}

/// One server as the registry sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// What `/getServer` answers: `localhost:3001`.
    pub address: String,
    pub state: ServerState,
    /// Checks in a row that agree with each other and disagree with `state` (towards a change).
    pub streak: u32,
    pub last_check_ms: Option<u64>,
    pub last_error: Option<String>,
}

/// A state change caused by a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: ServerState,
    pub to: ServerState,
}

/// The registry's servers and where round robin stands.
#[derive(Debug, Clone, Default)]
pub struct ServerPool {
    servers: Vec<Server>,
    thresholds: Thresholds,
    /// Index into the up servers of the next answer.
    next: usize,
}

impl From<&Server> for RegistryServer {
    fn from(server: &Server) -> Self {
        RegistryServer {
            address: server.address.clone(),
            state: server.state,
            streak: server.streak,
            last_check_ms: server.last_check_ms,
            last_error: server.last_error.clone(),
        }
    }
}

impl ServerPool {
    pub fn new(thresholds: Thresholds) -> Self {
        Self { servers: Vec::new(), thresholds, next: 0 }
    }

    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// Add a server (in `Checking` state). Returns false if it is already there.
    pub fn add(&mut self, address: &str) -> bool {
        if self.servers.iter().any(|s| s.address == address) {
            return false;
        }
        self.servers.push(Server {
            address: address.to_owned(),
            state: ServerState::Checking,
            streak: 0,
            last_check_ms: None,
            last_error: None,
        });
        true
    }

    /// Remove a server. Returns false if it was not there.
    pub fn remove(&mut self, address: &str) -> bool {
        let before = self.servers.len();
        self.servers.retain(|s| s.address != address);
        self.servers.len() != before
    }

    /// Record one health check's outcome (`Err` carries why it failed).
    pub fn record(
        &mut self,
        address: &str,
        outcome: Result<(), String>,
        at_ms: u64,
    ) -> Option<Transition> {
        let Thresholds { fall, rise } = self.thresholds;
        let server = self.servers.iter_mut().find(|s| s.address == address)?;
        server.last_check_ms = Some(at_ms);
        let passed = outcome.is_ok();
        server.last_error = outcome.err();
        let from = server.state;
        let to = match (from, passed) {
            (ServerState::Checking, true) => ServerState::Up,
            (ServerState::Checking, false) => {
                server.streak += 1;
                if server.streak < fall {
                    return None;
                }
                ServerState::Down
            }
            (ServerState::Up, true) | (ServerState::Down, false) => {
                server.streak = 0;
                return None;
            }
            (ServerState::Up, false) | (ServerState::Down, true) => {
                server.streak += 1;
                let needed = if passed { rise } else { fall };
                if server.streak < needed {
                    return None;
                }
                if passed {
                    ServerState::Up
                } else {
                    ServerState::Down
                }
            }
        };
        server.state = to;
        server.streak = 0;
        Some(Transition { from, to })
    }

    /// The next up server in round robin, or `None` when no server is up.
    pub fn next_server(&mut self) -> Option<&str> {
        let up = self.servers.iter().filter(|s| s.state == ServerState::Up).count();
        if up == 0 {
            return None;
        }
        let pick = self.next % up;
        self.next = self.next.wrapping_add(1);
        self.servers
            .iter()
            .filter(|s| s.state == ServerState::Up)
            .nth(pick)
            .map(|s| s.address.as_str())
    }

    /// Addresses of the up servers, in order.
    pub fn up(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().filter(|s| s.state == ServerState::Up).map(|s| s.address.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(addresses: &[&str]) -> ServerPool {
        let mut pool = ServerPool::new(Thresholds { fall: 2, rise: 3 });
        for a in addresses {
            pool.add(a);
        }
        pool
    }

    fn fail() -> Result<(), String> {
        Err("refused".into())
    }

    #[test]
    fn unchecked_servers_are_not_handed_out() {
        let mut pool = pool(&["a:1"]);
        assert_eq!(pool.next_server(), None);
        assert!(pool.record("a:1", Ok(()), 1).is_some());
        assert_eq!(pool.next_server(), Some("a:1"));
    }

    #[test]
    fn a_server_still_starting_is_up_at_its_first_pass() {
        let mut pool = pool(&["a:1", "b:2"]);
        assert_eq!(pool.record("a:1", fail(), 0), None, "one failure while checking is not down");
        assert_eq!(pool.servers()[0].state, ServerState::Checking);
        let up = pool.record("a:1", Ok(()), 1).expect("the first pass brings it up");
        assert_eq!((up.from, up.to), (ServerState::Checking, ServerState::Up));
        assert_eq!(pool.next_server(), Some("a:1"));
        pool.record("b:2", fail(), 0);
        let down = pool.record("b:2", fail(), 1).expect("fall failures while checking: down");
        assert_eq!((down.from, down.to), (ServerState::Checking, ServerState::Down));
    }

    #[test]
    fn round_robin_alternates_over_up_servers() {
        let mut pool = pool(&["a:1", "b:2", "c:3"]);
        pool.record("a:1", Ok(()), 0);
        pool.record("b:2", Ok(()), 0);
        pool.record("c:3", fail(), 0);
        let picks: Vec<_> = (0..4).map(|_| pool.next_server().unwrap().to_owned()).collect();
        assert_eq!(picks, ["a:1", "b:2", "a:1", "b:2"]);
    }

    #[test]
    fn a_server_falls_after_fall_failures_and_rises_after_rise_passes() {
        let mut pool = pool(&["a:1"]);
        pool.record("a:1", Ok(()), 0);
        assert_eq!(pool.record("a:1", fail(), 1), None, "one failure is not enough");
        assert_eq!(pool.record("a:1", Ok(()), 2), None, "a pass resets the streak");
        assert_eq!(pool.record("a:1", fail(), 3), None);
        let down = pool.record("a:1", fail(), 4).unwrap();
        assert_eq!((down.from, down.to), (ServerState::Up, ServerState::Down));
        assert_eq!(pool.next_server(), None);
        assert_eq!(pool.servers()[0].last_error.as_deref(), Some("refused"));
        assert_eq!(pool.record("a:1", Ok(()), 5), None);
        assert_eq!(pool.record("a:1", Ok(()), 6), None);
        let up = pool.record("a:1", Ok(()), 7).unwrap();
        assert_eq!(up.to, ServerState::Up);
        assert_eq!(pool.next_server(), Some("a:1"));
    }

    #[test]
    fn servers_come_and_go_at_run_time() {
        let mut pool = pool(&["a:1"]);
        assert!(!pool.add("a:1"), "no duplicates");
        assert!(pool.add("b:2"));
        pool.record("b:2", Ok(()), 0);
        assert!(pool.remove("a:1"));
        assert!(!pool.remove("a:1"));
        assert_eq!(pool.next_server(), Some("b:2"));
        assert_eq!(pool.record("a:1", Ok(()), 0), None, "checks of a removed server are ignored");
    }
}
