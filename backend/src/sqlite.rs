//! SQLite access shared by every service that keeps data: a pool of connections used from
//! blocking threads, and one writer thread per database, so queries stay off the async runtime
//! (one exception: [`ChangeWatch::version`], a shared-memory read, documented there).

use std::path::Path;

use deadpool_sqlite::rusqlite::Connection;
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
        // Prepared once: parsing the pragma cost more than reading it.
        let mut pragma = conn.prepare_cached("PRAGMA data_version")?;
        Ok(pragma.query_row([], |row| row.get::<_, i64>(0))? as u64)
    }
}

/// A SQLite database in WAL mode: readers never wait for the writer, and several processes
/// (shop servers A and B) can share the file.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// Queue of the writer thread (see [`Db::write`]).
    writer: std::sync::mpsc::Sender<Job>,
}

/// Called after the group commit with its outcome: sends the write's answer.
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
/// One write: runs inside the group's transaction; says whether to keep its changes.
type Job = Box<dyn FnOnce(&Connection) -> (bool, Deliver) + Send>;

/// Largest number of writes committed together.
const MAX_GROUP: usize = 512;

/// The writer thread: take every queued write, run each in its own savepoint of one
/// transaction, commit once, then answer them all.
/// After each committed group it tells the [`checkpoints`] thread (without waiting: one signal
/// pending is enough).
fn write_groups(
    mut conn: Connection,
    jobs: &std::sync::mpsc::Receiver<Job>,
    committed_some: &std::sync::mpsc::SyncSender<()>,
) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let (delivers, failure) = run_group(&mut conn, group);
        let committed = failure.map_or(Ok(()), Err);
        if committed.is_ok() {
            let _ = committed_some.try_send(());
        }
        for deliver in delivers {
            deliver(committed.clone());
        }
    }
}

/// How long the checkpointer lets commits gather before it copies them into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// The checkpointer thread: copies the WAL's committed pages into the database file, on a
/// connection of its own, off the writer's path. SQLite's automatic checkpoint ran inside the
/// commit that crossed 1,000 WAL pages, so that one write waited for the copy and its fsync (the
/// tens of milliseconds in the Paxos rows' p99). A passive checkpoint takes no lock a writer or
/// reader waits for. Ends when the writer thread does.
fn checkpoints(conn: &Connection, committed_some: &std::sync::mpsc::Receiver<()>) {
    while committed_some.recv().is_ok() {
        std::thread::sleep(CHECKPOINT_EVERY);
        while committed_some.try_recv().is_ok() {}
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        match done {
            Ok((log, copied)) => tracing::trace!(log, copied, "checkpoint"),
            Err(err) => tracing::warn!(%err, "checkpoint failed; the WAL keeps the changes"),
        }
    }
}

fn run_group(conn: &mut Connection, group: Vec<Job>) -> (Vec<Deliver>, Option<String>) {
    let mut delivers = Vec::with_capacity(group.len());
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Not run: each write's caller hears so when its job (and its answer channel) is dropped.
        drop(group);
        return (delivers, Some(format!("could not begin a write: {err}")));
    }
    for job in group {
        let savepoint = conn.execute_batch("SAVEPOINT write");
        let (keep, deliver) = job(conn);
        let closed = if keep && savepoint.is_ok() {
            conn.execute_batch("RELEASE write")
        } else {
            conn.execute_batch("ROLLBACK TO write; RELEASE write")
        };
        if let Err(err) = closed {
            tracing::error!(%err, "closing a write's savepoint");
        }
        delivers.push(deliver);
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => (delivers, None),
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            (delivers, Some(format!("commit failed: {err}")))
        }
    }
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
        let mut writer_conn = Connection::open(path)?;
        configure_connection(&mut writer_conn)?;
        // WAL is a property of the file, set once, before the checkpointer's connection opens (a
        // connection opened before it checkpoints nothing). Checkpoints are the checkpointer's
        // job, not the commit's.
        set_wal(&writer_conn)?;
        writer_conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let mut checkpoint_conn = Connection::open(path)?;
        configure_connection(&mut checkpoint_conn)?;
        let (writer, jobs) = std::sync::mpsc::channel::<Job>();
        let (committed_some, commits) = std::sync::mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_groups(writer_conn, &jobs, &committed_some))
            .map_err(|e| DbError::Pool(format!("starting the writer thread: {e}")))?;
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoints(&checkpoint_conn, &commits))
            .map_err(|e| DbError::Pool(format!("starting the checkpoint thread: {e}")))?;
        let db = Self { pool, writer };
        // The schema is idempotent.
        db.call(move |conn| conn.execute_batch(schema)).await?;
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

    /// Run `f` as one atomic write: it commits when `f` returns `Ok(Ok(_))` and leaves no trace
    /// otherwise. The answer comes after the commit is durable (fsync'd).
    ///
    /// Writes are funnelled to one writer thread that commits them in groups: every write that
    /// queued while the previous group was committing runs in its own SAVEPOINT of the next
    /// transaction (so one write's failure rolls back that write alone), and one fsync makes the
    /// whole group durable. No writer ever waits on SQLite's lock inside this process.
    pub async fn write<T, E, F>(&self, f: F) -> Result<Result<T, E>, DbError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&Connection) -> Result<Result<T, E>, rusqlite::Error> + Send + 'static,
    {
        self.queue_write(f).await
    }

    /// [`Db::write`], queued at once (not when first polled): writes queued one after another
    /// commit in that order, so a caller that queues under its own lock gets its changes on disk
    /// in the order it made them.
    pub fn queue_write<T, E, F>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = Result<Result<T, E>, DbError>> + use<T, E, F>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&Connection) -> Result<Result<T, E>, rusqlite::Error> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| match f(conn) {
            Ok(Ok(value)) => (
                true,
                Box::new(move |committed: Result<(), String>| {
                    let _ = answer.send(committed.map(|()| Ok(value)).map_err(DbError::Pool));
                }) as Deliver,
            ),
            Ok(Err(refused)) => {
                (false, Box::new(move |_| drop(answer.send(Ok(Err(refused))))) as Deliver)
            }
            Err(failed) => (
                false,
                Box::new(move |_| drop(answer.send(Err(DbError::Sqlite(failed))))) as Deliver,
            ),
        });
        let queued = self.writer.send(job);
        async move {
            queued.map_err(|_| DbError::Pool("the writer thread has stopped".into()))?;
            answered.await.map_err(|_| {
                DbError::Pool("the write could not start: the database is locked or failing".into())
            })?
        }
    }
}

/// Put the file in WAL mode. Two processes opening a new file at once (shop A and B) both ask;
/// the loser is told "locked" at once — SQLite calls no busy handler for a change of journal
/// mode — so it asks again, for as long as the busy timeout.
fn set_wal(conn: &Connection) -> Result<(), DbError> {
    let started = std::time::Instant::now();
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL").map_err(DbError::from) {
            Err(err) if err.is_busy() && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            done => return done,
        }
    }
}

/// How long a connection waits for another writer's lock before it fails.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Every new connection waits (rather than fails) while another writer — possibly another
/// process — holds the lock, and fsyncs every commit (`synchronous=FULL`), so an acknowledged
/// write survives a crash or a power cut.
fn configure_connection(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn grouped_writes_commit_or_roll_back_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.sqlite3"), "CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        let writes = (0..300u32).map(|n| {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |conn| {
                    conn.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                    // Every third write changes its mind after writing: it must leave no trace.
                    Ok(if n % 3 == 0 { Err(n) } else { Ok(n) })
                })
                .await
            })
        });
        let outcomes: Vec<_> = futures::future::join_all(writes)
            .await
            .into_iter()
            .map(|r| r.unwrap().unwrap())
            .collect();
        assert_eq!(outcomes.iter().filter(|o| o.is_err()).count(), 100);
        // A failing statement rolls back alone too.
        let duplicate = db
            .write(|conn| conn.execute("INSERT INTO t (n) VALUES (1)", []).map(|_| Ok::<_, ()>(())))
            .await;
        assert!(duplicate.is_err());
        let stored: Vec<u32> = db
            .call(|conn| {
                conn.prepare("SELECT n FROM t ORDER BY n")?.query_map([], |r| r.get(0))?.collect()
            })
            .await
            .unwrap();
        assert_eq!(stored, (0..300).filter(|n| n % 3 != 0).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn two_opening_one_new_file_at_once_both_open_it() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..20 {
            let path = dir.path().join(format!("{n}.sqlite3"));
            let schema = "CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY)";
            let (a, b) = tokio::join!(
                tokio::spawn({
                    let path = path.clone();
                    async move { Db::open(&path, schema).await.map(drop) }
                }),
                tokio::spawn(async move { Db::open(&path, schema).await.map(drop) })
            );
            a.unwrap().unwrap();
            b.unwrap().unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_checkpointer_copies_commits_into_the_database_and_the_wal_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        let db = Db::open(&path, "CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)").await.unwrap();
        let file_size = |suffix: &str| {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            std::fs::metadata(name).map_or(0, |m| m.len())
        };
        let empty = file_size("");
        // Rounds of 2 MB each (the WAL would pass SQLite's automatic checkpoint, off here, at
        // ~4 MB): with checkpoints, the WAL is written over from its start rather than grown.
        for round in 0..6u32 {
            let writes = (0..64u32).map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |conn| {
                        let n = round * 64 + i;
                        conn.execute("INSERT INTO t (n, pad) VALUES (?1, zeroblob(32000))", [n])?;
                        Ok(Ok::<_, ()>(()))
                    })
                    .await
                })
            });
            for written in futures::future::join_all(writes).await {
                written.unwrap().unwrap().unwrap();
            }
            tokio::time::sleep(CHECKPOINT_EVERY * 2).await;
        }
        assert!(file_size("") > empty + 10_000_000, "copied: {} bytes", file_size(""));
        assert!(file_size("-wal") < 8_000_000, "the WAL grew to {} bytes", file_size("-wal"));
    }
}
