//! What makes a process a lab service.
//!
//! Every service (model, shop, registry, sync node, control plane, ...) hands its own routes to
//! [`Service::into_router`] and gets, without writing them again:
//! - `GET /health` — a [`HealthReport`], 503 when the service's own probe fails;
//! - `GET /metrics` — request counts and latencies in the Prometheus/OpenMetrics text format,
//!   plus whatever the service registered itself;
//! - `GET /openapi.json` — the OpenAPI document of its routes, generated from the handlers;
//! - CORS open to the dashboard, a request-body limit, a request timeout, JSON 404/405 answers
//!   and request tracing.
//!
//! [`run`] then serves the router on a listener until the shutdown future resolves;
//! [`process`] has what a service started as its own process (`lab serve`) shares: the common
//! flags and serving until Ctrl-C or SIGTERM.

pub mod address;
pub mod admin;
pub mod bugs;
mod cors;
pub mod error;
pub mod events;
pub mod links;
mod metrics;
mod observe;
pub mod openapi;
pub mod outgoing;
mod probe;
pub mod process;
pub mod recorder;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use shared::{HealthReport, ServiceKind};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use bugs::Bugs;
pub use error::{error_response, ApiJson, ApiPath, ApiQuery, Rejection};
pub use events::EventBus;
pub use links::{LinkError, LinkFaults};
pub use outgoing::{CallError, Outgoing};
pub use probe::{check_health, now_ms};
pub use process::CommonArgs;
pub use recorder::Recorder;

/// Default largest request body a service accepts: plenty for any form of the lab, small enough
/// that a flood of huge bodies cannot exhaust memory.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// How long one request may take before the service answers 408 and frees the connection.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A service's own readiness check, run by `GET /health` (e.g. "can I read my database?").
pub type HealthProbe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The identity and shared plumbing of one service, before its router is built.
pub struct Service {
    name: String,
    kind: ServiceKind,
    started: Instant,
    /// Metrics of the service itself; the HTTP metrics are added by [`Service::into_router`].
    registry: Registry,
    body_limit: usize,
    probe: Option<HealthProbe>,
    /// What answers paths no route matches; a JSON 404 unless set (the control plane serves the
    /// dashboard's files there).
    fallback: Option<Router>,
    /// What the service reports happening (`GET /events`).
    events: EventBus,
    /// Faults on the service's outgoing links (`/admin/links`).
    links: LinkFaults,
    /// Deliberate protocol bugs switched on (`/admin/bugs`, `--bug`).
    bugs: Bugs,
    /// Its part of the lab's recorded history (`/admin/recording`).
    recorder: Recorder,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("name", &self.name).field("kind", &self.kind).finish()
    }
}

impl Service {
    pub fn new(name: impl Into<String>, kind: ServiceKind) -> Self {
        let name = name.into();
        Self {
            name: name.clone(),
            kind,
            started: Instant::now(),
            registry: Registry::with_prefix("lab"),
            body_limit: DEFAULT_BODY_LIMIT,
            probe: None,
            fallback: None,
            events: EventBus::new(&name),
            links: LinkFaults::default(),
            bugs: Bugs::default(),
            recorder: Recorder::new(&name),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Accept request bodies up to `bytes` (larger ones get a 413 JSON error).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Make `GET /health` answer 503 with the probe's message whenever the probe fails.
    pub fn health_probe(mut self, probe: HealthProbe) -> Self {
        self.probe = Some(probe);
        self
    }

    /// Answer unmatched paths with `fallback` instead of a JSON 404.
    pub fn fallback(mut self, fallback: Router) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// Where the service publishes its events (served on `GET /events`).
    pub fn events(&self) -> EventBus {
        self.events.clone()
    }

    /// The deliberate bugs switched on in this service (its protocols ask it where they bite).
    pub fn bugs(&self) -> Bugs {
        self.bugs.clone()
    }

    /// Start with these deliberate bugs on (`--bug`); a bug of another kind of service is refused.
    pub fn with_bugs(self, bugs: &[shared::bugs::Bug]) -> Result<Self, String> {
        for bug in bugs {
            bug.switchable_in(self.kind)?;
            tracing::warn!(%bug, "deliberate bug switched on at start");
            self.bugs.set(*bug, true);
        }
        Ok(self)
    }

    /// The faults on the service's links, as `/admin/links` sets them (calls to peers go
    /// through [`Service::outgoing`], which applies them).
    pub fn links(&self) -> LinkFaults {
        self.links.clone()
    }

    /// The service's client for its peers (through its link faults), with a pool of
    /// `idle_per_host` keep-alive connections per peer.
    pub fn outgoing(&self, idle_per_host: usize) -> Outgoing {
        Outgoing::pooled(idle_per_host, self.links.clone(), self.recorder.clone())
    }

    /// What the service records while the lab records: its messages (through
    /// [`Service::outgoing`] and the routes' middleware) and the notes it makes here.
    pub fn recorder(&self) -> Recorder {
        self.recorder.clone()
    }

    /// Where the service registers metrics of its own, exported by `GET /metrics`.
    pub fn metrics(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Wrap the service's routes with the plumbing every service shares.
    pub fn into_router(self, routes: OpenApiRouter) -> Router {
        let Service {
            name,
            kind,
            started,
            mut registry,
            body_limit,
            probe,
            fallback,
            events,
            links,
            bugs,
            recorder,
        } = self;
        let identity = Arc::new(Identity { name, kind, started, probe, bugs: bugs.clone() });

        let own = OpenApiRouter::new().routes(routes!(health)).with_state(identity.clone());
        let link_admin = guarded(
            OpenApiRouter::new()
                .routes(routes!(links::list))
                .routes(routes!(links::set, links::heal))
                .with_state(links::LinkAdmin { faults: links, events: events.clone() }),
        );
        let bug_admin = guarded(
            OpenApiRouter::new()
                .routes(routes!(bugs::list))
                .routes(routes!(bugs::switch_on, bugs::switch_off))
                .with_state(bugs::BugAdmin { bugs, kind, events: events.clone() }),
        );
        let recording = guarded(
            OpenApiRouter::new()
                .routes(routes!(recorder::start, recorder::stop))
                .routes(routes!(recorder::events))
                .with_state(recorder.clone()),
        );
        let (router, mut openapi) =
            routes.merge(own).merge(link_admin).merge(bug_admin).merge(recording).split_for_parts();
        openapi.info = utoipa::openapi::InfoBuilder::new()
            .title(format!("lab {} ({})", identity.name, identity.kind))
            .description(Some(format!(
                "The {} service of the distributed computing lab.",
                identity.kind
            )))
            .version(env!("CARGO_PKG_VERSION"))
            .build();
        openapi::document_plumbing(&mut openapi);
        let http = metrics::HttpMetrics::register(&mut registry, documented_routes(&openapi));
        let openapi = Arc::new(openapi);
        let registry = Arc::new(registry);

        let event_routes = Router::new()
            .route("/events", get(events::stream))
            .route("/events/recent", get(events::recent))
            .with_state(events);
        let router = router
            .merge(event_routes)
            .route_layer(observe::ObserveLayer { metrics: http, recorder })
            .route("/openapi.json", get(move || async move { Json(openapi.as_ref().clone()) }))
            .route("/metrics", get(move || async move { render_metrics(&registry) }));
        let router = match fallback {
            Some(fallback) => router.fallback_service(fallback),
            None => {
                router.fallback(|| async { error_response(StatusCode::NOT_FOUND, "no such route") })
            }
        };
        let router = router
            .method_not_allowed_fallback(|| async {
                error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this route")
            })
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
            .layer(DefaultBodyLimit::max(body_limit))
            .layer(cors::PageCorsLayer::permissive());
        // A span per request only when someone reads them (`RUST_LOG=tower_http=debug`): the
        // layer costs a sixth of a small route's throughput even with its level off.
        if tracing::enabled!(target: "tower_http::trace::on_request", tracing::Level::DEBUG) {
            router.layer(TraceLayer::new_for_http())
        } else {
            router
        }
    }
}

/// Admin routes: only clients the [`admin::AdminPolicy`] allows at [`admin::Scope::Admin`]
/// (this machine, no foreign page or host) reach them. Their operations are documented with the
/// 403 the guard answers and tagged [`openapi::ADMIN_TAG`].
pub fn guarded<S: Clone + Send + Sync + 'static>(mut routes: OpenApiRouter<S>) -> OpenApiRouter<S> {
    openapi::document_guard(
        routes.get_openapi_mut(),
        admin::Scope::Admin,
        Some(openapi::ADMIN_TAG),
    );
    routes.route_layer(admin::GuardLayer::new(admin::Scope::Admin))
}

/// Routes that change the lab (topology, roles, membership, modes): any client, but no web
/// page of a foreign origin and no foreign `Host` ([`admin::Scope::Changes`]). Only requests
/// that change something are checked: GET routes in `routes` stay open to every page.
pub fn lab_only<S: Clone + Send + Sync + 'static>(routes: OpenApiRouter<S>) -> OpenApiRouter<S> {
    guard_changes(routes, None)
}

/// Routes only the lab's own services call on each other (Paxos messages, CRDT merges): guarded
/// as [`lab_only`], and tagged [`openapi::PEER_TAG`] in the document.
pub fn peer_only<S: Clone + Send + Sync + 'static>(routes: OpenApiRouter<S>) -> OpenApiRouter<S> {
    guard_changes(routes, Some(openapi::PEER_TAG))
}

fn guard_changes<S: Clone + Send + Sync + 'static>(
    mut routes: OpenApiRouter<S>,
    tag: Option<&str>,
) -> OpenApiRouter<S> {
    openapi::document_guard(routes.get_openapi_mut(), admin::Scope::Changes, tag);
    routes.route_layer(admin::GuardLayer::new(admin::Scope::Changes))
}

/// How long in-flight requests get to finish once a service is asked to stop.
pub const DRAIN: Duration = Duration::from_secs(3);

/// Serve `app` on `listener` until `shutdown` resolves, then let in-flight requests finish
/// (for at most [`DRAIN`]).
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "listening");
    // The peer's address is kept for the admin guard (loopback only).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let (draining, drain_started) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = draining.send(());
    });
    let limit = async move {
        if drain_started.await.is_ok() {
            tokio::time::sleep(DRAIN).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = server => served,
        () = limit => {
            tracing::warn!("requests still open {DRAIN:?} after the stop: closing them");
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, after closing `events`' open streams.
pub async fn stop_signal(events: EventBus) {
    shutdown_signal().await;
    events.close();
}

/// Resolves on Ctrl-C or SIGTERM: how a lab process is asked to stop.
pub async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C received, shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// Who is answering `GET /health`.
struct Identity {
    name: String,
    kind: ServiceKind,
    started: Instant,
    probe: Option<HealthProbe>,
    bugs: Bugs,
}

/// Is the service up and able to do its work?
#[utoipa::path(get, path = "/health", tag = "plumbing", responses(
    (status = 200, description = "The service is up", body = HealthReport),
    (status = 503, description = "Up, but its own check failed", body = HealthReport),
))]
async fn health(State(id): State<Arc<Identity>>) -> Response {
    let verdict = match &id.probe {
        Some(probe) => probe().await,
        None => Ok(()),
    };
    let (status, text) = match verdict {
        Ok(()) => (StatusCode::OK, "ok".to_owned()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    };
    let report = HealthReport {
        service: id.name.clone(),
        kind: id.kind,
        status: text,
        pid: std::process::id(),
        uptime_s: id.started.elapsed().as_secs_f64(),
        bugs: id.bugs.list(),
    };
    (status, Json(report)).into_response()
}

fn render_metrics(registry: &Registry) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, registry) {
        Ok(()) => (
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(%err, "encoding metrics");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "could not encode metrics")
        }
    }
}

/// Every route `openapi` documents, with its methods (the metrics' counters are made for these
/// at start).
fn documented_routes(
    openapi: &utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (&str, Vec<axum::http::Method>)> {
    use axum::http::Method;
    openapi.paths.paths.iter().map(|(path, item)| {
        let operations = [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PUT, &item.put),
            (Method::DELETE, &item.delete),
            (Method::PATCH, &item.patch),
            (Method::HEAD, &item.head),
            (Method::OPTIONS, &item.options),
        ];
        let methods = operations.into_iter().filter(|(_, op)| op.is_some()).map(|(m, _)| m);
        (path.as_str(), methods.collect())
    })
}
