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
//!
//! Which store is the primary is the stores' to say: each keeps its role on disk (a promoted
//! mirror stays primary across restarts) and reports it. The front asks both at start and every
//! [`ROLE_ROUND`] (and on every `GET /replication`), and decides as [`roles`] describes — the
//! `--primary`/`--mirror` flags only name the two stores and give the first guess. Two stores
//! that claim the same role stop writes (503, naming the fix) until someone resolves it.

mod error;
mod replicator;
pub mod roles;
mod serve;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde::Deserialize;
use shared::replication::{
    FailoverReport, ReplicationState, ReplicationStatus, StoreDiff, StorePosition, StoreState,
};
use shared::shop::Product;
use shared::{ErrorBody, EventKind, ServiceKind};
use tokio::sync::{watch, Notify};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::{now_ms, ApiJson, ApiQuery, Bugs, EventBus, Outgoing, Service};
use crate::shop::routes::CHANGE_SEQ;
pub use error::FrontError;
use roles::{Assignment, Report, Roles, Slot};
pub use serve::{serve_mirroring, serve_replication, MirroringArgs, ReplicationArgs};

/// How often the front asks its stores what they are (each request bounded by
/// [`ROLE_TIMEOUT`]).
pub const ROLE_ROUND: Duration = Duration::from_millis(500);

/// How long a store gets to say what it is, before it counts as unreachable for that round.
const ROLE_TIMEOUT: Duration = Duration::from_millis(800);

/// Which guarantee the front gives.
pub use shared::replication::ReplicationMode as Mode;

/// How a front runs.
#[derive(Debug, Clone)]
pub struct FrontConfig {
    pub mode: Mode,
    /// One of the two stores (`--primary`): the primary until the stores say otherwise.
    pub primary: String,
    /// The other store (`--mirror`): the mirror until the stores say otherwise.
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
    /// Calls to the stores, through this front's links.
    client: Outgoing,
    events: EventBus,
    /// Notes for the recorded history (its failovers).
    recorder: crate::service::Recorder,
    /// Deliberate bugs switched on (`/admin/bugs`).
    bugs: Bugs,
    /// The two stores, in the flags' order (`--primary` first); which is which, `roles` says.
    stores: [String; 2],
    /// Who is primary, as last decided from what the stores say (and this front's failover).
    roles: RwLock<RoleState>,
    /// Held while this front changes roles itself (failover, rebuild): a health round that
    /// asked the stores before must not undo it.
    role_change: tokio::sync::Mutex<()>,
    /// Whether a store has said what it is yet: until one has, each request asks first (bounded
    /// by [`ROLE_TIMEOUT`]) rather than follow the flags' guess blindly.
    heard: AtomicBool,
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
    mirror_up: AtomicBool,
    /// The lag last reported while the primary answered.
    lag_before: AtomicU64,
}

/// The roles, and which change of this front's own they follow.
#[derive(Debug)]
struct RoleState {
    roles: Roles,
    /// Bumped by each failover or rebuild: a round's answers from an older epoch are stale.
    epoch: u64,
}

impl Front {
    pub fn new(config: &FrontConfig, service: &Service) -> Self {
        let client = service.outgoing(64);
        Self {
            inner: Arc::new(Inner {
                mode: config.mode,
                interval: config.interval,
                mirror_timeout: config.mirror_timeout,
                client,
                events: service.events(),
                recorder: service.recorder(),
                bugs: service.bugs(),
                stores: [&config.primary, &config.mirror]
                    .map(|url| url.trim_end_matches('/').to_owned()),
                roles: RwLock::new(RoleState { roles: Roles::guess(), epoch: 0 }),
                role_change: tokio::sync::Mutex::new(()),
                heard: AtomicBool::new(false),
                mirrored: watch::channel(0).0,
                primary_seq: AtomicU64::new(0),
                acked: AtomicU64::new(0),
                last_sync_ms: AtomicU64::new(0),
                kick: Notify::new(),
                shipping: tokio::sync::Mutex::new(()),
                primary_down_since: Mutex::new(None),
                mirror_up: AtomicBool::new(true),
                lag_before: AtomicU64::new(0),
            }),
        }
    }

    /// A store's URL.
    fn url(&self, slot: Slot) -> &str {
        &self.inner.stores[slot.index()]
    }

    fn urls(&self) -> [&str; 2] {
        [self.url(Slot::First), self.url(Slot::Second)]
    }

    /// The roles as last decided.
    pub fn roles(&self) -> Roles {
        self.inner.roles.read().expect("front lock poisoned").roles
    }

    fn epoch(&self) -> u64 {
        self.inner.roles.read().expect("front lock poisoned").epoch
    }

    /// Set roles this front decided itself (failover, rebuild); the caller holds `role_change`.
    fn set_roles(&self, roles: Roles) {
        let mut state = self.inner.roles.write().expect("front lock poisoned");
        state.roles = roles;
        state.epoch += 1;
        self.inner.heard.store(true, Ordering::SeqCst);
    }

    /// The primary's URL, or why there is no store to write to.
    fn writable(&self) -> Result<String, String> {
        let roles = self.roles();
        match (roles.primary(), roles.conflict()) {
            (Some(primary), _) => Ok(self.url(primary).to_owned()),
            (None, Some(conflict)) => Err(conflict.explain(self.urls())),
            (None, None) => unreachable!("roles without a primary are a conflict"),
        }
    }

    /// The primary and the mirror to ship to, or why there is no shipping now.
    pub(super) fn shipping_pair(&self) -> Result<(String, String), String> {
        if !self.inner.heard.load(Ordering::SeqCst) {
            // On the flags' guess alone the front might ship a mirror's log to the primary.
            return Err("no store has said what it is yet".into());
        }
        let roles = self.roles();
        match roles.assignment {
            Assignment::Known { primary, mirror: Some(mirror) } => {
                Ok((self.url(primary).to_owned(), self.url(mirror).to_owned()))
            }
            Assignment::Known { mirror: None, .. } => Err("there is no mirror".into()),
            Assignment::Conflict(conflict) => Err(conflict.explain(self.urls())),
        }
    }

    /// What the front calls a store in `x-served-by`: its role.
    fn role_name(roles: &Roles, slot: Slot) -> &'static str {
        match roles.assignment {
            Assignment::Known { primary, .. } if primary == slot => "primary",
            Assignment::Known { .. } => "mirror",
            Assignment::Conflict(conflict) => conflict.role(),
        }
    }

    /// The roles, after asking the stores if none has answered yet (bounded by
    /// [`ROLE_TIMEOUT`]).
    pub(super) async fn current_roles(&self) -> Roles {
        if !self.inner.heard.load(Ordering::SeqCst) {
            self.learn_roles().await;
        }
        self.roles()
    }

    /// One round: ask both stores what they are (at once, each bounded) and decide.
    pub async fn learn_roles(&self) {
        let epoch = self.epoch();
        let (first, second) = tokio::join!(
            self.position_of(self.url(Slot::First)),
            self.position_of(self.url(Slot::Second))
        );
        let report = |answer: Result<StorePosition, String>| {
            answer.map_or(Report::Unreachable, |p| Report::from_role(p.role, p.last_seq))
        };
        self.observe(epoch, [report(first), report(second)]);
    }

    /// Every [`ROLE_ROUND`], for as long as the front runs: the health round of the roles.
    pub async fn learn_roles_forever(self) {
        loop {
            self.learn_roles().await;
            tokio::time::sleep(ROLE_ROUND).await;
        }
    }

    /// Decide from what the stores said, unless this front changed roles meanwhile.
    fn observe(&self, epoch: u64, reports: [Report; 2]) {
        let Ok(_no_change_under_way) = self.inner.role_change.try_lock() else { return };
        let (before, after) = {
            let mut state = self.inner.roles.write().expect("front lock poisoned");
            if state.epoch != epoch {
                return;
            }
            if reports.iter().any(|r| *r != Report::Unreachable) {
                self.inner.heard.store(true, Ordering::SeqCst);
            }
            let before = state.roles;
            state.roles = before.observe(reports);
            (before, state.roles)
        };
        if before.same_roles(&after) {
            return;
        }
        let seq = |slot: Slot| match reports[slot.index()] {
            Report::Primary { last_seq } | Report::Mirror { last_seq } => last_seq,
            Report::Unreachable => 0,
        };
        if let Some(primary) = after.primary().filter(|p| before.primary() != Some(*p)) {
            // Another store's log: what was seen of the old primary says nothing about it.
            self.inner.primary_seq.store(seq(primary), Ordering::SeqCst);
            self.inner.acked.store(seq(primary), Ordering::SeqCst);
        }
        if after.mirror() != before.mirror() {
            self.inner.mirrored.send_replace(after.mirror().map_or(0, seq));
        }
        let message = match (after.assignment, after.primary()) {
            (Assignment::Conflict(conflict), _) => conflict.explain(self.urls()),
            (Assignment::Known { mirror, .. }, Some(primary)) => format!(
                "roles from the stores: primary {}, mirror {}",
                self.url(primary),
                mirror.map_or("none", |m| self.url(m))
            ),
            (Assignment::Known { .. }, None) => unreachable!("known roles have a primary"),
        };
        tracing::warn!("{message}");
        self.inner.events.emit(EventKind::Lag, message);
    }

    fn primary_answered(&self) {
        *self.inner.primary_down_since.lock().expect("front lock poisoned") = None;
    }

    fn primary_failed(&self, primary: &str) {
        let mut since = self.inner.primary_down_since.lock().expect("front lock poisoned");
        if since.is_none() {
            *since = Some(Instant::now());
            self.inner.events.emit(EventKind::Lag, format!("primary {primary} unreachable"));
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
        let mut request = self
            .inner
            .client
            .request(method, format!("{store}{path}"))
            .timeout(Duration::from_secs(5))
            .body(body);
        if let Some(kind) = headers.get(axum::http::header::CONTENT_TYPE) {
            request = request.header(axum::http::header::CONTENT_TYPE, kind.as_bytes());
        }
        request.send().await.map_err(|e| e.to_string())
    }

    /// A store's state, or why it could not be had.
    async fn state_of(&self, store: &str) -> Result<StoreState, String> {
        self.ask(store, "/replication/state").await
    }

    /// A store's position and role (cheap), or why it could not be had.
    async fn position_of(&self, store: &str) -> Result<StorePosition, String> {
        self.ask(store, "/replication/position").await
    }

    /// `GET` a store's JSON, bounded by [`ROLE_TIMEOUT`].
    async fn ask<T: serde::de::DeserializeOwned>(
        &self,
        store: &str,
        path: &str,
    ) -> Result<T, String> {
        let response = self
            .inner
            .client
            .get(format!("{store}{path}"))
            .timeout(ROLE_TIMEOUT)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("{store}{path} answered {}", response.status()));
        }
        response.json().await.map_err(|e| e.to_string())
    }

    /// `GET /replication`: asks both stores, learns their roles from the answers, and reports.
    pub async fn status(&self) -> ReplicationStatus {
        let epoch = self.epoch();
        let (first, second) = tokio::join!(
            self.state_of(self.url(Slot::First)),
            self.state_of(self.url(Slot::Second))
        );
        let mut states = [Some(first), Some(second)];
        let report = |state: &Option<Result<StoreState, String>>| match state {
            Some(Ok(s)) => Report::from_role(s.role, s.last_seq),
            _ => Report::Unreachable,
        };
        self.observe(epoch, [report(&states[0]), report(&states[1])]);
        let roles = self.roles();
        let conflict = roles.conflict().map(|c| c.explain(self.urls()));
        let (p_slot, m_slot) = roles.read_order();
        let primary = self.url(p_slot).to_owned();
        let mirror = m_slot.map(|slot| self.url(slot).to_owned());
        let p = states[p_slot.index()].take().expect("each store asked once");
        let m = m_slot.map(|slot| states[slot.index()].take().expect("each store asked once"));
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
        if lag_entries > 0 && p.is_ok() && conflict.is_none() {
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
        if conflict.is_some() {
            // Neither store is the primary: no lag to remember, no primary to time.
        } else if p.is_ok() {
            self.inner.lag_before.store(lag_entries, Ordering::SeqCst);
            self.primary_answered();
        } else {
            self.primary_failed(&primary);
        }
        let state = match (&p, &m) {
            _ if conflict.is_some() => ReplicationState::Conflict,
            (_, None) => ReplicationState::NoMirror,
            (Err(_), _) => ReplicationState::PrimaryDown,
            (_, Some(Err(_))) => ReplicationState::MirrorDown,
            _ if lag_entries == 0 => ReplicationState::CaughtUp,
            _ if self.inner.mode == Mode::Sync || !self.inner.interval.is_zero() => {
                ReplicationState::Streaming
            }
            _ => ReplicationState::Behind,
        };
        let last_sync = self.inner.last_sync_ms.load(Ordering::SeqCst);
        ReplicationStatus {
            mode: self.inner.mode,
            primary,
            mirror,
            primary_seq,
            mirror_seq,
            lag_entries,
            lag_ms,
            last_sync_ms: (last_sync > 0).then_some(last_sync),
            state,
            interval_ms: self.inner.interval.as_millis() as u64,
            acked_seq: self.inner.acked.load(Ordering::SeqCst),
            primary_up: p.is_ok(),
            mirror_up: matches!(m, Some(Ok(_))),
            conflict,
        }
    }

    /// Promote the mirror (the primary must be unreachable unless `force`).
    pub async fn failover(&self, force: bool) -> Result<FailoverReport, FrontError> {
        let _changing_roles = self.inner.role_change.lock().await;
        let (primary, mirror_slot) = match self.roles().assignment {
            Assignment::Known { primary, mirror: Some(mirror) } => (primary, mirror),
            Assignment::Known { mirror: None, .. } => {
                return Err(FrontError::Conflict("there is no mirror to promote".into()))
            }
            Assignment::Conflict(conflict) => {
                return Err(FrontError::Conflict(conflict.explain(self.urls())))
            }
        };
        let (primary, mirror) = (self.url(primary).to_owned(), self.url(mirror_slot).to_owned());
        if !force && self.state_of(&primary).await.is_ok() {
            return Err(FrontError::Conflict(format!(
                "the primary {primary} still answers: stop it first, or add ?force=true"
            )));
        }
        let _shipping = self.inner.shipping.lock().await;
        let promoted = self
            .send(&mirror, Method::POST, "/replication/promote", &HeaderMap::new(), Bytes::new())
            .await;
        let state: StoreState = match promoted {
            Ok(response) if response.status().is_success() => {
                response.json().await.map_err(|e| FrontError::BadGateway(e.to_string()))?
            }
            Ok(response) => {
                return Err(FrontError::BadGateway(format!(
                    "the mirror refused: {}",
                    response.status()
                )))
            }
            Err(why) => {
                return Err(FrontError::Unavailable(format!("the mirror is unreachable: {why}")))
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
        self.inner.recorder.note("failover", || {
            serde_json::json!({
                "mode": self.inner.mode,
                "lagBefore": report.lag_before,
                "entriesLost": report.entries_lost,
                "promoted": report.promoted,
            })
        });
        self.set_roles(Roles::failed_over(mirror_slot));
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
    pub async fn rebuild(&self) -> Result<ReplicationStatus, FrontError> {
        let changing_roles = self.inner.role_change.lock().await;
        let roles = self.roles();
        let (former_slot, primary) =
            match (roles.demoted, roles.primary(), roles.conflict()) {
                (Some(former), Some(primary), _) => (former, primary),
                (_, _, Some(conflict)) => {
                    return Err(FrontError::Conflict(conflict.explain(self.urls())))
                }
                _ => return Err(FrontError::Conflict(
                    "nothing to rebuild: this front failed over from no store (since it started)"
                        .into(),
                )),
            };
        let former = self.url(former_slot).to_owned();
        let reset = self
            .send(&former, Method::POST, "/replication/reset", &HeaderMap::new(), Bytes::new())
            .await;
        match reset {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                return Err(FrontError::BadGateway(format!(
                    "{former} refused the reset: {}",
                    response.status()
                )))
            }
            Err(why) => {
                return Err(FrontError::Unavailable(format!("{former} is unreachable: {why}")))
            }
        }
        self.set_roles(Roles::rebuilt(primary));
        drop(changing_roles);
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
        let (p_slot, m_slot) = self.roles().read_order();
        let primary = Some(self.url(p_slot).to_owned());
        let mirror = m_slot.map(|slot| self.url(slot).to_owned());
        let (p_state, m_state, p_products, m_products) = tokio::join!(
            state(primary.clone()),
            state(mirror.clone()),
            products(primary),
            products(mirror)
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

/// Send a shop request where `roles` say: a write to the primary; a read to the primary, or to
/// the mirror when the primary is unreachable. While the stores claim the same role, writes are
/// refused and reads go to the store further ahead. Returns the store's answer and the role of
/// the store that gave it, or why no store answered.
async fn forward(
    front: &Front,
    roles: Roles,
    write: bool,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(reqwest::Response, &'static str), FrontError> {
    if write && roles.primary().is_none() {
        let why = front.writable().expect_err("no primary");
        return Err(FrontError::Unavailable(format!("no store takes writes: {why}")));
    }
    let (first, next) = roles.read_order();
    let is_primary = |slot: Slot| roles.primary() == Some(slot);
    let store = front.url(first);
    match front.send(store, method.clone(), path, headers, body.clone()).await {
        Ok(response) => {
            if is_primary(first) {
                front.primary_answered();
            }
            Ok((response, Front::role_name(&roles, first)))
        }
        Err(why) => {
            if is_primary(first) {
                front.primary_failed(store);
            }
            let why = match (write, next) {
                (false, Some(next)) => {
                    match front.send(front.url(next), method, path, headers, body).await {
                        Ok(response) => return Ok((response, Front::role_name(&roles, next))),
                        Err(also) => format!(
                            "{store} unreachable ({why}) and {} unreachable ({also})",
                            front.url(next)
                        ),
                    }
                }
                (true, _) => format!(
                    "the primary {store} is unreachable ({why}): writes need it (POST /failover \
                     promotes the mirror)"
                ),
                (false, None) => format!("the primary {store} is unreachable ({why})"),
            };
            Err(FrontError::Unavailable(why))
        }
    }
}

/// Forward a shop request (see [`forward`]). In sync mode a write is answered only once the
/// mirror has it.
async fn proxy(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, FrontError> {
    let path =
        uri.path_and_query().map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let write = method != Method::GET && method != Method::HEAD;
    let roles = front.current_roles().await;
    let send_as =
        |roles: Roles| forward(&front, roles, write, method.clone(), &path, &headers, body.clone());
    let mut forwarded = send_as(roles).await;
    if write && matches!(&forwarded, Ok((answer, _)) if answer.status() == StatusCode::CONFLICT) {
        // Perhaps refused by a store that is no longer the primary (its role changed since the
        // last round): a refused write was not applied, so it may go to the primary there is now.
        front.learn_roles().await;
        let now = front.roles();
        if !now.same_roles(&roles) {
            forwarded = send_as(now).await;
        }
    }
    let (response, served_by) = forwarded?;
    // reqwest and axum share the `http` crate: status and headers pass through as they are.
    let status = response.status();
    let seq = response.headers().get(CHANGE_SEQ).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let content_type = response.headers().get(reqwest::header::CONTENT_TYPE).cloned();
    // A 405's list of the methods the route takes (RFC 9110 requires it).
    let allow = response.headers().get(reqwest::header::ALLOW).cloned();
    let bytes = response
        .bytes()
        .await
        .map_err(|err| FrontError::BadGateway(format!("the store's answer was cut: {err}")))?;
    if let (true, Some(seq)) = (status.is_success(), seq) {
        front.inner.primary_seq.fetch_max(seq, Ordering::SeqCst);
        let ack_early = front.inner.bugs.on(shared::bugs::Bug::MirrorAckBeforeMirrorCommit);
        if front.inner.mode == Mode::Sync && ack_early {
            // The deliberate bug: acknowledged once the primary has it; the mirror gets it later.
            front.inner.kick.notify_one();
        } else if front.inner.mode == Mode::Sync {
            if let Err(why) = front.wait_mirrored(seq).await {
                return Err(FrontError::Unavailable(format!(
                    "not acknowledged: the mirror did not confirm ({why}); the primary holds it as \
                     seq {seq} and the mirror will catch up from the change log"
                )));
            }
        }
        front.inner.acked.fetch_max(seq, Ordering::SeqCst);
    }
    let mut answer = (status, bytes).into_response();
    if let Some(kind) = content_type {
        answer.headers_mut().insert(axum::http::header::CONTENT_TYPE, kind);
    }
    if let Some(allow) = allow {
        answer.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    answer.headers_mut().insert("x-served-by", HeaderValue::from_static(served_by));
    if let Some(seq) = seq {
        answer.headers_mut().insert(CHANGE_SEQ, HeaderValue::from(seq));
    }
    Ok(answer)
}

pub fn service(name: &str, mode: Mode) -> Service {
    Service::new(
        name,
        if mode == Mode::Sync { ServiceKind::Mirroring } else { ServiceKind::Replication },
    )
}

/// The shop routes' OpenAPI document, with the answers the front adds to the store's own.
fn front_openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let mut doc = crate::shop::openapi();
    let error = |description: &str| {
        let error = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content("application/json", error)
                .build(),
        )
    };
    for item in doc.paths.paths.values_mut() {
        if let Some(read) = &mut item.get {
            read.responses.responses.insert(
                "503".into(),
                error("Neither store answered (reads go to the primary, else the mirror)"),
            );
        }
        for write in
            [&mut item.post, &mut item.put, &mut item.delete, &mut item.patch].into_iter().flatten()
        {
            write.responses.responses.insert("503".into(), error(
                "Not written, or not acknowledged: the primary is unreachable; the two stores claim \
                 the same role (two primaries or two mirrors: `GET /replication` says which, and the \
                 message names the command that resolves it); or, mirroring, the mirror did not \
                 confirm in time (the primary holds it, the mirror catches up)",
            ));
        }
        for operation in
            [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch]
                .into_iter()
                .flatten()
        {
            operation
                .responses
                .responses
                .insert("502".into(), error("The store's answer was cut off on its way"));
        }
    }
    doc
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
    let control = OpenApiRouter::with_openapi(front_openapi())
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

/// Primary and mirror — as the stores report their roles — positions, lag in entries and
/// milliseconds, state, and a conflict if both stores claim the same role.
#[utoipa::path(get, path = "/replication", tag = "replication", responses((status = 200, body = ReplicationStatus)))]
async fn status(State(front): State<Front>) -> ApiJson<ReplicationStatus> {
    ApiJson(front.status().await)
}

/// Ship the change log to the mirror now; answers once the mirror has caught up.
#[utoipa::path(post, path = "/sync", tag = "replication", responses(
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
    (status = 200, body = ReplicationStatus),
    (status = 503, description = "Primary or mirror unreachable, or the stores claim the same role", body = ErrorBody),
))]
async fn sync(State(front): State<Front>) -> Result<ApiJson<ReplicationStatus>, FrontError> {
    let shipped = front
        .ship_until_caught_up(Duration::from_secs(30))
        .await
        .map_err(FrontError::Unavailable)?;
    front
        .inner
        .events
        .emit(EventKind::Lag, format!("sync: {shipped} changes shipped, mirror caught up"));
    Ok(ApiJson(front.status().await))
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
    (status = 409, description = "No mirror to promote, the primary still answers (without `force`), or the stores claim the same role", body = ErrorBody),
    (status = 502, description = "The mirror refused the promotion", body = ErrorBody),
    (status = 503, description = "The mirror is unreachable", body = ErrorBody),
))]
async fn failover(
    State(front): State<Front>,
    ApiQuery(query): ApiQuery<FailoverQuery>,
) -> Result<ApiJson<FailoverReport>, FrontError> {
    Ok(ApiJson(front.failover(query.force).await?))
}

/// After a failover: wipe the former primary and rebuild it as the mirror from the new primary.
#[utoipa::path(post, path = "/rebuild", tag = "replication", responses(
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
    (status = 200, body = ReplicationStatus),
    (status = 409, description = "This front failed over from no store, or the stores claim the same role", body = ErrorBody),
    (status = 502, description = "The old primary refused the reset", body = ErrorBody),
    (status = 503, description = "The old primary is unreachable", body = ErrorBody),
))]
async fn rebuild(State(front): State<Front>) -> Result<ApiJson<ReplicationStatus>, FrontError> {
    Ok(ApiJson(front.rebuild().await?))
}

/// Row counts, positions and the product ids that differ between primary and mirror.
#[utoipa::path(get, path = "/replication/diff", tag = "replication", responses((status = 200, body = StoreDiff)))]
async fn diff(State(front): State<Front>) -> ApiJson<StoreDiff> {
    ApiJson(front.diff().await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_documents_its_own_502s_and_503s_on_the_shop_routes() {
        let doc = serde_json::to_value(front_openapi()).unwrap();
        for (path, method) in
            [("/products", "post"), ("/products/{id}", "delete"), ("/products", "get")]
        {
            for status in ["502", "503"] {
                let answer = &doc["paths"][path][method]["responses"][status];
                let schema = answer["content"]["application/json"]["schema"].to_string();
                assert!(
                    schema.contains("#/components/schemas/ErrorBody"),
                    "{method} {path} {status}: {answer}"
                );
            }
        }
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    }
}
