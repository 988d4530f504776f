//! What happens in the lab, as one stream of events (`GET /events` of every service, merged by
//! the control plane into its own `GET /events`).

use serde::{Deserialize, Serialize};

/// The kinds of event the lab reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A process was started.
    Started,
    /// A signal was sent to a process (stop, kill, pause, resume).
    Signal,
    /// The control plane's health check saw a service come up.
    Up,
    /// A service went down: its process ended (how: in the message) or its health check fails.
    Down,
    /// A registry took a server out of, or back into, rotation.
    Failover,
    /// A link fault was set or healed.
    Link,
    /// Replication lag changed.
    Lag,
    /// Stake, reward or slashing in the meta-model.
    Consensus,
    /// A sync node switched between CRDT-only and CRDT + Paxos.
    Mode,
    /// A Paxos round's messages or decision.
    Paxos,
    /// A scenario started or reached its verdict.
    Scenario,
    /// Anything else worth a line.
    Info,
}

/// One thing that happened, somewhere in the lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabEvent {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The service it happened to (or that reports it).
    pub service: String,
    /// What sort of event it is; the dashboard's timeline colours and filters by it.
    pub kind: EventKind,
    /// What happened, one line for people (`shop-a: SIGKILL sent`).
    pub message: String,
}
