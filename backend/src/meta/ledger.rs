//! `StakeLedger`: models, balances, weights and every event that changed them, in SQLite.
//!
//! Balances change only through [`StakeLedger::settle`], [`StakeLedger::register`] and
//! [`StakeLedger::withdraw`], each one transaction that updates the balance and appends the
//! ledger events explaining it — so the ledger always adds up, and concurrent predictions cannot
//! lose an update (the workshop's sample rewrote `balances.json` from concurrent requests and
//! lost most updates, or corrupted the file for good). A settlement also writes its row in
//! `batches` (how many emissions it shared, what it rewarded and slashed), which its events
//! point to: a reader can check that no batch was half applied.
//!
//! What the ledger moves, and so what it conserves: deposits come in, each emission (a fixed
//! amount per prediction) is minted and shared among the models that agreed, slashes are
//! burned, withdrawals are paid out. At any moment, over every model ever registered,
//! `Σ balance + Σ withdrawn = Σ deposited + Σ rewarded − Σ slashed`.

use std::path::Path;

use shared::models::{LedgerBatch, LedgerEvent, LedgerKind, ModelEntry, ModelState};

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
    reason   TEXT    NOT NULL,
    batch    INTEGER REFERENCES batches (id)
);
CREATE INDEX IF NOT EXISTS ledger_by_model ON ledger (model_id, id);
CREATE TABLE IF NOT EXISTS batches (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms     INTEGER NOT NULL,
    against   TEXT    NOT NULL,
    emissions INTEGER NOT NULL,
    rewarded  REAL    NOT NULL,
    slashed   REAL    NOT NULL,
    unpaid    REAL    NOT NULL
);
";

/// Ledgers written before settlements had their own rows lack `ledger.batch`.
const ADD_BATCH_COLUMN: &str =
    "ALTER TABLE ledger ADD COLUMN batch INTEGER REFERENCES batches (id)";

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
    /// The model's state after the batch (ejected once under the floor).
    pub state: ModelState,
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
        state: named(row, 6)?,
    })
}

/// A column holding one of a type's names (`active`, `reward`, ...).
fn named<T: std::str::FromStr<Err = String>>(
    row: &Row<'_>,
    index: usize,
) -> Result<T, crate::sqlite::rusqlite::Error> {
    let text: String = row.get(index)?;
    text.parse().map_err(|why: String| {
        crate::sqlite::rusqlite::Error::FromSqlConversionFailure(
            index,
            crate::sqlite::rusqlite::types::Type::Text,
            why.into(),
        )
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

/// A ledger event not written yet: a settlement computes its events before its batch's row
/// (which they point to) is written.
struct NewEvent {
    model_id: u64,
    kind: LedgerKind,
    amount: f64,
    balance: f64,
    weight: f64,
    reason: String,
}

fn append(
    tx: &Connection,
    event: &NewEvent,
    batch: Option<i64>,
) -> Result<(), crate::sqlite::rusqlite::Error> {
    tx.prepare_cached(
        "INSERT INTO ledger (at_ms, model_id, kind, amount, balance, weight, reason, batch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        now_ms() as i64,
        event.model_id as i64,
        event.kind.as_str(),
        event.amount,
        event.balance,
        event.weight,
        event.reason,
        batch
    ])?;
    Ok(())
}

impl StakeLedger {
    pub async fn open(path: &Path, rules: Rules) -> Result<Self, DbError> {
        let db = Db::open(path, SCHEMA).await?;
        db.call(|conn| {
            let has_batch = conn
                .prepare("SELECT 1 FROM pragma_table_info('ledger') WHERE name = 'batch'")?
                .exists([])?;
            if !has_batch {
                conn.execute_batch(ADD_BATCH_COLUMN)?;
            }
            Ok(())
        })
        .await?;
        Ok(Self { db, rules })
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
                    Some(model) if model.state != ModelState::Withdrawn => {
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
                let reason = format!("registered at {url} with a deposit of {deposit}");
                let event = NewEvent { model_id: id, kind: LedgerKind::Deposit, amount: deposit, balance: deposit, weight: 1.0, reason };
                append(tx, &event, None)?;
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
                let Some(model) = found.filter(|m| m.state != ModelState::Withdrawn) else {
                    return Ok(Err(LedgerError::NotFound(format!(
                        "no registered model with id {id}"
                    ))));
                };
                tx.execute(
                    "UPDATE models SET balance = 0, state = 'withdrawn' WHERE id = ?1",
                    [id as i64],
                )?;
                let event = NewEvent {
                    model_id: id,
                    kind: LedgerKind::Withdraw,
                    amount: -model.balance,
                    balance: 0.0,
                    weight: model.weight,
                    reason: format!("withdrew {:.2}", model.balance),
                };
                append(tx, &event, None)?;
                Ok(Ok(ModelEntry { balance: 0.0, state: ModelState::Withdrawn, ..model }))
            })
            .await?;
        outcome
    }

    /// Settle a batch (rules 3-6 of `consensus`) in one transaction: every model's new stake,
    /// the batch's row and the events explaining it. `emissions`: how many times the emission
    /// was shared out in it; `what`: against what the answers were scored ("the consensus",
    /// "the truth").
    pub async fn settle(
        &self,
        batch: Vec<(u64, BatchTally)>,
        emissions: u64,
        what: &'static str,
    ) -> Result<Vec<Settled>, DbError> {
        let rules = self.rules;
        self.db
            .write(move |tx| {
                let mut settled = Vec::new();
                let mut events = Vec::new();
                let mut unpaid = 0.0;
                for (id, tally) in batch {
                    let found = model_by_id(tx, id)?;
                    // A model withdrawn meanwhile keeps its payout untouched; its share of the
                    // emission goes to nobody.
                    let Some(model) = found.filter(|m| m.state != ModelState::Withdrawn) else {
                        unpaid += tally.earned.max(0.0);
                        continue;
                    };
                    let s = settle(
                        &rules,
                        Stake { balance: model.balance, weight: model.weight },
                        &tally,
                    );
                    let state =
                        if s.balance < rules.floor { ModelState::Ejected } else { model.state };
                    tx.execute(
                        "UPDATE models SET balance = ?2, weight = ?3, state = ?4 WHERE id = ?1",
                        params![id as i64, s.balance, s.weight, state.as_str()],
                    )?;
                    let event = |kind, amount, balance, reason| NewEvent {
                        model_id: id,
                        kind,
                        amount,
                        balance,
                        weight: s.weight,
                        reason,
                    };
                    let counts = format!("{} of {} answers", tally.agreed, tally.asked);
                    if s.reward > 0.0 {
                        let reason = format!("agreed with {what} in {counts}");
                        events.push(event(
                            LedgerKind::Reward,
                            s.reward,
                            model.balance + s.reward,
                            reason,
                        ));
                    }
                    if s.slash > 0.0 {
                        let reason = format!(
                            "{} deviated from {what}, {} failed or late, of {} answers",
                            tally.deviated, tally.failed, tally.asked
                        );
                        events.push(event(LedgerKind::Slash, -s.slash, s.balance, reason));
                    }
                    if s.ejected {
                        let reason = format!(
                            "balance {:.2} fell under the floor {:.0}: out of the consensus",
                            s.balance, rules.floor
                        );
                        events.push(event(LedgerKind::Eject, 0.0, s.balance, reason));
                    }
                    settled.push(Settled {
                        id,
                        model: model.name,
                        reward: s.reward,
                        slash: s.slash,
                        balance: s.balance,
                        weight: s.weight,
                        state,
                        ejected: s.ejected,
                    });
                }
                let rewarded: f64 = settled.iter().map(|s| s.reward).sum();
                let slashed: f64 = settled.iter().map(|s| s.slash).sum();
                tx.prepare_cached(
                    "INSERT INTO batches (at_ms, against, emissions, rewarded, slashed, unpaid)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    now_ms() as i64,
                    what,
                    emissions as i64,
                    rewarded,
                    slashed,
                    unpaid
                ])?;
                let batch = tx.last_insert_rowid();
                for event in &events {
                    append(tx, event, Some(batch))?;
                }
                Ok(Ok::<_, std::convert::Infallible>(settled))
            })
            .await
            .map(|outcome| match outcome {
                Ok(settled) => settled,
            })
    }

    /// The ledger, oldest first: the last `limit` events, of one model or of all; or, `after`
    /// an event id, the first `limit` events after it (to read the whole ledger page by page).
    pub async fn events(
        &self,
        model: Option<String>,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<LedgerEvent>, DbError> {
        const COLUMNS: &str =
            "l.id, l.at_ms, m.name, l.kind, l.amount, l.balance, l.weight, l.reason, l.batch
             FROM ledger l JOIN models m ON m.id = l.model_id WHERE (?1 IS NULL OR m.name = ?1)";
        self.db
            .call(move |conn| {
                let mut statement = match after {
                    None => conn.prepare_cached(&format!(
                        "SELECT * FROM (SELECT {COLUMNS} ORDER BY l.id DESC LIMIT ?2) ORDER BY id"
                    ))?,
                    Some(_) => conn.prepare_cached(&format!(
                        "SELECT {COLUMNS} AND l.id > ?3 ORDER BY l.id LIMIT ?2"
                    ))?,
                };
                let to_event = |row: &Row<'_>| {
                    Ok(LedgerEvent {
                        id: row.get::<_, i64>(0)? as u64,
                        at_ms: row.get::<_, i64>(1)? as u64,
                        model: row.get(2)?,
                        kind: named(row, 3)?,
                        amount: row.get(4)?,
                        balance: row.get(5)?,
                        weight: row.get(6)?,
                        reason: row.get(7)?,
                        batch: row.get::<_, Option<i64>>(8)?.map(|b| b as u64),
                    })
                };
                let rows = match after {
                    None => statement.query_map(params![model, limit], to_event)?,
                    Some(after) => {
                        statement.query_map(params![model, limit, after as i64], to_event)?
                    }
                };
                rows.collect()
            })
            .await
    }

    /// The settlements after the one with id `after`, oldest first, at most `limit`.
    pub async fn batches(&self, after: u64, limit: u32) -> Result<Vec<LedgerBatch>, DbError> {
        self.db
            .call(move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT id, at_ms, against, emissions, rewarded, slashed, unpaid FROM batches
                     WHERE id > ?1 ORDER BY id LIMIT ?2",
                )?;
                let rows = statement.query_map(params![after as i64, limit], |row| {
                    Ok(LedgerBatch {
                        id: row.get::<_, i64>(0)? as u64,
                        at_ms: row.get::<_, i64>(1)? as u64,
                        against: row.get(2)?,
                        emissions: row.get::<_, i64>(3)? as u64,
                        rewarded: row.get(4)?,
                        slashed: row.get(5)?,
                        unpaid: row.get(6)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A ledger written before settlements had rows of their own opens, keeps its events, and
    /// settles into batches from then on.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_ledger_from_before_batches_opens_and_settles_into_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite3");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE models (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
                 url TEXT NOT NULL, deposit REAL NOT NULL, balance REAL NOT NULL, weight REAL NOT NULL,
                 state TEXT NOT NULL);
             CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL,
                 model_id INTEGER NOT NULL REFERENCES models (id), kind TEXT NOT NULL,
                 amount REAL NOT NULL, balance REAL NOT NULL, weight REAL NOT NULL, reason TEXT NOT NULL);
             INSERT INTO models VALUES (1, 'A', 'http://localhost:5001', 1000, 1000, 1, 'active');
             INSERT INTO ledger VALUES (1, 0, 1, 'deposit', 1000, 1000, 1, 'registered');",
        )
        .unwrap();
        drop(old);

        let ledger = StakeLedger::open(&path, Rules::default()).await.unwrap();
        let tally = BatchTally { asked: 2, agreed: 2, earned: 10.0, ..BatchTally::default() };
        ledger.settle(vec![(1, tally)], 2, "the consensus").await.unwrap();
        let events = ledger.events(None, Some(0), 10).await.unwrap();
        let kinds: Vec<(LedgerKind, Option<u64>)> =
            events.iter().map(|e| (e.kind, e.batch)).collect();
        assert_eq!(kinds, [(LedgerKind::Deposit, None), (LedgerKind::Reward, Some(1))]);
        let batches = ledger.batches(0, 10).await.unwrap();
        assert_eq!((batches.len(), batches[0].emissions, batches[0].rewarded), (1, 2, 10.0));
        assert_eq!(ledger.models().await.unwrap()[0].balance, 1010.0);
    }
}
