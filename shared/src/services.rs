//! What the control plane knows about each running service, and what `GET /health` answers.

use serde::{Deserialize, Serialize};

/// The kinds of service the lab runs. One binary serves all of them (`lab serve <kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    /// The dashboard and control plane (:8080).
    Control,
    /// An Iris classifier (5001-5003).
    Model,
    /// The stake-weighted consensus over the models (6001).
    MetaModel,
    /// An e-commerce API server (3001, 3002).
    Shop,
    /// The health-checked registry that hands out shop servers (8000).
    Registry,
    /// The shop with synchronous mirroring (3010).
    Mirroring,
    /// The shop with asynchronous replication (3020).
    Replication,
    /// A standalone database process (primary or mirror) the redundant shops write to.
    Store,
    /// A CRDT + Paxos + Socket.IO node (7001-7003).
    SyncNode,
}

impl ServiceKind {
    /// Every kind, in the order `lab serve --help` lists them.
    pub const ALL: [ServiceKind; 9] = [
        Self::Control,
        Self::Model,
        Self::MetaModel,
        Self::Shop,
        Self::Registry,
        Self::Mirroring,
        Self::Replication,
        Self::Store,
        Self::SyncNode,
    ];

    /// The kebab-case name used on the command line and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Control => "control",
            Self::Model => "model",
            Self::MetaModel => "meta-model",
            Self::Shop => "shop",
            Self::Registry => "registry",
            Self::Mirroring => "mirroring",
            Self::Replication => "replication",
            Self::Store => "store",
            Self::SyncNode => "sync-node",
        }
    }
}

impl std::fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ServiceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| format!("unknown service kind {s:?}"))
    }
}

/// What the control plane last saw of a service's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// Not checked yet (just started).
    Unknown,
    /// `GET /health` answered 200 at the last check.
    Up,
    /// The last check failed: no answer, a timeout, or a non-200 status.
    Down,
}

/// `GET /health` of every service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// The service's name in the lab (`shop-a`, `model-b`, ...).
    pub service: String,
    /// What the service is; tells the dashboard which page shows it.
    pub kind: ServiceKind,
    /// `"ok"` when the service can do its work.
    pub status: String,
    /// The OS process id, so a user can check that a killed service really is gone.
    pub pid: u32,
    /// Seconds since the service started.
    pub uptime_s: f64,
    /// The deliberate bugs switched on in this service (none, unless a lesson asks for one).
    #[serde(default)]
    pub bugs: Vec<crate::bugs::Bug>,
}

/// One row of the control plane's `GET /api/services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// The service's name in the lab (`shop-a`, `node-2`): unique, the key of its action routes.
    pub name: String,
    /// What the service is (also for the control plane's own row).
    pub kind: ServiceKind,
    /// Base URL the service listens on, e.g. `http://127.0.0.1:3001`.
    pub url: String,
    /// OS process id; `None` while the process is not running.
    pub pid: Option<u32>,
    /// What the control plane's last check of its `GET /health` (every `--health-interval-ms`)
    /// saw.
    pub health: Health,
    /// Milliseconds since the Unix epoch of the last health check, if any.
    pub last_check_ms: Option<u64>,
    /// Why the last check failed, or how the process ended.
    pub detail: Option<String>,
    /// Frozen by SIGSTOP (its PID is alive but it answers nothing).
    #[serde(default)]
    pub paused: bool,
    /// The links this service calls its peers over, with any fault set on them.
    #[serde(default)]
    pub links: Vec<crate::control::Link>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in ServiceKind::ALL {
            assert_eq!(kind.as_str().parse::<ServiceKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert!("shopp".parse::<ServiceKind>().is_err());
    }
}
