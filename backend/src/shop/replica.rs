//! The replication side of a store process: serve the change log, apply a primary's changes in
//! order and idempotently, report state, and change role (promote a mirror, rebuild a store as a
//! mirror).
//!
//! Applying is keyed by sequence number: a change at or below the store's last seq is skipped
//! (re-sent changes are harmless), the next one is applied, and a gap is refused — all in one
//! transaction per batch, fsync'd on commit. A change no primary could have logged (an id past
//! 2^53 - 1, a price of 0, a quantity of 0 or past 10,000, an order whose totals are not its
//! lines') refuses the batch too, with a 422.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared::replication::{LoggedChange, StorePosition, StoreRole, StoreState};

use super::store::{append_log, apply_change, last_seq, ShopStore};
use super::validate;
use crate::service::{error_response, guarded, ApiJson, ApiQuery};
use crate::sqlite::rusqlite::{params, Connection};
use crate::sqlite::DbError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Changes shipped at most per request.
pub const MAX_BATCH: u32 = 2_000;

/// Why a batch was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("gap in the change log: expected seq {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
    #[error("this store is the primary: it does not apply another store's changes")]
    NotMirror,
    /// A change no primary could have logged (see `validate::logged`).
    #[error("change {seq} could not have come from a primary: {why}")]
    Invalid { seq: u64, why: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

fn state_of(
    conn: &Connection,
    mirror: bool,
    check: bool,
) -> Result<StoreState, crate::sqlite::rusqlite::Error> {
    let count = |table: &str| {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0))
    };
    let last = last_seq(conn)?;
    let (rows, low): (i64, i64) =
        conn.query_row("SELECT count(*), coalesce(min(seq), 1) FROM changelog", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let last_change_ms: Option<i64> = conn
        .query_row("SELECT at_ms FROM changelog WHERE seq = ?1", [last as i64], |r| r.get(0))
        .ok();
    let integrity: String = if check {
        conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?
    } else {
        "not checked".to_owned()
    };
    Ok(StoreState {
        role: if mirror { StoreRole::Mirror } else { StoreRole::Primary },
        last_seq: last,
        last_change_ms: last_change_ms.map(|ms| ms as u64),
        products: count("products")? as u64,
        orders: count("orders")? as u64,
        cart_items: count("cart_items")? as u64,
        log_contiguous: rows as u64 == last && (last == 0 || low == 1),
        integrity,
    })
}

impl ShopStore {
    /// Role, position and row counts; with `check`, also SQLite's integrity check (which reads
    /// the whole database).
    pub async fn replication_state(&self, check: bool) -> Result<StoreState, DbError> {
        let mirror = self.is_mirror();
        self.db().call(move |conn| state_of(conn, mirror, check)).await
    }

    /// Where the log stands, and the role: cheap at any size.
    pub async fn position(&self) -> Result<StorePosition, DbError> {
        let last_seq = self.db().call(|conn| last_seq(conn)).await?;
        Ok(StorePosition { last_seq, role: self.role() })
    }

    fn role(&self) -> StoreRole {
        if self.is_mirror() {
            StoreRole::Mirror
        } else {
            StoreRole::Primary
        }
    }

    /// The logged changes after `after`, at most `limit`, in order.
    pub async fn changes_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<LoggedChange>, DbError> {
        self.db()
            .call(move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT seq, at_ms, change FROM changelog WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = statement.query_map(params![after as i64, limit], |r| {
                    let text: String = r.get(2)?;
                    let change = serde_json::from_str(&text).map_err(|e| {
                        crate::sqlite::rusqlite::Error::FromSqlConversionFailure(
                            2,
                            crate::sqlite::rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?;
                    Ok(LoggedChange {
                        seq: r.get::<_, i64>(0)? as u64,
                        at_ms: r.get::<_, i64>(1)? as u64,
                        change,
                    })
                })?;
                rows.collect()
            })
            .await
    }

    /// Apply a primary's changes in order (one transaction); returns the position after.
    pub async fn apply_logged(
        &self,
        changes: Vec<LoggedChange>,
    ) -> Result<StorePosition, ApplyError> {
        if !self.is_mirror() {
            return Err(ApplyError::NotMirror);
        }
        // The whole batch is checked first, re-sent changes too: one that no primary could have
        // logged says the sender is broken, whatever this store already holds.
        for logged in &changes {
            let valid = validate::logged(logged).map_err(|why| why.to_string());
            valid.map_err(|why| ApplyError::Invalid { seq: logged.seq, why })?;
        }
        let outcome = self
            .db()
            .write(move |tx| {
                let mut last = last_seq(tx)?;
                for logged in &changes {
                    if logged.seq <= last {
                        continue; // already here: a re-sent change is harmless
                    }
                    if logged.seq != last + 1 {
                        return Ok(Err(ApplyError::Gap { expected: last + 1, got: logged.seq }));
                    }
                    apply_change(tx, &logged.change)?;
                    append_log(tx, logged)?;
                    last = logged.seq;
                }
                Ok(Ok(last))
            })
            .await?;
        outcome.map(|last_seq| StorePosition { last_seq, role: self.role() })
    }

    /// Give a new store its role; a store that has one keeps it (a promoted mirror stays primary
    /// across restarts).
    pub async fn init_role(&self, mirror: bool) -> Result<(), DbError> {
        let has_role: bool = self
            .db()
            .call(|conn| {
                conn.query_row("SELECT count(*) FROM store_meta WHERE key = 'role'", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .await?
            > 0;
        if !has_role {
            self.set_role(mirror).await?;
        }
        Ok(())
    }

    /// Become the primary: take shop writes from now on.
    pub async fn promote(&self) -> Result<StoreState, DbError> {
        self.set_role(false).await?;
        self.replication_state(false).await
    }

    /// Forget everything and become an empty mirror (to be rebuilt from a primary's log).
    pub async fn reset_as_mirror(&self) -> Result<StoreState, DbError> {
        self.db()
            .write(|tx| {
                tx.execute_batch(
                    "DELETE FROM cart_items; DELETE FROM order_lines; DELETE FROM orders; DELETE FROM products;
                     DELETE FROM changelog; DELETE FROM sqlite_sequence;",
                )?;
                Ok(Ok::<_, ()>(()))
            })
            .await?
            .ok();
        self.set_role(true).await?;
        self.replication_state(false).await
    }
}

impl IntoResponse for ApplyError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApplyError::Gap { .. } | ApplyError::NotMirror => StatusCode::CONFLICT,
            ApplyError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApplyError::Db(err) => {
                tracing::error!(%err, "store failure");
                return error_response(StatusCode::INTERNAL_SERVER_ERROR, "the store failed");
            }
        };
        error_response(status, self.to_string())
    }
}

/// `GET /replication/changes`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ChangesQuery {
    /// The changes after this seq (0: from the start; seqs end at 2^53 - 1).
    #[serde(default)]
    #[param(maximum = 9_007_199_254_740_991_u64)]
    after: u64,
    /// At most this many: 1 to 2,000 (the default).
    #[param(minimum = 1, maximum = 2000)]
    limit: Option<u32>,
}

/// `GET /replication/state`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct StateQuery {
    /// Run SQLite's integrity check too (reads the whole database).
    #[serde(default)]
    check: bool,
}

/// The store's role, position, row counts, and (with `check=true`) SQLite's integrity check.
#[utoipa::path(get, path = "/replication/state", tag = "replication", params(StateQuery),
    responses(
        (status = 200, body = StoreState),
        (status = 500, description = "The store's database failed", body = shared::ErrorBody),
    ))]
async fn state(
    State(store): State<ShopStore>,
    ApiQuery(query): ApiQuery<StateQuery>,
) -> Result<ApiJson<StoreState>, ApplyError> {
    Ok(ApiJson(store.replication_state(query.check).await?))
}

/// The store's last seq and role: cheap at any size.
#[utoipa::path(get, path = "/replication/position", tag = "replication", responses(
    (status = 200, body = StorePosition),
    (status = 500, description = "The store's database failed", body = shared::ErrorBody),
))]
async fn position(State(store): State<ShopStore>) -> Result<ApiJson<StorePosition>, ApplyError> {
    Ok(ApiJson(store.position().await?))
}

/// The logged changes after `after`, in order: what a mirror applies.
#[utoipa::path(get, path = "/replication/changes", tag = "replication", params(ChangesQuery),
    responses(
        (status = 200, body = [LoggedChange]),
        (status = 400, description = "A limit outside 1 to 2,000, or an `after` past 2^53 - 1", body = shared::ErrorBody),
        (status = 500, description = "The store's database failed", body = shared::ErrorBody),
    ))]
async fn changes(
    State(store): State<ShopStore>,
    ApiQuery(query): ApiQuery<ChangesQuery>,
) -> Result<Response, ApplyError> {
    let limit = query.limit.unwrap_or(MAX_BATCH);
    if !(1..=MAX_BATCH).contains(&limit) {
        let why = format!("limit must be between 1 and {MAX_BATCH}, got {limit}");
        return Ok(error_response(StatusCode::BAD_REQUEST, why));
    }
    if query.after > validate::MAX_ID {
        let why = format!("after must be at most {}, got {}", validate::MAX_ID, query.after);
        return Ok(error_response(StatusCode::BAD_REQUEST, why));
    }
    Ok(ApiJson(store.changes_after(query.after, limit).await?).into_response())
}

/// Apply a primary's changes, in order, in one transaction: a change at or below the store's
/// last seq is skipped, a gap refuses the batch.
#[utoipa::path(post, path = "/replication/apply", tag = "replication", tags = ["peer"], request_body = [LoggedChange],
    responses(
        (status = 200, description = "Where the store stands after the batch", body = StorePosition),
        (status = 409, description = "A gap in the seqs, or this store is the primary", body = shared::ErrorBody),
        (status = 422, description = "A change no primary could have logged", body = shared::ErrorBody),
        (status = 500, description = "The store's database failed", body = shared::ErrorBody),
    ))]
async fn apply(
    State(store): State<ShopStore>,
    ApiJson(changes): ApiJson<Vec<LoggedChange>>,
) -> Result<ApiJson<StorePosition>, ApplyError> {
    Ok(ApiJson(store.apply_logged(changes).await?))
}

/// Become the primary: take shop writes from now on (the front's failover calls it).
#[utoipa::path(post, path = "/replication/promote", tag = "replication", responses(
    (status = 200, body = StoreState),
    (status = 500, description = "The store's database failed", body = shared::ErrorBody),
))]
async fn promote(State(store): State<ShopStore>) -> Result<ApiJson<StoreState>, ApplyError> {
    let state = store.promote().await?;
    tracing::warn!("promoted to primary");
    Ok(ApiJson(state))
}

/// Forget everything and become an empty mirror, to be rebuilt from a primary's log.
#[utoipa::path(post, path = "/replication/reset", tag = "replication", responses(
    (status = 200, body = StoreState),
    (status = 500, description = "The store's database failed", body = shared::ErrorBody),
))]
async fn reset(State(store): State<ShopStore>) -> Result<ApiJson<StoreState>, ApplyError> {
    let state = store.reset_as_mirror().await?;
    tracing::warn!("reset: an empty mirror now");
    Ok(ApiJson(state))
}

/// The replication routes of a store process: reading is open, changing is admin-only.
pub fn routes() -> OpenApiRouter<ShopStore> {
    let admin = guarded(
        OpenApiRouter::new().routes(routes!(apply)).routes(routes!(promote)).routes(routes!(reset)),
    );
    OpenApiRouter::new()
        .routes(routes!(state))
        .routes(routes!(position))
        .routes(routes!(changes))
        .merge(admin)
}
