//! The workshop's questions, in its order, each with the actions that answer it on the student's
//! own lab. An action makes real requests (kept as [`Exchange`]s a student can repeat with curl)
//! or runs one of the lab's scenarios, and says what it measured; nothing here is a canned
//! figure.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use shared::models::{Balance, Evaluation, LedgerEvent, MetaPrediction, ModelInfo, Prediction};
use shared::registry::{RegistryStatus, ServerState};
use shared::replication::ReplicationStatus;
use shared::workshop::{Bar, Chart, Exchange, Line};

use crate::control::{row, scenarios, ControlError, ControlState};

/// One question of the workshop.
pub struct StepDef {
    pub id: &'static str,
    pub label: &'static str,
    pub title: &'static str,
    pub asks: &'static str,
    pub actions: &'static [ActionDef],
}

/// One action that answers a question.
pub struct ActionDef {
    pub id: &'static str,
    pub label: &'static str,
    pub does: &'static str,
    pub run: for<'a> fn(&'a mut Probe) -> BoxFuture<'a, Result<Evidence, ControlError>>,
}

/// What an action found (the requests it made are in its [`Probe`]).
#[derive(Debug, Default)]
pub struct Evidence {
    pub passed: bool,
    pub verdict: String,
    pub measurements: Vec<(String, String)>,
    pub chart: Option<Chart>,
    pub recording: Option<String>,
}

/// Every step, in the workshop's order.
pub static STEPS: [StepDef; 10] = [
    StepDef {
        id: "a1",
        label: "Part A · Q1",
        title: "Predictive APIs",
        asks: "Three models trained on the Iris data each answer GET /predict with a class. Do all three answer, what do they say about one flower, and how accurate is each on data it never trained on?",
        actions: &[ActionDef {
            id: "ask-models",
            label: "Ask models A, B and C",
            does: "GET /predict (a setosa: sl=5.1 sw=3.5 pl=1.4 pw=0.2) and GET /info on 5001, 5002 and 5003.",
            run: |p| Box::pin(ask_models(p)),
        }],
    },
    StepDef {
        id: "a2",
        label: "Part A · Q2",
        title: "Meta-model consensus",
        asks: "The meta-model on 6001 asks every model and answers one class. Is its answer a vote over classes (never an average of class numbers), and what did each model say?",
        actions: &[ActionDef {
            id: "ask-meta",
            label: "Ask the meta-model",
            does: "GET /predict on 6001 for a flower between versicolor and virginica (sl=6.0 sw=2.7 pl=5.1 pw=1.6); the prediction settles stakes.",
            run: |p| Box::pin(ask_meta(p)),
        }],
    },
    StepDef {
        id: "a3",
        label: "Part A · Q3",
        title: "Weighted consensus",
        asks: "Each model's vote counts with its weight times its stake. Over the held-out flowers, is the weighted consensus at least as accurate as the models on average?",
        actions: &[ActionDef {
            id: "evaluate",
            label: "Evaluate on the held-out data",
            does: "GET /balances, then POST /evaluate on 6001 (every held-out flower through every model and the consensus; scoring against the truth moves weights).",
            run: |p| Box::pin(evaluate(p)),
        }],
    },
    StepDef {
        id: "a4",
        label: "Part A · Q4",
        title: "Proof of stake and slashing",
        asks: "Stake follows honesty: a model that answers wrong on purpose is slashed until it is ejected. How many answers does that take, what happens to its balance, and does the consensus stay right meanwhile?",
        actions: &[ActionDef {
            id: "dishonest-model",
            label: "Make model C dishonest",
            does: "Runs the dishonest-model scenario: C answers inverted until ejected, then is set honest and re-registered with a fresh deposit of 1000.",
            run: |p| Box::pin(dishonest_model(p)),
        }],
    },
    StepDef {
        id: "b12",
        label: "Part B · Q1–Q2",
        title: "Servers and DNS round robin",
        asks: "Two shop servers (3001, 3002) sit behind a registry (8000) that hands out healthy ones in turn. Does GET /getServer share the clients between the servers?",
        actions: &[ActionDef {
            id: "get-server",
            label: "Ask the registry 12 times",
            does: "GET /servers, then GET /getServer 12 times on 8000.",
            run: |p| Box::pin(round_robin(p)),
        }],
    },
    StepDef {
        id: "b34",
        label: "Part B · Q3–Q4",
        title: "Products, orders and carts",
        asks: "The shop's API creates products, places orders and keeps carts. Through a server the registry hands out: do the workshop's requests answer with the workshop's fields (orderId, total, cart)?",
        actions: &[ActionDef {
            id: "shop-api",
            label: "Create, order, fill and empty a cart",
            does: "POST /products, GET /products, POST /orders, GET /orders/{user}, POST /cart/{user}, GET /cart/{user}, DELETE /cart/{user}/item/{id} on the server GET /getServer names.",
            run: |p| Box::pin(shop_api(p)),
        }],
    },
    StepDef {
        id: "b5",
        label: "Part B · Q5",
        title: "A simple front end",
        asks: "A web page in a browser uses the same API. Is the lab's shop page served, and may a page from the dashboard's origin read the shop's products (CORS)?",
        actions: &[ActionDef {
            id: "front-end",
            label: "Check the shop page and its API",
            does: "GET /shop on the dashboard (8080), then GET /products on a shop server with the dashboard's Origin.",
            run: |p| Box::pin(front_end(p)),
        }],
    },
    StepDef {
        id: "b6",
        label: "Part B · Q6",
        title: "Stop a server, keep the clients working",
        asks: "Kill shop server A while a client places orders through the registry: how many orders fail, and how long until the registry stops handing out A and takes it back?",
        actions: &[ActionDef {
            id: "shop-failover",
            label: "Kill shop server A under load",
            does: "Runs the shop-failover scenario: SIGKILL to shop-a while orders go through the registry, then a restart.",
            run: |p| Box::pin(scenario(p, "shop-failover")),
        }],
    },
    StepDef {
        id: "b7",
        label: "Part B · Q7",
        title: "Synchronous mirroring",
        asks: "The front on 3010 acknowledges a write only once both stores hold it. With the mirror down, is a write refused rather than acknowledged unmirrored? With the primary killed, is any acknowledged write lost?",
        actions: &[
            ActionDef {
                id: "mirror-down-write",
                label: "Write with the mirror down",
                does: "SIGKILL to store-sync-mirror, POST /products on 3010, restart the mirror and write again.",
                run: |p| Box::pin(mirror_down_write(p)),
            },
            ActionDef {
                id: "sync-primary-loss",
                label: "Kill the primary, fail over",
                does: "Runs the sync-primary-loss scenario: 30 writes through 3010, SIGKILL to the primary store, POST /failover, then the old primary rebuilt as the mirror.",
                run: |p| Box::pin(scenario(p, "sync-primary-loss")),
            },
        ],
    },
    StepDef {
        id: "b8",
        label: "Part B · Q8",
        title: "Asynchronous replication and a manual sync",
        asks: "The front on 3020 acknowledges a write once the primary holds it and ships changes later (POST /sync). How far behind is the mirror before a sync and after it, and when the primary dies, is what is lost exactly the lag shown?",
        actions: &[
            ActionDef {
                id: "write-then-sync",
                label: "Write 10, then sync",
                does: "GET /replication, 10 × POST /products on 3020, GET /replication, POST /sync, GET /replication.",
                run: |p| Box::pin(write_then_sync(p)),
            },
            ActionDef {
                id: "async-primary-loss",
                label: "Kill the primary, fail over",
                does: "Runs the async-primary-loss scenario: 30 writes through 3020 unsynced, SIGKILL to the primary store, POST /failover, then the old primary rebuilt as the mirror.",
                run: |p| Box::pin(scenario(p, "async-primary-loss")),
            },
        ],
    },
];

/// The requests an action makes, kept as it made them.
pub struct Probe {
    pub state: ControlState,
    pub exchanges: Vec<Exchange>,
}

/// How much of an answer an [`Exchange`] keeps.
const ANSWER_CHARS: usize = 400;

impl Probe {
    pub fn new(state: ControlState) -> Self {
        Probe { state, exchanges: Vec::new() }
    }

    /// A service's URL (`http://127.0.0.1:5001`).
    fn url(&self, service: &str) -> Result<String, ControlError> {
        Ok(row(&self.state, service)?.url)
    }

    /// Make a request and keep it: its status and JSON answer (`Null` when it had none). A
    /// request that got no answer is kept with status 0 and is an error.
    async fn call(
        &mut self,
        method: Method,
        url: String,
        body: Option<Value>,
        origin: Option<&str>,
    ) -> Result<(u16, Value, reqwest::header::HeaderMap), ControlError> {
        let mut request = self
            .state
            .client
            .request(method.clone(), &url)
            .timeout(std::time::Duration::from_secs(30));
        if let Some(body) = &body {
            request = request.json(body);
        }
        if let Some(origin) = origin {
            request = request.header(reqwest::header::ORIGIN, origin);
        }
        let mut exchange = Exchange {
            method: method.to_string(),
            url: url.clone(),
            body: body.as_ref().map(Value::to_string),
            status: 0,
            answer: String::new(),
        };
        let answer = request.send().await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(err) => {
                exchange.answer = format!("no answer: {err}");
                self.exchanges.push(exchange);
                return Err(ControlError::Upstream(format!("{method} {url}: {err}")));
            }
        };
        let status = answer.status().as_u16();
        exchange.status = status;
        let headers = answer.headers().clone();
        let text = answer.text().await.unwrap_or_default();
        exchange.answer = text.chars().take(ANSWER_CHARS).collect();
        self.exchanges.push(exchange);
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value, headers))
    }

    /// A request whose answer must be a success, read as `T`.
    async fn expect<T: DeserializeOwned>(
        &mut self,
        method: Method,
        url: String,
        body: Option<Value>,
    ) -> Result<T, ControlError> {
        let (status, value, _) = self.call(method.clone(), url.clone(), body, None).await?;
        if !(200..300).contains(&status) {
            return Err(ControlError::Upstream(format!(
                "{method} {url} answered {status}: {value}"
            )));
        }
        serde_json::from_value(value)
            .map_err(|e| ControlError::Upstream(format!("{method} {url}: unexpected answer: {e}")))
    }

    async fn get<T: DeserializeOwned>(&mut self, url: String) -> Result<T, ControlError> {
        self.expect(Method::GET, url, None).await
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.1} %", fraction * 100.0)
}

/// A fraction as a percentage to one decimal, as [`percent`] writes it (the chart's bars say
/// what the table says).
fn percent_value(fraction: f64) -> f64 {
    (fraction * 1000.0).round() / 10.0
}

const SETOSA: &str = "sl=5.1&sw=3.5&pl=1.4&pw=0.2";
const BORDERLINE: &str = "sl=6.0&sw=2.7&pl=5.1&pw=1.6";

async fn ask_models(p: &mut Probe) -> Result<Evidence, ControlError> {
    let mut evidence = Evidence { passed: true, ..Evidence::default() };
    let mut bars = Vec::new();
    let mut said = Vec::new();
    for service in ["model-a", "model-b", "model-c"] {
        let url = p.url(service)?;
        let answered: Result<(Prediction, ModelInfo), ControlError> = async {
            let prediction = p.get(format!("{url}/predict?{SETOSA}")).await?;
            Ok((prediction, p.get(format!("{url}/info")).await?))
        }
        .await;
        match answered {
            Ok((prediction, info)) => {
                let name = format!("model {} ({})", info.model, info.algorithm);
                evidence.measurements.push((
                    format!("{name} on the setosa"),
                    format!("{} ({})", prediction.prediction, prediction.label),
                ));
                evidence
                    .measurements
                    .push((format!("{name} held-out accuracy"), percent(info.accuracy)));
                evidence.passed &= prediction.prediction == 0;
                said.push(format!("{} says {}", info.model, prediction.label));
                bars.push(Bar { label: info.model.clone(), value: percent_value(info.accuracy) });
            }
            Err(err) => {
                evidence.measurements.push((service.to_owned(), format!("no answer: {err}")));
                evidence.passed = false;
                said.push(format!("{service} did not answer"));
            }
        }
    }
    let accuracies: Vec<String> =
        bars.iter().map(|b| format!("{} {:.1} %", b.label, b.value)).collect();
    evidence.verdict = format!(
        "{}: {}. Held-out accuracy: {}.",
        if evidence.passed {
            "All three models answer and agree"
        } else {
            "Not every model answers right"
        },
        said.join(", "),
        accuracies.join(", ")
    );
    evidence.chart = Some(Chart {
        title: "Held-out accuracy per model".into(),
        unit: "%".into(),
        x_unit: String::new(),
        bars,
        lines: Vec::new(),
    });
    Ok(evidence)
}

async fn ask_meta(p: &mut Probe) -> Result<Evidence, ControlError> {
    let meta = p.url("meta-model")?;
    let answer: MetaPrediction = p.get(format!("{meta}/predict?{BORDERLINE}")).await?;
    let mut power = [0.0f64; 3];
    let mut measurements = Vec::new();
    for vote in &answer.votes {
        let said = match (vote.prediction, &vote.error) {
            (Some(class), _) => {
                power[class.min(2)] += vote.power;
                class.to_string()
            }
            (None, error) => format!("no vote ({})", error.as_deref().unwrap_or("no answer")),
        };
        measurements.push((
            format!("model {} voted", vote.model),
            format!(
                "{said} with power {:.1} (weight {:.2} × balance {:.1})",
                vote.power, vote.weight, vote.balance
            ),
        ));
    }
    let strongest = (0..3).max_by(|a, b| power[*a].total_cmp(&power[*b])).unwrap_or(0);
    let classes: Vec<usize> = answer.votes.iter().filter_map(|v| v.prediction).collect();
    let average =
        (!classes.is_empty()).then(|| classes.iter().sum::<usize>() as f64 / classes.len() as f64);
    measurements.insert(
        0,
        (
            "consensus_prediction".into(),
            format!("{} ({})", answer.consensus_prediction, answer.label),
        ),
    );
    measurements.insert(1, ("support (share of voting power)".into(), percent(answer.support)));
    if let Some(average) = average {
        measurements.push((
            "the average of the class numbers (what a vote is not)".into(),
            format!("{average:.2}"),
        ));
    }
    let passed = power[answer.consensus_prediction.min(2)] >= power[strongest];
    Ok(Evidence {
        passed,
        verdict: format!(
            "The meta-model answers class {} ({}) with {} of the voting power behind it: {} the class with the most power.",
            answer.consensus_prediction,
            answer.label,
            percent(answer.support),
            if passed { "a weighted vote, it is" } else { "it is NOT" }
        ),
        measurements,
        chart: Some(Chart {
            title: "Voting power behind each class".into(),
            unit: "power".into(),
            x_unit: String::new(),
            bars: ["setosa", "versicolor", "virginica"]
                .iter()
                .zip(power)
                .map(|(label, value)| Bar { label: (*label).into(), value })
                .collect(),
            lines: Vec::new(),
        }),
        recording: None,
    })
}

async fn evaluate(p: &mut Probe) -> Result<Evidence, ControlError> {
    let meta = p.url("meta-model")?;
    let balances: BTreeMap<String, Balance> = p.get(format!("{meta}/balances")).await?;
    let evaluation: Evaluation = p.expect(Method::POST, format!("{meta}/evaluate"), None).await?;
    let mut measurements: Vec<(String, String)> = balances
        .iter()
        .map(|(model, b)| {
            (
                format!("model {} weight before", model.strip_prefix("model_").unwrap_or(model)),
                format!("{:.2} (balance {:.1})", b.weight, b.balance),
            )
        })
        .collect();
    measurements.push(("held-out flowers".into(), evaluation.samples.to_string()));
    let mut bars: Vec<Bar> = Vec::new();
    for (model, accuracy) in &evaluation.models {
        measurements.push((format!("model {model} accuracy"), percent(*accuracy)));
        bars.push(Bar { label: model.clone(), value: percent_value(*accuracy) });
    }
    measurements.push(("weighted consensus accuracy".into(), percent(evaluation.consensus)));
    bars.push(Bar { label: "consensus".into(), value: percent_value(evaluation.consensus) });
    let models = evaluation.models.len().max(1) as f64;
    let mean = evaluation.models.iter().map(|(_, a)| a).sum::<f64>() / models;
    let passed = !evaluation.models.is_empty() && evaluation.consensus + 1e-9 >= mean;
    Ok(Evidence {
        passed,
        verdict: format!(
            "On {} held-out flowers the weighted consensus is right {} of the time, the models {} on average: {}.",
            evaluation.samples,
            percent(evaluation.consensus),
            percent(mean),
            if passed { "at least as good" } else { "worse" }
        ),
        measurements,
        chart: Some(Chart {
            title: "Accuracy on the held-out flowers".into(),
            unit: "%".into(),
            x_unit: String::new(),
            bars,
            lines: Vec::new(),
        }),
        recording: None,
    })
}

async fn dishonest_model(p: &mut Probe) -> Result<Evidence, ControlError> {
    let meta = p.url("meta-model")?;
    let before: BTreeMap<String, Balance> = p.get(format!("{meta}/balances")).await?;
    let latest: Vec<LedgerEvent> = p.get(format!("{meta}/ledger/events?limit=1")).await?;
    let since = latest.last().map_or(0, |e| e.id);
    let mut evidence = scenario(p, "dishonest-model").await?;
    let after: BTreeMap<String, Balance> = p.get(format!("{meta}/balances")).await?;
    let mut events: Vec<LedgerEvent> = Vec::new();
    let mut after_id = since;
    loop {
        let page: Vec<LedgerEvent> =
            p.get(format!("{meta}/ledger/events?model=C&after={after_id}&limit=5000")).await?;
        if after_id != since {
            // The pages past the first are the same request again: one is enough to repeat.
            p.exchanges.pop();
        }
        match page.last() {
            Some(last) => after_id = last.id,
            None => break,
        }
        events.extend(page);
        if events.len() > 50_000 {
            break;
        }
    }
    for (model, b) in &before {
        let now = after.get(model).map_or_else(|| "gone".into(), |a| format!("{:.1}", a.balance));
        evidence
            .measurements
            .push((format!("{model} balance before → after"), format!("{:.1} → {now}", b.balance)));
    }
    if let Some(lowest) = events.iter().map(|e| e.balance).min_by(f64::total_cmp) {
        evidence.measurements.push(("C's lowest balance".into(), format!("{lowest:.1}")));
    }
    evidence
        .measurements
        .push(("C's ledger events during the run".into(), events.len().to_string()));
    let points: Vec<(f64, f64)> =
        events.iter().enumerate().map(|(i, e)| ((i + 1) as f64, e.balance)).collect();
    evidence.chart = Some(Chart {
        title: "Model C's balance, event by event".into(),
        unit: "stake".into(),
        x_unit: "ledger event".into(),
        bars: Vec::new(),
        lines: vec![Line { name: "C".into(), points }],
    });
    Ok(evidence)
}

async fn round_robin(p: &mut Probe) -> Result<Evidence, ControlError> {
    let registry = p.url("registry")?;
    let status: RegistryStatus = p.get(format!("{registry}/servers")).await?;
    let mut handed: BTreeMap<String, u32> = BTreeMap::new();
    let mut order = Vec::new();
    for asked in 0..12 {
        let answer: Value = p.get(format!("{registry}/getServer")).await?;
        if asked >= 2 {
            // The same request again: two are enough for a student to repeat.
            p.exchanges.pop();
        }
        let server = answer["server"].as_str().unwrap_or("none").to_owned();
        *handed.entry(server.clone()).or_default() += 1;
        order.push(server);
    }
    let healthy = status.servers.iter().filter(|s| s.state == ServerState::Up).count();
    let most = handed.values().max().copied().unwrap_or(0);
    let least = handed.values().min().copied().unwrap_or(0);
    let passed = handed.len() >= 2 && most - least <= 1;
    let mut measurements = vec![
        ("servers up (GET /servers)".into(), healthy.to_string()),
        ("answers in order".into(), order.join(", ")),
    ];
    measurements
        .extend(handed.iter().map(|(s, n)| (format!("handed out {s}"), format!("{n} of 12"))));
    Ok(Evidence {
        passed,
        verdict: format!(
            "12 answers shared between {} server{}: {}.",
            handed.len(),
            if handed.len() == 1 { "" } else { "s" },
            if passed { "in turn, evenly" } else { "not round robin over two servers" }
        ),
        measurements,
        chart: Some(Chart {
            title: "GET /getServer answers per server (12 asked)".into(),
            unit: "answers".into(),
            x_unit: String::new(),
            bars: handed
                .iter()
                .map(|(s, n)| Bar { label: s.clone(), value: f64::from(*n) })
                .collect(),
            lines: Vec::new(),
        }),
        recording: None,
    })
}

async fn shop_api(p: &mut Probe) -> Result<Evidence, ControlError> {
    let registry = p.url("registry")?;
    let server: Value = p.get(format!("{registry}/getServer")).await?;
    let host = server["server"]
        .as_str()
        .ok_or_else(|| ControlError::Upstream(format!("the registry named no server: {server}")))?;
    let shop = format!("http://{host}");
    let user = 9_000 + crate::service::now_ms() % 1_000;
    let product: Value = p
        .expect(
            Method::POST,
            format!("{shop}/products"),
            Some(json!({"name": "Workshop lamp", "price": 19.99, "category": "workshop", "inStock": true})),
        )
        .await?;
    let id = product["id"]
        .as_u64()
        .ok_or_else(|| ControlError::Upstream(format!("the product has no id: {product}")))?;
    let listed: Vec<Value> =
        p.get(format!("{shop}/products?category=workshop&inStock=true")).await?;
    let order: Value = p
        .expect(
            Method::POST,
            format!("{shop}/orders"),
            Some(json!({"userId": user, "items": [{"productId": id, "quantity": 2}]})),
        )
        .await?;
    let orders: Vec<Value> = p.get(format!("{shop}/orders/{user}")).await?;
    let added: Value = p
        .expect(
            Method::POST,
            format!("{shop}/cart/{user}"),
            Some(json!({"productId": id, "quantity": 1})),
        )
        .await?;
    let cart: Value = p.get(format!("{shop}/cart/{user}")).await?;
    let emptied: Value =
        p.expect(Method::DELETE, format!("{shop}/cart/{user}/item/{id}"), None).await?;
    let total = order["total"].as_f64().unwrap_or(f64::NAN);
    let checks = [
        ("the new product is listed", listed.iter().any(|p| p["id"] == id)),
        ("the order has an orderId", order["orderId"].is_u64()),
        ("the order's total is 2 × 19.99", (total - 39.98).abs() < 1e-9),
        (
            "the order is among the user's orders",
            orders.iter().any(|o| o["orderId"] == order["orderId"]),
        ),
        (
            "the cart answer has the workshop's cart",
            added["cart"].as_array().is_some_and(|c| c.len() == 1),
        ),
        (
            "the cart's total is 19.99",
            (cart["total"].as_f64().unwrap_or(f64::NAN) - 19.99).abs() < 1e-9,
        ),
        ("the emptied cart is empty", emptied["cart"].as_array().is_some_and(Vec::is_empty)),
    ];
    let passed = checks.iter().all(|(_, ok)| *ok);
    let mut measurements = vec![
        ("server (GET /getServer)".into(), host.to_owned()),
        ("product id".into(), id.to_string()),
        ("orderId".into(), order["orderId"].to_string()),
        ("order total".into(), format!("{total:.2}")),
        ("user".into(), user.to_string()),
    ];
    measurements.extend(
        checks
            .iter()
            .map(|(what, ok)| ((*what).to_owned(), if *ok { "yes" } else { "NO" }.to_owned())),
    );
    Ok(Evidence {
        passed,
        verdict: format!(
            "Through {host}: product {id} created, order {} placed for {total:.2}, a cart filled and emptied: {}.",
            order["orderId"],
            if passed { "every answer has the workshop's fields and the right figures" } else { "some answers are wrong (see below)" }
        ),
        measurements,
        chart: None,
        recording: None,
    })
}

async fn front_end(p: &mut Probe) -> Result<Evidence, ControlError> {
    let control = p.url("control")?;
    let (status, page, _) = p.call(Method::GET, format!("{control}/shop"), None, None).await?;
    let page = page.as_str().unwrap_or_default().to_owned();
    let loads_app = page.contains(".wasm") || page.contains(".js");
    let shop = p.url("shop-a")?;
    let origin = control.replace("127.0.0.1", "localhost");
    let (listed, products, headers) =
        p.call(Method::GET, format!("{shop}/products"), None, Some(&origin)).await?;
    let allowed = headers
        .get(reqwest::header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_owned();
    let count = products.as_array().map_or(0, Vec::len);
    let cors = allowed == "*" || allowed == origin;
    let passed = status == 200 && loads_app && listed == 200 && cors;
    Ok(Evidence {
        passed,
        verdict: format!(
            "GET /shop answered {status} ({} bytes{}) and the shop answers a page from {origin} with {count} products, Access-Control-Allow-Origin: {allowed}.",
            page.len(),
            if loads_app { ", loading the app" } else { ", WITHOUT the app" }
        ),
        measurements: vec![
            ("GET /shop".into(), status.to_string()),
            ("page size (bytes)".into(), page.len().to_string()),
            ("the page loads the app (wasm)".into(), if loads_app { "yes" } else { "no" }.into()),
            ("GET /products from the page's origin".into(), listed.to_string()),
            ("products listed".into(), count.to_string()),
            ("Access-Control-Allow-Origin".into(), allowed),
        ],
        chart: None,
        recording: None,
    })
}

async fn mirror_down_write(p: &mut Probe) -> Result<Evidence, ControlError> {
    use shared::control::ProcessAction;
    let front = p.url("mirroring")?;
    let status: ReplicationStatus = p.get(format!("{front}/replication")).await?;
    let mirror = ["store-sync-primary", "store-sync-mirror"]
        .into_iter()
        .find(|name| {
            row(&p.state, name).is_ok_and(|r| {
                status.mirror.as_deref().map(crate::service::links::peer_key)
                    == Some(crate::service::links::peer_key(&r.url))
            })
        })
        .ok_or_else(|| {
            ControlError::Conflict("the mirroring front has no mirror (rebuild it first)".into())
        })?;
    let product = |n: u32| Some(json!({"name": format!("mirror-down write {n}"), "price": 1.0}));
    p.state.supervisor.act(mirror, ProcessAction::Kill).await?;
    let killed = std::time::Instant::now();
    let (refused, answer, _) =
        p.call(Method::POST, format!("{front}/products"), product(1), None).await?;
    let refused_after = killed.elapsed();
    p.state.supervisor.act(mirror, ProcessAction::Restart).await?;
    let back = scenarios::wait_until(
        "the mirror back",
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(100),
        || {
            let url = format!("{front}/replication");
            let client = p.state.client.clone();
            async move {
                let status = client.get(url).send().await.ok();
                let status = match status {
                    Some(s) => s.json::<ReplicationStatus>().await.ok(),
                    None => None,
                };
                Ok(status.is_some_and(|s| s.mirror_up && s.primary_up))
            }
        },
    )
    .await?;
    let (accepted, _, _) =
        p.call(Method::POST, format!("{front}/products"), product(2), None).await?;
    let not_acked = !(200..300).contains(&refused);
    let passed = not_acked && (200..300).contains(&accepted);
    let reason = answer["message"].as_str().unwrap_or_default().to_owned();
    Ok(Evidence {
        passed,
        verdict: format!(
            "With {mirror} killed, the write through 3010 answered {refused}{}; with it back, {accepted}.",
            if not_acked { " (not acknowledged: nothing unmirrored was promised)" } else { " — ACKNOWLEDGED without its mirror" }
        ),
        measurements: vec![
            ("mirror killed".into(), mirror.to_owned()),
            ("write with the mirror down".into(), refused.to_string()),
            ("its answer".into(), reason),
            ("kill → answer".into(), format!("{} ms", refused_after.as_millis())),
            ("mirror back after restart".into(), back.map_or_else(|| "not within 10 s".into(), |d| format!("{} ms", d.as_millis()))),
            ("write with the mirror back".into(), accepted.to_string()),
        ],
        chart: None,
        recording: None,
    })
}

async fn write_then_sync(p: &mut Probe) -> Result<Evidence, ControlError> {
    let front = p.url("replication")?;
    let before: ReplicationStatus = p.get(format!("{front}/replication")).await?;
    let stamp = crate::service::now_ms();
    for n in 0..10 {
        p.expect::<Value>(
            Method::POST,
            format!("{front}/products"),
            Some(json!({"name": format!("async write {stamp}-{n}"), "price": 1.0})),
        )
        .await?;
        if n > 0 {
            p.exchanges.pop();
        }
    }
    let written: ReplicationStatus = p.get(format!("{front}/replication")).await?;
    p.expect::<Value>(Method::POST, format!("{front}/sync"), None).await?;
    let after: ReplicationStatus = p.get(format!("{front}/replication")).await?;
    let passed = written.lag_entries >= before.lag_entries + 10 && after.lag_entries == 0;
    Ok(Evidence {
        passed,
        verdict: format!(
            "10 writes acknowledged: the mirror fell {} entries behind ({} ms); after POST /sync it is {} behind.",
            written.lag_entries, written.lag_ms, after.lag_entries
        ),
        measurements: vec![
            ("background interval".into(), format!("{} ms (0: only POST /sync ships)", before.interval_ms)),
            ("lag before (entries)".into(), before.lag_entries.to_string()),
            ("lag after 10 writes (entries)".into(), written.lag_entries.to_string()),
            ("lag after 10 writes (ms)".into(), written.lag_ms.to_string()),
            ("lag after POST /sync (entries)".into(), after.lag_entries.to_string()),
            ("primary seq / mirror seq after".into(), format!("{} / {}", after.primary_seq, after.mirror_seq)),
        ],
        chart: Some(Chart {
            title: "Entries the mirror lacks".into(),
            unit: "entries".into(),
            x_unit: String::new(),
            bars: vec![
                Bar { label: "before".into(), value: before.lag_entries as f64 },
                Bar { label: "after 10 writes".into(), value: written.lag_entries as f64 },
                Bar { label: "after POST /sync".into(), value: after.lag_entries as f64 },
            ],
            lines: Vec::new(),
        }),
        recording: None,
    })
}

/// Run one of the lab's scenarios: its verdict and measurements, its recording, a chart of the
/// times it measured, and the request that runs it again.
async fn scenario(p: &mut Probe, name: &str) -> Result<Evidence, ControlError> {
    let control = p.url("control")?;
    let verdict = scenarios::run(name, &p.state).await?;
    let answer = serde_json::to_string(&verdict).unwrap_or_default();
    p.exchanges.push(Exchange {
        method: "POST".into(),
        url: format!("{control}/api/scenarios/{name}"),
        body: None,
        status: 200,
        answer: answer.chars().take(ANSWER_CHARS).collect(),
    });
    let bars: Vec<Bar> = verdict
        .measurements
        .iter()
        .filter_map(|(what, value)| {
            let ms = value.strip_suffix(" ms")?.parse::<f64>().ok()?;
            Some(Bar { label: what.clone(), value: ms })
        })
        .collect();
    let chart = (!bars.is_empty()).then(|| Chart {
        title: "What it measured, in milliseconds".into(),
        unit: "ms".into(),
        x_unit: String::new(),
        bars,
        lines: Vec::new(),
    });
    Ok(Evidence {
        passed: verdict.passed,
        verdict: verdict.verdict,
        measurements: verdict.measurements,
        chart,
        recording: verdict.recording,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_listed_once_in_the_workshops_order_with_its_actions() {
        let ids: Vec<&str> = STEPS.iter().map(|s| s.id).collect();
        assert_eq!(ids, ["a1", "a2", "a3", "a4", "b12", "b34", "b5", "b6", "b7", "b8"]);
        for step in &STEPS {
            assert!(step.asks.ends_with('?'), "{}", step.id);
            assert!((1..=2).contains(&step.actions.len()), "{}", step.id);
        }
        let scenarios: Vec<String> = scenarios::list().into_iter().map(|s| s.name).collect();
        for action in STEPS.iter().flat_map(|s| s.actions) {
            if action.does.starts_with("Runs the ") {
                let name = action.does.trim_start_matches("Runs the ").split(' ').next().unwrap();
                assert!(scenarios.iter().any(|s| s == name), "{name} is a scenario");
                assert_eq!(action.id, name);
            }
        }
    }
}
