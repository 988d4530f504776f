//! The control plane (:8080): serves the dashboard, lists every service with its health, breaks
//! things on request (real signals to real processes, faults on links), merges every service's
//! events into one stream, and runs scenarios that measure what happened.
//!
//! Run it with `lab up` (the whole lab) — see [`up`]. Its admin routes (process actions, link
//! faults, scenarios) answer only clients on this machine and same-origin pages (see
//! `service::admin`).

mod health;
pub mod ports;
mod ready;
pub mod recording;
mod relay;
pub(crate) mod runs;
pub mod scenarios;
pub mod supervisor;
pub mod table;
pub mod workload;
pub mod workshop;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use shared::control::{ActionOutcome, LinkFault, ProcessAction, ScenarioInfo, Verdict};
use shared::{ErrorBody, EventKind, Health, ServiceKind, ServiceStatus};
use tokio::net::TcpListener;
use tower_http::services::{ServeDir, ServeFile};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::catalog::{self, Ports};
use crate::service::links::peer_key;
use crate::service::{self, error_response, ApiJson, ApiPath, EventBus, Service};
use recording::{RecordingError, Recordings};
use supervisor::{ActionError, Supervisor};
use table::ServiceTable;

/// How `lab up` runs the lab.
#[derive(Debug, Clone)]
pub struct UpConfig {
    pub bind: IpAddr,
    pub ports: Ports,
    /// The built dashboard (`trunk build --release` writes it to `dist/`).
    pub dist: PathBuf,
    /// Where services keep their databases.
    pub data: PathBuf,
    pub health_interval: Duration,
    /// How long `up` waits for every service to be ready before it gives up.
    pub ready_within: Duration,
    /// Deliberate bugs to start with, each in every service of the kind it lives in.
    pub bugs: Vec<shared::bugs::Bug>,
}

/// State of the control plane's routes; cheap to clone.
#[derive(Debug, Clone)]
pub struct ControlState {
    pub table: ServiceTable,
    pub supervisor: Arc<Supervisor>,
    pub events: EventBus,
    pub client: reqwest::Client,
    /// One scenario at a time: they break shared services.
    pub scenario: Arc<tokio::sync::Mutex<()>>,
    /// The recording under way and the runs saved.
    pub recordings: Recordings,
    /// The workshop's step results.
    pub workshop: workshop::Notebook,
}

/// Why a control request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The workshop's results could not be written.
    #[error("{0}")]
    Notebook(std::io::Error),
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match &self {
            ControlError::Action(ActionError::Unknown(_)) | ControlError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            ControlError::Action(ActionError::NotRunning(_)) | ControlError::Conflict(_) => {
                StatusCode::CONFLICT
            }
            ControlError::Action(ActionError::Spawn { .. }) => StatusCode::INTERNAL_SERVER_ERROR,
            ControlError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ControlError::Recording(RecordingError::NotFound(_)) => StatusCode::NOT_FOUND,
            ControlError::Recording(RecordingError::Conflict(_)) => StatusCode::CONFLICT,
            ControlError::Notebook(err) => {
                tracing::error!(%err, "saving the workshop's results");
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the workshop's results could not be saved (see the control plane's log)",
                );
            }
            ControlError::Recording(RecordingError::Io(err)) => {
                tracing::error!(%err, "saving a recording");
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the recording could not be saved (see the control plane's log)",
                );
            }
        };
        error_response(status, self.to_string())
    }
}

/// The control plane's router: its API, the plumbing every service has, and the dashboard.
pub fn router(service: Service, state: ControlState, dist: &Path) -> Router {
    let open = OpenApiRouter::new()
        .routes(routes!(list_services))
        .routes(routes!(list_scenarios))
        .merge(runs::open_routes())
        .merge(workshop::open_routes());
    let admin = service::guarded(
        OpenApiRouter::new()
            .routes(routes!(process_action))
            .routes(routes!(set_link, heal_link))
            .routes(routes!(run_scenario))
            .routes(routes!(forward_admin))
            .merge(runs::admin_routes()),
    )
    .merge(workshop::admin_routes());
    service.fallback(dashboard(dist)).into_router(open.merge(admin).with_state(state))
}

fn row(state: &ControlState, name: &str) -> Result<ServiceStatus, ControlError> {
    state
        .table
        .get(name)
        .ok_or_else(|| ControlError::NotFound(format!("no service named {name:?}")))
}

/// Every service of the lab with its PID, health and links.
#[utoipa::path(get, path = "/api/services", tag = "control", responses(
    (status = 200, description = "Every service of the lab", body = [ServiceStatus]),
))]
async fn list_services(State(state): State<ControlState>) -> ApiJson<Vec<ServiceStatus>> {
    ApiJson(state.table.snapshot())
}

/// Send a real signal to a service's process: stop (SIGTERM), kill (SIGKILL), pause (SIGSTOP),
/// resume (SIGCONT), or restart it.
#[utoipa::path(post, path = "/api/services/{name}/{action}", tag = "control",
    params(("name" = String, Path), ("action" = inline(ProcessAction), Path, description = "stop, kill, pause, resume or restart")),
    responses(
        (status = 200, body = ActionOutcome),
        (status = 400, description = "Unknown action", body = ErrorBody),
        (status = 403, description = "Not from this machine", body = ErrorBody),
        (status = 404, description = "Unknown service", body = ErrorBody),
        (status = 409, description = "Not running", body = ErrorBody),
    ))]
async fn process_action(
    State(state): State<ControlState>,
    ApiPath((name, action)): ApiPath<(String, String)>,
) -> Result<Response, ControlError> {
    let action: ProcessAction = match action.parse() {
        Ok(action) => action,
        Err(why) => return Ok(error_response(StatusCode::BAD_REQUEST, why)),
    };
    if name == "control" {
        return Err(ControlError::Conflict(
            "the control plane does not act on itself: stop `lab up` instead".into(),
        ));
    }
    let message = state.supervisor.act(&name, action).await?;
    Ok(ApiJson(ActionOutcome { message, service: row(&state, &name)? }).into_response())
}

/// Set a fault on the link from one service to another (cut, latency, loss), in the sender.
#[utoipa::path(put, path = "/api/links/{from}/{to}", tag = "control",
    params(("from" = String, Path), ("to" = String, Path)), request_body = LinkFault,
    responses(
        (status = 200, body = ActionOutcome),
        (status = 400, body = ErrorBody),
        (status = 404, description = "No such service or link", body = ErrorBody),
        (status = 409, description = "The sender is not running", body = ErrorBody),
    ))]
async fn set_link(
    State(state): State<ControlState>,
    ApiPath((from, to)): ApiPath<(String, String)>,
    ApiJson(fault): ApiJson<LinkFault>,
) -> Result<ApiJson<ActionOutcome>, ControlError> {
    change_link(&state, &from, &to, fault).await.map(ApiJson)
}

/// Heal the link from one service to another.
#[utoipa::path(delete, path = "/api/links/{from}/{to}", tag = "control",
    params(("from" = String, Path), ("to" = String, Path)),
    responses((status = 200, body = ActionOutcome), (status = 404, body = ErrorBody)))]
async fn heal_link(
    State(state): State<ControlState>,
    ApiPath((from, to)): ApiPath<(String, String)>,
) -> Result<ApiJson<ActionOutcome>, ControlError> {
    change_link(&state, &from, &to, LinkFault::default()).await.map(ApiJson)
}

/// Ask `from` to apply `fault` on its link to `to`, and record it in the table.
pub async fn change_link(
    state: &ControlState,
    from: &str,
    to: &str,
    fault: LinkFault,
) -> Result<ActionOutcome, ControlError> {
    let sender = row(state, from)?;
    if !sender.links.iter().any(|l| l.to == to) {
        return Err(ControlError::NotFound(format!("{from} has no link to {to:?}")));
    }
    if sender.pid.is_none() {
        return Err(ControlError::Conflict(format!("{from} is not running")));
    }
    let peer = peer_key(&row(state, to)?.url);
    let url = format!("{}/admin/links/{peer}", sender.url);
    let request = if fault.is_healthy() {
        state.client.delete(&url)
    } else {
        state.client.put(&url).json(&fault)
    };
    let response = request
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .map_err(|e| ControlError::Upstream(format!("{from} did not answer: {e}")))?;
    if !response.status().is_success() {
        let body: Option<ErrorBody> = response.json().await.ok();
        return Err(ControlError::Upstream(format!(
            "{from} refused the fault: {}",
            body.map_or_else(|| "no reason given".into(), |b| b.message)
        )));
    }
    state.table.update(from, |row| {
        for link in row.links.iter_mut().filter(|l| l.to == to) {
            link.fault = fault;
        }
    });
    record_link_fault(state, from, to, fault);
    let message = if fault.is_healthy() {
        format!("link {from} → {to} healed")
    } else {
        format!("link {from} → {to}: {fault:?}")
    };
    Ok(ActionOutcome { message, service: row(state, from)? })
}

/// A link change as the history's nemesis line: `cut`, `slow`, `loss`, or `heal`.
fn record_link_fault(state: &ControlState, from: &str, to: &str, fault: LinkFault) {
    use shared::history::FaultKind;
    let kind = if fault.is_healthy() {
        FaultKind::Heal
    } else if fault.cut {
        FaultKind::Cut
    } else if fault.drop_rate > 0.0 {
        FaultKind::Loss
    } else {
        FaultKind::Slow
    };
    let fields = match serde_json::to_value(fault) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    state.recordings.fault(kind, serde_json::json!([from, to]), fields);
}

/// Relay an admin request to a service (`PUT /api/services/model-a/admin/behavior` reaches
/// model-a's `PUT /admin/behavior`): the dashboard only ever talks to the control plane, and a
/// service's own admin routes only to clients on its machine.
#[utoipa::path(method(put, post, delete), path = "/api/services/{name}/admin/{path}", tag = "control",
    params(("name" = String, Path), ("path" = String, Path)),
    request_body = serde_json::Value,
    responses(
        (status = 200, description = "The service's answer, relayed", body = serde_json::Value),
        (status = "default", description = "Whatever else the service answered (its own 4xx/5xx, relayed)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not running", body = ErrorBody),
    ))]
async fn forward_admin(
    State(state): State<ControlState>,
    method: axum::http::Method,
    ApiPath((name, path)): ApiPath<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ControlError> {
    if name == "control" {
        return Err(ControlError::Conflict(
            "the control plane has no admin routes of its own to relay to".into(),
        ));
    }
    let target = row(&state, &name)?;
    if target.pid.is_none() {
        return Err(ControlError::Conflict(format!("{name} is not running")));
    }
    let url = format!("{}/admin/{path}", target.url);
    let response = state
        .client
        .request(method, &url)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| ControlError::Upstream(format!("{name} did not answer: {e}")))?;
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = response.bytes().await.map_err(|e| ControlError::Upstream(e.to_string()))?;
    if !is_json {
        // Every service answers JSON; anything else is no answer to relay.
        return Err(ControlError::Upstream(format!(
            "{name} answered {status} without JSON ({} bytes)",
            bytes.len()
        )));
    }
    Ok((status, [(axum::http::header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// The scenarios the control plane can run.
#[utoipa::path(get, path = "/api/scenarios", tag = "control", responses((status = 200, body = [ScenarioInfo])))]
async fn list_scenarios() -> ApiJson<Vec<ScenarioInfo>> {
    ApiJson(scenarios::list())
}

/// Run a scenario — break something, measure, put it back — and answer its verdict.
#[utoipa::path(post, path = "/api/scenarios/{name}", tag = "control", params(("name" = String, Path)),
    responses(
        (status = 200, body = Verdict),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Another scenario runs, or the lab is not in shape for it", body = ErrorBody),
    ))]
async fn run_scenario(
    State(state): State<ControlState>,
    ApiPath(name): ApiPath<String>,
) -> Result<ApiJson<Verdict>, ControlError> {
    let _one_at_a_time = state
        .scenario
        .try_lock()
        .map_err(|_| ControlError::Conflict("another scenario is running".into()))?;
    state.events.emit(EventKind::Scenario, format!("scenario {name} started"));
    let verdict = scenarios::run(&name, &state).await?;
    state.events.emit(EventKind::Scenario, format!("scenario {name}: {}", verdict.verdict));
    Ok(ApiJson(verdict))
}

/// The built Yew app, with every unknown path answered by `index.html` so client-side routes
/// (`/shop`, `/sync`, ...) survive a reload — but not under `/api/`, where an unknown path is a
/// JSON 404 like on every service. Files are sent precompressed (`.br`, `.gz`, written by
/// `scripts/build-frontend.sh`) to browsers that accept it.
pub fn dashboard(dist: &Path) -> Router {
    let api = Router::new()
        .route("/api", axum::routing::any(no_such_api_route))
        .route("/api/{*rest}", axum::routing::any(no_such_api_route));
    let index = dist.join("index.html");
    if !index.is_file() {
        tracing::warn!(dist = %dist.display(), "dashboard not built: run `make run` (or trunk build --release)");
        let page = Html(
            "<h1>The dashboard is not built</h1><p>Run <code>make run</code>, which builds it with trunk \
             and starts the lab. The services' APIs work meanwhile: see <a href=\"/api/services\">/api/services</a>.</p>",
        );
        return api.fallback(move || async move { (StatusCode::SERVICE_UNAVAILABLE, page) });
    }
    let index = ServeFile::new(index).precompressed_br().precompressed_gzip();
    api.fallback_service(
        ServeDir::new(dist).precompressed_br().precompressed_gzip().fallback(index),
    )
}

async fn no_such_api_route(uri: axum::http::Uri) -> Response {
    error_response(StatusCode::NOT_FOUND, format!("no such route: {}", uri.path()))
}

/// `lab up`: start every service as a child process, serve the control plane, print the
/// dashboard's URL once every service is ready, and on Ctrl-C or SIGTERM stop the children before
/// returning. Starts nothing when one of the lab's ports is taken.
pub async fn up(config: UpConfig) -> anyhow::Result<()> {
    let mut specs = catalog::lab(&config.ports, &config.data);
    for bug in &config.bugs {
        let mut lives = specs.iter_mut().filter(|spec| spec.kind == bug.lives_in()).peekable();
        if lives.peek().is_none() {
            anyhow::bail!(crate::cli::Explained(format!(
                "{bug}: no service of the lab is a {}",
                bug.lives_in()
            )));
        }
        for spec in lives {
            spec.args.extend(["--bug".to_owned(), bug.to_string()]);
        }
        tracing::warn!(%bug, "deliberate bug switched on at start");
    }
    let listener = TcpListener::from_std(claim_ports(&config, &specs)?)?;
    let control_url = format!("http://{}", listener.local_addr()?);
    std::fs::create_dir_all(&config.data)?;

    let service = Service::new("control", ServiceKind::Control);
    let events = service.events();
    let table = ServiceTable::default();
    table.upsert(ServiceStatus {
        name: "control".to_owned(),
        kind: ServiceKind::Control,
        url: control_url.clone(),
        pid: Some(std::process::id()),
        health: Health::Up,
        last_check_ms: None,
        detail: None,
        paused: false,
        links: Vec::new(),
    });
    let client = reqwest::Client::builder().build()?;
    let recordings =
        Recordings::open(&config.data.join("recordings"), client.clone(), table.clone());
    let supervisor = Arc::new(Supervisor::new(
        std::env::current_exe()?,
        config.bind,
        table.clone(),
        events.clone(),
        recordings.clone(),
    ));
    for spec in &specs {
        if let Err(err) = supervisor.spawn(spec) {
            supervisor.shutdown(supervisor::GRACE).await;
            anyhow::bail!("could not start {}: {err}", spec.name);
        }
        tokio::spawn(relay::follow(client.clone(), spec.url(config.bind), events.clone()));
    }
    let poller = tokio::spawn(health::poll(
        table.clone(),
        client.clone(),
        config.health_interval,
        events.clone(),
    ));

    let state = ControlState {
        table: table.clone(),
        supervisor: supervisor.clone(),
        events: events.clone(),
        client: client.clone(),
        scenario: Arc::default(),
        recordings,
        workshop: workshop::Notebook::open(&config.data.join("workshop.json")),
    };
    let app = router(service, state, &config.dist);
    let dashboard_url = match config.bind {
        ip if ip.is_loopback() || ip.is_unspecified() => {
            format!("http://localhost:{}", listener.local_addr()?.port())
        }
        _ => control_url,
    };
    // The control plane answers at once (its table shows the services coming up); the URL is
    // announced when the lab is ready.
    let mut served = tokio::spawn(service::run(listener, app, service::stop_signal(events)));

    let urls = specs.iter().map(|s| (s.name.clone(), s.url(config.bind))).collect();
    let registry_url =
        specs.iter().find(|s| s.kind == ServiceKind::Registry).map(|s| s.url(config.bind));
    let readiness =
        ready::wait(&table, &client, &specs, &urls, registry_url.as_deref(), config.ready_within);
    let outcome = tokio::select! {
        ready = readiness => match ready {
            Ok(took) => {
                tracing::info!("all {} services ready in {:.1} s", specs.len(), took.as_secs_f64());
                announce(&dashboard_url);
                served.await.map_err(anyhow::Error::from).and_then(|r| r.map_err(Into::into))
            }
            Err(why) => {
                served.abort();
                Err(crate::cli::Explained(format!("the lab did not start: {why}")).into())
            }
        },
        stopped = &mut served => {
            tracing::info!("stopped while starting");
            stopped.map_err(anyhow::Error::from).and_then(|r| r.map_err(Into::into))
        }
    };
    poller.abort();
    supervisor.shutdown(supervisor::GRACE).await;
    tracing::info!("lab stopped");
    outcome
}

/// The line people and the test harness wait for: on stdout, unadorned.
fn announce(dashboard_url: &str) {
    use std::io::Write;
    tracing::info!("dashboard: {dashboard_url}");
    let _ = writeln!(std::io::stdout(), "dashboard: {dashboard_url}");
}

/// Check that every port of the lab can be had, and bind the control plane's. When one cannot,
/// fail with one line naming the service, the address and what holds it, and what to do.
fn claim_ports(
    config: &UpConfig,
    specs: &[catalog::ServiceSpec],
) -> anyhow::Result<std::net::TcpListener> {
    use ports::{Proto, Wanted};
    let mut wanted =
        vec![Wanted { service: "control".into(), port: config.ports.control, proto: Proto::Tcp }];
    wanted.extend(specs.iter().map(|s| Wanted {
        service: s.name.clone(),
        port: s.port,
        proto: Proto::Tcp,
    }));
    if config.ports.registry_dns != 0 {
        wanted.push(Wanted {
            service: "registry".into(),
            port: config.ports.registry_dns,
            proto: Proto::Udp,
        });
    }
    let mut taken = ports::unavailable(config.bind, &wanted);
    if taken.is_empty() {
        let control = SocketAddr::new(config.bind, config.ports.control);
        match std::net::TcpListener::bind(control) {
            Ok(listener) => {
                listener.set_nonblocking(true)?;
                return Ok(listener);
            }
            // Taken between the check and now.
            Err(err) => taken.push(ports::Taken {
                service: "control".into(),
                addr: control,
                proto: Proto::Tcp,
                why: err.to_string(),
                holder: ports::holder(Proto::Tcp, config.ports.control),
            }),
        }
    }
    let first = &taken[0];
    let mut line = first.to_string();
    if taken.len() > 1 {
        let rest: Vec<String> =
            taken[1..].iter().map(|t| format!("{} {}", t.service, t.addr.port())).collect();
        line.push_str(&format!(
            "; {} more of the lab's ports are taken ({})",
            rest.len(),
            rest.join(", ")
        ));
    }
    let moved = if first.service == "control" {
        "--port <port>".to_owned()
    } else {
        format!("--ports {}=<port>", first.service)
    };
    Err(crate::cli::Explained(format!(
        "{line}. Nothing was started. Stop what holds it (another `lab up`?), or start this lab with \
         --free-ports (ports the OS picks) or {moved}"
    ))
    .into())
}
