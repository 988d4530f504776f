//! The redundant shop fronts: synchronous mirroring (3010) and asynchronous replication (3020).
//!
//! Both serve the shop's routes by forwarding them to the primary store process — the very shop
//! code servers A and B run, no copy — and keep a mirror store up to date from the primary's
//! change log:
//! - **sync** (`lab serve mirroring`): a write is answered only once the mirror has applied it
//!   (both commits fsync'd); if the mirror cannot confirm in time, the client gets a 503 and the
//!   write is not acknowledged (the primary keeps it, and the mirror catches up from the log when
//!   it returns). Zero RPO for acknowledged writes.
//! - **async** (`lab serve replication`): a write is answered once the primary committed it and
//!   its log entry (one transaction); the log is shipped on `POST /sync` or every `--interval-ms`.
//!
//! Reads go to the primary, or to the mirror while the primary is unreachable. `GET /replication`
//! reports what `pg_stat_replication` would; `POST /failover` promotes the mirror and says how
//! many acknowledged entries were lost.

mod replicator;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde::Deserialize;
use shared::replication::{FailoverReport, ReplicationStatus, StoreDiff, StoreState};
use shared::shop::Product;
use shared::{ErrorBody, EventKind, ServiceKind};
use tokio::sync::{watch, Notify};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::{error_response, now_ms, ApiJson, ApiQuery, EventBus, LinkFaults, Service};
use crate::shop::routes::CHANGE_SEQ;

/// Which guarantee the front gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Sync,
    Async,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Async => "async",
        }
    }
}

/// How a front runs.
#[derive(Debug, Clone)]
pub struct FrontConfig {
    pub mode: Mode,
    pub primary: String,
    pub mirror: String,
    /// Async: ship every this often (zero: only on `POST /sync`, the workshop's mode).
    pub interval: Duration,
    /// Sync: how long a write waits for the mirror before it is refused.
    pub mirror_timeout: Duration,
}

/// The front's state; cheap to clone.
#[derive(Debug, Clone)]
pub struct Front {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    interval: Duration,
    mirror_timeout: Duration,
    client: reqwest::Client,
    events: EventBus,
    links: LinkFaults,
    primary: RwLock<String>,
    mirror: RwLock<Option<String>>,
    /// The store that was primary before a failover, to be rebuilt as the mirror.
    former: RwLock<Option<String>>,
    /// The mirror's last applied seq, as last seen (writers wait on it in sync mode).
    mirrored: watch::Sender<u64>,
    /// The primary's last seq, as last seen.
    primary_seq: AtomicU64,
    /// The highest seq acknowledged to a client.
    acked: AtomicU64,
    last_sync_ms: AtomicU64,
    /// Wakes the sync replicator: a write waits to be mirrored.
    kick: Notify,
    /// One shipping round at a time.
    shipping: tokio::sync::Mutex<()>,
    /// When requests to the primary started failing (for the RTO).
    primary_down_since: Mutex<Option<Instant>>,
    mirror_up: std::sync::atomic::AtomicBool,
    /// The lag last reported while the primary answered.
    lag_before: AtomicU64,
}

impl Front {
    pub fn new(config: &FrontConfig, service: &Service) -> Self {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("an HTTP client with default settings");
        Self {
            inner: Arc::new(Inner {
                mode: config.mode,
                interval: config.interval,
                mirror_timeout: config.mirror_timeout,
                client,
                events: service.events(),
                links: service.links(),
                primary: RwLock::new(config.primary.trim_end_matches('/').to_owned()),
                mirror: RwLock::new(Some(config.mirror.trim_end_matches('/').to_owned())),
                former: RwLock::new(None),
                mirrored: watch::channel(0).0,
                primary_seq: AtomicU64::new(0),
                acked: AtomicU64::new(0),
                last_sync_ms: AtomicU64::new(0),
                kick: Notify::new(),
                shipping: tokio::sync::Mutex::new(()),
                primary_down_since: Mutex::new(None),
                mirror_up: std::sync::atomic::AtomicBool::new(true),
                lag_before: AtomicU64::new(0),
            }),
        }
    }

    pub fn primary(&self) -> String {
        self.inner.primary.read().expect("front lock poisoned").clone()
    }

    pub fn mirror(&self) -> Option<String> {
        self.inner.mirror.read().expect("front lock poisoned").clone()
    }

    fn primary_answered(&self) {
        *self.inner.primary_down_since.lock().expect("front lock poisoned") = None;
    }

    fn primary_failed(&self) {
        let mut since = self.inner.primary_down_since.lock().expect("front lock poisoned");
        if since.is_none() {
            *since = Some(Instant::now());
            self.inner
                .events
                .emit(EventKind::Lag, format!("primary {} unreachable", self.primary()));
        }
    }

    /// Send a request to a store, through the link to it.
    async fn send(
        &self,
        store: &str,
        method: Method,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, String> {
        self.inner.links.pass(store).await.map_err(|e| e.to_string())?;
        let mut request = self
            .inner
            .client
            .request(method, format!("{store}{path}"))
            .timeout(Duration::from_secs(5))
            .body(body);
        if let Some(kind) = headers.get(axum::http::header::CONTENT_TYPE) {
            request = request.header(axum::http::header::CONTENT_TYPE, kind);
        }
        request.send().await.map_err(|e| {
            if e.is_connect() {
                "connection refused".to_owned()
            } else {
                e.to_string()
            }
        })
    }

    /// A store's state, or why it could not be had.
    async fn state_of(&self, store: &str) -> Result<StoreState, String> {
        self.inner.links.pass(store).await.map_err(|e| e.to_string())?;
        let response = self
            .inner
            .client
            .get(format!("{store}/replication/state"))
            .timeout(Duration::from_millis(800))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        response.json().await.map_err(|e| e.to_string())
    }

    /// `GET /replication`.
    pub async fn status(&self) -> ReplicationStatus {
        let (primary, mirror) = (self.primary(), self.mirror());
        let (p, m) = tokio::join!(self.state_of(&primary), async {
            match &mirror {
                Some(url) => Some(self.state_of(url).await),
                None => None,
            }
        });
        if let Ok(state) = &p {
            self.inner.primary_seq.fetch_max(state.last_seq, Ordering::SeqCst);
        }
        if let Some(Ok(state)) = &m {
            self.inner.mirrored.send_if_modified(|seen| {
                let changed = *seen != state.last_seq;
                *seen = state.last_seq;
                changed
            });
        }
        let primary_seq = self
            .inner
            .primary_seq
            .load(Ordering::SeqCst)
            .max(self.inner.acked.load(Ordering::SeqCst));
        let mirror_seq = *self.inner.mirrored.borrow();
        let lag_entries = primary_seq.saturating_sub(mirror_seq);
        let mut lag_ms = 0;
        if lag_entries > 0 && p.is_ok() {
            let path = format!("/replication/changes?after={mirror_seq}&limit=1");
            if let Ok(response) =
                self.send(&primary, Method::GET, &path, &HeaderMap::new(), Bytes::new()).await
            {
                if let Ok(oldest) = response.json::<Vec<shared::replication::LoggedChange>>().await
                {
                    lag_ms = oldest.first().map_or(0, |c| now_ms().saturating_sub(c.at_ms));
                }
            }
        }
        if p.is_ok() {
            self.inner.lag_before.store(lag_entries, Ordering::SeqCst);
            self.primary_answered();
        } else {
            self.primary_failed();
        }
        let state = match (&p, &m) {
            (_, None) => "no-mirror",
            (Err(_), _) => "primary-down",
            (_, Some(Err(_))) => "mirror-down",
            _ if lag_entries == 0 => "caught-up",
            _ if self.inner.mode == Mode::Sync || !self.inner.interval.is_zero() => "streaming",
            _ => "behind",
        };
        let last_sync = self.inner.last_sync_ms.load(Ordering::SeqCst);
        ReplicationStatus {
            mode: self.inner.mode.as_str().to_owned(),
            primary,
            mirror,
            primary_seq,
            mirror_seq,
            lag_entries,
            lag_ms,
            last_sync_ms: (last_sync > 0).then_some(last_sync),
            state: state.to_owned(),
            interval_ms: self.inner.interval.as_millis() as u64,
            acked_seq: self.inner.acked.load(Ordering::SeqCst),
            primary_up: p.is_ok(),
            mirror_up: matches!(m, Some(Ok(_))),
        }
    }

    /// Promote the mirror (the primary must be unreachable unless `force`).
    pub async fn failover(&self, force: bool) -> Result<FailoverReport, (StatusCode, String)> {
        let Some(mirror) = self.mirror() else {
            return Err((StatusCode::CONFLICT, "there is no mirror to promote".into()));
        };
        let primary = self.primary();
        if !force && self.state_of(&primary).await.is_ok() {
            return Err((
                StatusCode::CONFLICT,
                format!("the primary {primary} still answers: stop it first, or add ?force=true"),
            ));
        }
        let _shipping = self.inner.shipping.lock().await;
        let promoted = self
            .send(&mirror, Method::POST, "/replication/promote", &HeaderMap::new(), Bytes::new())
            .await;
        let state: StoreState = match promoted {
            Ok(response) if response.status().is_success() => {
                response.json().await.map_err(|e| (StatusCode::BAD_GATEWAY, e.to_string()))?
            }
            Ok(response) => {
                return Err((
                    StatusCode::BAD_GATEWAY,
                    format!("the mirror refused: {}", response.status()),
                ))
            }
            Err(why) => {
                return Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the mirror is unreachable: {why}"),
                ))
            }
        };
        let known = self
            .inner
            .primary_seq
            .load(Ordering::SeqCst)
            .max(self.inner.acked.load(Ordering::SeqCst));
        let report = FailoverReport {
            promoted: mirror.clone(),
            entries_lost: known.saturating_sub(state.last_seq),
            lag_before: self.inner.lag_before.load(Ordering::SeqCst),
            rto_ms: self
                .inner
                .primary_down_since
                .lock()
                .expect("front lock poisoned")
                .map(|t| t.elapsed().as_millis() as u64),
        };
        *self.inner.former.write().expect("front lock poisoned") = Some(primary);
        *self.inner.primary.write().expect("front lock poisoned") = mirror.clone();
        *self.inner.mirror.write().expect("front lock poisoned") = None;
        self.inner.primary_seq.store(state.last_seq, Ordering::SeqCst);
        self.inner.acked.store(state.last_seq, Ordering::SeqCst);
        self.primary_answered();
        let message = format!(
            "failover: {mirror} promoted; {} acknowledged entries lost",
            report.entries_lost
        );
        tracing::warn!("{message}");
        self.inner.events.emit(EventKind::Lag, message);
        Ok(report)
    }

    /// After a failover: wipe the former primary and make it the mirror again.
    pub async fn rebuild(&self) -> Result<ReplicationStatus, (StatusCode, String)> {
        let Some(former) = self.inner.former.read().expect("front lock poisoned").clone() else {
            return Err((StatusCode::CONFLICT, "nothing to rebuild: no failover happened".into()));
        };
        let reset = self
            .send(&former, Method::POST, "/replication/reset", &HeaderMap::new(), Bytes::new())
            .await;
        match reset {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                return Err((
                    StatusCode::BAD_GATEWAY,
                    format!("{former} refused the reset: {}", response.status()),
                ))
            }
            Err(why) => {
                return Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{former} is unreachable: {why}"),
                ))
            }
        }
        *self.inner.mirror.write().expect("front lock poisoned") = Some(former.clone());
        *self.inner.former.write().expect("front lock poisoned") = None;
        self.inner.mirrored.send_replace(0);
        self.inner
            .events
            .emit(EventKind::Lag, format!("{former} reset: rebuilding it as the mirror"));
        let _ = self.ship_until_caught_up(Duration::from_secs(30)).await;
        Ok(self.status().await)
    }

    async fn diff(&self) -> StoreDiff {
        let products = |store: Option<String>| async move {
            let store = store?;
            let response = self
                .send(&store, Method::GET, "/products", &HeaderMap::new(), Bytes::new())
                .await
                .ok()?;
            response.json::<Vec<Product>>().await.ok()
        };
        let state = |store: Option<String>| async move { self.state_of(&store?).await.ok() };
        let (p_state, m_state, p_products, m_products) = tokio::join!(
            state(Some(self.primary())),
            state(self.mirror()),
            products(Some(self.primary())),
            products(self.mirror())
        );
        let (p_products, m_products) =
            (p_products.unwrap_or_default(), m_products.unwrap_or_default());
        let find = |list: &[Product], id: u64| list.iter().find(|x| x.id == id).cloned();
        StoreDiff {
            primary: p_state,
            mirror: m_state,
            missing_on_mirror: p_products
                .iter()
                .filter(|p| find(&m_products, p.id).is_none())
                .map(|p| p.id)
                .collect(),
            extra_on_mirror: m_products
                .iter()
                .filter(|m| find(&p_products, m.id).is_none())
                .map(|m| m.id)
                .collect(),
            different: p_products
                .iter()
                .filter(|p| find(&m_products, p.id).is_some_and(|m| m != **p))
                .map(|p| p.id)
                .collect(),
        }
    }
}

/// Forward a shop request: to the primary, or — for reads — to the mirror when the primary is
/// unreachable. In sync mode a write is answered only once the mirror has it.
async fn proxy(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path =
        uri.path_and_query().map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let write = method != Method::GET && method != Method::HEAD;
    let primary = front.primary();
    let (response, served_by) = match front
        .send(&primary, method.clone(), &path, &headers, body.clone())
        .await
    {
        Ok(response) => {
            front.primary_answered();
            (response, "primary")
        }
        Err(why) => {
            front.primary_failed();
            let mirror = front.mirror();
            match (write, mirror) {
                (false, Some(mirror)) => match front
                    .send(&mirror, method, &path, &headers, body)
                    .await
                {
                    Ok(response) => (response, "mirror"),
                    Err(also) => {
                        return error_response(
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("primary unreachable ({why}) and mirror unreachable ({also})"),
                        );
                    }
                },
                (true, _) => {
                    return error_response(StatusCode::SERVICE_UNAVAILABLE, format!("the primary is unreachable ({why}): writes need it (POST /failover promotes the mirror)"));
                }
                (false, None) => {
                    return error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("the primary is unreachable ({why})"),
                    )
                }
            }
        }
    };
    // reqwest and axum share the `http` crate: status and headers pass through as they are.
    let status = response.status();
    let seq = response.headers().get(CHANGE_SEQ).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let content_type = response.headers().get(reqwest::header::CONTENT_TYPE).cloned();
    let bytes = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(err) => {
            return error_response(
                StatusCode::BAD_GATEWAY,
                format!("the store's answer was cut: {err}"),
            )
        }
    };
    if let (true, Some(seq)) = (status.is_success(), seq) {
        front.inner.primary_seq.fetch_max(seq, Ordering::SeqCst);
        if front.inner.mode == Mode::Sync {
            if let Err(why) = front.wait_mirrored(seq).await {
                return error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not acknowledged: the mirror did not confirm ({why}); the primary holds it as seq {seq} and the mirror will catch up from the change log"),
                );
            }
        }
        front.inner.acked.fetch_max(seq, Ordering::SeqCst);
    }
    let mut answer = (status, bytes).into_response();
    if let Some(kind) = content_type {
        answer.headers_mut().insert(axum::http::header::CONTENT_TYPE, kind);
    }
    answer.headers_mut().insert("x-served-by", HeaderValue::from_static(served_by));
    if let Some(seq) = seq {
        answer.headers_mut().insert(CHANGE_SEQ, HeaderValue::from(seq));
    }
    answer
}

pub fn service(name: &str, mode: Mode) -> Service {
    Service::new(
        name,
        if mode == Mode::Sync { ServiceKind::Mirroring } else { ServiceKind::Replication },
    )
}

/// The front's router: the shop's routes (forwarded) plus replication control.
pub fn router(service: Service, front: Front) -> Router {
    let shop = Router::new()
        .route("/products", any(proxy))
        .route("/products/{*rest}", any(proxy))
        .route("/orders", any(proxy))
        .route("/orders/{*rest}", any(proxy))
        .route("/cart/{*rest}", any(proxy))
        .with_state(front.clone());
    let control = OpenApiRouter::with_openapi(crate::shop::openapi())
        .routes(routes!(status))
        .routes(routes!(sync))
        .routes(routes!(failover))
        .routes(routes!(rebuild))
        .routes(routes!(diff))
        .with_state(front);
    // Sync, failover and rebuild change roles and data: no foreign page may (the shop's own
    // routes keep the workshop's open CORS).
    let control = crate::service::lab_only(control);
    service.into_router(control.merge(OpenApiRouter::from(shop)))
}

/// Primary and mirror positions, lag in entries and milliseconds, state.
#[utoipa::path(get, path = "/replication", tag = "replication", responses((status = 200, body = ReplicationStatus)))]
async fn status(State(front): State<Front>) -> ApiJson<ReplicationStatus> {
    ApiJson(front.status().await)
}

/// Ship the change log to the mirror now; answers once the mirror has caught up.
#[utoipa::path(post, path = "/sync", tag = "replication", responses(
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
    (status = 200, body = ReplicationStatus),
    (status = 503, description = "Primary or mirror unreachable", body = ErrorBody),
))]
async fn sync(State(front): State<Front>) -> Response {
    match front.ship_until_caught_up(Duration::from_secs(30)).await {
        Ok(shipped) => {
            front
                .inner
                .events
                .emit(EventKind::Lag, format!("sync: {shipped} changes shipped, mirror caught up"));
            ApiJson(front.status().await).into_response()
        }
        Err(why) => error_response(StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FailoverQuery {
    /// Promote even though the primary still answers (two primaries: the old one must stop).
    #[serde(default)]
    force: bool,
}

/// Promote the mirror to primary; report the acknowledged entries lost and the time to recover.
#[utoipa::path(post, path = "/failover", tag = "replication", params(FailoverQuery), responses(
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
    (status = 200, body = FailoverReport),
    (status = 409, body = ErrorBody),
    (status = 503, body = ErrorBody),
))]
async fn failover(
    State(front): State<Front>,
    ApiQuery(query): ApiQuery<FailoverQuery>,
) -> Response {
    match front.failover(query.force).await {
        Ok(report) => ApiJson(report).into_response(),
        Err((status, why)) => error_response(status, why),
    }
}

/// After a failover: wipe the former primary and rebuild it as the mirror from the new primary.
#[utoipa::path(post, path = "/rebuild", tag = "replication", responses(
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
    (status = 200, body = ReplicationStatus),
    (status = 409, body = ErrorBody),
))]
async fn rebuild(State(front): State<Front>) -> Response {
    match front.rebuild().await {
        Ok(status) => ApiJson(status).into_response(),
        Err((status, why)) => error_response(status, why),
    }
}

/// Row counts, positions and the product ids that differ between primary and mirror.
#[utoipa::path(get, path = "/replication/diff", tag = "replication", responses((status = 200, body = StoreDiff)))]
async fn diff(State(front): State<Front>) -> ApiJson<StoreDiff> {
    ApiJson(front.diff().await)
}
