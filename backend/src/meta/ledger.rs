//! `StakeLedger`: models, balances, weights and every event that changed them, in SQLite.
//!
//! Balances change only through [`StakeLedger::settle`], [`StakeLedger::register`] and
//! [`StakeLedger::withdraw`], each one transaction that updates the balance and appends the
//! ledger events explaining it — so the ledger always adds up, and concurrent predictions cannot
//! lose an update (the workshop's sample rewrote `balances.json` from concurrent requests and
//! lost most updates, or corrupted the file for good).

use std::path::Path;

use shared::models::{LedgerEvent, ModelEntry};

use super::consensus::{settle, BatchTally, Rules, Stake};
use crate::service::now_ms;
use crate::sqlite::rusqlite::{params, Connection, OptionalExtension, Row};
use crate::sqlite::{Db, DbError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS models (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT    NOT NULL UNIQUE,
    url     TEXT    NOT NULL,
    deposit REAL    NOT NULL,
    balance REAL    NOT NULL CHECK (balance >= 0),
    weight  REAL    NOT NULL CHECK (weight BETWEEN 0 AND 1),
    state   TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms    INTEGER NOT NULL,
    model_id INTEGER NOT NULL REFERENCES models (id),
    kind     TEXT    NOT NULL,
    amount   REAL    NOT NULL,
    balance  REAL    NOT NULL,
    weight   REAL    NOT NULL,
    reason   TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_by_model ON ledger (model_id, id);
";

const MODEL_COLUMNS: &str = "id, name, url, deposit, balance, weight, state";

/// Why a ledger operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A batch's effect on one model: for the caller to report, and to update its copy of the
/// models without reading them back.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub id: u64,
    pub model: String,
    pub reward: f64,
    pub slash: f64,
    pub balance: f64,
    pub weight: f64,
    /// The model's state after the batch (`ejected` once under the floor).
    pub state: String,
    pub ejected: bool,
}

#[derive(Debug, Clone)]
pub struct StakeLedger {
    db: Db,
    rules: Rules,
}

fn model_from_row(row: &Row<'_>) -> Result<ModelEntry, crate::sqlite::rusqlite::Error> {
    Ok(ModelEntry {
        id: row.get::<_, i64>(0)? as u64,
        name: row.get(1)?,
        url: row.get(2)?,
        deposit: row.get(3)?,
        balance: row.get(4)?,
        weight: row.get(5)?,
        state: row.get(6)?,
    })
}

fn model_by_id(
    tx: &Connection,
    id: u64,
) -> Result<Option<ModelEntry>, crate::sqlite::rusqlite::Error> {
    tx.query_row(
        &format!("SELECT {MODEL_COLUMNS} FROM models WHERE id = ?1"),
        [id as i64],
        model_from_row,
    )
    .optional()
}

fn append(
    tx: &Connection,
    model_id: u64,
    kind: &str,
    amount: f64,
    balance: f64,
    weight: f64,
    reason: &str,
) -> Result<(), crate::sqlite::rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO ledger (at_ms, model_id, kind, amount, balance, weight, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![now_ms() as i64, model_id as i64, kind, amount, balance, weight, reason])?;
    Ok(())
}

impl StakeLedger {
    pub async fn open(path: &Path, rules: Rules) -> Result<Self, DbError> {
        Ok(Self { db: Db::open(path, SCHEMA).await?, rules })
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub async fn models(&self) -> Result<Vec<ModelEntry>, DbError> {
        self.db
            .call(|conn| {
                let mut statement = conn
                    .prepare_cached(&format!("SELECT {MODEL_COLUMNS} FROM models ORDER BY id"))?;
                let rows = statement.query_map([], model_from_row)?;
                rows.collect()
            })
            .await
    }

    /// Register a model with a deposit (a withdrawn model's name can register again).
    pub async fn register(
        &self,
        name: String,
        url: String,
        deposit: f64,
    ) -> Result<ModelEntry, LedgerError> {
        let outcome = self
            .db
            .write(move |tx| {
                let existing = tx
                    .query_row(&format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = ?1"), [&name], model_from_row)
                    .optional()?;
                let id = match existing {
                    Some(model) if model.state != "withdrawn" => {
                        return Ok(Err(LedgerError::Conflict(format!("a model named {name} is already registered"))));
                    }
                    Some(model) => {
                        tx.execute(
                            "UPDATE models SET url = ?2, deposit = ?3, balance = ?3, weight = 1.0, state = 'active' WHERE id = ?1",
                            params![model.id as i64, url, deposit],
                        )?;
                        model.id
                    }
                    None => {
                        tx.execute(
                            "INSERT INTO models (name, url, deposit, balance, weight, state) VALUES (?1, ?2, ?3, ?3, 1.0, 'active')",
                            params![name, url, deposit],
                        )?;
                        tx.last_insert_rowid() as u64
                    }
                };
                append(tx, id, "deposit", deposit, deposit, 1.0, &format!("registered at {url} with a deposit of {deposit}"))?;
                let entry = model_by_id(tx, id)?.expect("a model just written can be read back");
                Ok(Ok(entry))
            })
            .await?;
        outcome
    }

    /// Withdraw a model: its balance is paid out and it no longer votes.
    pub async fn withdraw(&self, id: u64) -> Result<ModelEntry, LedgerError> {
        let outcome = self
            .db
            .write(move |tx| {
                let found = model_by_id(tx, id)?;
                let Some(model) = found.filter(|m| m.state != "withdrawn") else {
                    return Ok(Err(LedgerError::NotFound(format!(
                        "no registered model with id {id}"
                    ))));
                };
                tx.execute(
                    "UPDATE models SET balance = 0, state = 'withdrawn' WHERE id = ?1",
                    [id as i64],
                )?;
                append(
                    tx,
                    id,
                    "withdraw",
                    -model.balance,
                    0.0,
                    model.weight,
                    &format!("withdrew {:.2}", model.balance),
                )?;
                Ok(Ok(ModelEntry { balance: 0.0, state: "withdrawn".into(), ..model }))
            })
            .await?;
        outcome
    }

    /// Settle a batch (rules 3-6 of `consensus`) in one transaction. `what` says against what
    /// the answers were scored ("the consensus", "the truth").
    pub async fn settle(
        &self,
        batch: Vec<(u64, BatchTally)>,
        what: &'static str,
    ) -> Result<Vec<Settled>, DbError> {
        let rules = self.rules;
        self.db
            .write(move |tx| {
                let mut settled = Vec::new();
                for (id, tally) in batch {
                    let found = model_by_id(tx, id)?;
                    // A model withdrawn meanwhile keeps its payout untouched.
                    let Some(model) = found.filter(|m| m.state != "withdrawn") else { continue };
                    let s = settle(
                        &rules,
                        Stake { balance: model.balance, weight: model.weight },
                        &tally,
                    );
                    let state =
                        if s.balance < rules.floor { "ejected" } else { model.state.as_str() };
                    tx.execute(
                        "UPDATE models SET balance = ?2, weight = ?3, state = ?4 WHERE id = ?1",
                        params![id as i64, s.balance, s.weight, state],
                    )?;
                    let counts = format!("{} of {} answers", tally.agreed, tally.asked);
                    if s.reward > 0.0 {
                        let reason = format!("agreed with {what} in {counts}");
                        append(
                            tx,
                            id,
                            "reward",
                            s.reward,
                            model.balance + s.reward,
                            s.weight,
                            &reason,
                        )?;
                    }
                    if s.slash > 0.0 {
                        let reason = format!(
                            "{} deviated from {what}, {} failed or late, of {} answers",
                            tally.deviated, tally.failed, tally.asked
                        );
                        append(tx, id, "slash", -s.slash, s.balance, s.weight, &reason)?;
                    }
                    if s.ejected {
                        let reason = format!(
                            "balance {:.2} fell under the floor {:.0}: out of the consensus",
                            s.balance, rules.floor
                        );
                        append(tx, id, "eject", 0.0, s.balance, s.weight, &reason)?;
                    }
                    settled.push(Settled {
                        id,
                        model: model.name,
                        reward: s.reward,
                        slash: s.slash,
                        balance: s.balance,
                        weight: s.weight,
                        state: state.to_owned(),
                        ejected: s.ejected,
                    });
                }
                Ok(Ok::<_, std::convert::Infallible>(settled))
            })
            .await
            .map(|outcome| match outcome {
                Ok(settled) => settled,
            })
    }

    /// The ledger, oldest first: the last `limit` events, of one model or of all.
    pub async fn events(
        &self,
        model: Option<String>,
        limit: u32,
    ) -> Result<Vec<LedgerEvent>, DbError> {
        self.db
            .call(move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT * FROM (
                        SELECT l.id, l.at_ms, m.name, l.kind, l.amount, l.balance, l.weight, l.reason
                        FROM ledger l JOIN models m ON m.id = l.model_id
                        WHERE ?1 IS NULL OR m.name = ?1
                        ORDER BY l.id DESC LIMIT ?2
                     ) ORDER BY id",
                )?;
                let rows = statement.query_map(params![model, limit], |row| {
                    Ok(LedgerEvent {
                        id: row.get::<_, i64>(0)? as u64,
                        at_ms: row.get::<_, i64>(1)? as u64,
                        model: row.get(2)?,
                        kind: row.get(3)?,
                        amount: row.get(4)?,
                        balance: row.get(5)?,
                        weight: row.get(6)?,
                        reason: row.get(7)?,
                    })
                })?;
                rows.collect()
            })
            .await
    }

    /// Does every model's balance equal the sum of its ledger events? (It must, always.)
    pub async fn audit(&self) -> Result<Vec<(String, f64, f64)>, DbError> {
        self.db
            .call(|conn| {
                let mut statement = conn.prepare(
                    "SELECT m.name, m.balance, coalesce(sum(l.amount), 0) FROM models m
                     LEFT JOIN ledger l ON l.model_id = m.id GROUP BY m.id ORDER BY m.id",
                )?;
                let rows =
                    statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
                rows.collect()
            })
            .await
    }
}
