//! SQLite access shared by every service that keeps data: a pool of connections used from
//! blocking threads, so no query ever blocks the async runtime.

use std::path::Path;

use deadpool_sqlite::rusqlite::{Connection, Transaction, TransactionBehavior};
use deadpool_sqlite::{Config, Hook, HookError, Pool, Runtime};

pub use deadpool_sqlite::rusqlite;

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database pool: {0}")]
    Pool(String),
}

impl DbError {
    /// Another process held the write lock for longer than the busy timeout.
    pub fn is_busy(&self) -> bool {
        matches!(self, DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DatabaseBusy || e.code == rusqlite::ErrorCode::DatabaseLocked)
    }
}

/// Tells whether anything was committed to the database since it last looked, by any
/// connection of any process: SQLite's `PRAGMA data_version` on a connection of its own.
///
/// Reading it touches only the WAL index in shared memory (no disk I/O), a microsecond, so it is
/// read on the async thread under a std mutex instead of paying a hop to a blocking thread.
pub struct ChangeWatch {
    conn: std::sync::Mutex<Connection>,
}

impl std::fmt::Debug for ChangeWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangeWatch")
    }
}

impl ChangeWatch {
    pub fn open(path: &Path) -> Result<Self, DbError> {
        let conn = Connection::open(path)?;
        Ok(Self { conn: std::sync::Mutex::new(conn) })
    }

    /// A number that differs from the last one read whenever another connection has committed.
    pub fn version(&self) -> Result<u64, DbError> {
        let conn = self.conn.lock().expect("change watch lock poisoned");
        Ok(conn.query_row("PRAGMA data_version", [], |row| row.get::<_, i64>(0))? as u64)
    }
}

/// A SQLite database in WAL mode: readers never wait for the writer, and several processes
/// (shop servers A and B) can share the file.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("status", &self.pool.status()).finish()
    }
}

impl Db {
    /// Open (creating if needed) the database at `path` and run `schema` once.
    pub async fn open(path: &Path, schema: &'static str) -> Result<Self, DbError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| DbError::Pool(format!("{}: {e}", dir.display())))?;
        }
        let pool = Config::new(path)
            .builder(Runtime::Tokio1)
            .map_err(|e| DbError::Pool(e.to_string()))?
            .post_create(Hook::async_fn(|conn, _| {
                Box::pin(async move {
                    conn.interact(configure_connection)
                        .await
                        .map_err(|e| HookError::message(e.to_string()))?
                        .map_err(|e| HookError::message(e.to_string()))
                })
            }))
            .build()
            .map_err(|e| DbError::Pool(e.to_string()))?;
        let db = Self { pool };
        db.call(move |conn| {
            // WAL is a property of the file, set once; the schema is idempotent.
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.execute_batch(schema)
        })
        .await?;
        Ok(db)
    }

    /// Run `f` on a pooled connection, on a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let conn = self.pool.get().await.map_err(|e| DbError::Pool(e.to_string()))?;
        conn.interact(f).await.map_err(|e| DbError::Pool(e.to_string()))?.map_err(DbError::from)
    }

    /// Run `f` in one write transaction (taken at once: `BEGIN IMMEDIATE`), committed when `f`
    /// returns `Ok`, rolled back otherwise — a write is all or nothing.
    pub async fn write<T, E, F>(&self, f: F) -> Result<Result<T, E>, DbError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<Result<T, E>, rusqlite::Error> + Send + 'static,
    {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let outcome = f(&tx)?;
            if outcome.is_ok() {
                tx.commit()?;
            }
            Ok(outcome)
        })
        .await
    }
}

/// Every new connection waits (rather than fails) while another writer — possibly another
/// process — holds the lock, and fsyncs every commit (`synchronous=FULL`), so an acknowledged
/// write survives a crash or a power cut.
fn configure_connection(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", "FULL")
}
