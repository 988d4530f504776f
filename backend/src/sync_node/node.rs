//! A sync node: the I/O around the CRDT and Paxos state machines — SQLite persistence, pushing
//! updates to peers at once, anti-entropy in the background, Paxos messages over HTTP, and the
//! load-driven switch between CRDT + Paxos and CRDT-only.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shared::sync::{
    Added, LoadInfo, NamedEntry, NodeData, PaxosLogEntry, PaxosStatus, PersonRecord, SyncMode,
};
use shared::EventKind;
use tokio::sync::watch;

use super::acceptor::{Acceptor, Promise};
use super::crdt::{Dot, MaxRegister, NodeId, Person, PersonSet};
use super::paxos::{AcceptorChanges, Ballot, Durable, Message, Paxos, Value, GAP};
use crate::service::{now_ms, EventBus, LinkFaults, Service};
use crate::sqlite::rusqlite::{params, Connection};
use crate::sqlite::{Db, DbError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS person_dots (node INTEGER NOT NULL, counter INTEGER NOT NULL, name TEXT NOT NULL,
    number INTEGER NOT NULL, PRIMARY KEY (node, counter));
CREATE TABLE IF NOT EXISTS tombstones (node INTEGER NOT NULL, counter INTEGER NOT NULL, PRIMARY KEY (node, counter));
CREATE TABLE IF NOT EXISTS node_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS paxos_instances (instance INTEGER PRIMARY KEY, acceptor TEXT NOT NULL, decided INTEGER);
CREATE TABLE IF NOT EXISTS original_acceptor (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL);
";

/// Paxos messages kept for the dashboard's log.
const PAXOS_LOG: usize = 200;
/// Paxos requests in flight to one peer at a time (messages queued meanwhile go in one batch).
const PAXOS_IN_FLIGHT: usize = 4;

/// How a node runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: NodeId,
    pub name: String,
    pub bind: String,
    pub port: u16,
    /// (id, base URL) of every other node.
    pub peers: Vec<(NodeId, String)>,
    /// Client requests per window above which the node switches to CRDT-only.
    pub high: u64,
    /// Client requests per window below which it switches back.
    pub low: u64,
    pub window: Duration,
    /// How often the node pulls its peers' state (anti-entropy).
    pub anti_entropy: Duration,
}

/// The CRDT state a node holds and peers exchange.
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct CrdtState {
    #[schema(value_type = super::crdt::Wire)]
    pub persons: PersonSet,
    pub max: MaxRegister,
}

#[derive(Debug)]
struct Load {
    hits: VecDeque<Instant>,
    mode: SyncMode,
    forced: bool,
    switches: u64,
}

/// A sync node's state; cheap to clone.
#[derive(Debug, Clone)]
pub struct SyncNode {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: NodeConfig,
    client: reqwest::Client,
    events: EventBus,
    links: LinkFaults,
    db: Db,
    crdt: Mutex<CrdtState>,
    paxos: Mutex<Paxos>,
    /// The original's single-decree acceptor (`/prepare`, `/accept`); an async lock, held
    /// while its new state is written, so answers leave in the order the state changed.
    acceptor: tokio::sync::Mutex<Acceptor>,
    load: Mutex<Load>,
    paxos_log: Mutex<VecDeque<Sent>>,
    /// Counts changes of the node's data; live clients (Socket.IO) are sent the latest state
    /// when it moves — a burst of changes costs one send, not one per change.
    changes: watch::Sender<u64>,
    /// The highest number Paxos decided, for writers waiting on their proposal.
    decided: watch::Sender<u64>,
    /// Deltas not yet sent to each peer, merged: a burst of updates is one request per peer.
    outgoing: Mutex<Vec<Option<CrdtState>>>,
    send_now: tokio::sync::Notify,
    /// Paxos messages not yet sent, per peer (in `config.peers` order).
    paxos_out: Vec<PaxosQueue>,
    /// Decisions learned and not yet written (they go with the next acceptor write, or the
    /// next tick: at most a tick of them is lost in a crash, and peers still hold them).
    lazy_decided: Mutex<Vec<(u64, Value)>>,
}

/// Paxos messages waiting for one peer; its sender takes them all in one request.
#[derive(Debug, Default)]
struct PaxosQueue {
    messages: Mutex<Vec<Message>>,
    wake: tokio::sync::Notify,
}

/// How one instance is stored (`paxos_instances.acceptor`). Databases written before the
/// Multi-Paxos change hold a promise per instance too; it is read into the node-wide promise.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct StoredInstance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    promised: Option<Ballot>,
    #[serde(default)]
    accepted: Option<(Ballot, Value)>,
}

/// Paxos messages to a peer, as `POST /paxos` takes them.
#[derive(serde::Serialize)]
struct Batch<'a> {
    from: NodeId,
    messages: &'a [Message],
}

/// A Paxos message this node sent, as its log keeps it.
#[derive(Debug)]
struct Sent {
    at_ms: u64,
    from: NodeId,
    to: NodeId,
    message: Message,
}

/// A message as the dashboard's log shows it: kind, ballot, value, note.
fn describe(message: &Message) -> (&'static str, Option<Ballot>, Option<Value>, Option<String>) {
    let gap = |value: Value| (value == GAP).then(|| "no-op (closes a gap)".to_owned());
    match message {
        Message::Prepare { ballot, from } => {
            ("prepare", Some(*ballot), None, Some(format!("for instances ≥ {from}")))
        }
        Message::Promise { ballot, from, accepted, decided } => (
            "promise",
            Some(*ballot),
            None,
            Some(format!(
                "instances ≥ {from}: {} accepted, {} decided",
                accepted.len(),
                decided.len()
            )),
        ),
        Message::Accept { ballot, value, .. } => {
            ("accept", Some(*ballot), Some(*value), gap(*value))
        }
        Message::Accepted { ballot, value, .. } => {
            ("accepted", Some(*ballot), Some(*value), gap(*value))
        }
        Message::Nack { ballot, promised } => {
            ("nack", Some(*ballot), None, Some(format!("promised {promised}")))
        }
        Message::Decided { value, .. } => ("decided", None, Some(*value), gap(*value)),
        Message::Forward { value } => {
            ("forward", None, Some(*value), Some("to the leader".to_owned()))
        }
        Message::Catchup { from, .. } => {
            ("catch-up", None, None, Some(format!("decisions from instance {from}")))
        }
    }
}

/// What a node keeps on disk.
type Stored = (CrdtState, Durable, Acceptor);

/// Unreadable Paxos state stops the node: forgetting what an acceptor promised or accepted
/// could let two values be chosen.
fn unreadable(err: serde_json::Error) -> crate::sqlite::rusqlite::Error {
    crate::sqlite::rusqlite::Error::FromSqlConversionFailure(
        1,
        crate::sqlite::rusqlite::types::Type::Text,
        Box::new(err),
    )
}

fn load_state(conn: &Connection) -> Result<Stored, crate::sqlite::rusqlite::Error> {
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
    pub async fn open(config: NodeConfig, db: &Path, service: &Service) -> Result<Self, DbError> {
        let db = Db::open(db, SCHEMA).await?;
        let (crdt, durable, acceptor) = db.call(|conn| load_state(conn)).await?;
        let mut nodes: Vec<NodeId> = config.peers.iter().map(|(id, _)| *id).collect();
        nodes.push(config.id);
        nodes.sort_unstable();
        let paxos = Paxos::restore(config.id, nodes, durable);
        tracing::info!(
            node = config.id,
            persons = crdt.persons.present().count(),
            decided = paxos.decisions().len(),
            "sync node state loaded"
        );
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| DbError::Pool(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                events: service.events(),
                links: service.links(),
                db,
                crdt: Mutex::new(crdt),
                paxos: Mutex::new(paxos),
                acceptor: tokio::sync::Mutex::new(acceptor),
                load: Mutex::new(Load {
                    hits: VecDeque::new(),
                    mode: SyncMode::CrdtPaxos,
                    forced: false,
                    switches: 0,
                }),
                paxos_log: Mutex::new(VecDeque::new()),
                changes: watch::channel(0).0,
                decided: watch::channel(0).0,
                outgoing: Mutex::new(vec![None; config.peers.len()]),
                send_now: tokio::sync::Notify::new(),
                paxos_out: config.peers.iter().map(|_| PaxosQueue::default()).collect(),
                lazy_decided: Mutex::new(Vec::new()),
                config,
            }),
        })
    }

    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// A receiver that wakes whenever the node's data changed.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    pub fn mode(&self) -> SyncMode {
        self.inner.load.lock().expect("load lock poisoned").mode
    }

    /// The node's persons and highest number, as the current mode has them; `data` is the
    /// original project's list (each distinct name with the node's highest number).
    pub fn data(&self) -> NodeData {
        let mode = self.mode();
        let persons: Vec<PersonRecord> =
            (self.inner.crdt.lock().expect("crdt lock poisoned").persons.present())
                .map(|p| PersonRecord { name: p.name.clone(), number: number_of(p.number) })
                .collect();
        let highest_number = self.highest_number(mode);
        let mut names: Vec<&str> = persons.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let data = names
            .into_iter()
            .map(|name| NamedEntry { name: name.to_owned(), max_number: number_of(highest_number) })
            .collect();
        NodeData { data, node: self.inner.config.name.clone(), persons, highest_number, mode }
    }

    /// The highest number as `mode` has it: the max register's in CRDT-only, Paxos's otherwise.
    pub fn highest_number(&self, mode: SyncMode) -> u64 {
        match mode {
            SyncMode::CrdtOnly => self.inner.crdt.lock().expect("crdt lock poisoned").max.0,
            SyncMode::CrdtPaxos => self.highest(),
        }
    }

    fn notify(&self) {
        self.inner.changes.send_modify(|version| *version += 1);
        let highest = self.highest();
        self.inner.decided.send_if_modified(|seen| {
            let moved = highest > *seen;
            *seen = highest.max(*seen);
            moved
        });
    }

    pub fn crdt_state(&self) -> CrdtState {
        self.inner.crdt.lock().expect("crdt lock poisoned").clone()
    }

    /// Count a client request; switch modes when the load crosses the thresholds.
    pub fn hit(&self) {
        let now = Instant::now();
        let mut load = self.inner.load.lock().expect("load lock poisoned");
        load.hits.push_back(now);
        self.reevaluate(&mut load, now);
    }

    fn reevaluate(&self, load: &mut Load, now: Instant) {
        let window = self.inner.config.window;
        while load.hits.front().is_some_and(|t| now.duration_since(*t) > window) {
            load.hits.pop_front();
        }
        let count = load.hits.len() as u64;
        let (high, low) = (self.inner.config.high, self.inner.config.low);
        if load.mode == SyncMode::CrdtPaxos && count > high {
            self.switch(load, SyncMode::CrdtOnly, &format!("load {count} > {high} per {window:?}"));
        } else if load.mode == SyncMode::CrdtOnly && !load.forced && count < low {
            self.switch(load, SyncMode::CrdtPaxos, &format!("load {count} < {low} per {window:?}"));
        }
    }

    fn switch(&self, load: &mut Load, to: SyncMode, why: &str) {
        load.mode = to;
        load.switches += 1;
        let name = match to {
            SyncMode::CrdtOnly => "CRDT-only",
            SyncMode::CrdtPaxos => "CRDT + Paxos",
        };
        tracing::warn!(mode = name, %why, "switched");
        self.inner.events.emit(EventKind::Mode, format!("switched to {name}: {why}"));
        if to == SyncMode::CrdtPaxos {
            // Numbers added while CRDT-only were never proposed: bring Paxos up to them.
            let max = self.inner.crdt.lock().expect("crdt lock poisoned").max.0;
            let node = self.clone();
            tokio::spawn(async move { node.propose(max).await });
        }
    }

    /// Force CRDT-only (`true`) or release the force and let load decide (`false`).
    pub fn force_crdt_only(&self, force: bool) -> LoadInfo {
        {
            let mut load = self.inner.load.lock().expect("load lock poisoned");
            load.forced = force;
            if force && load.mode == SyncMode::CrdtPaxos {
                self.switch(&mut load, SyncMode::CrdtOnly, "forced");
            } else if !force && load.mode == SyncMode::CrdtOnly {
                self.switch(&mut load, SyncMode::CrdtPaxos, "force released");
            }
        }
        self.notify();
        self.load_info()
    }

    pub fn load_info(&self) -> LoadInfo {
        let mut load = self.inner.load.lock().expect("load lock poisoned");
        self.reevaluate(&mut load, Instant::now());
        LoadInfo {
            load: load.hits.len() as u64,
            requests: load.hits.len() as u64,
            window_ms: self.inner.config.window.as_millis() as u64,
            high: self.inner.config.high,
            low: self.inner.config.low,
            mode: load.mode,
            forced: load.forced,
            switches: load.switches,
        }
    }

    /// A client adds a person here (`POST /add_name`, `update_data` with a name). With Paxos, a
    /// number above the agreed highest is proposed while the person is written, and the answer
    /// waits (a bounded while) for the agreement.
    pub async fn add(&self, person: PersonRecord) -> Result<Added, DbError> {
        let update = Update { name: Some(person.name.clone()), number: person.number };
        let agreed = self.apply(update).await?;
        let mode = self.mode();
        Ok(Added {
            message: format!("Name \"{}\" added successfully", person.name),
            node: self.inner.config.name.clone(),
            person,
            highest_number: self.highest_number(mode),
            mode,
            agreed,
        })
    }

    /// Apply a client's update: a person (name, maybe a number), or a number alone, which only
    /// raises the highest number (the original page's "save number"). Returns, with Paxos,
    /// whether the nodes agreed on a highest number at least the update's before the answer.
    pub async fn apply(&self, update: Update) -> Result<Option<bool>, DbError> {
        let wanted = update.number.unwrap_or(GAP);
        let delta = {
            let mut crdt = self.inner.crdt.lock().expect("crdt lock poisoned");
            let persons = match update.name {
                Some(name) => {
                    crdt.persons.add(self.inner.config.id, Person { name, number: wanted })
                }
                None => PersonSet::default(),
            };
            crdt.max.merge(MaxRegister(wanted));
            CrdtState { persons, max: crdt.max }
        };
        let paxos = self.mode() == SyncMode::CrdtPaxos;
        let highest = self.inner.paxos.lock().expect("paxos lock poisoned").highest();
        let agree = async {
            if !paxos {
                return None;
            }
            if wanted == GAP || highest.is_some_and(|h| h >= wanted) {
                return Some(true);
            }
            let mut decided = self.inner.decided.subscribe();
            self.propose(wanted).await;
            // Bounded: with no majority reachable the answer goes out and the decision follows.
            let agreed = tokio::time::timeout(
                Duration::from_millis(500),
                decided.wait_for(|h| *h >= wanted),
            )
            .await
            .is_ok();
            Some(agreed)
        };
        // The proposal goes first: its accepts travel while the person is being written.
        let (agreed, saved) = tokio::join!(agree, self.persist(&delta));
        saved?;
        self.push(&delta);
        self.notify();
        Ok(agreed)
    }

    /// The original's `/prepare`: phase 1 of its single-decree acceptor, written before the
    /// answer.
    pub async fn original_prepare(&self, n: u64) -> Result<(Promise, Option<u64>), DbError> {
        let mut acceptor = self.inner.acceptor.lock().await;
        let (promise, changed) = acceptor.prepare(n);
        if changed {
            self.save_acceptor(&acceptor).await?;
        }
        Ok((promise, acceptor.promised))
    }

    /// The original's `/accept`: phase 2, written before the answer. An accepted value that
    /// is an account number also raises the node's highest number (the original's acceptors
    /// decided the highest number): through the CRDT, and through Paxos when it is on.
    pub async fn original_accept(
        &self,
        n: u64,
        value: serde_json::Value,
    ) -> Result<(bool, Option<u64>), DbError> {
        let number = value.as_u64().filter(|v| *v != GAP && *v <= MAX_NUMBER);
        let (accepted, promised) = {
            let mut acceptor = self.inner.acceptor.lock().await;
            let accepted = acceptor.accept(n, value);
            if accepted {
                self.save_acceptor(&acceptor).await?;
            }
            (accepted, acceptor.promised)
        };
        if let (true, Some(number)) = (accepted, number) {
            self.apply(Update { name: None, number: Some(number) }).await?;
        }
        Ok((accepted, promised))
    }

    async fn save_acceptor(&self, acceptor: &Acceptor) -> Result<(), DbError> {
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

    fn highest(&self) -> u64 {
        self.inner.paxos.lock().expect("paxos lock poisoned").highest().unwrap_or(0)
    }

    /// Merge a peer's state or delta; returns whether anything changed.
    pub async fn merge(&self, other: CrdtState) -> Result<bool, DbError> {
        let changed = {
            let mut crdt = self.inner.crdt.lock().expect("crdt lock poisoned");
            let before = (crdt.persons.len(), crdt.max);
            crdt.persons.merge(&other.persons);
            crdt.max.merge(other.max);
            before != (crdt.persons.len(), crdt.max)
        };
        if changed {
            self.persist(&other).await?;
            self.notify();
        }
        Ok(changed)
    }

    async fn persist(&self, state: &CrdtState) -> Result<(), DbError> {
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

    /// Queue a delta for every peer; the pusher sends it at once, merged with whatever else is
    /// waiting (a cut link drops it — anti-entropy repairs that later).
    fn push(&self, delta: &CrdtState) {
        {
            let mut outgoing = self.inner.outgoing.lock().expect("outgoing lock poisoned");
            for slot in outgoing.iter_mut() {
                match slot {
                    Some(waiting) => {
                        waiting.persons.merge(&delta.persons);
                        waiting.max.merge(delta.max);
                    }
                    None => *slot = Some(delta.clone()),
                }
            }
        }
        self.inner.send_now.notify_one();
    }

    /// Send queued deltas to the peers, forever.
    async fn push_forever(self) {
        loop {
            self.inner.send_now.notified().await;
            let batches: Vec<(String, CrdtState)> = {
                let mut outgoing = self.inner.outgoing.lock().expect("outgoing lock poisoned");
                self.inner
                    .config
                    .peers
                    .iter()
                    .zip(outgoing.iter_mut())
                    .filter_map(|((_, url), slot)| slot.take().map(|delta| (url.clone(), delta)))
                    .collect()
            };
            let sends = batches.into_iter().map(|(peer, delta)| {
                let node = self.clone();
                async move {
                    if node.inner.links.pass(&peer).await.is_ok() {
                        let request =
                            node.inner.client.post(format!("{peer}/crdt/merge")).json(&delta);
                        let _ = request.timeout(Duration::from_secs(2)).send().await;
                    }
                }
            });
            futures::future::join_all(sends).await;
        }
    }

    /// Pull every peer's state and merge it (anti-entropy; also `GET /data_transfer`).
    /// The peers are asked at once: a silent one (paused, cut off) delays the answer by its
    /// timeout, not by the sum of them.
    pub async fn pull_peers(&self) -> usize {
        let pulls = self.inner.config.peers.iter().map(|(_, peer)| async move {
            self.inner.links.pass(peer).await.ok()?;
            let answer = self
                .inner
                .client
                .get(format!("{peer}/crdt/state"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            answer.ok()?.json::<CrdtState>().await.ok()
        });
        let states: Vec<CrdtState> =
            futures::future::join_all(pulls).await.into_iter().flatten().collect();
        let reached = states.len();
        for state in states {
            if let Err(err) = self.merge(state).await {
                tracing::warn!(%err, "merging a peer's state");
            }
        }
        reached
    }

    /// The port of every node this one can reach now (a health check through its links, each
    /// bounded), its own first: the original's list of active nodes.
    pub async fn reachable_ports(&self) -> Vec<u16> {
        let checks = self.inner.config.peers.iter().map(|(_, peer)| async move {
            self.inner.links.pass(peer).await.ok()?;
            crate::service::check_health(&self.inner.client, peer, Duration::from_millis(500))
                .await
                .ok()?;
            reqwest::Url::parse(peer).ok()?.port_or_known_default()
        });
        let mut ports = vec![self.inner.config.port];
        ports.extend(futures::future::join_all(checks).await.into_iter().flatten());
        ports
    }

    /// Propose a number to Paxos and drive the messages.
    pub async fn propose(&self, value: Value) {
        let before = self.highest();
        self.inner.paxos.lock().expect("paxos lock poisoned").propose(value);
        self.drain(None).await;
        self.notify_if_moved(before);
    }

    /// Tell waiting writers and live clients when the agreed number moved.
    fn notify_if_moved(&self, before: u64) {
        if self.highest() != before {
            self.notify();
        }
    }

    /// Log a message this node sends (its sender logs each message once: the dashboard merges
    /// the three nodes' logs).
    /// (It keeps the message as it is: the text is made when the log is read, not per message.)
    fn log(&self, from: NodeId, to: NodeId, message: &Message) {
        if matches!(message, Message::Catchup { .. }) {
            return; // every node asks every peer every second: noise in the dashboard's log
        }
        let sent = Sent { at_ms: now_ms(), from, to, message: message.clone() };
        let mut log = self.inner.paxos_log.lock().expect("log lock poisoned");
        if log.len() == PAXOS_LOG {
            log.pop_front();
        }
        log.push_back(sent);
    }

    pub fn paxos_status(&self) -> PaxosStatus {
        let paxos = self.inner.paxos.lock().expect("paxos lock poisoned");
        let (role, ballot) = paxos.role();
        let noops = paxos.noops();
        PaxosStatus {
            node: self.inner.config.name.clone(),
            role: role.to_owned(),
            ballot: ballot.map(|b| b.to_string()),
            leader: paxos.leader(),
            decided: paxos.decisions().len() as u64 - noops,
            noops,
            first_undecided: paxos.first_undecided(),
            pending: paxos.pending().len() as u64,
            highest_number: paxos.highest().unwrap_or(0),
        }
    }

    pub fn paxos_log(&self) -> Vec<PaxosLogEntry> {
        let log = self.inner.paxos_log.lock().expect("log lock poisoned");
        log.iter()
            .map(|sent| {
                let (kind, ballot, value, note) = describe(&sent.message);
                PaxosLogEntry {
                    at_ms: sent.at_ms,
                    from: sent.from,
                    to: sent.to,
                    kind: kind.to_owned(),
                    instance: sent.message.instance(),
                    ballot: ballot.map(|b| b.to_string()),
                    value,
                    note,
                }
            })
            .collect()
    }

    /// Handle Paxos messages from a peer; returns the replies to it.
    pub async fn receive(&self, from: NodeId, messages: Vec<Message>) -> Vec<Message> {
        let before = self.highest();
        {
            let mut paxos = self.inner.paxos.lock().expect("paxos lock poisoned");
            for message in messages {
                paxos.step(from, message);
            }
        }
        self.notify_if_moved(before);
        let replies = self.drain(Some(from)).await;
        self.notify_if_moved(before);
        replies
    }

    /// Act on what the state machine has [ready](Paxos::ready) — the same answer the
    /// simulation in `paxos/tests.rs` acts on. Messages that state nothing the node could forget
    /// leave at once (to `reply_to`: returned as the HTTP answer; to others: queued for their
    /// sender); the durable changes are queued for the disk under the same lock, so they reach
    /// it in the order they were made; the other messages leave once their changes are on disk.
    async fn drain(&self, reply_to: Option<NodeId>) -> Vec<Message> {
        let me = self.inner.config.id;
        let mut replies = Vec::new();
        loop {
            let (saved, late) = {
                let mut paxos = self.inner.paxos.lock().expect("paxos lock poisoned");
                let ready = paxos.ready();
                for message in &ready.stepped_here {
                    self.log(me, me, message);
                }
                for (to, message) in ready.send_now {
                    replies.extend(self.route(&mut paxos, to, message, reply_to));
                }
                let mut lazy = self.inner.lazy_decided.lock().expect("lazy lock poisoned");
                lazy.extend(ready.decided);
                // Decisions ride along with the next acceptor write (or the tick's).
                let saved = ready
                    .write
                    .map(|write| self.persist_paxos(Some(write), std::mem::take(&mut *lazy)));
                (saved, ready.send_after_write)
            };
            if saved.is_none() && late.is_empty() {
                return replies;
            }
            if let Some(saved) = saved {
                if let Err(err) = saved.await {
                    // Not durable: do not send what depends on it.
                    tracing::error!(%err, "persisting Paxos state; messages dropped");
                    return replies;
                }
            }
            let before = self.highest();
            {
                let mut paxos = self.inner.paxos.lock().expect("paxos lock poisoned");
                for (to, message) in late {
                    replies.extend(self.route(&mut paxos, to, message, reply_to));
                }
            }
            self.notify_if_moved(before);
        }
    }

    /// One outgoing message: to self it is stepped, to `reply_to` returned (the HTTP answer),
    /// to another peer queued for its sender.
    fn route(
        &self,
        paxos: &mut Paxos,
        to: NodeId,
        message: Message,
        reply_to: Option<NodeId>,
    ) -> Option<Message> {
        let me = self.inner.config.id;
        self.log(me, to, &message);
        if to == me {
            paxos.step(me, message);
        } else if Some(to) == reply_to {
            return Some(message);
        } else {
            self.queue(to, message);
        }
        None
    }

    /// Queue Paxos state for the disk now (call it under the Paxos lock, so writes land in the
    /// order the state changed); the future answers once it is on disk.
    fn persist_paxos(
        &self,
        acceptor: Option<AcceptorChanges>,
        decided: Vec<(u64, Value)>,
    ) -> impl std::future::Future<Output = Result<(), DbError>> + use<> {
        let write = self.inner.db.queue_write(move |conn| {
            if let Some(acceptor) = &acceptor {
                let mut upsert = conn.prepare_cached(
                    "INSERT INTO paxos_instances (instance, acceptor) VALUES (?1, ?2)
                     ON CONFLICT (instance) DO UPDATE SET acceptor = excluded.acceptor",
                )?;
                for (instance, ballot, value) in &acceptor.accepted {
                    let stored =
                        StoredInstance { promised: None, accepted: Some((*ballot, *value)) };
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
            let mut learned = conn.prepare_cached(
                "INSERT INTO paxos_instances (instance, acceptor, decided) VALUES (?1, '{}', ?2)
                 ON CONFLICT (instance) DO UPDATE SET decided = excluded.decided",
            )?;
            for (instance, value) in &decided {
                learned.execute(params![*instance as i64, *value as i64])?;
            }
            Ok(Ok::<_, ()>(()))
        });
        async move { write.await.map(|_| ()) }
    }

    /// Write the decisions learned since the last acceptor write.
    async fn flush_decided(&self) {
        let write = {
            let _paxos = self.inner.paxos.lock().expect("paxos lock poisoned");
            let decided =
                std::mem::take(&mut *self.inner.lazy_decided.lock().expect("lazy lock poisoned"));
            (!decided.is_empty()).then(|| self.persist_paxos(None, decided))
        };
        if let Some(Err(err)) = futures::future::OptionFuture::from(write).await {
            tracing::warn!(%err, "writing decisions (peers still hold them)");
        }
    }

    /// Queue a Paxos message for a peer; its sender ships everything queued in one request.
    fn queue(&self, to: NodeId, message: Message) {
        let Some(index) = self.inner.config.peers.iter().position(|(id, _)| *id == to) else {
            return;
        };
        let queue = &self.inner.paxos_out[index];
        queue.messages.lock().expect("paxos queue lock poisoned").push(message);
        queue.wake.notify_one();
    }

    /// Ship queued Paxos messages to the peer at `index`, forever: every message queued while
    /// earlier requests are in flight goes in the next one (at most [`PAXOS_IN_FLIGHT`] at once).
    async fn send_paxos_forever(self, index: usize) {
        let limit = Arc::new(tokio::sync::Semaphore::new(PAXOS_IN_FLIGHT));
        loop {
            self.inner.paxos_out[index].wake.notified().await;
            loop {
                let Ok(permit) = limit.clone().acquire_owned().await else { return };
                let batch = std::mem::take(
                    &mut *self.inner.paxos_out[index]
                        .messages
                        .lock()
                        .expect("paxos queue lock poisoned"),
                );
                if batch.is_empty() {
                    break;
                }
                let node = self.clone();
                tokio::spawn(async move {
                    node.deliver(index, batch).await;
                    drop(permit);
                });
            }
        }
    }

    /// One request with a batch of Paxos messages to a peer; its replies are stepped here (a cut
    /// link or a silent peer loses them — Paxos retries).
    async fn deliver(&self, index: usize, batch: Vec<Message>) {
        let (to, peer) = &self.inner.config.peers[index];
        if self.inner.links.pass(peer).await.is_err() {
            return self.unreachable(*to).await;
        }
        let envelope = Batch { from: self.inner.config.id, messages: &batch };
        let answer = self
            .inner
            .client
            .post(format!("{peer}/paxos"))
            .json(&envelope)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            // Nobody there (refused, reset): tell Paxos now. A timeout says less (a slow or
            // paused peer): Paxos's own timeouts deal with that.
            Err(err) if err.is_connect() => return self.unreachable(*to).await,
            Err(_) => return,
        };
        let Ok(replies) = response.json::<Vec<Message>>().await else { return };
        if replies.is_empty() {
            return;
        }
        let before = self.highest();
        {
            let mut paxos = self.inner.paxos.lock().expect("paxos lock poisoned");
            for reply in replies {
                paxos.step(*to, reply);
            }
        }
        // A decision is safe once a majority accepted it: writers hear of it before this node
        // has written it down.
        self.notify_if_moved(before);
        self.drain(None).await;
    }

    async fn unreachable(&self, peer: NodeId) {
        self.inner.paxos.lock().expect("paxos lock poisoned").unreachable(peer);
        self.drain(None).await;
    }

    /// Start the node's background work: Paxos ticks, anti-entropy, CRDT pushes, one Paxos
    /// sender per peer.
    pub fn spawn_background(&self) {
        tokio::spawn(self.clone().run_forever());
        tokio::spawn(self.clone().anti_entropy_forever());
        tokio::spawn(self.clone().push_forever());
        for index in 0..self.inner.config.peers.len() {
            tokio::spawn(self.clone().send_paxos_forever(index));
        }
    }

    /// Background work: Paxos ticks, load decay. Never waits on a peer (anti-entropy runs in
    /// its own task), so Paxos's timeouts keep time while a peer is silent.
    async fn run_forever(self) {
        let tick = Duration::from_millis(100);
        loop {
            tokio::time::sleep(tick).await;
            let before = self.highest();
            self.inner.paxos.lock().expect("paxos lock poisoned").tick();
            self.drain(None).await;
            self.notify_if_moved(before);
            self.flush_decided().await;
            {
                let mut load = self.inner.load.lock().expect("load lock poisoned");
                let before = load.mode;
                self.reevaluate(&mut load, Instant::now());
                if load.mode != before {
                    drop(load);
                    self.notify();
                }
            }
        }
    }

    /// Pull every peer's state now and then, forever.
    async fn anti_entropy_forever(self) {
        loop {
            tokio::time::sleep(self.inner.config.anti_entropy).await;
            self.pull_peers().await;
        }
    }
}

/// A person from a client: a non-empty name and a non-negative integer number (a numeric string
/// is accepted too, as the original's form sent one).
/// The largest account number a node takes (what a JSON number holds exactly in JavaScript).
pub const MAX_NUMBER: u64 = 1 << 53;

/// What a client asks a node to change: a person (a name, with or without a number), or a
/// number alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub name: Option<String>,
    pub number: Option<u64>,
}

/// Read an update as the original's clients send it: `{"name": "ana", "number": 7}`, the
/// number as a string (its page did), a name alone, or a number alone (`name` empty or null).
/// A number of 0, like none, means no account number.
pub fn parse_update(value: &serde_json::Value) -> Result<Update, String> {
    use serde_json::Value;
    const EXPECTED: &str =
        "expected {\"name\": \"...\", \"number\": N}, a name alone or a number alone";
    let object = value.as_object().ok_or(EXPECTED)?;
    let name = match object.get("name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if name.trim().is_empty() => None,
        Some(Value::String(name)) if name.trim().chars().count() > 100 => {
            return Err("name is longer than 100 characters".into())
        }
        Some(Value::String(name)) => Some(name.trim().to_owned()),
        Some(_) => return Err("name must be a string".into()),
    };
    let number = match object.get("number") {
        None | Some(Value::Null) => None,
        // 7.0 is the whole number 7 (JSON Schema's integer; JavaScript clients send either).
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .or_else(|| {
                    let f = n
                        .as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= MAX_NUMBER as f64)?;
                    Some(f as u64)
                })
                .ok_or("number must be a whole number, 0 or more")?,
        ),
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(
            s.trim()
                .parse::<u64>()
                .map_err(|_| format!("number must be a whole number, got {s:?}"))?,
        ),
        Some(_) => return Err("number must be a whole number".into()),
    };
    if number.is_some_and(|n| n > MAX_NUMBER) {
        return Err(format!("number is too large (at most {MAX_NUMBER})"));
    }
    let number = number.filter(|n| *n != GAP);
    if name.is_none() && number.is_none() {
        return Err(format!("neither a name nor a number: {EXPECTED}"));
    }
    Ok(Update { name, number })
}

/// Read `update_data`'s payload: the update's object itself, or a JSON string holding it (some
/// clients send one), as [`parse_update`] reads it.
pub fn parse_update_event(payload: serde_json::Value) -> Result<Update, String> {
    let value = match payload {
        serde_json::Value::String(text) => {
            serde_json::from_str(&text).map_err(|e| format!("payload is not JSON: {e}"))?
        }
        other => other,
    };
    parse_update(&value)
}

/// An account number as clients see it: 0 is none.
pub fn number_of(number: u64) -> Option<u64> {
    (number != GAP).then_some(number)
}

#[cfg(test)]
mod tests {
    use super::{parse_update, Update};
    use serde_json::json;

    fn update(name: Option<&str>, number: Option<u64>) -> Update {
        Update { name: name.map(str::to_owned), number }
    }

    #[test]
    fn updates_are_read_as_the_original_clients_send_them() {
        let parse = |v: serde_json::Value| parse_update(&v);
        assert_eq!(parse(json!({"name": "ana", "number": 7})), Ok(update(Some("ana"), Some(7))));
        assert_eq!(
            parse(json!({"name": " ana ", "number": "42"})),
            Ok(update(Some("ana"), Some(42)))
        );
        assert_eq!(parse(json!({"name": "abcd"})), Ok(update(Some("abcd"), None)));
        assert_eq!(parse(json!({"name": "", "number": "424242"})), Ok(update(None, Some(424242))));
        assert_eq!(parse(json!({"name": null, "number": 9})), Ok(update(None, Some(9))));
        assert_eq!(parse(json!({"number": 9})), Ok(update(None, Some(9))));
        assert_eq!(parse(json!({"name": "ana", "number": ""})), Ok(update(Some("ana"), None)));
        assert_eq!(parse(json!({"name": "ana", "number": 0})), Ok(update(Some("ana"), None)));
        for neither in [
            json!({}),
            json!({"name": "", "number": ""}),
            json!({"name": "  "}),
            json!({"number": 0}),
        ] {
            assert!(parse(neither.clone()).unwrap_err().contains("neither"), "{neither}");
        }
        assert!(parse(json!({"name": "ana", "number": "abc"}))
            .unwrap_err()
            .contains("whole number"));
        assert!(parse(json!({"name": "ana", "number": -1})).is_err());
        assert!(parse(json!({"name": "ana", "number": 1.5})).is_err());
        assert!(parse(json!({"name": 5})).unwrap_err().contains("string"));
        assert!(parse(json!({"name": "x".repeat(101)})).unwrap_err().contains("100"));
        assert!(parse(json!({"number": (1u64 << 53) + 1})).unwrap_err().contains("too large"));
        assert!(parse(json!([1, 2])).is_err());
        assert!(parse(json!("ana")).is_err());
    }
}
