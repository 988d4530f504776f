//! Scenarios: the workshop's questions as experiments. Each breaks something real, measures
//! what the system did, puts things back, and answers a [`Verdict`].
//!
//! [`SCENARIOS`] is the one list of them (name, question, the function that runs it); each
//! scenario is a file of its own. What several share is here — [`wait_until`], the one way a
//! scenario waits for the lab to react, and the sync nodes' helpers — or in [`orders`], the
//! client that places orders while a shop server is broken.

mod dishonest_model;
mod node_partition;
mod orders;
mod paxos_leader_loss;
mod primary_loss;
mod registry_partition;
mod shop_failover;

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{json, Map, Value};
use shared::control::{ScenarioInfo, Verdict};
use shared::history::Validity;

use super::recording::OpKind;
use super::{row, ControlError, ControlState};
use crate::check::Model;

/// How long a scenario waits for the lab to react before it calls the reaction missing.
const REACTION_LIMIT: Duration = Duration::from_secs(10);

/// One scenario: what the dashboard lists, and the experiment that answers it.
struct Scenario {
    /// Its name in `POST /api/scenarios/{name}` and in its verdict.
    name: &'static str,
    /// The workshop's question it answers, listed and repeated in its verdict.
    question: &'static str,
    run: for<'a> fn(&'a ControlState) -> BoxFuture<'a, Result<Finding, ControlError>>,
    /// The model that judges the client operations the scenario records.
    model: Model,
}

/// What a scenario found: its [`Verdict`] but for the name and question [`SCENARIOS`] gives it.
struct Finding {
    verdict: String,
    measurements: Vec<(String, String)>,
    passed: bool,
}

/// Every scenario, in the order the dashboard lists them.
static SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "shop-failover",
        question: "Kill shop server A (SIGKILL) while a client places orders: how many requests fail, and how long until the system has recovered?",
        run: |state| Box::pin(shop_failover::run(state)),
        model: Model::Set,
    },
    Scenario {
        name: "dishonest-model",
        question: "Make model C answer wrong on purpose (inverted): how many answers until the meta-model ejects it, and does the consensus stay right meanwhile?",
        run: |state| Box::pin(dishonest_model::run(state)),
        model: Model::Ledger,
    },
    Scenario {
        name: "async-primary-loss",
        question: "Kill the primary store under asynchronous replication, then fail over: how many acknowledged writes are lost, compared with the lag shown just before — and how long until writes work again?",
        run: |state| Box::pin(primary_loss::run(state, &primary_loss::ASYNC)),
        model: Model::Mirror,
    },
    Scenario {
        name: "sync-primary-loss",
        question: "Kill the primary store under synchronous mirroring, then fail over: is any acknowledged write lost — and how long until writes work again?",
        run: |state| Box::pin(primary_loss::run(state, &primary_loss::SYNC)),
        model: Model::Mirror,
    },
    Scenario {
        name: "node-partition",
        question: "Partition sync node 3 from nodes 1 and 2, add a person on node 1 and another on node 3, heal: how long until all three hold the same persons and the same highest number?",
        run: |state| Box::pin(node_partition::run(state)),
        model: Model::Set,
    },
    Scenario {
        name: "paxos-leader-loss",
        question: "Kill the Paxos leader (SIGKILL) and add a number on another node: how long until the survivors agree on it under a new leader, what does the next number cost, and does the old leader come back as a follower?",
        run: |state| Box::pin(paxos_leader_loss::run(state)),
        model: Model::MaxRegister,
    },
    Scenario {
        name: "registry-partition",
        question: "Cut the registry off from shop server A (A itself stays up): how long until clients stop being sent to A, and until A is back after the link heals?",
        run: |state| Box::pin(registry_partition::run(state)),
        model: Model::Set,
    },
];

pub fn list() -> Vec<ScenarioInfo> {
    SCENARIOS
        .iter()
        .map(|s| ScenarioInfo { name: s.name.into(), question: s.question.into() })
        .collect()
}

pub async fn run(name: &str, state: &ControlState) -> Result<Verdict, ControlError> {
    let scenario = SCENARIOS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| ControlError::NotFound(format!("no scenario named {name:?}")))?;
    // The scenario records itself, unless a recording is under way (then it is part of that).
    let own = match state.recordings.current() {
        Some(_) => None,
        None => {
            Some(state.recordings.start(&format!("scenario {}", scenario.name), None).await?.id)
        }
    };
    let found = (scenario.run)(state).await;
    if let Some(id) = &own {
        state.recordings.stop(id).await?;
    }
    let mut found = found?;
    let model = scenario.model;
    let check = match &own {
        Some(id) => {
            let verdict = crate::control::runs::judge(state, id, model).await?;
            state.recordings.update(id, |run| run.verdict = Some(verdict.clone()))?;
            found.measurements.push((
                format!("the {model} checker, on the recorded history"),
                format!("{} ({} operations)", verdict.valid, verdict.ops),
            ));
            found.passed &= verdict.valid == Validity::True;
            Some(verdict)
        }
        None => None,
    };
    Ok(Verdict {
        scenario: scenario.name.into(),
        question: scenario.question.into(),
        verdict: found.verdict,
        measurements: found.measurements,
        passed: found.passed,
        recording: own,
        check,
    })
}

/// Perform `call` as client operation `f` of `process`, recorded: its invoke, then `ok` with
/// what `result` makes of the answer (`None`: the answer does not say it happened — `info`);
/// when the call fails, `info` if it `changes` something (it may have happened), else `fail`.
/// The model of the scenario judges these.
async fn recorded<T>(
    state: &ControlState,
    process: u64,
    f: &str,
    value: Value,
    changes: bool,
    result: impl FnOnce(&T) -> Option<Value>,
    call: impl Future<Output = Result<T, ControlError>>,
) -> Result<T, ControlError> {
    let recordings = &state.recordings;
    recordings.op(OpKind::Invoke, process, f, value.clone(), Map::new());
    let answer = call.await;
    match &answer {
        Ok(answer) => match result(answer) {
            Some(result) => recordings.op(OpKind::Ok, process, f, result, Map::new()),
            None => recordings.op(OpKind::Info, process, f, value, Map::new()),
        },
        Err(err) => {
            let kind = if changes { OpKind::Info } else { OpKind::Fail };
            let fields = Map::from_iter([("error".to_owned(), Value::from(err.to_string()))]);
            recordings.op(kind, process, f, value, fields);
        }
    }
    answer
}

/// Ask `probe` every `interval` until it says yes, for at most `limit`: how long that took, or
/// `None` if it did not happen in time (logged, naming `what` was awaited). A probe that fails
/// ends the wait with its error: the scenario cannot go on. A probe under way when the time is
/// up is let finish (cut off midway, a request could leave its work half done), so the wait
/// lasts at most `limit` and one probe.
pub(crate) async fn wait_until<F>(
    what: &str,
    limit: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> F,
) -> Result<Option<Duration>, ControlError>
where
    F: Future<Output = Result<bool, ControlError>>,
{
    // Tokio's clock: tests pause it.
    let started = tokio::time::Instant::now();
    while started.elapsed() < limit {
        if probe().await? {
            return Ok(Some(started.elapsed()));
        }
        tokio::time::sleep(interval).await;
    }
    tracing::warn!(what, ?limit, "waited in vain");
    Ok(None)
}

/// GET a JSON document from a service.
async fn get_json<T: serde::de::DeserializeOwned>(
    state: &ControlState,
    url: String,
) -> Result<T, ControlError> {
    let response =
        state.client.get(url).send().await.map_err(|e| ControlError::Upstream(e.to_string()))?;
    response.json::<T>().await.map_err(|e| ControlError::Upstream(e.to_string()))
}

fn ms(duration: Duration) -> String {
    format!("{} ms", duration.as_millis())
}

/// A reaction time, or that it did not come within [`REACTION_LIMIT`].
fn within(reaction: Option<Duration>) -> String {
    reaction.map_or_else(|| format!("not within {} s", REACTION_LIMIT.as_secs()), ms)
}

/// The three sync nodes' (service name, URL), all of which must be running.
fn running_nodes(state: &ControlState) -> Result<Vec<(String, String)>, ControlError> {
    (1..=3)
        .map(|n| {
            let name = format!("node-{n}");
            let row = row(state, &name)?;
            match row.pid {
                Some(_) => Ok((name, row.url)),
                None => Err(ControlError::Conflict(format!(
                    "{name} must be running (restart it first)"
                ))),
            }
        })
        .collect()
}

/// Add a person with an account number on a sync node.
async fn add_person(
    state: &ControlState,
    url: &str,
    name: &str,
    number: u64,
) -> Result<shared::sync::Added, ControlError> {
    let failed =
        |e: reqwest::Error| ControlError::Upstream(format!("adding a person on {url}: {e}"));
    let response = state
        .client
        .post(format!("{url}/add_name"))
        .json(&json!({"name": name, "number": number}))
        .send()
        .await
        .map_err(failed)?;
    response.json().await.map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scenario_is_listed_once_with_its_question() {
        let names: Vec<String> = list().into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "shop-failover",
                "dishonest-model",
                "async-primary-loss",
                "sync-primary-loss",
                "node-partition",
                "paxos-leader-loss",
                "registry-partition"
            ]
        );
        assert!(SCENARIOS.iter().all(|s| s.question.ends_with('?')));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_when_the_probe_says_yes_or_at_its_limit() {
        let mut asked = 0;
        let yes_on_third = || {
            asked += 1;
            let yes = asked == 3;
            async move { Ok(yes) }
        };
        let took = wait_until(
            "a third probe",
            Duration::from_secs(1),
            Duration::from_millis(10),
            yes_on_third,
        )
        .await
        .unwrap();
        assert_eq!(took, Some(Duration::from_millis(20)));
        let never = || async { Ok(false) };
        let took = wait_until("nothing", Duration::from_secs(1), Duration::from_millis(10), never)
            .await
            .unwrap();
        assert_eq!(took, None);
        let failing = || async { Err(ControlError::Upstream("gone".into())) };
        let failed = wait_until(
            "a failing probe",
            Duration::from_secs(1),
            Duration::from_millis(10),
            failing,
        )
        .await;
        assert!(matches!(failed, Err(ControlError::Upstream(_))));
    }
}
