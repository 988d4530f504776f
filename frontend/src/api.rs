//! Every HTTP call the dashboard makes goes through here.
//!
//! Shop requests are resolved through the registry like the native `ShopClient` does: ask
//! `GET /getServer`, send the request there, and on a network failure ask again, skipping the
//! server that failed (POSTs are retried only when the request never reached a server, which a
//! browser cannot tell apart — so a failed POST is reported, not retried).

use gloo_net::eventsource::futures::EventSource;
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use shared::control::{
    ActionOutcome, LinkFault, ProcessAction, RunInfo, ScenarioInfo, StartRecording, TestSpec,
    Verdict,
};
use shared::models::{
    Behavior, Evaluation, LedgerEvent, MetaPrediction, ModelEntry, ModelInfo, RegisterModel,
    SetBehavior,
};
use shared::registry::{GetServer, RegistryStatus};
use shared::replication::{FailoverReport, ReplicationStatus, StoreDiff};
use shared::shop::{NewProduct, Product};
use shared::sync::{Added, LoadInfo, NodeData, PaxosLogEntry, PaxosStatus, PersonRecord};
use shared::workshop::{StepResult, Workshop};
use shared::{ErrorBody, LabEvent, ServiceKind, ServiceStatus};

/// Why a call failed, in words for the page.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError(pub String);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Read a JSON answer, or the `{code, message}` error every service sends.
async fn read<T: DeserializeOwned>(what: &str, response: Response) -> Result<T, ApiError> {
    if !response.ok() {
        let status = response.status();
        return Err(ApiError(match response.json::<ErrorBody>().await {
            Ok(body) => format!("{what}: {}", body.message),
            Err(_) => format!("{what}: HTTP {status}"),
        }));
    }
    response.json::<T>().await.map_err(|e| ApiError(format!("{what}: unreadable answer: {e}")))
}

/// Why a request got no answer.
enum Unanswered {
    /// It could not be built (its body does not serialize): no server would take it either.
    Unsendable(String),
    /// It was sent and the network failed it (refused, reset, unreachable): another server may
    /// still answer, if the request may be sent twice.
    Network(gloo_net::Error),
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unanswered::Unsendable(why) => f.write_str(why),
            Unanswered::Network(err) => err.fmt(f),
        }
    }
}

/// `body` as the JSON text a request carries.
fn json(body: Option<&impl Serialize>) -> Result<Option<String>, Unanswered> {
    body.map(serde_json::to_string).transpose().map_err(|e| Unanswered::Unsendable(e.to_string()))
}

/// Send `request`, with `body` (JSON text) if there is one: the one place a request leaves. Not
/// generic, so every call shares its code (the dashboard's wasm is sent to every browser).
async fn send(request: RequestBuilder, body: Option<String>) -> Result<Response, Unanswered> {
    let request = match body {
        Some(json) => request.header("Content-Type", "application/json").body(json),
        None => request.build(),
    };
    let request = request.map_err(|e| Unanswered::Unsendable(e.to_string()))?;
    request.send().await.map_err(Unanswered::Network)
}

/// Send a request to one service; `what` names it in errors.
async fn answer(
    what: &str,
    request: RequestBuilder,
    body: Result<Option<String>, Unanswered>,
) -> Result<Response, ApiError> {
    let sent = match body {
        Ok(body) => send(request, body).await,
        Err(unsendable) => Err(unsendable),
    };
    sent.map_err(|e| ApiError(format!("{what}: {e}")))
}

/// Send a request to one service and read its JSON answer.
async fn send_json<T: DeserializeOwned>(
    what: &str,
    request: RequestBuilder,
    body: Option<&impl Serialize>,
) -> Result<T, ApiError> {
    read(what, answer(what, request, json(body)).await?).await
}

async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, ApiError> {
    let what = format!("GET {url}");
    read(&what, answer(&what, Request::get(url), Ok(None)).await?).await
}

/// The control plane's list of services with their health.
pub async fn services() -> Result<Vec<ServiceStatus>, ApiError> {
    get_json("/api/services").await
}

pub async fn registry_status(registry: &str) -> Result<RegistryStatus, ApiError> {
    get_json(&format!("{registry}/servers")).await
}

/// What one shop request did: which server answered, after which failed attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub method: &'static str,
    pub path: String,
    /// The server that answered, if any did.
    pub server: Option<String>,
    pub status: Option<u16>,
    /// Servers that failed this request before the answer.
    pub failed: Vec<String>,
}

/// HTTP methods the shop page uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    fn builder(self, url: &str) -> RequestBuilder {
        match self {
            Method::Get => Request::get(url),
            Method::Post => Request::post(url),
            Method::Put => Request::put(url),
            Method::Delete => Request::delete(url),
        }
    }
}

/// `localhost:3001` → `http://localhost:3001`.
fn server_url(server: &str) -> String {
    format!("http://{server}")
}

/// Send a shop request through the registry; returns the answer (or error) and its trace.
///
/// The registry retry, and the only retry loop of the dashboard: ask the registry for a server
/// (at most [`REGISTRY_ASKS`] times), skip one this request already failed on, send there, and
/// on a network failure try the next — but a POST only once (see the module's doc) — until
/// [`SERVERS_TRIED`] servers failed it.
pub async fn shop<T: DeserializeOwned>(
    registry: &str,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
) -> (Result<T, ApiError>, Trace) {
    let mut trace = Trace {
        method: method.name(),
        path: path.to_owned(),
        server: None,
        status: None,
        failed: Vec::new(),
    };
    let what = format!("{} {path}", method.name());
    let body = match json(body) {
        Ok(body) => body,
        Err(unsendable) => return (Err(ApiError(format!("{what}: {unsendable}"))), trace),
    };
    for _ in 0..REGISTRY_ASKS {
        if trace.failed.len() >= SERVERS_TRIED {
            break;
        }
        let server = match get_json::<GetServer>(&format!("{registry}/getServer")).await {
            Ok(answer) => answer.server,
            Err(err) => return (Err(err), trace),
        };
        if trace.failed.contains(&server) {
            continue;
        }
        let request = method.builder(&format!("{}{path}", server_url(&server)));
        match send(request, body.clone()).await {
            Ok(response) => {
                trace.server = Some(server);
                trace.status = Some(response.status());
                return (read(&what, response).await, trace);
            }
            Err(unsendable @ Unanswered::Unsendable(_)) => {
                return (Err(ApiError(format!("{what}: {unsendable}"))), trace)
            }
            Err(Unanswered::Network(_)) if method != Method::Post => trace.failed.push(server),
            Err(Unanswered::Network(err)) => {
                trace.failed.push(server.clone());
                return (Err(ApiError(format!("{what} to {server}: {err}"))), trace);
            }
        }
    }
    (Err(ApiError(format!("{what}: every server failed ({})", trace.failed.join(", ")))), trace)
}

/// How many times one shop request may ask the registry for a server.
const REGISTRY_ASKS: usize = 6;
/// How many servers one shop request is tried on before it is reported failed.
const SERVERS_TRIED: usize = 3;

/// Stop, kill, pause, resume or restart a service's process.
pub async fn service_action(name: &str, action: ProcessAction) -> Result<ActionOutcome, ApiError> {
    let url = format!("/api/services/{name}/{}", action.as_str());
    send_json(&format!("{} {name}", action.as_str()), Request::post(&url), None::<&()>).await
}

/// Set (or, with a healthy fault, heal) the fault on the link `from` → `to`.
pub async fn set_link(from: &str, to: &str, fault: LinkFault) -> Result<ActionOutcome, ApiError> {
    let url = format!("/api/links/{from}/{to}");
    let what = format!("link {from} → {to}");
    if fault.is_healthy() {
        send_json(&what, Request::delete(&url), None::<&()>).await
    } else {
        send_json(&what, Request::put(&url), Some(&fault)).await
    }
}

pub async fn scenarios() -> Result<Vec<ScenarioInfo>, ApiError> {
    get_json("/api/scenarios").await
}

/// Run a scenario; answers when it is over (several seconds).
pub async fn run_scenario(name: &str) -> Result<Verdict, ApiError> {
    send_json(
        &format!("scenario {name}"),
        Request::post(&format!("/api/scenarios/{name}")),
        None::<&()>,
    )
    .await
}

/// The workshop's steps, each with its latest result.
pub async fn workshop() -> Result<Workshop, ApiError> {
    get_json("/api/workshop").await
}

/// Run one action of a workshop step on the lab; answers its result when it is over (up to a
/// minute for the steps that run a scenario).
pub async fn run_workshop_step(step: &str, action: &str) -> Result<StepResult, ApiError> {
    send_json(
        &format!("{step} {action}"),
        Request::post(&format!("/api/workshop/steps/{step}/{action}")),
        None::<&()>,
    )
    .await
}

/// Every recording and test run, newest first.
pub async fn runs() -> Result<Vec<RunInfo>, ApiError> {
    get_json("/api/recordings").await
}

/// One recording or test run.
pub async fn run(id: &str) -> Result<RunInfo, ApiError> {
    get_json(&format!("/api/recordings/{id}")).await
}

/// A run's history: `history.jsonl`, one event per line (so far, while it records).
pub async fn history(id: &str) -> Result<String, ApiError> {
    let url = format!("/api/recordings/{id}/history.jsonl");
    let what = format!("GET {url}");
    let response = answer(&what, Request::get(&url), Ok(None)).await?;
    if !response.ok() {
        return read::<String>(&what, response).await;
    }
    response.text().await.map_err(|e| ApiError(format!("{what}: {e}")))
}

/// Start recording everything the lab does.
pub async fn start_recording(name: &str) -> Result<RunInfo, ApiError> {
    let start = StartRecording { name: Some(name.to_owned()) };
    send_json("start recording", Request::post("/api/recordings"), Some(&start)).await
}

/// Stop the recording `id` and save its history.
pub async fn stop_recording(id: &str) -> Result<RunInfo, ApiError> {
    let url = format!("/api/recordings/{id}/stop");
    send_json("stop recording", Request::post(&url), None::<&()>).await
}

/// Start a test run (a workload, a nemesis, checked at the end); answers at once.
pub async fn start_test(spec: &TestSpec) -> Result<RunInfo, ApiError> {
    send_json("start the test", Request::post("/api/tests"), Some(spec)).await
}

/// The lab's latest events, oldest first.
pub async fn recent_events() -> Result<Vec<LabEvent>, ApiError> {
    get_json("/events/recent").await
}

/// The lab's live event stream; it stays open while the handle lives.
pub struct EventStream {
    _source: EventSource,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStream")
    }
}

/// Call `on_event` for every event of the control plane's merged stream (`GET /events`).
pub fn event_stream(on_event: impl Fn(LabEvent) + 'static) -> Result<EventStream, ApiError> {
    use futures_util::StreamExt;
    let mut source =
        EventSource::new("/events").map_err(|e| ApiError(format!("GET /events: {e}")))?;
    let mut messages =
        source.subscribe("message").map_err(|e| ApiError(format!("GET /events: {e}")))?;
    wasm_bindgen_futures::spawn_local(async move {
        while let Some(Ok((_, message))) = messages.next().await {
            if let Some(event) =
                message.data().as_string().and_then(|d| serde_json::from_str(&d).ok())
            {
                on_event(event);
            }
        }
    });
    Ok(EventStream { _source: source })
}

/// The URL of the first service of `kind`, from the control plane's list.
pub async fn service_url(kind: ServiceKind) -> Result<String, ApiError> {
    services()
        .await?
        .into_iter()
        .find(|s| s.kind == kind)
        .map(|s| s.url)
        .ok_or_else(|| ApiError(format!("the lab runs no {kind}")))
}

/// Ask the meta-model for its consensus on four measurements.
pub async fn meta_predict(meta: &str, x: [f64; 4]) -> Result<MetaPrediction, ApiError> {
    get_json(&format!("{meta}/predict?sl={}&sw={}&pl={}&pw={}", x[0], x[1], x[2], x[3])).await
}

pub async fn meta_models(meta: &str) -> Result<Vec<ModelEntry>, ApiError> {
    get_json(&format!("{meta}/models")).await
}

pub async fn ledger(meta: &str) -> Result<Vec<LedgerEvent>, ApiError> {
    get_json(&format!("{meta}/ledger/events?limit=3000")).await
}

pub async fn register_model(meta: &str, new: &RegisterModel) -> Result<ModelEntry, ApiError> {
    send_json("register", Request::post(&format!("{meta}/models")), Some(new)).await
}

pub async fn withdraw_model(meta: &str, id: u64) -> Result<ModelEntry, ApiError> {
    send_json("withdraw", Request::delete(&format!("{meta}/models/{id}")), None::<&()>).await
}

pub async fn evaluate(meta: &str) -> Result<Evaluation, ApiError> {
    send_json("evaluate", Request::post(&format!("{meta}/evaluate")), None::<&()>).await
}

pub async fn model_info(model: &str) -> Result<ModelInfo, ApiError> {
    get_json(&format!("{model}/info")).await
}

/// Change a model's behaviour, through the control plane (models' admin routes answer only it).
pub async fn set_behavior(service: &str, behavior: Behavior) -> Result<ModelInfo, ApiError> {
    let url = format!("/api/services/{service}/admin/behavior");
    send_json(
        &format!("behaviour of {service}"),
        Request::put(&url),
        Some(&SetBehavior { behavior }),
    )
    .await
}

pub async fn replication_status(front: &str) -> Result<ReplicationStatus, ApiError> {
    get_json(&format!("{front}/replication")).await
}

pub async fn replication_diff(front: &str) -> Result<StoreDiff, ApiError> {
    get_json(&format!("{front}/replication/diff")).await
}

/// `POST /sync`: answers once the mirror has caught up.
pub async fn sync_now(front: &str) -> Result<ReplicationStatus, ApiError> {
    send_json("sync", Request::post(&format!("{front}/sync")), None::<&()>).await
}

pub async fn failover(front: &str, force: bool) -> Result<FailoverReport, ApiError> {
    send_json("failover", Request::post(&format!("{front}/failover?force={force}")), None::<&()>)
        .await
}

pub async fn rebuild(front: &str) -> Result<ReplicationStatus, ApiError> {
    send_json("rebuild", Request::post(&format!("{front}/rebuild")), None::<&()>).await
}

/// Write a product through a redundant front.
pub async fn add_product_via(front: &str, product: &NewProduct) -> Result<Product, ApiError> {
    send_json("write", Request::post(&format!("{front}/products")), Some(product)).await
}

/// A live Socket.IO connection to a sync node. Dropping it stops the data callbacks; the
/// websocket closes (and `on_state(false)` runs) at the next frame it receives — a ping comes
/// every 25 s at the latest.
pub struct NodeSocket {
    open: std::rc::Rc<std::cell::Cell<bool>>,
}

impl std::fmt::Debug for NodeSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeSocket")
    }
}

impl Drop for NodeSocket {
    fn drop(&mut self) {
        self.open.set(false);
    }
}

/// Connect to a sync node over Socket.IO (websocket transport): connect to the default
/// namespace, answer pings, ask for the data, and call `on_data` for every `data` and
/// `data_updated` event; `on_state` hears whether the socket is connected.
pub fn node_socket(
    url: &str,
    on_data: impl Fn(NodeData) + 'static,
    on_state: impl Fn(bool) + 'static,
) -> Result<NodeSocket, ApiError> {
    use futures_util::{SinkExt, StreamExt};
    use gloo_net::websocket::{futures::WebSocket, Message};
    use shared::socketio::{self, Frame};

    let ws_url = format!("{}/socket.io/?EIO=4&transport=websocket", url.replacen("http", "ws", 1));
    let socket = WebSocket::open(&ws_url).map_err(|e| ApiError(format!("{ws_url}: {e}")))?;
    let open = std::rc::Rc::new(std::cell::Cell::new(true));
    let still_open = open.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let (mut sink, mut stream) = socket.split();
        while let Some(Ok(Message::Text(text))) = stream.next().await {
            if !still_open.get() {
                break;
            }
            let reply = match socketio::decode(&text) {
                Ok(Frame::Open(_)) => Some(socketio::CONNECT.to_owned()),
                Ok(Frame::Ping) => Some(socketio::PONG.to_owned()),
                Ok(Frame::Connected { .. }) => {
                    on_state(true);
                    Some(socketio::bare_event("get_data"))
                }
                Ok(Frame::Event { name, args, .. }) if name == "data" || name == "data_updated" => {
                    if let Some(data) = args
                        .into_iter()
                        .next()
                        .and_then(|v| serde_json::from_value::<NodeData>(v).ok())
                    {
                        on_data(data);
                    }
                    None
                }
                Ok(Frame::Close) => break,
                _ => None,
            };
            if let Some(reply) = reply {
                if sink.send(Message::Text(reply)).await.is_err() {
                    break;
                }
            }
        }
        on_state(false);
        let _ = sink.close().await;
    });
    Ok(NodeSocket { open })
}

/// Add a person on one node (`POST /add_name`).
pub async fn add_person(node: &str, person: &PersonRecord) -> Result<Added, ApiError> {
    send_json("add a person", Request::post(&format!("{node}/add_name")), Some(person)).await
}

pub async fn node_load(node: &str) -> Result<LoadInfo, ApiError> {
    get_json(&format!("{node}/get_load")).await
}

pub async fn paxos_status(node: &str) -> Result<PaxosStatus, ApiError> {
    get_json(&format!("{node}/paxos/status")).await
}

pub async fn paxos_log(node: &str) -> Result<Vec<PaxosLogEntry>, ApiError> {
    get_json(&format!("{node}/paxos/log")).await
}
