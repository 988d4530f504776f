//! The meta-model (6001): asks every registered model at once, decides by a stake-weighted vote
//! over classes, rewards agreement and slashes deviation (rules in [`consensus`]), keeps the
//! stake in a SQLite ledger ([`ledger`]).
//!
//! Run it with `lab serve meta-model --models A=http://localhost:5001,B=...,C=...`.
//!
//! Each prediction is scored at once; its tallies wait in memory and are settled in batches
//! (every 100 ms, and before any read of balances), one transaction per batch. A crash loses at
//! most the last 100 ms of not-yet-settled rewards — never a half-applied batch. A prediction
//! answers the stakes as they will be once what is waiting is settled (`updated_balances`):
//! `Book` keeps the models and the tallies not in them yet under one lock, so each answer is
//! counted exactly once in that view.

pub mod consensus;
mod error;
pub mod ledger;
mod serve;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Router;
use serde::Deserialize;
use shared::models::{
    workshop_key, Balance, Balances, Evaluation, LedgerBatch, LedgerEvent, MetaPrediction,
    ModelEntry, ModelState, Prediction, RegisterModel, Vote, LABELS,
};
use shared::{ErrorBody, EventKind, ServiceKind};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::iris;
use crate::model::parse_measurements;
use crate::service::{ApiJson, ApiPath, ApiQuery, CallError, EventBus, Outgoing, Service};
use crate::sqlite::DbError;
use consensus::{consensus, score, settle, Ballot, BatchTally, Rules, Stake};
pub use error::MetaError;
use ledger::{Settled, StakeLedger};
pub use serve::{serve, ServeArgs};

/// How often pending tallies are settled.
pub const SETTLE_EVERY: Duration = Duration::from_millis(100);

/// The meta-model's state; cheap to clone.
#[derive(Debug, Clone)]
pub struct Meta {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ledger: StakeLedger,
    /// The models and the tallies not settled in them yet.
    book: Mutex<Book>,
    /// One ledger write (a settlement, a registration, a withdrawal) at a time, with the update
    /// of `book` that follows it: `book` never holds a batch both in its models and in a tally.
    settling: tokio::sync::Mutex<()>,
    /// Calls to the models, through this service's links.
    client: Outgoing,
    /// How long a model may take to answer.
    timeout: Duration,
    events: EventBus,
    /// Held-out Iris samples, for `POST /evaluate`.
    holdout: Vec<([f64; 4], usize)>,
    /// When the last summary event went out (they are throttled).
    last_summary: Mutex<Instant>,
}

/// The meta-model's view of the stake: the models as the ledger last held them, and every
/// tally not in those numbers yet. One lock for all three, so that a reader sees each answer
/// once: in a tally until its batch is written, in `models` from then on.
#[derive(Debug, Default)]
struct Book {
    /// The models as last read from (or written to) the ledger: whom to ask, with what power.
    models: Vec<ModelEntry>,
    /// Predictions answered but not yet settled.
    pending: Tallies,
    /// The batch being written to the ledger: out of `pending`, not yet in `models`.
    writing: Tallies,
}

/// A batch of answers: each model's tally, and how many emissions they share (the ledger
/// records the count with the batch, so a reader can check that every emission was paid).
#[derive(Debug, Default)]
struct Tallies {
    by_model: HashMap<u64, BatchTally>,
    emissions: u64,
}

impl Tallies {
    fn merge(&mut self, other: Tallies) {
        for (id, tally) in other.by_model {
            self.by_model.entry(id).or_default().merge(&tally);
        }
        self.emissions += other.emissions;
    }

    fn is_empty(&self) -> bool {
        self.by_model.is_empty() && self.emissions == 0
    }
}

impl Book {
    /// Every model not withdrawn, with its stake once the batch being written and then the
    /// pending tallies are settled — as the ledger will settle them, two batches in that order.
    fn projected(&self, rules: &Rules) -> Balances {
        self.models
            .iter()
            .filter(|m| m.state != ModelState::Withdrawn)
            .map(|m| {
                let mut stake = Stake { balance: m.balance, weight: m.weight };
                for tally in [self.writing.by_model.get(&m.id), self.pending.by_model.get(&m.id)]
                    .into_iter()
                    .flatten()
                {
                    let s = settle(rules, stake, tally);
                    stake = Stake { balance: s.balance, weight: s.weight };
                }
                (workshop_key(&m.name), Balance { balance: stake.balance, weight: stake.weight })
            })
            .collect()
    }

    /// Take a batch's effect into `models`, and it out of `writing`.
    fn written(&mut self, settled: &[Settled]) {
        for s in settled {
            if let Some(model) = self.models.iter_mut().find(|m| m.id == s.id) {
                model.balance = s.balance;
                model.weight = s.weight;
                model.state.clone_from(&s.state);
            }
        }
        self.writing = Tallies::default();
    }
}

impl Meta {
    /// Open the ledger and register `defaults` (name, url) not registered yet.
    pub async fn open(
        db: &std::path::Path,
        defaults: &[(String, String)],
        timeout: Duration,
        service: &Service,
    ) -> Result<Self, MetaError> {
        let ledger = StakeLedger::open(db, Rules::default()).await?;
        let known = ledger.models().await?;
        for (name, url) in defaults {
            if !known.iter().any(|m| &m.name == name) {
                ledger.register(name.clone(), url.clone(), ledger.rules().default_deposit).await?;
            }
        }
        let client = service.outgoing(64);
        let meta = Self {
            inner: Arc::new(Inner {
                book: Mutex::new(Book { models: ledger.models().await?, ..Book::default() }),
                ledger,
                settling: tokio::sync::Mutex::new(()),
                client,
                timeout,
                events: service.events(),
                holdout: iris::rows(&iris::split().test),
                last_summary: Mutex::new(Instant::now()),
            }),
        };
        Ok(meta)
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.inner.book.lock().expect("book lock poisoned")
    }

    fn active(&self) -> Vec<ModelEntry> {
        self.book().models.iter().filter(|m| m.state == ModelState::Active).cloned().collect()
    }

    /// Read the models from the ledger again; the caller holds `settling` (so no batch is being
    /// written, and none is both in the ledger and in a tally).
    async fn reload(&self) -> Result<(), DbError> {
        let models = self.inner.ledger.models().await?;
        self.book().models = models;
        Ok(())
    }

    /// Settle every pending tally now (one transaction).
    pub async fn settle_pending(&self) -> Result<(), DbError> {
        let _one_at_a_time = self.inner.settling.lock().await;
        let nothing = {
            // Out of `pending` and into `writing` under one lock: a reader sees it in either.
            let mut book = self.book();
            book.writing = std::mem::take(&mut book.pending);
            book.writing.is_empty()
        };
        if nothing {
            return Ok(());
        }
        if let Err(err) = self.write_batch("the consensus").await {
            // Nothing was written: put the tallies back for the next attempt.
            let mut book = self.book();
            let writing = std::mem::take(&mut book.writing);
            book.pending.merge(writing);
            return Err(err);
        }
        Ok(())
    }

    /// Write the batch in `book.writing` to the ledger (`what`: against what it was scored) and
    /// take its effect into `book`; the caller holds `settling`. On an error nothing was written
    /// and the batch is still in `book.writing`.
    async fn write_batch(&self, what: &'static str) -> Result<(), DbError> {
        let (batch, emissions): (Vec<(u64, BatchTally)>, u64) = {
            let book = self.book();
            let writing = &book.writing;
            (writing.by_model.iter().map(|(id, tally)| (*id, *tally)).collect(), writing.emissions)
        };
        let settled = self.inner.ledger.settle(batch, emissions, what).await?;
        self.book().written(&settled);
        self.report(&settled);
        Ok(())
    }

    /// Settle pending tallies forever (spawn it).
    pub async fn settle_forever(self) {
        let mut ticker = tokio::time::interval(SETTLE_EVERY);
        loop {
            ticker.tick().await;
            if let Err(err) = self.settle_pending().await {
                tracing::warn!(%err, "settling failed; retrying next tick");
            }
        }
    }

    fn report(&self, settled: &[Settled]) {
        for s in settled.iter().filter(|s| s.ejected) {
            tracing::warn!(model = %s.model, balance = s.balance, "ejected");
            self.inner.events.emit(
                EventKind::Consensus,
                format!("{} ejected: balance {:.1} under the floor", s.model, s.balance),
            );
        }
        let mut last = self.inner.last_summary.lock().expect("summary lock poisoned");
        if last.elapsed() >= Duration::from_secs(2) && settled.iter().any(|s| s.slash > 0.0) {
            *last = Instant::now();
            let parts: Vec<String> = settled
                .iter()
                .map(|s| format!("{} {:+.1} → {:.1}", s.model, s.reward - s.slash, s.balance))
                .collect();
            self.inner.events.emit(EventKind::Consensus, format!("settled: {}", parts.join(", ")));
        }
    }

    /// Ask one model, through its link.
    async fn ask(&self, model: &ModelEntry, x: &[f64; 4]) -> Result<(usize, [f64; 3]), String> {
        let url = format!(
            "{}/predict?sl={}&sw={}&pl={}&pw={}",
            model.url.trim_end_matches('/'),
            x[0],
            x[1],
            x[2],
            x[3]
        );
        let response =
            self.inner.client.get(url).timeout(self.inner.timeout).send().await.map_err(
                |e| match e {
                    CallError::Link(_) | CallError::Timeout(_) => e.to_string(),
                    _ => "unreachable".to_owned(),
                },
            )?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let answer: Prediction =
            response.json().await.map_err(|e| format!("unreadable answer: {e}"))?;
        let sane = answer.prediction < 3
            && answer.probabilities.iter().all(|p| p.is_finite() && (0.0..=1.0).contains(p));
        if !sane {
            return Err("answer out of range".to_owned());
        }
        Ok((answer.prediction, answer.probabilities))
    }

    /// Ask every active model at once; ballots in the order of `models`.
    async fn poll(&self, models: &[ModelEntry], x: &[f64; 4]) -> Vec<(Ballot, Option<String>)> {
        let answers = futures::future::join_all(models.iter().map(|m| self.ask(m, x))).await;
        models
            .iter()
            .zip(answers)
            .map(|(m, answer)| {
                let power = m.weight * m.balance;
                match answer {
                    Ok(a) => (Ballot { power, answer: Some(a) }, None),
                    Err(why) => (Ballot { power, answer: None }, Some(why)),
                }
            })
            .collect()
    }

    pub async fn predict(&self, x: [f64; 4]) -> Result<MetaPrediction, MetaError> {
        let models = self.active();
        let polled = self.poll(&models, &x).await;
        let ballots: Vec<Ballot> = polled.iter().map(|(b, _)| *b).collect();
        let outcome = consensus(&ballots).ok_or(MetaError::NoAnswer)?;
        let tallies = score(self.inner.ledger.rules(), &ballots, outcome.class);
        let updated_balances = {
            let mut book = self.book();
            for (model, tally) in models.iter().zip(&tallies) {
                book.pending.by_model.entry(model.id).or_default().merge(tally);
            }
            // The consensus is a class some model answered: every prediction shares the emission.
            book.pending.emissions += 1;
            book.projected(self.inner.ledger.rules())
        };
        let individual_predictions: BTreeMap<String, Option<usize>> = models
            .iter()
            .zip(&ballots)
            .map(|(m, ballot)| (workshop_key(&m.name), ballot.answer.map(|(c, _)| c)))
            .collect();
        let votes = models
            .iter()
            .zip(polled)
            .map(|(m, (ballot, error))| Vote {
                model: m.name.clone(),
                prediction: ballot.answer.map(|(c, _)| c),
                probabilities: ballot.answer.map(|(_, p)| p),
                error,
                weight: m.weight,
                balance: m.balance,
                power: ballot.power,
                agreed: ballot.answer.is_some_and(|(c, _)| c == outcome.class),
            })
            .collect();
        Ok(MetaPrediction {
            prediction: outcome.class,
            label: LABELS[outcome.class].to_owned(),
            support: outcome.support,
            votes,
            consensus_prediction: outcome.class,
            individual_predictions,
            updated_balances,
        })
    }

    /// Run the held-out set through every model and the consensus; settle against the truth.
    pub async fn evaluate(&self) -> Result<Evaluation, MetaError> {
        self.settle_pending().await?;
        let models = self.active();
        if models.is_empty() {
            return Err(MetaError::NoAnswer);
        }
        let mut right = vec![0u32; models.len()];
        let mut consensus_right = 0u32;
        let mut truth_tallies = Tallies::default();
        // Eight samples in flight at a time, answers in order: a slow model costs its timeout
        // per eight samples, not per sample.
        use futures::StreamExt;
        let asked = &models;
        let samples: Vec<[f64; 4]> = self.inner.holdout.iter().map(|(x, _)| *x).collect();
        let polls: Vec<_> = futures::stream::iter(samples)
            .map(|x| async move { self.poll(asked, &x).await })
            .buffered(8)
            .collect()
            .await;
        for (answers, (_, truth)) in polls.into_iter().zip(&self.inner.holdout) {
            let ballots: Vec<Ballot> = answers.into_iter().map(|(b, _)| b).collect();
            for (i, b) in ballots.iter().enumerate() {
                right[i] += u32::from(b.answer.is_some_and(|(c, _)| c == *truth));
            }
            consensus_right += u32::from(consensus(&ballots).is_some_and(|c| c.class == *truth));
            // The emission is shared among the models that were right, if any was.
            let shared = ballots.iter().any(|b| b.answer.is_some_and(|(c, _)| c == *truth));
            truth_tallies.emissions += u64::from(shared);
            for (model, tally) in
                models.iter().zip(score(self.inner.ledger.rules(), &ballots, *truth))
            {
                truth_tallies.by_model.entry(model.id).or_default().merge(&tally);
            }
        }
        {
            let _one_at_a_time = self.inner.settling.lock().await;
            self.book().writing = truth_tallies;
            if let Err(err) = self.write_batch("the truth").await {
                // Nothing was written; the truth is not retried (a new evaluation would be).
                self.book().writing = Tallies::default();
                return Err(err.into());
            }
        }
        let n = self.inner.holdout.len().max(1) as f64;
        let evaluation = Evaluation {
            samples: self.inner.holdout.len(),
            models: models
                .iter()
                .zip(&right)
                .map(|(m, r)| (m.name.clone(), f64::from(*r) / n))
                .collect(),
            consensus: f64::from(consensus_right) / n,
        };
        self.inner.events.emit(
            EventKind::Consensus,
            format!(
                "evaluated on {} held-out samples: consensus {:.3}",
                evaluation.samples, evaluation.consensus
            ),
        );
        Ok(evaluation)
    }

    pub fn ledger(&self) -> &StakeLedger {
        &self.inner.ledger
    }
}

pub fn service(name: &str) -> Service {
    Service::new(name, ServiceKind::MetaModel)
}

/// The meta-model's router with the plumbing every service has.
pub fn router(service: Service, meta: Meta) -> Router {
    let routes = OpenApiRouter::new()
        .routes(routes!(predict))
        .routes(routes!(list_models, register_model))
        .routes(routes!(withdraw_model))
        .routes(routes!(balances))
        .routes(routes!(ledger_events))
        .routes(routes!(ledger_batches))
        .routes(routes!(evaluate))
        .with_state(meta);
    // Registering, withdrawing and evaluating change the stake: no foreign page may.
    service.into_router(crate::service::lab_only(routes))
}

/// Is `url` a model's base URL, `http(s)://host[:port]` — the rule `RegisterModel`'s schema states?
fn is_model_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) else {
        return false;
    };
    let (host, port) = match rest.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    crate::service::address::host(host) && port.is_none_or(crate::service::address::port)
}

/// Ask every model; answer the stake-weighted consensus with every vote, weight and balance.
#[utoipa::path(get, path = "/predict", tag = "meta-model",
    params(("sl" = f64, Query, minimum = 0, maximum = 50, description = "sepal length, cm"), ("sw" = f64, Query, minimum = 0, maximum = 50, description = "sepal width, cm"), ("pl" = f64, Query, minimum = 0, maximum = 50, description = "petal length, cm"), ("pw" = f64, Query, minimum = 0, maximum = 50, description = "petal width, cm")),
    responses(
        (status = 200, body = MetaPrediction),
        (status = 400, body = ErrorBody),
        (status = 503, description = "No model answered", body = ErrorBody),
    ))]
async fn predict(
    State(meta): State<Meta>,
    RawQuery(query): RawQuery,
) -> Result<ApiJson<MetaPrediction>, MetaError> {
    let x = parse_measurements(query.as_deref()).map_err(MetaError::Invalid)?;
    Ok(ApiJson(meta.predict(x).await?))
}

/// Every registered model with its deposit, balance, weight and state.
#[utoipa::path(get, path = "/models", tag = "meta-model", responses(
    (status = 200, body = [ModelEntry]),
    (status = 500, description = "The stake ledger failed", body = ErrorBody),
))]
async fn list_models(State(meta): State<Meta>) -> Result<ApiJson<Vec<ModelEntry>>, MetaError> {
    meta.settle_pending().await?;
    Ok(ApiJson(meta.ledger().models().await?))
}

/// Register a model by URL with a deposit (default 1000): open to any contributor.
#[utoipa::path(post, path = "/models", tag = "meta-model", request_body = RegisterModel, responses(
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
    (status = 201, body = ModelEntry),
    (status = 400, body = ErrorBody),
    (status = 409, description = "The name is taken", body = ErrorBody),
    (status = 500, description = "The stake ledger failed", body = ErrorBody),
))]
async fn register_model(
    State(meta): State<Meta>,
    ApiJson(new): ApiJson<RegisterModel>,
) -> Result<(StatusCode, ApiJson<ModelEntry>), MetaError> {
    let name = new.name.clone();
    if name.is_empty()
        || name.len() > 40
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(MetaError::Invalid("name: 1 to 40 letters, digits, - or _".into()));
    }
    let url = new.url.trim_end_matches('/').to_owned();
    if !is_model_url(&url) {
        return Err(MetaError::Invalid(format!(
            "url must be http(s)://host[:port] (host: letters, digits, . and -; port 1 to 65535), got {url:?}"
        )));
    }
    let deposit = new.deposit.unwrap_or(meta.ledger().rules().default_deposit);
    let floor = meta.ledger().rules().floor;
    if !deposit.is_finite() || deposit < floor || deposit > 1e9 {
        return Err(MetaError::Invalid(format!(
            "deposit must be between the floor ({floor}) and 1e9, got {deposit}"
        )));
    }
    let entry = {
        let _one_at_a_time = meta.inner.settling.lock().await;
        let entry = meta.ledger().register(name, url, deposit).await?;
        meta.reload().await?;
        entry
    };
    meta.inner.events.emit(
        EventKind::Consensus,
        format!("{} registered at {} with {}", entry.name, entry.url, entry.deposit),
    );
    Ok((StatusCode::CREATED, ApiJson(entry)))
}

/// Withdraw a model: its balance is paid out and it leaves the consensus.
#[utoipa::path(delete, path = "/models/{id}", tag = "meta-model", params(("id" = u64, Path, minimum = 1)), responses(
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
    (status = 200, body = ModelEntry),
    (status = 404, body = ErrorBody),
    (status = 500, description = "The stake ledger failed", body = ErrorBody),
))]
async fn withdraw_model(
    State(meta): State<Meta>,
    ApiPath(shared::whole::PathNumber(id)): ApiPath<shared::whole::PathNumber>,
) -> Result<ApiJson<ModelEntry>, MetaError> {
    meta.settle_pending().await?;
    let entry = {
        let _one_at_a_time = meta.inner.settling.lock().await;
        let entry = meta.ledger().withdraw(id).await?;
        meta.reload().await?;
        entry
    };
    meta.inner.events.emit(EventKind::Consensus, format!("{} withdrew", entry.name));
    Ok(ApiJson(entry))
}

/// The workshop's `balances.json`: `{"model_A": {"balance": 1000.0, "weight": 1.0}, ...}`, every
/// model not withdrawn (ejected ones too), everything answered so far settled.
#[utoipa::path(get, path = "/balances", tag = "meta-model", responses(
    (status = 200, body = BTreeMap<String, Balance>),
    (status = 500, description = "The stake ledger failed", body = ErrorBody),
))]
async fn balances(State(meta): State<Meta>) -> Result<ApiJson<Balances>, MetaError> {
    meta.settle_pending().await?;
    let models = meta.ledger().models().await?;
    Ok(ApiJson(
        models
            .into_iter()
            .filter(|m| m.state != ModelState::Withdrawn)
            .map(|m| (workshop_key(&m.name), Balance { balance: m.balance, weight: m.weight }))
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only this model's events.
    model: Option<String>,
    /// Only events after this id, the first `limit` of them (to page through the whole
    /// ledger); without it, the latest `limit`.
    #[param(minimum = 0, maximum = 9_007_199_254_740_991.0)]
    after: Option<u64>,
    /// At most this many, 1 to 5000; default 500.
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<u32>,
}

/// The largest `after` id: 2^53 - 1, what every JSON client holds exactly.
const MAX_AFTER: u64 = (1 << 53) - 1;

/// An `after` id of at most [`MAX_AFTER`] (what its schema says; ids never get near it).
fn after_id(after: Option<u64>) -> Result<(), MetaError> {
    match after {
        Some(id) if id > MAX_AFTER => {
            Err(MetaError::Invalid(format!("after must be at most {}, got {id}", MAX_AFTER)))
        }
        _ => Ok(()),
    }
}

/// A `limit` of 1 to 5000, 500 when absent.
fn page_limit(limit: Option<u32>) -> Result<u32, MetaError> {
    let limit = limit.unwrap_or(500);
    if !(1..=5000).contains(&limit) {
        return Err(MetaError::Invalid(format!("limit must be between 1 and 5000, got {limit}")));
    }
    Ok(limit)
}

/// The ledger: every deposit, reward, slash, ejection and withdrawal with its reason, oldest first.
#[utoipa::path(get, path = "/ledger/events", tag = "meta-model", params(EventsQuery), responses(
    (status = 200, body = [LedgerEvent]),
    (status = 400, body = ErrorBody),
    (status = 500, description = "The stake ledger failed", body = ErrorBody),
))]
async fn ledger_events(
    State(meta): State<Meta>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<ApiJson<Vec<LedgerEvent>>, MetaError> {
    let limit = page_limit(query.limit)?;
    after_id(query.after)?;
    meta.settle_pending().await?;
    Ok(ApiJson(meta.ledger().events(query.model, query.after, limit).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct BatchesQuery {
    /// Only settlements after this id; default 0 (from the first).
    #[param(minimum = 0, maximum = 9_007_199_254_740_991.0)]
    after: Option<u64>,
    /// At most this many, 1 to 5000; default 500.
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<u32>,
}

/// The settlements, oldest first: each batch of answers settled in one transaction, with how
/// many emissions it shared and what it rewarded, slashed and could not pay (its events carry
/// its id in `batch`).
#[utoipa::path(get, path = "/ledger/batches", tag = "meta-model", params(BatchesQuery), responses(
    (status = 200, body = [LedgerBatch]),
    (status = 400, body = ErrorBody),
    (status = 500, description = "The stake ledger failed", body = ErrorBody),
))]
async fn ledger_batches(
    State(meta): State<Meta>,
    ApiQuery(query): ApiQuery<BatchesQuery>,
) -> Result<ApiJson<Vec<LedgerBatch>>, MetaError> {
    let limit = page_limit(query.limit)?;
    after_id(query.after)?;
    meta.settle_pending().await?;
    Ok(ApiJson(meta.ledger().batches(query.after.unwrap_or(0), limit).await?))
}

/// Accuracy of every model and of the consensus on the held-out Iris samples; settles the
/// answers against the truth (rewarding right answers, slashing wrong ones).
#[utoipa::path(post, path = "/evaluate", tag = "meta-model", responses(
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
    (status = 200, body = Evaluation),
    (status = 503, body = ErrorBody),
    (status = 500, description = "The stake ledger failed", body = ErrorBody),
))]
async fn evaluate(State(meta): State<Meta>) -> Result<ApiJson<Evaluation>, MetaError> {
    Ok(ApiJson(meta.evaluate().await?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_model_url_is_a_scheme_a_host_and_maybe_a_port() {
        for good in ["http://localhost:5004", "https://models.example", "http://10.0.0.2:80"] {
            assert!(super::is_model_url(good), "{good}");
        }
        for bad in [
            "http://h/*",
            "ftp://h",
            "http://:80",
            "http://h:0",
            "http://h:65536",
            "http://h:8a",
            "http://ü",
            "localhost:5004",
        ] {
            assert!(!super::is_model_url(bad), "{bad}");
        }
    }
}
