//! The meta-model over real model servers (in this process, on real sockets): slashing ejects a
//! dishonest model, the ledger adds up under concurrency, bad inputs get 4xx JSON.

use crate::support;

use std::time::Duration;

use backend::meta::{self, Meta};
use backend::model::{self, Algorithm, Model};
use backend::service;
use shared::models::{
    Balances, Behavior, Evaluation, LedgerKind, MetaPrediction, ModelEntry, ModelState,
};

/// A model server on a free port; returns its URL.
async fn model_server(name: &str, algorithm: Algorithm, behavior: Behavior) -> String {
    let svc = model::service(name);
    let trained = Model::train(name, algorithm, behavior, svc.events()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(service::run(listener, model::router(svc, trained), std::future::pending()));
    url
}

struct MetaLab {
    meta: Meta,
    url: String,
    _dir: tempfile::TempDir,
}

/// A meta-model over `models`, waiting at most `timeout` for each answer.
async fn meta_lab_with(models: &[(&str, String)], timeout: Duration) -> MetaLab {
    let dir = tempfile::tempdir().unwrap();
    let svc = meta::service("meta-model");
    let defaults: Vec<(String, String)> =
        models.iter().map(|(n, u)| ((*n).to_owned(), u.clone())).collect();
    let meta =
        Meta::open(&dir.path().join("meta.sqlite3"), &defaults, timeout, &svc).await.unwrap();
    tokio::spawn(meta.clone().settle_forever());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(service::run(listener, meta::router(svc, meta.clone()), std::future::pending()));
    MetaLab { meta, url, _dir: dir }
}

async fn models(lab: &MetaLab) -> Vec<ModelEntry> {
    support::get_json(&format!("{}/models", lab.url)).await
}

/// Every balance equals the sum of its model's ledger events.
async fn assert_ledger_adds_up(lab: &MetaLab) {
    for (name, balance, sum) in lab.meta.ledger().audit().await.unwrap() {
        assert!((balance - sum).abs() < 1e-6, "{name}: balance {balance} but ledger sums to {sum}");
    }
}

/// A meta-model with a timeout generous enough for debug builds on a busy machine: these tests
/// are about stake, not about timeouts (the slow-model test sets its own).
async fn meta_lab(models: &[(&str, String)]) -> MetaLab {
    meta_lab_with(models, Duration::from_secs(3)).await
}

fn query(x: &[f64; 4]) -> String {
    format!("sl={}&sw={}&pl={}&pw={}", x[0], x[1], x[2], x[3])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dishonest_model_is_slashed_and_ejected_while_honest_ones_gain() {
    let a = model_server("A", Algorithm::RandomForest, Behavior::Honest).await;
    let b = model_server("B", Algorithm::Knn, Behavior::Honest).await;
    let c = model_server("C", Algorithm::DecisionTree, Behavior::Inverted).await;
    let lab = meta_lab(&[("A", a), ("B", b), ("C", c)]).await;
    let holdout = backend::iris::rows(&backend::iris::split().test);

    // Repeated batches of predictions: C, always contradicting the honest majority, loses.
    let mut c_balances = Vec::new();
    for _round in 0..3 {
        for (x, _) in &holdout {
            let answer: MetaPrediction =
                support::get_json(&format!("{}/predict?{}", lab.url, query(x))).await;
            assert!(answer.votes.iter().filter(|v| v.model != "C").all(|v| v.error.is_none()));
            assert_eq!(answer.consensus_prediction, answer.prediction);
            let c = answer.votes.iter().find(|v| v.model == "C");
            assert_eq!(
                answer.individual_predictions.get("model_C").copied(),
                c.map(|v| v.prediction),
                "C's vote by the workshop's key, absent once C is ejected"
            );
        }
        let now = models(&lab).await;
        c_balances.push(now.iter().find(|m| m.name == "C").unwrap().balance);
    }
    let now = models(&lab).await;
    let by_name = |n: &str| now.iter().find(|m| m.name == n).unwrap().clone();
    assert_eq!(by_name("C").state, ModelState::Ejected, "{now:?}");
    assert!(by_name("C").balance < 500.0 && by_name("C").weight < 0.1, "{now:?}");
    assert!(c_balances.windows(2).all(|w| w[1] <= w[0]), "C's balance only falls: {c_balances:?}");
    assert!(
        by_name("A").balance > 1000.0 && by_name("B").balance > 1000.0,
        "honest models gain: {now:?}"
    );

    // Ejected: C no longer votes.
    let (x, _) = holdout[0];
    let answer: MetaPrediction =
        support::get_json(&format!("{}/predict?{}", lab.url, query(&x))).await;
    assert!(answer.votes.iter().all(|v| v.model != "C"));
    assert!(!answer.individual_predictions.contains_key("model_C"), "not asked: {answer:?}");
    let c = answer.updated_balances["model_C"];
    assert_eq!(
        (c.balance, c.weight),
        (by_name("C").balance, by_name("C").weight),
        "ejected, listed"
    );

    // Labelled evaluation: the consensus is at least as accurate as the best honest model.
    let mut last = None;
    for _ in 0..3 {
        let evaluation: Evaluation =
            support::post_json(&format!("{}/evaluate", lab.url), None).await;
        last = Some(evaluation);
    }
    let evaluation = last.unwrap();
    let best = evaluation.models.iter().map(|(_, acc)| *acc).fold(0.0, f64::max);
    assert_eq!(evaluation.samples, 45);
    assert!(evaluation.consensus >= best - 1e-9, "{evaluation:?}");
    assert!(best >= 0.9, "{evaluation:?}");

    // The ledger explains every balance.
    assert_ledger_adds_up(&lab).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn thirty_two_concurrent_clients_lose_no_update() {
    let a = model_server("A", Algorithm::Knn, Behavior::Honest).await;
    let b = model_server("B", Algorithm::RandomForest, Behavior::Honest).await;
    let c = model_server("C", Algorithm::DecisionTree, Behavior::Random).await;
    let lab = meta_lab(&[("A", a), ("B", b), ("C", c)]).await;
    let holdout = backend::iris::rows(&backend::iris::split().test);
    let client = reqwest::Client::new();
    const CLIENTS: usize = 32;
    const EACH: usize = 15;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (client, url, holdout) = (client.clone(), lab.url.clone(), holdout.clone());
            tokio::spawn(async move {
                let mut errors = 0;
                for j in 0..EACH {
                    let (x, _) = holdout[(i * EACH + j) % holdout.len()];
                    let response =
                        client.get(format!("{url}/predict?{}", query(&x))).send().await.unwrap();
                    errors += usize::from(!response.status().is_success());
                }
                errors
            })
        })
        .collect();
    let errors: usize =
        futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).sum();
    assert_eq!(errors, 0, "no request failed");

    // Every prediction emits the same reward: the rewards settled must add up to all of them.
    let events: Vec<shared::models::LedgerEvent> =
        support::get_json(&format!("{}/ledger/events?limit=5000", lab.url)).await;
    let rewarded: f64 =
        events.iter().filter(|e| e.kind == LedgerKind::Reward).map(|e| e.amount).sum();
    let emission = lab.meta.ledger().rules().emission;
    let expected = emission * (CLIENTS * EACH) as f64;
    assert!(
        (rewarded - expected).abs() < 1e-6,
        "rewards {rewarded} vs {expected}: an update was lost"
    );
    assert_ledger_adds_up(&lab).await;
    let balances: Balances = support::get_json(&format!("{}/balances", lab.url)).await;
    assert_eq!(
        balances.keys().cloned().collect::<Vec<_>>(),
        ["model_A", "model_B", "model_C"],
        "the workshop's balances.json shape"
    );
    for entry in models(&lab).await {
        let listed = balances[&format!("model_{}", entry.name)];
        assert_eq!((listed.balance, listed.weight), (entry.balance, entry.weight), "{entry:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_or_dead_model_does_not_stall_the_answer() {
    let a = model_server("A", Algorithm::Knn, Behavior::Honest).await;
    let b = model_server("B", Algorithm::Knn, Behavior::Slow).await;
    let lab = meta_lab_with(
        &[("A", a), ("B", b), ("C", "http://127.0.0.1:1".to_owned())],
        Duration::from_millis(300),
    )
    .await;
    let started = std::time::Instant::now();
    let answer: MetaPrediction =
        support::get_json(&format!("{}/predict?sl=5.1&sw=3.5&pl=1.4&pw=0.2", lab.url)).await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "waited {:?} for a 2 s model",
        started.elapsed()
    );
    assert_eq!(answer.prediction, 0);
    let errors: Vec<_> = answer.votes.iter().filter_map(|v| v.error.clone()).collect();
    assert_eq!(errors.len(), 2, "{answer:?}");
    let individual: Vec<_> = answer.individual_predictions.into_iter().collect();
    assert_eq!(
        individual,
        [
            ("model_A".to_owned(), Some(0)),
            ("model_B".to_owned(), None),
            ("model_C".to_owned(), None)
        ],
        "a model that failed or timed out: null"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn models_come_and_go_and_bad_inputs_get_4xx_json() {
    let a = model_server("A", Algorithm::Knn, Behavior::Honest).await;
    let lab = meta_lab(&[("A", a.clone())]).await;
    let client = reqwest::Client::new();
    let post = |body: &'static str| {
        client
            .post(format!("{}/models", lab.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let bad = [
        (r#"{"name":"","url":"http://x:1"}"#, 400),
        (r#"{"name":"bad name","url":"http://x:1"}"#, 400),
        (r#"{"name":"D","url":"not a url"}"#, 400),
        (r#"{"name":"D","url":"ftp://x:1"}"#, 400),
        (r#"{"name":"D","url":"http://x:1","deposit":10}"#, 400),
        (r#"{"name":"D","url":"http://x:1","deposit":"lots"}"#, 422),
        (r#"{"name":"D","url":"http://x:1","stake":5}"#, 422),
        (r#"{"name":"A","url":"http://x:1"}"#, 409),
        (r#"{"name":"D""#, 400),
    ];
    for (body, status) in bad {
        let response = post(body).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let error: shared::ErrorBody = response.json().await.unwrap();
        assert_eq!(error.code, status);
    }

    let d = model_server("D", Algorithm::RandomForest, Behavior::Honest).await;
    let response = client
        .post(format!("{}/models", lab.url))
        .json(&serde_json::json!({"name": "D", "url": d, "deposit": 2000}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let entry: ModelEntry = response.json().await.unwrap();
    let answer: MetaPrediction =
        support::get_json(&format!("{}/predict?sl=5.1&sw=3.5&pl=1.4&pw=0.2", lab.url)).await;
    assert!(answer.votes.iter().any(|v| v.model == "D"), "a new model votes at once");
    assert_eq!(answer.individual_predictions.get("model_D"), Some(&Some(0)), "{answer:?}");
    let balances: Balances = support::get_json(&format!("{}/balances", lab.url)).await;
    assert!(balances["model_D"].balance > 2000.0, "D agreed: rewarded ({balances:?})");
    let response = client.delete(format!("{}/models/{}", lab.url, entry.id)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<ModelEntry>().await.unwrap().state, ModelState::Withdrawn);
    assert_eq!(
        client.delete(format!("{}/models/{}", lab.url, entry.id)).send().await.unwrap().status(),
        404
    );
    assert_eq!(
        client.delete(format!("{}/models/999", lab.url)).send().await.unwrap().status(),
        404
    );

    for path in [
        "/predict",
        "/predict?sl=5&sw=3&pl=1",
        "/predict?sl=x&sw=3&pl=1&pw=1",
        "/predict?sl=NaN&sw=3&pl=1&pw=1",
        "/predict?sl=1e400&sw=3&pl=1&pw=1",
        "/predict?sl=-5&sw=3&pl=1&pw=1",
        "/ledger/events?limit=0",
        "/ledger/events?limit=x",
        "/ledger/events?colour=red",
    ] {
        for base in [&lab.url, &a] {
            if base == &a && path.starts_with("/ledger") {
                continue;
            }
            let response = reqwest::get(format!("{base}{path}")).await.unwrap();
            assert_eq!(response.status().as_u16(), 400, "{base}{path}");
            let error: shared::ErrorBody = response.json().await.unwrap();
            assert!(!error.message.is_empty());
        }
    }
    let response = client
        .put(format!("{a}/admin/behavior"))
        .json(&serde_json::json!({"behavior": "evil"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let response = client
        .put(format!("{a}/admin/behavior"))
        .json(&serde_json::json!({"behavior": "inverted"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: shared::models::Prediction =
        support::get_json(&format!("{a}/predict?sl=5.1&sw=3.5&pl=1.4&pw=0.2")).await;
    assert_eq!(answer.prediction, 1, "inverted: confidently wrong");
}
