//! A node's SQLite storage: the CRDT's dots and tombstones, the max register, the Paxos
//! acceptor's promise and acceptances, decided instances, and the original's acceptor.

use crate::sqlite::rusqlite::{params, Connection};
use crate::sqlite::DbError;
use crate::sync_node::acceptor::Acceptor;
use crate::sync_node::crdt::{Dot, MaxRegister, Person, PersonSet};
use crate::sync_node::paxos::{AcceptorChanges, Ballot, Durable, Snapshot, Value};

use super::{CrdtState, SyncNode};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS person_dots (node INTEGER NOT NULL, counter INTEGER NOT NULL, name TEXT NOT NULL,
    number INTEGER NOT NULL, PRIMARY KEY (node, counter));
CREATE TABLE IF NOT EXISTS tombstones (node INTEGER NOT NULL, counter INTEGER NOT NULL, PRIMARY KEY (node, counter));
CREATE TABLE IF NOT EXISTS node_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS paxos_instances (instance INTEGER PRIMARY KEY, acceptor TEXT NOT NULL, decided INTEGER);
CREATE TABLE IF NOT EXISTS original_acceptor (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL);
";

/// How one instance is stored (`paxos_instances.acceptor`). Databases written before the
/// Multi-Paxos change hold a promise per instance too; it is read into the node-wide promise.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct StoredInstance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    promised: Option<Ballot>,
    #[serde(default)]
    accepted: Option<(Ballot, Value)>,
}

/// What a node keeps on disk.
pub(super) type Stored = (CrdtState, Durable, Acceptor);

/// Unreadable Paxos state stops the node: forgetting what an acceptor promised or accepted
/// could let two values be chosen.
fn unreadable(err: serde_json::Error) -> crate::sqlite::rusqlite::Error {
    crate::sqlite::rusqlite::Error::FromSqlConversionFailure(
        1,
        crate::sqlite::rusqlite::types::Type::Text,
        Box::new(err),
    )
}

pub(super) fn load_state(conn: &Connection) -> Result<Stored, crate::sqlite::rusqlite::Error> {
    let adds: Vec<(Person, Dot)> = conn
        .prepare("SELECT node, counter, name, number FROM person_dots")?
        .query_map([], |r| {
            Ok((
                Person { name: r.get(2)?, number: r.get::<_, i64>(3)? as u64 },
                Dot { node: r.get::<_, i64>(0)? as u64, counter: r.get::<_, i64>(1)? as u64 },
            ))
        })?
        .collect::<Result<_, _>>()?;
    let tombstones: Vec<Dot> = conn
        .prepare("SELECT node, counter FROM tombstones")?
        .query_map([], |r| {
            Ok(Dot { node: r.get::<_, i64>(0)? as u64, counter: r.get::<_, i64>(1)? as u64 })
        })?
        .collect::<Result<_, _>>()?;
    let meta = |key: &str| -> Result<u64, crate::sqlite::rusqlite::Error> {
        conn.query_row(
            "SELECT coalesce((SELECT value FROM node_meta WHERE key = ?1), 0)",
            [key],
            |r| r.get::<_, i64>(0),
        )
        .map(|v| v as u64)
    };
    let mut durable = Durable { max_round: meta("max_round")?, ..Durable::default() };
    durable.snapshot = Snapshot {
        index: meta("snapshot_index")?,
        highest: meta("snapshot_highest")?,
        highest_instance: meta("snapshot_highest_instance")?,
        noops: meta("snapshot_noops")?,
    };
    let promised_round = meta("promised_round")?;
    if promised_round > 0 {
        durable.promised = Some(Ballot { round: promised_round, node: meta("promised_node")? });
    }
    let mut rows = conn.prepare("SELECT instance, acceptor, decided FROM paxos_instances")?;
    let instances = rows.query_map([], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?, r.get::<_, Option<i64>>(2)?))
    })?;
    for row in instances {
        let (instance, acceptor, decided) = row?;
        if instance <= durable.snapshot.index {
            // A decision written lazily after its instance was trimmed.
            continue;
        }
        let stored: StoredInstance = serde_json::from_str(&acceptor).map_err(unreadable)?;
        durable.promised = durable.promised.max(stored.promised);
        if let Some(accepted) = stored.accepted {
            durable.accepted.insert(instance, accepted);
        }
        if let Some(value) = decided {
            durable.decided.insert(instance, value as u64);
        }
    }
    let crdt = CrdtState {
        persons: PersonSet::from_parts(adds, tombstones),
        max: MaxRegister(meta("max_register")?),
    };
    let original: Option<String> = conn
        .query_row("SELECT state FROM original_acceptor WHERE id = 1", [], |r| r.get(0))
        .map(Some)
        .or_else(|e| match e {
            crate::sqlite::rusqlite::Error::QueryReturnedNoRows => Ok(None),
            other => Err(other),
        })?;
    let acceptor = match original {
        Some(text) => serde_json::from_str(&text).map_err(unreadable)?,
        None => Acceptor::default(),
    };
    Ok((crdt, durable, acceptor))
}

impl SyncNode {
    pub(super) async fn save_acceptor(&self, acceptor: &Acceptor) -> Result<(), DbError> {
        let state = serde_json::to_string(acceptor).expect("the acceptor serializes");
        self.inner
            .db
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO original_acceptor (id, state) VALUES (1, ?1)
                     ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                    [state],
                )?;
                Ok(Ok::<_, ()>(()))
            })
            .await
            .map(|_| ())
    }

    pub(super) async fn persist(&self, state: &CrdtState) -> Result<(), DbError> {
        let (adds, tombstones) = state.persons.parts();
        let max = state.max.0;
        self.inner
            .db
            .write(move |conn| {
                let mut insert = conn.prepare_cached(
                    "INSERT OR IGNORE INTO person_dots (node, counter, name, number) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (person, dot) in &adds {
                    insert.execute(params![dot.node as i64, dot.counter as i64, person.name, person.number as i64])?;
                }
                let mut tomb = conn.prepare_cached("INSERT OR IGNORE INTO tombstones (node, counter) VALUES (?1, ?2)")?;
                for dot in &tombstones {
                    tomb.execute(params![dot.node as i64, dot.counter as i64])?;
                }
                conn.execute(
                    "INSERT INTO node_meta (key, value) VALUES ('max_register', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                    [max as i64],
                )?;
                Ok(Ok::<_, ()>(()))
            })
            .await
            .map(|_| ())
    }

    /// Queue Paxos state for the disk now (call it under the Paxos lock, so writes land in the
    /// order the state changed); the future answers once it is on disk.
    pub(super) fn persist_paxos(
        &self,
        acceptor: Option<AcceptorChanges>,
        decided: Vec<(u64, Value)>,
    ) -> impl std::future::Future<Output = Result<(), DbError>> + use<> {
        let write = self.inner.db.queue_write(move |conn| {
            write_paxos(conn, acceptor.as_ref(), &decided)?;
            Ok(Ok::<_, ()>(()))
        });
        async move { write.await.map(|_| ()) }
    }
}

/// Write Paxos state: the acceptor's changes, decisions learned, and a new snapshot with the
/// trim of the instances it covers (inside the caller's transaction, the group commit's).
fn write_paxos(
    conn: &Connection,
    acceptor: Option<&AcceptorChanges>,
    decided: &[(u64, Value)],
) -> Result<(), crate::sqlite::rusqlite::Error> {
    if let Some(acceptor) = acceptor {
        let mut upsert = conn.prepare_cached(
            "INSERT INTO paxos_instances (instance, acceptor) VALUES (?1, ?2)
             ON CONFLICT (instance) DO UPDATE SET acceptor = excluded.acceptor",
        )?;
        for (instance, ballot, value) in &acceptor.accepted {
            let stored = StoredInstance { promised: None, accepted: Some((*ballot, *value)) };
            let stored = serde_json::to_string(&stored).expect("acceptor state serializes");
            upsert.execute(params![*instance as i64, stored])?;
        }
        let mut meta = conn.prepare_cached(
            "INSERT INTO node_meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?;
        meta.execute(params!["max_round", acceptor.max_round as i64])?;
        if let Some(promised) = acceptor.promised {
            meta.execute(params!["promised_round", promised.round as i64])?;
            meta.execute(params!["promised_node", promised.node as i64])?;
        }
    }
    let snapshot = acceptor.and_then(|a| a.snapshot);
    let mut learned = conn.prepare_cached(
        "INSERT INTO paxos_instances (instance, acceptor, decided) VALUES (?1, '{}', ?2)
         ON CONFLICT (instance) DO UPDATE SET decided = excluded.decided",
    )?;
    for (instance, value) in decided {
        learned.execute(params![*instance as i64, *value as i64])?;
    }
    if let Some(snapshot) = snapshot {
        // The snapshot and the trim in one transaction: a crash leaves the instances or
        // the snapshot that stands for them.
        let mut meta = conn.prepare_cached(
            "INSERT INTO node_meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?;
        meta.execute(params!["snapshot_index", snapshot.index as i64])?;
        meta.execute(params!["snapshot_highest", snapshot.highest as i64])?;
        meta.execute(params!["snapshot_highest_instance", snapshot.highest_instance as i64])?;
        meta.execute(params!["snapshot_noops", snapshot.noops as i64])?;
        conn.prepare_cached("DELETE FROM paxos_instances WHERE instance <= ?1")?
            .execute([snapshot.index as i64])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_trims_the_instances_it_covers_and_a_load_starts_from_it() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let ballot = Ballot { round: 1, node: 1 };
        let accepted: Vec<(u64, Ballot, Value)> = (1..=10).map(|i| (i, ballot, i * 10)).collect();
        let changes =
            AcceptorChanges { accepted, promised: Some(ballot), max_round: 1, snapshot: None };
        let decided: Vec<(u64, Value)> = (1..=10).map(|i| (i, i * 10)).collect();
        write_paxos(&conn, Some(&changes), &decided).unwrap();
        let snapshot = Snapshot { index: 6, highest: 60, highest_instance: 6, noops: 0 };
        let trim = AcceptorChanges { accepted: Vec::new(), snapshot: Some(snapshot), ..changes };
        write_paxos(&conn, Some(&trim), &[]).unwrap();
        // A decision in a trimmed instance, written lazily after the trim.
        write_paxos(&conn, None, &[(3, 30)]).unwrap();
        let (_, durable, _) = load_state(&conn).unwrap();
        assert_eq!(durable.snapshot, snapshot);
        assert_eq!(durable.accepted.keys().copied().collect::<Vec<_>>(), [7, 8, 9, 10]);
        assert_eq!(durable.decided.keys().copied().collect::<Vec<_>>(), [7, 8, 9, 10]);
        let rows: i64 =
            conn.query_row("SELECT count(*) FROM paxos_instances", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 5, "the trim deleted rows 1 to 6; the late decision of 3 is one row");
    }
}
