//! Scenarios: the workshop's questions as experiments. Each breaks something real, measures
//! what the system did, puts things back, and answers a [`Verdict`].

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use shared::control::{LinkFault, ProcessAction, ScenarioInfo, Verdict};
use shared::registry::{RegistryStatus, ServerState};

use super::{change_link, ControlError, ControlState};
use crate::shop_client::ShopClient;

const SHOP_FAILOVER: &str = "shop-failover";
const REGISTRY_PARTITION: &str = "registry-partition";
const DISHONEST_MODEL: &str = "dishonest-model";
const ASYNC_PRIMARY_LOSS: &str = "async-primary-loss";
const NODE_PARTITION: &str = "node-partition";
const PAXOS_LEADER_LOSS: &str = "paxos-leader-loss";

/// How long a scenario waits for the lab to react before it calls the reaction missing.
const REACTION_LIMIT: Duration = Duration::from_secs(10);

pub fn list() -> Vec<ScenarioInfo> {
    vec![
        ScenarioInfo {
            name: SHOP_FAILOVER.into(),
            question: "Kill shop server A (SIGKILL) while a client places orders: how many requests fail, and how long until the system has recovered?".into(),
        },
        ScenarioInfo {
            name: DISHONEST_MODEL.into(),
            question: "Make model C answer wrong on purpose (inverted): how many answers until the meta-model ejects it, and does the consensus stay right meanwhile?".into(),
        },
        ScenarioInfo {
            name: ASYNC_PRIMARY_LOSS.into(),
            question: "Kill the primary store under asynchronous replication, then fail over: how many acknowledged writes are lost, compared with the lag shown just before — and how long until writes work again?".into(),
        },
        ScenarioInfo {
            name: NODE_PARTITION.into(),
            question: "Partition sync node 3 from nodes 1 and 2, add a person on node 1 and another on node 3, heal: how long until all three hold the same persons and the same highest number?".into(),
        },
        ScenarioInfo {
            name: PAXOS_LEADER_LOSS.into(),
            question: "Kill the Paxos leader (SIGKILL) and add a number on another node: how long until the survivors agree on it under a new leader, what does the next number cost, and does the old leader come back as a follower?".into(),
        },
        ScenarioInfo {
            name: REGISTRY_PARTITION.into(),
            question: "Cut the registry off from shop server A (A itself stays up): how long until clients stop being sent to A, and until A is back after the link heals?".into(),
        },
    ]
}

fn question(name: &str) -> String {
    list().into_iter().find(|s| s.name == name).map(|s| s.question).unwrap_or_default()
}

pub async fn run(name: &str, state: &ControlState) -> Result<Verdict, ControlError> {
    match name {
        SHOP_FAILOVER => shop_failover(state).await,
        REGISTRY_PARTITION => registry_partition(state).await,
        DISHONEST_MODEL => dishonest_model(state).await,
        ASYNC_PRIMARY_LOSS => async_primary_loss(state).await,
        NODE_PARTITION => node_partition(state).await,
        PAXOS_LEADER_LOSS => paxos_leader_loss(state).await,
        _ => Err(ControlError::NotFound(format!("no scenario named {name:?}"))),
    }
}

/// The registry's URL and the address it hands out for shop server A, once it sees all up.
async fn shop_setup(state: &ControlState) -> Result<(String, String), ControlError> {
    let registry = super::row(state, "registry")?;
    let shop_a = super::row(state, "shop-a")?;
    for needed in [&registry, &shop_a, &super::row(state, "shop-b")?] {
        if needed.pid.is_none() || needed.paused {
            return Err(ControlError::Conflict(format!(
                "{} must be running (restart it first)",
                needed.name
            )));
        }
    }
    let a_address = format!("localhost:{}", shop_a.url.rsplit_once(':').map_or("", |(_, p)| p));
    wait_for_state(state, &registry.url, &a_address, ServerState::Up)
        .await
        .ok_or_else(|| ControlError::Conflict("the registry does not see shop-a up".into()))?;
    Ok((registry.url, a_address))
}

/// Poll the registry until `address` is in `wanted` state; how long that took, if it happened
/// within [`REACTION_LIMIT`].
async fn wait_for_state(
    state: &ControlState,
    registry: &str,
    address: &str,
    wanted: ServerState,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < REACTION_LIMIT {
        let status = get_json::<RegistryStatus>(state, format!("{registry}/servers")).await.ok();
        let seen = status
            .and_then(|s| s.servers.into_iter().find(|x| x.address == address))
            .map(|x| x.state);
        if seen == Some(wanted) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
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

/// Counts of a client's requests while the scenario runs.
#[derive(Debug, Default)]
struct Load {
    sent: u32,
    answered: u32,
    /// Answered only after a failed attempt on another server.
    retried: u32,
    /// Orders in flight to a server that died under them: the client cannot know whether they
    /// were placed, and must not retry them (they could be placed twice).
    uncertain: u32,
    failed: Vec<String>,
    /// Answered by server A.
    by_a: u32,
}

/// Place orders through the registry until `stop` fires (bounded: at most 2,000 orders).
fn order_load(
    client: ShopClient,
    product: u64,
    a_address: String,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Load>) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut load = Load::default();
        let order = json!({"userId": 999, "items": [{"productId": product, "quantity": 1}]});
        while stopped.try_recv().is_err() && load.sent < 2_000 {
            load.sent += 1;
            match client.send(Method::POST, "/orders", Some(&order)).await {
                Ok(answer) if answer.status == 201 => {
                    load.answered += 1;
                    load.retried += u32::from(!answer.failed.is_empty());
                    load.by_a += u32::from(answer.server == a_address);
                }
                Ok(answer) => load.failed.push(format!("{} {}", answer.status, answer.body)),
                Err(crate::shop_client::ClientError::Uncertain { .. }) => load.uncertain += 1,
                Err(err) => load.failed.push(err.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        load
    });
    (stop, task)
}

/// A client placing orders through the registry, started once the registry sees every shop
/// server up: (registry URL, A's address, stop, the load's counts).
async fn start_orders(
    state: &ControlState,
) -> Result<
    (String, String, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Load>),
    ControlError,
> {
    let (registry, a_address) = shop_setup(state).await?;
    let client = ShopClient::new(&registry);
    let product = scenario_product(&client).await?;
    let (stop, load) = order_load(client, product, a_address.clone());
    Ok((registry, a_address, stop, load))
}

/// Stop the order load and collect its counts.
async fn finish_orders(
    stop: tokio::sync::oneshot::Sender<()>,
    load: tokio::task::JoinHandle<Load>,
) -> Result<Load, ControlError> {
    let _ = stop.send(());
    load.await.map_err(|e| ControlError::Upstream(e.to_string()))
}

async fn scenario_product(client: &ShopClient) -> Result<u64, ControlError> {
    let answer = client
        .send(
            Method::POST,
            "/products",
            Some(&json!({"name": "scenario widget", "price": 1.0, "category": "scenario"})),
        )
        .await
        .map_err(|e| ControlError::Upstream(e.to_string()))?;
    serde_json::from_str::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["id"].as_u64())
        .ok_or_else(|| {
            ControlError::Upstream(format!("could not create a product: {}", answer.body))
        })
}

fn ms(duration: Duration) -> String {
    format!("{} ms", duration.as_millis())
}

/// A reaction time, or that it did not come within [`REACTION_LIMIT`].
fn within(reaction: Option<Duration>) -> String {
    reaction.map_or_else(|| format!("not within {} s", REACTION_LIMIT.as_secs()), ms)
}

async fn shop_failover(state: &ControlState) -> Result<Verdict, ControlError> {
    let (registry, a_address, stop, load) = start_orders(state).await?;

    tokio::time::sleep(Duration::from_millis(800)).await;
    state.supervisor.act("shop-a", ProcessAction::Kill).await?;
    let killed = Instant::now();
    let detected = wait_for_state(state, &registry, &a_address, ServerState::Down).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    state.supervisor.act("shop-a", ProcessAction::Restart).await?;
    let restarted = Instant::now();
    let back = wait_for_state(state, &registry, &a_address, ServerState::Up).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let load = finish_orders(stop, load).await?;

    let (detected, back_in) = (within(detected), within(back));
    let passed = load.failed.is_empty() && back.is_some();
    let verdict = if load.failed.is_empty() {
        let unknown = match load.uncertain {
            0 => String::new(),
            n => format!(" {n} was in flight to A when it died: its outcome is unknown, and it was not retried (it could be placed twice)."),
        };
        format!(
            "No order failed: {} retried on server B while the registry took {detected} to notice A was dead.{unknown}",
            load.retried
        )
    } else {
        format!("{} of {} orders failed while A died.", load.failed.len(), load.sent)
    };
    Ok(Verdict {
        scenario: SHOP_FAILOVER.into(),
        question: question(SHOP_FAILOVER),
        verdict,
        measurements: vec![
            ("orders sent".into(), load.sent.to_string()),
            ("orders placed".into(), load.answered.to_string()),
            ("failed".into(), load.failed.len().to_string()),
            ("in flight when A died (outcome unknown)".into(), load.uncertain.to_string()),
            ("placed after a retry".into(), load.retried.to_string()),
            ("answered by A".into(), load.by_a.to_string()),
            ("kill → registry stops handing out A".into(), detected),
            ("restart → A handed out again".into(), back_in),
            (
                "A down in total".into(),
                ms(killed.elapsed() - restarted.elapsed() + back.unwrap_or_default()),
            ),
        ],
        passed,
    })
}

async fn registry_partition(state: &ControlState) -> Result<Verdict, ControlError> {
    let (registry, a_address, stop, load) = start_orders(state).await?;

    tokio::time::sleep(Duration::from_millis(500)).await;
    change_link(state, "registry", "shop-a", LinkFault { cut: true, ..LinkFault::default() })
        .await?;
    let out = wait_for_state(state, &registry, &a_address, ServerState::Down).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    change_link(state, "registry", "shop-a", LinkFault::default()).await?;
    let back = wait_for_state(state, &registry, &a_address, ServerState::Up).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let load = finish_orders(stop, load).await?;

    let (out_in, back_in) = (within(out), within(back));
    Ok(Verdict {
        scenario: REGISTRY_PARTITION.into(),
        question: question(REGISTRY_PARTITION),
        verdict: format!(
            "A looked dead to the registry {out_in} after the cut although it never stopped; clients went to B, {} orders failed; A was back {back_in} after the heal.",
            load.failed.len()
        ),
        measurements: vec![
            ("orders sent".into(), load.sent.to_string()),
            ("failed".into(), load.failed.len().to_string()),
            ("answered by A".into(), load.by_a.to_string()),
            ("cut → A out of rotation".into(), out_in),
            ("heal → A back in rotation".into(), back_in),
        ],
        passed: load.failed.is_empty() && out.is_some() && back.is_some(),
    })
}

/// Set model C's behaviour through its admin route.
async fn set_behavior(state: &ControlState, url: &str, behavior: &str) -> Result<(), ControlError> {
    let response = state
        .client
        .put(format!("{url}/admin/behavior"))
        .json(&json!({ "behavior": behavior }))
        .send()
        .await
        .map_err(|e| ControlError::Upstream(format!("model-c: {e}")))?;
    if !response.status().is_success() {
        return Err(ControlError::Upstream(format!("model-c refused: {}", response.status())));
    }
    Ok(())
}

async fn dishonest_model(state: &ControlState) -> Result<Verdict, ControlError> {
    use shared::models::{MetaPrediction, ModelEntry};
    let meta = super::row(state, "meta-model")?;
    let model_c = super::row(state, "model-c")?;
    if meta.pid.is_none() || model_c.pid.is_none() {
        return Err(ControlError::Conflict("meta-model and model-c must be running".into()));
    }
    let entries: Vec<ModelEntry> = get_json(state, format!("{}/models", meta.url)).await?;
    let c =
        entries.iter().find(|m| m.name == "C" && m.state == "active").cloned().ok_or_else(
            || ControlError::Conflict("model C must be registered and active".into()),
        )?;

    set_behavior(state, &model_c.url, "inverted").await?;
    let holdout = crate::iris::rows(&crate::iris::split().test);
    let (mut asked, mut right, mut ejected_after) = (0u32, 0u32, None);
    // Bounded: at most four passes over the held-out samples.
    'passes: for _ in 0..4 {
        for (x, truth) in &holdout {
            let url =
                format!("{}/predict?sl={}&sw={}&pl={}&pw={}", meta.url, x[0], x[1], x[2], x[3]);
            let Ok(answer) = get_json::<MetaPrediction>(state, url).await else { continue };
            asked += 1;
            right += u32::from(answer.prediction == *truth);
            if !answer.votes.iter().any(|v| v.model == "C") {
                ejected_after = Some(asked);
                break 'passes;
            }
        }
    }
    // Put things back: C honest again, with a fresh deposit.
    set_behavior(state, &model_c.url, "honest").await?;
    let _ = state.client.delete(format!("{}/models/{}", meta.url, c.id)).send().await;
    let _ = state
        .client
        .post(format!("{}/models", meta.url))
        .json(&json!({"name": "C", "url": c.url}))
        .send()
        .await;

    let accuracy = f64::from(right) / f64::from(asked.max(1));
    let verdict = match ejected_after {
        Some(n) => format!(
            "C was ejected after {n} answers; the consensus was right on {:.0}% of them meanwhile.",
            accuracy * 100.0
        ),
        None => format!(
            "C was not ejected within {asked} answers (consensus right on {:.0}%).",
            accuracy * 100.0
        ),
    };
    Ok(Verdict {
        scenario: DISHONEST_MODEL.into(),
        question: question(DISHONEST_MODEL),
        verdict,
        measurements: vec![
            (
                "answers until ejection".into(),
                ejected_after.map_or_else(|| "not ejected".into(), |n| n.to_string()),
            ),
            ("consensus accuracy meanwhile".into(), format!("{:.3}", accuracy)),
            ("afterwards".into(), "C honest again, re-registered with a fresh deposit".into()),
        ],
        passed: ejected_after.is_some() && accuracy >= 0.9,
    })
}

async fn async_primary_loss(state: &ControlState) -> Result<Verdict, ControlError> {
    use shared::replication::{FailoverReport, ReplicationStatus};
    let front = super::row(state, "replication")?;
    for needed in ["replication", "store-async-primary", "store-async-mirror"] {
        if super::row(state, needed)?.pid.is_none() {
            return Err(ControlError::Conflict(format!(
                "{needed} must be running (restart it first)"
            )));
        }
    }
    let get_status = || get_json::<ReplicationStatus>(state, format!("{}/replication", front.url));
    let roles = get_status().await?;
    if let Some(conflict) = roles.conflict {
        return Err(ControlError::Conflict(format!(
            "the replication's stores conflict: {conflict}"
        )));
    }
    if roles.mirror.is_none() {
        return Err(ControlError::Conflict(
            "the replication has no mirror (rebuild it first)".into(),
        ));
    }
    // The primary is whichever store says so (after a failover, the one started as the mirror).
    let key = crate::service::links::peer_key;
    let mut victim = "store-async-primary";
    for name in ["store-async-primary", "store-async-mirror"] {
        if key(&super::row(state, name)?.url) == key(&roles.primary) {
            victim = name;
        }
    }
    // Start from a synced mirror, then write 30 products it has not received yet.
    let _ = state.client.post(format!("{}/sync", front.url)).send().await;
    for i in 0..30 {
        let body = json!({"name": format!("scenario write {i}"), "price": 1.0});
        let _ = state.client.post(format!("{}/products", front.url)).json(&body).send().await;
    }
    let before = get_status().await?;
    state.supervisor.act(victim, ProcessAction::Kill).await?;
    let killed = Instant::now();
    let report: FailoverReport = state
        .client
        .post(format!("{}/failover", front.url))
        .send()
        .await
        .map_err(|e| ControlError::Upstream(e.to_string()))?
        .json()
        .await
        .map_err(|e| ControlError::Upstream(format!("failover: {e}")))?;
    let write_back = state
        .client
        .post(format!("{}/products", front.url))
        .json(&json!({"name": "after failover", "price": 1.0}))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    let recovered = killed.elapsed();
    // Put things back: the old primary returns and is rebuilt as the mirror.
    state.supervisor.act(victim, ProcessAction::Restart).await?;
    let mut rebuilt = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if state
            .client
            .post(format!("{}/rebuild", front.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            rebuilt = true;
            break;
        }
    }
    let matches = report.entries_lost == before.lag_entries;
    Ok(Verdict {
        scenario: ASYNC_PRIMARY_LOSS.into(),
        question: question(ASYNC_PRIMARY_LOSS),
        verdict: format!(
            "{} acknowledged writes lost, {} the lag of {} entries shown before the crash; writes worked again {} ms after the kill.",
            report.entries_lost,
            if matches { "exactly" } else { "NOT" },
            before.lag_entries,
            recovered.as_millis()
        ),
        measurements: vec![
            ("primary killed".into(), victim.to_owned()),
            ("lag shown before (entries)".into(), before.lag_entries.to_string()),
            ("lag shown before (ms)".into(), before.lag_ms.to_string()),
            ("entries lost (RPO)".into(), report.entries_lost.to_string()),
            ("failover took (RTO)".into(), report.rto_ms.map_or_else(|| "—".into(), |ms| format!("{ms} ms"))),
            ("kill → first write accepted".into(), ms(recovered)),
            ("old primary rebuilt as mirror".into(), rebuilt.to_string()),
        ],
        passed: matches && write_back && rebuilt,
    })
}

async fn node_partition(state: &ControlState) -> Result<Verdict, ControlError> {
    use shared::sync::NodeData;
    let urls: Vec<String> = running_nodes(state)?.into_iter().map(|(_, url)| url).collect();
    let data = |url: &str| get_json::<NodeData>(state, format!("{url}/get_data"));
    let base = data(&urls[0]).await?.highest_number;
    let set = |cut: bool| async move {
        for other in ["node-1", "node-2"] {
            let fault = LinkFault { cut, ..LinkFault::default() };
            change_link(state, "node-3", other, fault).await?;
            change_link(state, other, "node-3", fault).await?;
        }
        Ok::<_, ControlError>(())
    };
    let stamp = crate::service::now_ms();
    let (left, right) = (format!("left {stamp}"), format!("right {stamp}"));
    let (left_number, right_number) = (base + 1, base + 2);
    set(true).await?;
    // While cut: one person on each side; does node 3 miss node 1's? (Healed whatever happens.)
    let apart = async {
        add_person(state, &urls[0], &left, left_number).await?;
        add_person(state, &urls[2], &right, right_number).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        data(&urls[2]).await
    }
    .await;
    set(false).await?;
    let isolated = !apart?.persons.iter().any(|p| p.name == left);
    let healed = Instant::now();
    let mut converged = None;
    while healed.elapsed() < REACTION_LIMIT {
        let mut all = Vec::new();
        for url in &urls {
            all.push(data(url).await?);
        }
        let same = all
            .windows(2)
            .all(|w| w[0].persons == w[1].persons && w[0].highest_number == w[1].highest_number);
        let both = all[0].persons.iter().any(|p| p.name == right)
            && all[2].persons.iter().any(|p| p.name == left);
        if same && both && all[0].highest_number >= right_number {
            converged = Some(healed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Verdict {
        scenario: NODE_PARTITION.into(),
        question: question(NODE_PARTITION),
        verdict: match converged {
            Some(t) => format!("All three nodes agreed on every person and on the highest number {} ms after the partition healed — no manual step.", t.as_millis()),
            None => format!("The nodes did not converge within {} s of the heal.", REACTION_LIMIT.as_secs()),
        },
        measurements: vec![
            ("node 3 missed node 1's person while cut off".into(), isolated.to_string()),
            ("heal → converged".into(), within(converged)),
            ("highest number agreed".into(), right_number.to_string()),
        ],
        passed: isolated && converged.is_some(),
    })
}

/// The three sync nodes' (service name, URL), all of which must be running.
fn running_nodes(state: &ControlState) -> Result<Vec<(String, String)>, ControlError> {
    (1..=3)
        .map(|n| {
            let name = format!("node-{n}");
            let row = super::row(state, &name)?;
            match row.pid {
                Some(_) => Ok((name, row.url)),
                None => Err(ControlError::Conflict(format!(
                    "{name} must be running (restart it first)"
                ))),
            }
        })
        .collect()
}

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

/// Poll `probe` until it is true; how long that took, if within [`REACTION_LIMIT`].
async fn until<F: std::future::Future<Output = bool>>(
    every: Duration,
    mut probe: impl FnMut() -> F,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < REACTION_LIMIT {
        if probe().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(every).await;
    }
    None
}

async fn paxos_leader_loss(state: &ControlState) -> Result<Verdict, ControlError> {
    use shared::sync::PaxosStatus;
    let nodes = running_nodes(state)?;
    let status = |url: &str| get_json::<PaxosStatus>(state, format!("{url}/paxos/status"));
    let stamp = crate::service::now_ms();
    // Make sure somebody leads: a number added on node 1 is decided by the leader (node 1
    // becomes it if there is none).
    let base = status(&nodes[0].1).await?.highest_number;
    add_person(state, &nodes[0].1, &format!("before {stamp}"), base + 1).await?;
    let mut leader = None;
    for (name, url) in &nodes {
        if status(url).await?.role == "leader" {
            leader = Some((name.clone(), url.clone()));
        }
    }
    let Some((leader, leader_url)) = leader else {
        return Err(ControlError::Conflict("no node leads Paxos right now (try again)".into()));
    };
    let (follower, follower_url) =
        nodes.iter().find(|(name, _)| *name != leader).cloned().expect("three nodes");
    let (first, second) = (base + 2, base + 3);

    state.supervisor.act(&leader, ProcessAction::Kill).await?;
    // With the leader dead: a number on the follower, how long until it is agreed, who leads
    // now, what the next number costs. (The old leader is restarted whatever happens.)
    let measured = async {
        let killed = Instant::now();
        let answer = add_person(state, &follower_url, &format!("after {stamp}"), first).await?;
        let answered = killed.elapsed();
        let agreed = until(Duration::from_millis(10), || async {
            status(&follower_url).await.is_ok_and(|s| s.highest_number >= first)
        })
        .await
        .map(|after_answer| answered + after_answer);
        let mut new_leader = "none".to_owned();
        for (name, url) in nodes.iter().filter(|(name, _)| *name != leader) {
            if status(url).await?.role == "leader" {
                new_leader = name.clone();
            }
        }
        let next = Instant::now();
        let next_answer =
            add_person(state, &follower_url, &format!("next {stamp}"), second).await?;
        Ok::<_, ControlError>((answer, answered, agreed, new_leader, next_answer, next.elapsed()))
    }
    .await;
    state.supervisor.act(&leader, ProcessAction::Restart).await?;
    let (answer, answered, agreed, new_leader, next_answer, next_took) = measured?;
    let rejoined = until(Duration::from_millis(50), || async {
        status(&leader_url).await.is_ok_and(|s| s.highest_number >= second && s.role == "follower")
    })
    .await;

    let limit = REACTION_LIMIT.as_secs();
    let verdict = match agreed {
        Some(t) => format!(
            "{leader} (the leader) was killed; {follower}'s number {first} was agreed {} ms later under {new_leader}, which ran phase 1 once; the next number took {} ms (phase 2 only).{}",
            t.as_millis(),
            next_took.as_millis(),
            match rejoined {
                Some(r) => format!(" {leader} came back as a follower and caught up in {} ms.", r.as_millis()),
                None => format!(" {leader} did not rejoin as a caught-up follower within {limit} s."),
            }
        ),
        None => format!("With {leader} dead, the survivors did not agree on {first} within {limit} s."),
    };
    let agreed_word = |a: &shared::sync::Added| {
        if a.agreed == Some(true) {
            "agreed"
        } else {
            "not agreed yet (the decision follows)"
        }
    };
    Ok(Verdict {
        scenario: PAXOS_LEADER_LOSS.into(),
        question: question(PAXOS_LEADER_LOSS),
        verdict,
        measurements: vec![
            ("leader killed".into(), leader),
            ("number added on".into(), follower),
            (
                "its answer".into(),
                format!("after {} ms: {}", answered.as_millis(), agreed_word(&answer)),
            ),
            ("kill → number agreed".into(), within(agreed)),
            ("new leader".into(), new_leader.clone()),
            (
                "next number, with the new leader".into(),
                format!("{} ({})", ms(next_took), agreed_word(&next_answer)),
            ),
            ("restart → old leader caught up as follower".into(), within(rejoined)),
        ],
        passed: agreed.is_some()
            && new_leader != "none"
            && next_answer.agreed == Some(true)
            && rejoined.is_some(),
    })
}
