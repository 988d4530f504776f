//! The control plane's fault-injection API: signals to processes, faults on links, scenarios.

use serde::{Deserialize, Serialize};

/// What can be done to a service's process (`POST /api/services/{name}/{action}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ProcessAction {
    /// SIGTERM: the service shuts down cleanly.
    Stop,
    /// SIGKILL: the process dies at once, mid-request if need be.
    Kill,
    /// SIGSTOP: frozen — connections stay open but nothing answers.
    Pause,
    /// SIGCONT after a pause.
    Resume,
    /// Stop (if running) and start again with the same command line.
    Restart,
}

impl ProcessAction {
    /// Every action, in the order the dashboard offers them.
    pub const ALL: [ProcessAction; 5] =
        [Self::Stop, Self::Kill, Self::Pause, Self::Resume, Self::Restart];

    /// The action's name in the route (`kill` in `POST /api/services/shop-a/kill`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Kill => "kill",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Restart => "restart",
        }
    }
}

impl std::str::FromStr for ProcessAction {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| {
            format!("unknown action {s:?}: one of stop, kill, pause, resume, restart")
        })
    }
}

/// A fault on the link from one service to a peer: cut, slowed or lossy. Simulated inside the
/// sending service (its outgoing calls consult it), not in the kernel.
///
/// Read from a JSON object only: serde would also read an all-optional struct from an array
/// (`[]` as a healthy fault), which the schema does not allow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(
    rename_all = "camelCase",
    deny_unknown_fields,
    try_from = "serde_json::Map<String, serde_json::Value>"
)]
pub struct LinkFault {
    /// Every call fails at once, as if the network were partitioned.
    #[cfg_attr(feature = "openapi", schema(required = false))]
    pub cut: bool,
    /// Added to every call, in milliseconds: 0 to 60,000.
    #[cfg_attr(feature = "openapi", schema(required = false, maximum = 60_000))]
    pub latency_ms: u64,
    /// Share of calls dropped, from 0.0 to 1.0.
    #[cfg_attr(feature = "openapi", schema(required = false, minimum = 0.0, maximum = 1.0))]
    pub drop_rate: f64,
}

/// [`LinkFault`]'s fields as a body gives them: each optional.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LinkFaultFields {
    #[serde(default)]
    cut: bool,
    #[serde(default, deserialize_with = "crate::whole::number")]
    latency_ms: u64,
    #[serde(default)]
    drop_rate: f64,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for LinkFault {
    type Error = serde_json::Error;

    fn try_from(object: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        let LinkFaultFields { cut, latency_ms, drop_rate } =
            serde_json::from_value(serde_json::Value::Object(object))?;
        Ok(LinkFault { cut, latency_ms, drop_rate })
    }
}

impl LinkFault {
    /// No fault at all: not cut, no added latency, nothing dropped (what `DELETE` sets).
    pub fn is_healthy(&self) -> bool {
        !self.cut && self.latency_ms == 0 && self.drop_rate == 0.0
    }
}

/// `healthy`, or what is wrong: `cut, +300 ms, 30% lost`.
impl std::fmt::Display for LinkFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_healthy() {
            return f.write_str("healthy");
        }
        let mut parts = Vec::new();
        if self.cut {
            parts.push("cut".to_owned());
        }
        if self.latency_ms > 0 {
            parts.push(format!("+{} ms", self.latency_ms));
        }
        if self.drop_rate > 0.0 {
            parts.push(format!("{:.0}% lost", self.drop_rate * 100.0));
        }
        f.write_str(&parts.join(", "))
    }
}

/// One link of a service to a peer, with its fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// The peer's name in the lab (`shop-a`).
    pub to: String,
    /// What is wrong with the link now (all off when healthy).
    pub fault: LinkFault,
}

/// `GET /admin/links` of a service: its faults, keyed by the peer's `host:port`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LinkFaultEntry {
    /// The peer as the sender dials it, `host:port` (e.g. `localhost:3001`).
    pub peer: String,
    /// The fault the sender applies to its calls to that peer.
    pub fault: LinkFault,
}

/// A scenario's outcome, measured from what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// The scenario's name, as in `POST /api/scenarios/{name}` (`shop-failover`).
    pub scenario: String,
    /// The question the scenario answers, in the workshop's words.
    pub question: String,
    /// The answer, one sentence.
    pub verdict: String,
    /// The measurements behind it: (what, value).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub measurements: Vec<(String, String)>,
    /// Whether the system behaved as designed (e.g. no failed request) — and, for a scenario
    /// with a model, whether the checker found its history valid.
    pub passed: bool,
    /// The recording the scenario made of itself (`GET /api/recordings/{id}`); `null` when it
    /// ran inside a recording already under way.
    #[serde(default)]
    pub recording: Option<String>,
    /// The checker's verdict on that recording, for a scenario whose operations a model
    /// judges (`shop-failover`, `registry-partition`, `node-partition`: set; `paxos-leader-loss`:
    /// max-register; `async-primary-loss`: mirror).
    #[serde(default)]
    pub check: Option<crate::history::Verdict>,
}

/// A scenario the control plane can run (`GET /api/scenarios`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScenarioInfo {
    /// The name to run it by: `POST /api/scenarios/{name}`.
    pub name: String,
    /// The question it answers, in the workshop's words (shown on the dashboard).
    pub question: String,
}

/// The answer to a process action or a link change: what was done, and the service's row after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionOutcome {
    /// What the control plane did, in one sentence (`link registry → shop-a healed`).
    pub message: String,
    /// The service's row of `GET /api/services` after the action: new PID, paused, links.
    pub service: crate::ServiceStatus,
}

/// What a test run's clients do (`lab test --workload`), and the model that judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Raises and reads of the sync nodes' agreed highest number on all three nodes
    /// (`max-register`).
    PaxosRegister,
    /// Adds of persons on all three nodes and reads of each node's persons (`set`).
    CrdtSet,
    /// Writes to the mirrored shop (:3010) and a failover of its primary (`mirror`).
    MirrorSync,
    /// Writes to the replicated shop (:3020) and a failover of its primary (`mirror`).
    MirrorAsync,
    /// Orders placed through the registry across a shop server's failure (`set`: no
    /// acknowledged order lost, none twice).
    ShopOrders,
}

/// A fault the nemesis injects during a test run, on a seeded schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Nemesis {
    /// Cut every link between one target and the others (both ways), then heal.
    Partition,
    /// SIGKILL one target, then start it again.
    Kill,
    /// SIGSTOP one target, then SIGCONT.
    Pause,
}

/// How a `paxos-register` run reads the highest number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ReadPath {
    /// `GET /get_data` on the node asked: its local state (the original's read; may be stale).
    Local,
    /// `GET /highest?read=linearizable`: confirmed by a quorum, as etcd's ReadIndex.
    #[default]
    Linearizable,
}

named!(Workload {
    PaxosRegister => "paxos-register",
    CrdtSet => "crdt-set",
    MirrorSync => "mirror-sync",
    MirrorAsync => "mirror-async",
    ShopOrders => "shop-orders",
});
named!(Nemesis { Partition => "partition", Kill => "kill", Pause => "pause" });
named!(ReadPath { Local => "local", Linearizable => "linearizable" });

/// A test run (`POST /api/tests`, `lab test`): a workload, a nemesis, for a time, seeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestSpec {
    /// What the clients do (and so which checker judges the history).
    pub workload: Workload,
    /// Faults to inject, taking turns (none: a run with no fault).
    #[serde(default)]
    pub nemesis: Vec<Nemesis>,
    /// How long the clients run, in seconds (then: heal, quiesce, final reads, check).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 600))]
    #[serde(deserialize_with = "crate::whole::number")]
    pub time_s: u32,
    /// Client operations per second, all clients together.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 2000))]
    #[serde(deserialize_with = "crate::whole::number")]
    pub rate: u32,
    /// Seeds the clients' choices and the nemesis's schedule.
    #[serde(default, deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 9007199254740991_u64))]
    pub seed: u64,
    /// How `paxos-register` reads (ignored by the other workloads).
    #[serde(default)]
    pub read: ReadPath,
    /// Deliberate bugs to switch on, in every service they live in, for the run (and off
    /// after it).
    #[serde(default)]
    pub bugs: Vec<crate::bugs::Bug>,
    /// `paxos-register`, `crdt-set`: switch the sync nodes to CRDT-only for the run (the mode
    /// the dynamic method picks under high load, where nothing is agreed), and back after it.
    #[serde(default)]
    pub crdt_only: bool,
}

impl TestSpec {
    /// Why the spec cannot run, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=600).contains(&self.time_s) {
            return Err(format!("timeS must be 1 to 600 seconds, not {}", self.time_s));
        }
        if !(1..=2000).contains(&self.rate) {
            return Err(format!("rate must be 1 to 2000 operations per second, not {}", self.rate));
        }
        if self.seed > (1 << 53) - 1 {
            return Err("seed must be at most 2^53 - 1".into());
        }
        Ok(())
    }
}

/// Where a recorded run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// Recording (a test's clients and nemesis running, or a recording started by hand).
    Recording,
    /// The test is healing the lab and waiting for it to settle.
    Healing,
    /// The history is being checked.
    Checking,
    /// Over: the history is saved (and judged, for a test).
    Done,
    /// Over, but something went wrong (see `error`); what was recorded is saved.
    Failed,
}

/// One recording or test run (`GET /api/recordings`); kept with its history in the lab's data
/// directory, so runs survive a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunInfo {
    /// Its id: when it started and what it is (`20261201-221530-paxos-register`).
    pub id: String,
    /// A person's name for it (the workload, or what was given when starting by hand).
    pub name: String,
    /// Whether it is still recording, being checked, done or failed.
    pub state: RunState,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// How long it recorded, in milliseconds (so far, while recording).
    pub duration_ms: u64,
    /// Events recorded (so far).
    pub events: u64,
    /// Events services dropped because their buffers filled (0 when the history is complete).
    #[serde(default)]
    pub dropped: u64,
    /// The test it runs; `null` for a recording started by hand.
    pub test: Option<TestSpec>,
    /// The deliberate bugs switched on when it started, per service.
    #[serde(default)]
    pub bugs: std::collections::BTreeMap<String, Vec<crate::bugs::Bug>>,
    /// The checker's verdict (for a test, or once a recording was checked).
    pub verdict: Option<crate::history::Verdict>,
    /// What went wrong, for a failed run.
    pub error: Option<String>,
}

/// Start a recording by hand (`POST /api/recordings`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRecording {
    /// What to call it (default `recording`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 60))]
    pub name: Option<String>,
}

/// Check a recorded history against a model (`POST /api/recordings/{id}/check`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckRequest {
    /// `max-register`, `set`, `ledger` or `mirror`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(max-register|set|ledger|mirror)$"))]
    pub model: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_says_what_is_wrong() {
        assert_eq!(LinkFault::default().to_string(), "healthy");
        let fault = LinkFault { cut: true, latency_ms: 300, drop_rate: 0.3 };
        assert_eq!(fault.to_string(), "cut, +300 ms, 30% lost");
    }

    #[test]
    fn a_link_fault_is_read_from_an_object_only() {
        let read = |json: &str| serde_json::from_str::<LinkFault>(json);
        assert_eq!(read("{}").unwrap(), LinkFault::default());
        let slow = read(r#"{"latencyMs": 300.0, "cut": true}"#).unwrap();
        assert_eq!((slow.latency_ms, slow.cut, slow.drop_rate), (300, true, 0.0));
        assert!(read("[]").is_err(), "an array is not a fault");
        assert!(read(r#"{"cut": true, "extra": 1}"#).is_err(), "unknown fields");
        let round = LinkFault { cut: true, latency_ms: 5, drop_rate: 0.25 };
        assert_eq!(read(&serde_json::to_string(&round).unwrap()).unwrap(), round);
    }
}
