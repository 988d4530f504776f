//! Test runs, Maelstrom-style: a workload's clients run against the lab while a nemesis breaks
//! it on a seeded schedule; everything is recorded; then the lab is healed, left to settle, read
//! one last time, and the history is judged by the workload's model.
//!
//! - [`register`]: `paxos-register` (raises and reads of the agreed highest number; `max-register`);
//! - [`set`]: `crdt-set` (adds and reads of persons; `set`);
//! - [`mirror`]: `mirror-sync`, `mirror-async` (writes and a failover; `mirror`);
//! - [`orders`]: `shop-orders` (orders through the registry across a shop server's failure;
//!   `set`, duplicates included);
//! - [`nemesis`]: the faults and their schedule.
//!
//! The clients run in the control plane, so their operations are on the recording's clock; each
//! client is one Jepsen process with at most one operation open.

mod mirror;
pub mod nemesis;
pub(crate) mod orders;
mod register;
mod set;

use std::future::Future;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{Map, Value};
use shared::control::{RunState, TestSpec, Workload};
use shared::history::Verdict;
use shared::ServiceKind;

use super::recording::OpKind;
use super::{ControlError, ControlState};
use crate::check::Model;

/// How long one client request may take before its operation is `info` (it may have happened).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The model that judges a workload's history.
pub fn model(workload: Workload) -> Model {
    match workload {
        Workload::PaxosRegister => Model::MaxRegister,
        Workload::CrdtSet | Workload::ShopOrders => Model::Set,
        Workload::MirrorSync | Workload::MirrorAsync => Model::Mirror,
    }
}

/// Run test `id` (its recording is under way) to its verdict.
pub async fn run(state: &ControlState, id: &str, spec: &TestSpec) -> Result<Verdict, ControlError> {
    let run = Run::new(state, id, spec);
    tracing::info!(run = %id, workload = %spec.workload, nemesis = ?spec.nemesis, time_s = spec.time_s, seed = spec.seed, bugs = ?spec.bugs, "test run started");
    let nodes_mode =
        spec.crdt_only && matches!(spec.workload, Workload::PaxosRegister | Workload::CrdtSet);
    if nodes_mode {
        run.switch_nodes(true, None).await;
    }
    let outcome = match spec.workload {
        Workload::PaxosRegister => register::run(&run).await,
        Workload::CrdtSet => set::run(&run).await,
        Workload::MirrorSync | Workload::MirrorAsync => mirror::run(&run).await,
        Workload::ShopOrders => orders::run(&run).await,
    };
    // Off again whatever happened: the bugs and the mode were the run's, not the lab's.
    run.switch_bugs(false, None).await;
    if nodes_mode {
        run.switch_nodes(false, None).await;
    }
    outcome?;
    state.recordings.stop(id).await?;
    state.recordings.update(id, |r| r.state = RunState::Checking)?;
    let verdict = super::runs::judge(state, id, model(spec.workload)).await?;
    tracing::info!(run = %id, valid = ?verdict.valid, ops = verdict.ops, "test run judged");
    Ok(verdict)
}

/// What a workload's clients share.
#[derive(Debug)]
pub struct Run<'a> {
    pub state: &'a ControlState,
    pub id: &'a str,
    pub spec: &'a TestSpec,
    pub client: reqwest::Client,
}

impl<'a> Run<'a> {
    pub fn new(state: &'a ControlState, id: &'a str, spec: &'a TestSpec) -> Self {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(16)
            .build()
            .expect("an HTTP client with default settings");
        Self { state, id, spec, client }
    }

    /// Switch the run's bugs on or off in every service they live in (or only in `only`, a
    /// service that restarted without them). Bugs are switched on before the recording's
    /// clients start, so the run's first line lists them.
    pub async fn switch_bugs(&self, on: bool, only: Option<&str>) {
        for bug in &self.spec.bugs {
            for (name, url) in self.urls(bug.lives_in()) {
                if only.is_some_and(|only| only != name) {
                    continue;
                }
                let url = format!("{url}/admin/bugs/{bug}");
                let request = if on { self.client.put(url) } else { self.client.delete(url) };
                match request.send().await {
                    Ok(answer) if answer.status().is_success() => {
                        tracing::info!(service = %name, %bug, on, "test run: bug switched");
                    }
                    Ok(answer) => {
                        tracing::warn!(service = %name, %bug, status = %answer.status(), "test run: the bug was not switched")
                    }
                    Err(err) => {
                        tracing::warn!(service = %name, %bug, %err, "test run: the bug was not switched")
                    }
                }
            }
        }
    }

    /// Force the sync nodes (or only the node `only`) into CRDT-only mode (`true`), or let them
    /// decide again (`false`).
    pub async fn switch_nodes(&self, crdt_only: bool, only: Option<&str>) {
        let path = if crdt_only { "switch_to_crdt_only" } else { "switch_to_normal" };
        for (name, url) in self.urls(ServiceKind::SyncNode) {
            if only.is_some_and(|only| only != name) {
                continue;
            }
            let answer = self.client.post(format!("{url}/{path}")).send().await;
            if !answer.is_ok_and(|a| a.status().is_success()) {
                tracing::warn!(node = %name, path, "test run: the node's mode was not switched");
            }
        }
    }

    /// The client phase's length.
    pub fn time(&self) -> Duration {
        Duration::from_secs(u64::from(self.spec.time_s))
    }

    /// A generator for `stream` (0: the nemesis, 1.. the clients), from the run's seed.
    pub fn rng(&self, stream: u64) -> StdRng {
        StdRng::seed_from_u64(self.spec.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream)
    }

    /// The base URLs of the lab's services of `kind`, by name.
    pub fn urls(&self, kind: ServiceKind) -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = self
            .state
            .table
            .snapshot()
            .into_iter()
            .filter(|row| row.kind == kind)
            .map(|row| (row.name, row.url))
            .collect();
        rows.sort();
        rows
    }

    /// The pause between one client's operations, for `clients` clients at the run's rate.
    pub fn pace(&self, clients: usize) -> Duration {
        Duration::from_secs_f64(clients as f64 / f64::from(self.spec.rate))
    }

    /// Mark the run as healing (the clients stopped; the nemesis heals next).
    pub fn healing(&self) {
        let _ = self.state.recordings.update(self.id, |r| r.state = RunState::Healing);
    }

    /// Perform one operation as `process`: record its invoke, run it, record how it ended.
    pub async fn op<F>(
        &self,
        process: u64,
        f: &str,
        value: Value,
        fields: Map<String, Value>,
        call: F,
    ) -> Done
    where
        F: Future<Output = Done>,
    {
        let recordings = &self.state.recordings;
        recordings.op(OpKind::Invoke, process, f, value.clone(), fields.clone());
        let done = call.await;
        let (kind, value, fields) = match &done {
            Done::Ok(result) => (OpKind::Ok, result.clone(), fields),
            Done::Fail(why) => (OpKind::Fail, value, with_error(fields, why)),
            Done::Info(why) => (OpKind::Info, value, with_error(fields, why)),
        };
        recordings.op(kind, process, f, value, fields);
        done
    }
}

fn with_error(mut fields: Map<String, Value>, why: &str) -> Map<String, Value> {
    fields.insert("error".into(), why.into());
    fields
}

/// How a client's operation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// It happened; a read's value.
    Ok(Value),
    /// It certainly did not happen (refused, or never reached the service).
    Fail(String),
    /// It may have happened (no answer in time, or a 5xx after it was sent).
    Info(String),
}

impl Done {
    /// What a failed request says about an operation that changes something: never sent or
    /// refused at connect is `fail`; anything else (a timeout, a reset) may have acted: `info`.
    pub fn from_send_error(err: &reqwest::Error) -> Done {
        if err.is_connect() {
            Done::Fail(format!("not reached: {err}"))
        } else {
            Done::Info(format!("no answer: {err}"))
        }
    }

    /// A read that got no answer did nothing: `fail` either way.
    pub fn read_failed(err: impl std::fmt::Display) -> Done {
        Done::Fail(err.to_string())
    }
}

/// A JSON body of an answer that should be 2xx; `Err` with the operation's outcome otherwise.
pub async fn answer_json<T: serde::de::DeserializeOwned>(
    sent: Result<reqwest::Response, reqwest::Error>,
    changes: bool,
) -> Result<T, Done> {
    let response = match sent {
        Ok(response) => response,
        Err(err) if changes => return Err(Done::from_send_error(&err)),
        Err(err) => return Err(Done::read_failed(err)),
    };
    let status = response.status();
    if status.is_client_error() || (!changes && !status.is_success()) {
        let body = response.text().await.unwrap_or_default();
        return Err(Done::Fail(format!(
            "{status}: {}",
            body.chars().take(200).collect::<String>()
        )));
    }
    if !status.is_success() {
        // A 5xx after the request arrived: it may have acted.
        return Err(Done::Info(format!("{status}")));
    }
    response.json::<T>().await.map_err(|err| {
        if changes {
            Done::Info(format!("unreadable answer: {err}"))
        } else {
            Done::read_failed(format!("unreadable answer: {err}"))
        }
    })
}

/// Wait (bounded) until `probe` says the lab settled; how long it took, `None` if it never did
/// (the scenarios' [`wait_until`](crate::control::scenarios::wait_until), asked every 200 ms).
pub async fn settle<F, Fut>(limit: Duration, mut probe: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let interval = Duration::from_millis(200);
    let probe = || {
        let settled = probe();
        async move { Ok(settled.await) }
    };
    crate::control::scenarios::wait_until("the lab to settle", limit, interval, probe)
        .await
        .unwrap_or(None)
}
