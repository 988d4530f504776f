//! Kill -9 of the lab's other stateful services in the middle of bursts, at least ten times
//! each: the meta-model's stake ledger and the sync nodes (the shop's stores are in
//! `crash_safety.rs`). As there, each kill comes after a seeded random number of acknowledged
//! requests, not after a random time (on a loaded machine a timed kill may come before anything
//! was written); `CRASH_SEED` replays a run.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use shared::models::{LedgerBatch, LedgerEvent, LedgerKind, ModelEntry, ModelState};
use shared::sync::{Added, NodeData, PaxosStatus, PersonRecord, SyncMode};
use support::Lab;

/// Kills of the meta-model.
const META_KILLS: usize = 20;
/// Kills of one sync node (and, besides, of all three at once in [`ALL_THREE`]'s rounds).
const NODE_KILLS: usize = 12;
const ALL_THREE: [usize; 3] = [4, 9, 14];

fn seeded() -> StdRng {
    let seed: u64 =
        std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_201);
    eprintln!("crash test seed {seed} (set CRASH_SEED to replay)");
    StdRng::seed_from_u64(seed)
}

async fn kill(lab: &Lab, name: &str) {
    let (code, body) = lab.post(&format!("/api/services/{name}/kill")).await;
    assert_eq!(code, 200, "kill {name}: {body}");
}

async fn restart(lab: &Lab, name: &str) {
    let (code, body) = lab.post(&format!("/api/services/{name}/restart")).await;
    assert_eq!(code, 200, "restart {name}: {body}");
    let url = lab.service(name).await.url;
    support::wait_until(&format!("{name} back"), Duration::from_secs(20), async || {
        reqwest::get(format!("{url}/health")).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
}

/// Wait (bounded) until `count` reaches `target`.
async fn counted(what: &str, count: &AtomicUsize, target: usize) {
    support::wait_until(what, Duration::from_secs(20), async || {
        count.load(Ordering::SeqCst) >= target
    })
    .await;
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().expect("an HTTP client")
}

// ---------------------------------------------------------------------------------------------
// The meta-model's stake ledger
// ---------------------------------------------------------------------------------------------

/// Units each prediction emits, shared among the models that agreed (the meta-model's rule 3).
const EMISSION: f64 = 5.0;
/// Predictions in flight at once: at most this many can be settled without their answer
/// arriving, per kill.
const PREDICTORS: usize = 6;
/// Balances and amounts are f64 (SQLite REAL), each event computed by f64 arithmetic: a step
/// rounds by an ulp or so (~2e-13 at these magnitudes), so ten thousand events drift by ~1e-9.
/// The smallest batch moves a model by more than 0.01 (its share of a 5-unit emission, at the
/// least power a model can still vote with, or a slash of at least 0.5% of 500), so this still
/// catches one batch lost, doubled, or half applied.
const TOLERANCE: f64 = 1e-6;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOLERANCE
}

/// Everything the ledger holds, read in full (page by page).
struct Ledger {
    models: Vec<ModelEntry>,
    events: Vec<LedgerEvent>,
    batches: Vec<LedgerBatch>,
}

async fn read_ledger(meta: &str) -> Ledger {
    let models: Vec<ModelEntry> = support::get_json(&format!("{meta}/models")).await;
    let (mut events, mut batches) = (Vec::<LedgerEvent>::new(), Vec::<LedgerBatch>::new());
    loop {
        let after = events.last().map_or(0, |e| e.id);
        let page: Vec<LedgerEvent> =
            support::get_json(&format!("{meta}/ledger/events?after={after}&limit=5000")).await;
        let full = page.len() == 5000;
        events.extend(page);
        if !full {
            break;
        }
    }
    loop {
        let after = batches.last().map_or(0, |b| b.id);
        let page: Vec<LedgerBatch> =
            support::get_json(&format!("{meta}/ledger/batches?after={after}&limit=5000")).await;
        let full = page.len() == 5000;
        batches.extend(page);
        if !full {
            break;
        }
    }
    // Each read settles what is pending first: read while nothing else runs, so that the three
    // reads see one state (the batches read last, so every event's batch is among them).
    Ledger { models, events, batches }
}

/// What the test did to the stake, as acknowledged (or not) by the meta-model.
#[derive(Default)]
struct Contributions {
    /// Every registration tried, by name: its deposit, and whether a 201 acknowledged it (the
    /// lab's three models are registered at start with the default 1000).
    registered: BTreeMap<String, (f64, bool)>,
    /// The ids of the acknowledged registrations not withdrawn (or tried) yet.
    withdrawable: Vec<(String, u64)>,
    /// Every withdrawal tried, by name: whether a 200 acknowledged it.
    withdrawn: BTreeMap<String, bool>,
    /// Predictions answered, in all.
    answered: usize,
    /// Predictions known to be settled: those the last audit found, and those answered since
    /// before a ledger read that then succeeded (every read of the ledger settles what is
    /// pending first, and answers once it is committed). Predictions answered before a kill but
    /// not settled yet are lost — the meta-model settles every 100 ms, and says so.
    settled_at_least: usize,
    /// `answered` and the predictions settled at the last audit: the base the readers count
    /// from.
    audited: (usize, usize),
    /// Every event a ledger read returned before a kill, in order: a committed prefix of the
    /// ledger.
    seen: Vec<LedgerEvent>,
    kills: usize,
}

/// Check the ledger against itself and against what the test did.
///
/// Balances move only by deposits (in), rewards (minted: each prediction's emission of
/// [`EMISSION`] shared among the models that agreed), slashes (burned) and withdrawals (paid
/// out), and the ledger writes an event for each, so:
///
/// 1. **Every balance change has its event.** For each model, its events in id order form a
///    running balance: each event's `balance` is the previous one's plus its `amount` (from 0; a
///    deposit only on a zero balance, a withdrawal of exactly the balance), and the model's
///    balance in `GET /models` is the last one's (and so the sum of its amounts).
/// 2. **Conservation**, over every model ever registered:
///    `Σ balance + Σ withdrawn = Σ deposited + Σ rewarded − Σ slashed`, where the deposits are
///    the test's own (1000 for each of A, B, C, and each registration at its deposit:
///    acknowledged ones present, unacknowledged ones present or absent), the withdrawals those
///    the test made (acknowledged ones done), and rewards and slashes the batches' totals, with
///    `Σ rewarded + Σ unpaid = EMISSION × Σ emissions` (unpaid: the share of a model withdrawn
///    before its answers were settled). Given 1 and 3 the identity adds up by construction; what
///    it adds is that its terms are what the test did: its deposits, its withdrawals, and
///    [`EMISSION`] per settled prediction (bounded by 4).
/// 3. **No half-applied batch.** Each batch's reward and slash events add up to the batch's own
///    totals, its `rewarded + unpaid` is `EMISSION × emissions`, every reward, slash and ejection
///    belongs to a batch that exists, deposits and withdrawals to none.
/// 4. **Nothing acknowledged is lost.** Every event a read returned before the kill is still
///    there, unchanged, in place; the predictions settled (Σ emissions) are at least those the
///    previous audit found plus those answered since before a ledger read that succeeded, and at
///    most those answered plus those in flight at each kill.
///
/// Exact up to [`TOLERANCE`] (the amounts are f64 sums). Returns how many predictions are
/// settled, and a summary line.
fn audit(ledger: &Ledger, done: &Contributions, round: usize) -> (usize, String) {
    let Ledger { models, events, batches } = ledger;
    // 4. The events read before the kill are a prefix of the ledger.
    assert!(
        events.len() >= done.seen.len(),
        "round {round}: the ledger holds {} events, {} were read before the kill",
        events.len(),
        done.seen.len()
    );
    for (before, after) in done.seen.iter().zip(events) {
        assert_eq!(
            before, after,
            "round {round}: an event read before the kill changed or vanished"
        );
    }

    // 1. Each model's events form its running balance, ending at its balance.
    let by_id: BTreeMap<u64, &LedgerBatch> = batches.iter().map(|b| (b.id, b)).collect();
    let mut deposited = BTreeMap::<&str, Vec<f64>>::new();
    let mut withdrew = BTreeMap::<&str, usize>::new();
    let (mut total_deposited, mut total_withdrawn) = (0.0, 0.0);
    let mut per_batch = BTreeMap::<u64, (f64, f64, BTreeSet<&str>)>::new();
    for model in models {
        let mut balance = 0.0;
        for event in events.iter().filter(|e| e.model == model.name) {
            let what = format!("round {round}: {} event {} ({:?})", model.name, event.id, event);
            assert!(
                close(event.balance, balance + event.amount),
                "{what}: {balance} + {} is not {}: a balance change without its event",
                event.amount,
                event.balance
            );
            match event.kind.as_str() {
                "deposit" => {
                    assert!(close(balance, 0.0), "{what}: a deposit on a balance of {balance}");
                    assert!(event.batch.is_none(), "{what}: a deposit in a batch");
                    deposited.entry(&model.name).or_default().push(event.amount);
                    total_deposited += event.amount;
                }
                "withdraw" => {
                    assert!(close(event.balance, 0.0), "{what}: a withdrawal left a balance");
                    assert!(event.batch.is_none(), "{what}: a withdrawal in a batch");
                    *withdrew.entry(&model.name).or_default() += 1;
                    total_withdrawn -= event.amount;
                }
                kind @ ("reward" | "slash" | "eject") => {
                    let batch = event.batch.unwrap_or_else(|| panic!("{what}: {kind} in no batch"));
                    assert!(by_id.contains_key(&batch), "{what}: its batch {batch} does not exist");
                    let sums = per_batch.entry(batch).or_default();
                    match kind {
                        "reward" => sums.0 += event.amount,
                        "slash" => sums.1 -= event.amount,
                        _ => assert_eq!(event.amount, 0.0, "{what}: an ejection moves nothing"),
                    }
                    sums.2.insert(&model.name);
                }
                other => panic!("{what}: unknown kind {other}"),
            }
            balance = event.balance;
        }
        assert!(
            close(model.balance, balance),
            "round {round}: {} has a balance of {} but its events end at {balance}: {model:?}",
            model.name,
            model.balance
        );
        let sum: f64 = events.iter().filter(|e| e.model == model.name).map(|e| e.amount).sum();
        assert!(close(model.balance, sum), "round {round}: {model:?}: its events sum to {sum}");
        if model.state == ModelState::Withdrawn {
            assert_eq!(model.balance, 0.0, "round {round}: withdrawn, with a balance: {model:?}");
        }
    }
    let listed: BTreeSet<&str> = models.iter().map(|m| m.name.as_str()).collect();
    for event in events {
        assert!(
            listed.contains(event.model.as_str()),
            "round {round}: an event of no model: {event:?}"
        );
    }

    // 3. Each batch whole.
    let (mut rewarded, mut slashed, mut unpaid, mut emissions) = (0.0, 0.0, 0.0, 0u64);
    for batch in batches {
        let (rewards, slashes, touched) = per_batch.get(&batch.id).cloned().unwrap_or_default();
        assert!(
            close(rewards, batch.rewarded) && close(slashes, batch.slashed),
            "round {round}: batch {} records {} rewarded and {} slashed, its events {rewards} and \
             {slashes} (models {touched:?}): half applied: {batch:?}",
            batch.id,
            batch.rewarded,
            batch.slashed,
        );
        assert!(
            close(batch.rewarded + batch.unpaid, EMISSION * batch.emissions as f64),
            "round {round}: batch {} shares {} emissions of {EMISSION} but paid {} (+ {} unpaid): \
             {batch:?}",
            batch.id,
            batch.emissions,
            batch.rewarded,
            batch.unpaid
        );
        assert_eq!(batch.against, "the consensus", "round {round}: nothing evaluated here");
        rewarded += batch.rewarded;
        slashed += batch.slashed;
        unpaid += batch.unpaid;
        emissions += batch.emissions;
    }

    // 2. Conservation, with the deposits and withdrawals the test made.
    for (name, amounts) in &deposited {
        let Some((deposit, _)) = done.registered.get(*name) else {
            panic!("round {round}: {name} deposited {amounts:?} but nobody registered it");
        };
        assert!(
            amounts.len() == 1 && close(amounts[0], *deposit),
            "round {round}: {name} registered once with {deposit}, deposited {amounts:?}"
        );
    }
    for (name, (deposit, acked)) in &done.registered {
        if *acked {
            assert!(
                deposited.contains_key(name.as_str()),
                "round {round}: the acknowledged registration of {name} ({deposit}) is lost"
            );
        }
    }
    for (name, count) in &withdrew {
        assert!(
            *count == 1 && done.withdrawn.contains_key(*name),
            "round {round}: {name} withdrawn {count} times, by the test {:?}",
            done.withdrawn.get(*name)
        );
    }
    for (name, acked) in &done.withdrawn {
        let model = models.iter().find(|m| &m.name == name);
        if *acked {
            assert!(
                withdrew.contains_key(name.as_str())
                    && model.is_some_and(|m| m.state == ModelState::Withdrawn),
                "round {round}: the acknowledged withdrawal of {name} is lost: {model:?}"
            );
        }
    }
    let balances: f64 = models.iter().map(|m| m.balance).sum();
    assert!(
        close(balances + total_withdrawn, total_deposited + rewarded - slashed),
        "round {round}: not conserved: balances {balances} + withdrawn {total_withdrawn} = {} but \
         deposited {total_deposited} + rewarded {rewarded} - slashed {slashed} = {}",
        balances + total_withdrawn,
        total_deposited + rewarded - slashed
    );
    assert!(
        close(rewarded + unpaid, EMISSION * emissions as f64),
        "round {round}: {emissions} emissions of {EMISSION}, {rewarded} rewarded + {unpaid} unpaid"
    );

    // 4. The settled predictions: every acknowledged one, none that never was.
    let emissions = emissions as usize;
    assert!(
        emissions >= done.settled_at_least,
        "round {round}: {emissions} predictions settled, but {} were before a ledger read \
         answered: an acknowledged settlement is lost",
        done.settled_at_least
    );
    assert!(
        emissions <= done.answered + PREDICTORS * done.kills,
        "round {round}: {emissions} predictions settled, but only {} answered (+ at most \
         {PREDICTORS} in flight at each of {} kills): a batch settled twice",
        done.answered,
        done.kills
    );
    let slashes = events.iter().filter(|e| e.kind == LedgerKind::Slash).count();
    let summary = format!(
        "{} models, {} events, {} batches, {emissions} predictions settled of {} answered, \
         {slashes} slashes ({slashed:.1} burned), {total_withdrawn:.1} withdrawn",
        models.len(),
        events.len(),
        batches.len(),
        done.answered
    );
    (emissions, summary)
}

/// Ask the meta-model for predictions until stopped, counting the answers (200) in `answered`.
/// The samples are the held-out Iris rows, each measurement moved by up to ±0.3 cm.
fn predictor(
    meta: String,
    seed: u64,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let samples = backend::iris::rows(&backend::iris::split().test);
        let client = client(Duration::from_secs(5));
        while !stop.load(Ordering::SeqCst) {
            let (x, _) = samples[rng.random_range(0..samples.len())];
            let x =
                x.map(|v: f64| ((v + rng.random_range(-0.3..=0.3)).max(0.1) * 10.0).round() / 10.0);
            let url = format!("{meta}/predict?sl={}&sw={}&pl={}&pw={}", x[0], x[1], x[2], x[3]);
            match client.get(url).send().await {
                Ok(response) if response.status() == 200 => {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                _ => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
}

/// Read the ledger forward while the burst runs: what a read returns is committed, so it is
/// kept in `seen`; the predictions answered before the read was sent are settled in it (a read
/// settles what is pending first), so `settled_at_least` rises to their count. The reads also
/// keep the meta-model settling all the time, so a kill lands mid-settlement often.
fn ledger_reader(
    meta: String,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    done: Arc<Mutex<Contributions>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = client(Duration::from_secs(3));
        while !stop.load(Ordering::SeqCst) {
            let before = answered.load(Ordering::SeqCst);
            let after = done.lock().unwrap().seen.last().map_or(0, |e| e.id);
            let url = format!("{meta}/ledger/events?after={after}&limit=5000");
            let page = match client.get(url).send().await {
                Ok(response) if response.status() == 200 => {
                    response.json::<Vec<LedgerEvent>>().await.ok()
                }
                _ => None,
            };
            if let Some(page) = page {
                let mut done = done.lock().unwrap();
                done.seen.extend(page);
                let (answered_then, settled_then) = done.audited;
                let acknowledged = settled_then + before.saturating_sub(answered_then);
                done.settled_at_least = done.settled_at_least.max(acknowledged);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
}

/// Register a model (`POST /models`) or withdraw one (`DELETE /models/{id}`) while the burst
/// runs, and note whether it was acknowledged.
async fn change_stake(meta: &str, done: &Mutex<Contributions>, change: StakeChange) {
    let client = client(Duration::from_secs(5));
    match change {
        StakeChange::Register { name, url, deposit } => {
            done.lock().unwrap().registered.insert(name.clone(), (deposit, false));
            let body = json!({"name": name, "url": url, "deposit": deposit});
            let answer = client.post(format!("{meta}/models")).json(&body).send().await;
            let entry = match answer {
                Ok(response) if response.status() == 201 => {
                    response.json::<ModelEntry>().await.ok()
                }
                _ => None,
            };
            if let Some(entry) = entry {
                let mut done = done.lock().unwrap();
                done.registered.insert(name.clone(), (deposit, true));
                done.withdrawable.push((name, entry.id));
            }
        }
        StakeChange::Withdraw { name, id } => {
            done.lock().unwrap().withdrawn.insert(name.clone(), false);
            let answer = client.delete(format!("{meta}/models/{id}")).send().await;
            if answer.is_ok_and(|r| r.status() == 200) {
                done.lock().unwrap().withdrawn.insert(name, true);
            }
        }
    }
}

enum StakeChange {
    Register { name: String, url: String, deposit: f64 },
    Withdraw { name: String, id: u64 },
}

async fn set_behavior(lab: &Lab, model: &str, behavior: &str) {
    let response = reqwest::Client::new()
        .put(lab.url(&format!("/api/services/{model}/admin/behavior")))
        .json(&json!({ "behavior": behavior }))
        .send()
        .await
        .expect("PUT behavior");
    assert_eq!(response.status(), 200, "{model} {behavior}");
}

/// The meta-model is killed after a seeded number of answered predictions, while predictions,
/// ledger reads, registrations and withdrawals run, and model C (and the models registered at
/// its address) turn dishonest and back; after each restart the ledger is audited: see
/// [`audit`] for the identities.
#[tokio::test(flavor = "multi_thread")]
async fn killing_the_meta_model_mid_settlement_keeps_its_ledger_whole_and_conserved() {
    let started = Instant::now();
    let lab = Lab::up();
    lab.wait_all_up().await;
    let mut rng = seeded();
    let meta = lab.service("meta-model").await.url;
    let honest = lab.service("model-b").await.url;
    let dishonest = lab.service("model-c").await.url;
    let done = Arc::new(Mutex::new(Contributions::default()));
    for name in ["A", "B", "C"] {
        done.lock().unwrap().registered.insert(name.to_owned(), (1000.0, true));
    }
    let answered = Arc::new(AtomicUsize::new(0));
    for round in 0..META_KILLS {
        // Model C lies in even rounds: it (and its copies) deviate and are slashed.
        set_behavior(&lab, "model-c", if round % 2 == 0 { "inverted" } else { "honest" }).await;
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks: Vec<_> = (0..PREDICTORS)
            .map(|_| predictor(meta.clone(), rng.random(), stop.clone(), answered.clone()))
            .collect();
        tasks.push(ledger_reader(meta.clone(), stop.clone(), answered.clone(), done.clone()));
        // Now and then a contributor registers (at C's address or B's) or withdraws.
        let change = {
            let mut done = done.lock().unwrap();
            if round % 3 == 2 && !done.withdrawable.is_empty() {
                let (name, id) = done.withdrawable.remove(0);
                Some(StakeChange::Withdraw { name, id })
            } else if round % 3 != 2 {
                let url = if rng.random_bool(0.7) { &dishonest } else { &honest };
                let deposit = f64::from(rng.random_range(600..=900u32)) + 0.25;
                Some(StakeChange::Register { name: format!("X{round}"), url: url.clone(), deposit })
            } else {
                None
            }
        };
        let changer = change.map(|change| {
            let (meta, done) = (meta.clone(), done.clone());
            let delay = Duration::from_millis(rng.random_range(0..150));
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                change_stake(&meta, &done, change).await;
            })
        });
        let target = answered.load(Ordering::SeqCst) + rng.random_range(15..60);
        counted("predictions answered before the kill", &answered, target).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..20))).await;
        kill(&lab, "meta-model").await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
        stop.store(true, Ordering::SeqCst);
        for task in tasks.into_iter().chain(changer) {
            task.await.unwrap();
        }
        {
            let mut done = done.lock().unwrap();
            done.answered = answered.load(Ordering::SeqCst);
            done.kills += 1;
        }
        restart(&lab, "meta-model").await;

        let ledger = read_ledger(&meta).await;
        let (settled, summary) = audit(&ledger, &done.lock().unwrap(), round);
        eprintln!("round {round}: {summary} ({:?})", started.elapsed());
        // The ledger as read now is acknowledged too.
        {
            let mut done = done.lock().unwrap();
            done.seen = ledger.events;
            done.settled_at_least = settled;
            done.audited = (done.answered, settled);
        }
        // It answers again.
        let answer = reqwest::get(format!("{meta}/predict?sl=6.0&sw=2.7&pl=5.1&pw=1.6")).await;
        assert!(
            answer.is_ok_and(|r| r.status() == 200),
            "round {round}: no prediction after the restart"
        );
        answered.fetch_add(1, Ordering::SeqCst);
    }
    let done = done.lock().unwrap();
    assert!(done.seen.iter().any(|e| e.kind == LedgerKind::Slash), "the dishonest rounds slashed");
    assert!(done.answered > META_KILLS * 15, "the bursts predicted ({} answered)", done.answered);
    eprintln!("meta-model: {META_KILLS} kills in {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// The sync nodes
// ---------------------------------------------------------------------------------------------

/// Adds in flight per node. Each waits at least [`ADD_EVERY`] between adds, so a node takes at
/// most 2 / 70 ms ≈ 29 client requests a second, under its `HIGH_REQUEST` of 50: the nodes stay
/// in CRDT + Paxos mode.
const ADDERS_PER_NODE: usize = 2;
const ADD_EVERY: Duration = Duration::from_millis(70);

/// An add a node acknowledged.
#[derive(Debug, Clone)]
struct Ack {
    /// Index of the node (0 for node-1).
    node: usize,
    person: PersonRecord,
    mode: SyncMode,
    agreed: Option<bool>,
}

/// Add persons with rising numbers (from `next`) to node `node` until stopped; each
/// acknowledgement goes into `acks` and is counted in `count`.
fn adder(
    url: String,
    node: usize,
    next: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
    count: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = client(Duration::from_secs(3));
        while !stop.load(Ordering::SeqCst) {
            let began = Instant::now();
            let number = next.fetch_add(1, Ordering::SeqCst);
            let person = json!({"name": format!("p{number}"), "number": number});
            let answer = client.post(format!("{url}/add_name")).json(&person).send().await;
            let added = match answer {
                Ok(response) if response.status() == 200 => response.json::<Added>().await.ok(),
                _ => None,
            };
            if let Some(added) = added {
                let ack =
                    Ack { node, person: added.person, mode: added.mode, agreed: added.agreed };
                acks.lock().unwrap().push(ack);
                count.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(ADD_EVERY.saturating_sub(began.elapsed())).await;
        }
    })
}

async fn node_data(url: &str) -> Option<NodeData> {
    let response =
        client(Duration::from_secs(3)).get(format!("{url}/get_data")).send().await.ok()?;
    response.json().await.ok()
}

/// The node that leads Paxos now, as the nodes say (by index), if one does.
async fn leader(urls: &[String]) -> Option<usize> {
    for (index, url) in urls.iter().enumerate() {
        let status = client(Duration::from_secs(2)).get(format!("{url}/paxos/status")).send().await;
        if let Ok(response) = status {
            if response
                .json::<PaxosStatus>()
                .await
                .is_ok_and(|s| s.role == shared::sync::PaxosRole::Leader)
            {
                return Some(index);
            }
        }
    }
    None
}

/// Wait (bounded) until every node holds every acknowledged person, all hold the same persons,
/// all are in CRDT + Paxos mode, and each one's highest number is at least `agreed` (the
/// highest number acknowledged as agreed); returns how long it took.
async fn converged(
    urls: &[String],
    acked: &BTreeSet<PersonRecord>,
    agreed: u64,
    round: usize,
) -> Duration {
    let started = Instant::now();
    loop {
        let mut all = Vec::new();
        for url in urls {
            all.push(node_data(url).await);
        }
        let sets: Vec<Option<BTreeSet<PersonRecord>>> =
            all.iter().map(|d| d.as_ref().map(|d| d.persons.iter().cloned().collect())).collect();
        let done = all.iter().zip(&sets).all(|(data, set)| match (data, set) {
            (Some(data), Some(set)) => {
                data.mode == SyncMode::CrdtPaxos
                    && data.highest_number >= agreed
                    && set.is_superset(acked)
                    && Some(set) == sets[0].as_ref()
            }
            _ => false,
        });
        if done {
            return started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(20) {
            let report: Vec<String> = all
                .iter()
                .zip(&sets)
                .enumerate()
                .map(|(i, (data, set))| match (data, set) {
                    (Some(data), Some(set)) => format!(
                        "node-{}: {:?} mode, highest {} (agreed {agreed}), {} persons, missing \
                         acknowledged {:?}",
                        i + 1,
                        data.mode,
                        data.highest_number,
                        set.len(),
                        acked.difference(set).take(10).collect::<Vec<_>>()
                    ),
                    _ => format!("node-{}: no answer", i + 1),
                })
                .collect();
            panic!("round {round}: no convergence within 20 s:\n{}", report.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Persons with rising numbers go to all three nodes; one node (the Paxos leader every third
/// round, else a seeded one), or all three at once in three rounds, is killed after a seeded
/// number of acknowledged adds and restarted. Then:
///
/// - a restarted node's first answer holds every person it acknowledged itself (it wrote them
///   before answering; anything more came from its peers);
/// - within a bounded wait, every node holds every person any node acknowledged, all hold the
///   same persons, all are in CRDT + Paxos mode, and every node's highest number is at least the
///   highest number an answer acknowledged as agreed (`agreed: true`);
/// - after killing all three, a new number is agreed again.
#[tokio::test(flavor = "multi_thread")]
async fn killing_sync_nodes_mid_burst_loses_no_acknowledged_person_or_agreed_number() {
    let started = Instant::now();
    let lab = Lab::up();
    lab.wait_all_up().await;
    let mut rng = seeded();
    let urls = lab.node_urls().await;
    let next = Arc::new(AtomicU64::new(1_000));
    let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    for round in 0..NODE_KILLS + ALL_THREE.len() {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = (0..urls.len() * ADDERS_PER_NODE)
            .map(|i| {
                let node = i % urls.len();
                let (acks, count) = (acks.clone(), count.clone());
                adder(urls[node].clone(), node, next.clone(), stop.clone(), acks, count)
            })
            .collect();
        let target = count.load(Ordering::SeqCst) + rng.random_range(8..40);
        counted("adds acknowledged before the kill", &count, target).await;
        let (victims, which): (Vec<usize>, &str) = if ALL_THREE.contains(&round) {
            (vec![0, 1, 2], "all three")
        } else if round % 3 == 0 {
            match leader(&urls).await {
                Some(leader) => (vec![leader], "the leader"),
                None => (vec![rng.random_range(0..3)], "no leader: seeded"),
            }
        } else {
            (vec![rng.random_range(0..3)], "seeded")
        };
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..20))).await;
        let names: Vec<String> = victims.iter().map(|v| format!("node-{}", v + 1)).collect();
        futures::future::join_all(names.iter().map(|name| kill(&lab, name))).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..100))).await;
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.unwrap();
        }
        for victim in &victims {
            restart(&lab, &format!("node-{}", victim + 1)).await;
        }

        let acked: Vec<Ack> = acks.lock().unwrap().clone();
        // What a restarted node acknowledged, it holds from its own disk.
        for victim in &victims {
            let own: BTreeSet<PersonRecord> =
                acked.iter().filter(|a| a.node == *victim).map(|a| a.person.clone()).collect();
            let data = node_data(&urls[*victim]).await.unwrap_or_else(|| {
                panic!("round {round}: node-{} does not answer after its restart", victim + 1)
            });
            let holds: BTreeSet<PersonRecord> = data.persons.into_iter().collect();
            let lost: Vec<_> = own.difference(&holds).take(10).collect();
            assert!(
                lost.is_empty(),
                "round {round}: node-{} lost persons it acknowledged: {lost:?} ({} of {})",
                victim + 1,
                own.difference(&holds).count(),
                own.len()
            );
        }
        let persons: BTreeSet<PersonRecord> = acked.iter().map(|a| a.person.clone()).collect();
        let agreed = acked
            .iter()
            .filter(|a| a.agreed == Some(true))
            .filter_map(|a| a.person.number)
            .max()
            .unwrap_or(0);
        let took = converged(&urls, &persons, agreed, round).await;
        if victims.len() == 3 {
            // Paxos works again: a new number is agreed (bounded: a leader may be electing).
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let number = next.fetch_add(1, Ordering::SeqCst);
                let node = rng.random_range(0..3);
                let person = json!({"name": format!("p{number}"), "number": number});
                let added: Added =
                    support::post_json(&format!("{}/add_name", urls[node]), Some(&person)).await;
                let ack = Ack {
                    node,
                    person: added.person.clone(),
                    mode: added.mode,
                    agreed: added.agreed,
                };
                acks.lock().unwrap().push(ack);
                if added.agreed == Some(true) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "round {round}: nothing agreed after a full restart: {added:?}"
                );
            }
        }
        let crdt_only = acked.iter().filter(|a| a.mode != SyncMode::CrdtPaxos).count();
        let not_agreed = acked.iter().filter(|a| a.agreed == Some(false)).count();
        eprintln!(
            "round {round}: killed {names:?} ({which}), {} acknowledged ({not_agreed} not agreed in time, \
             {crdt_only} CRDT-only), highest agreed {agreed}, converged in {took:?} ({:?})",
            acked.len(),
            started.elapsed()
        );
    }
    let acked = acks.lock().unwrap();
    let agreed = acked.iter().filter(|a| a.agreed == Some(true)).count();
    assert!(agreed * 2 > acked.len(), "most adds were agreed ({agreed} of {})", acked.len());
    eprintln!("sync nodes: {} rounds in {:?}", NODE_KILLS + ALL_THREE.len(), started.elapsed());
}
