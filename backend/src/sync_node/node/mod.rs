//! A sync node: the I/O around the CRDT and Paxos state machines, one job per file —
//! [`storage`] (SQLite), [`gossip`] (CRDT deltas and anti-entropy), [`transport`] (Paxos over
//! HTTP), [`paxos_log`] (the dashboard's message log), [`reads`] (the highest number, read
//! locally or linearizably); the load switch is pure code in
//! [`super::load`] and clients' input is read in [`super::update`]. This file holds the node's
//! state and what clients ask of it.

mod gossip;
mod paxos_log;
mod reads;
mod storage;
mod transport;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shared::bugs::Bug;
use shared::sync::{Added, LoadInfo, NamedEntry, NodeData, PersonRecord, SyncMode};
use shared::EventKind;
use tokio::sync::watch;

use super::acceptor::{Acceptor, Promise};
use super::crdt::{MaxRegister, NodeId, Person, PersonSet};
use super::load::{LoadSwitch, Switched};
use super::paxos::{Paxos, PaxosBugs, Value, GAP};
pub use super::update::{number_of, parse_update, parse_update_event, Update, MAX_NUMBER};
use crate::service::{Bugs, EventBus, Outgoing, Recorder, Service};
use crate::sqlite::{Db, DbError};
use paxos_log::PaxosLog;
pub use reads::READ_TIMEOUT;
use storage::{load_state, SCHEMA};
use transport::PaxosQueue;

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

impl CrdtState {
    /// This state as a change, if it is one: new persons' adds or tombstones, or a max register
    /// above `before`.
    fn changed_from(self, before: MaxRegister) -> Option<CrdtState> {
        (!self.persons.is_empty() || self.max != before).then_some(self)
    }
}

/// A sync node's state; cheap to clone.
#[derive(Debug, Clone)]
pub struct SyncNode {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: NodeConfig,
    /// Calls to the peers (Paxos, CRDT deltas, anti-entropy), through this node's links.
    client: Outgoing,
    events: EventBus,
    /// Deliberate bugs switched on (`/admin/bugs`): handed to Paxos at each step, asked by merges.
    bugs: Bugs,
    /// Notes for the recorded history: mode switches, leader changes.
    recorder: Recorder,
    /// The leader this node knew of last (0: none), to note when it changes.
    leader_seen: std::sync::atomic::AtomicU64,
    db: Db,
    crdt: Mutex<CrdtState>,
    paxos: Mutex<Paxos>,
    /// The original's single-decree acceptor (`/prepare`, `/accept`); an async lock, held
    /// while its new state is written, so answers leave in the order the state changed.
    acceptor: tokio::sync::Mutex<Acceptor>,
    load: Mutex<LoadSwitch>,
    paxos_log: Mutex<PaxosLog>,
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
    /// Linearizable reads waiting for Paxos's answer (`GET /highest`), by read id.
    read_waiters: Mutex<reads::ReadWaiters>,
}

impl SyncNode {
    pub async fn open(config: NodeConfig, db: &Path, service: &Service) -> Result<Self, DbError> {
        let db = Db::open(db, SCHEMA).await?;
        let (crdt, durable, acceptor) = db.call(|conn| load_state(conn)).await?;
        let mut nodes: Vec<NodeId> = config.peers.iter().map(|(id, _)| *id).collect();
        nodes.push(config.id);
        nodes.sort_unstable();
        let mut paxos = Paxos::restore(config.id, nodes, durable);
        // Read ids must not repeat across restarts (a leader's late answer to a request of this
        // node's earlier life would match a new one): microseconds since 1970 grow between
        // lives, and a node makes far fewer than a million read rounds a second.
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        paxos.start_read_ids_at(micros);
        tracing::info!(
            node = config.id,
            persons = crdt.persons.present().count(),
            decided = paxos.decisions().len(),
            "sync node state loaded"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                client: service.outgoing(16),
                events: service.events(),
                bugs: service.bugs(),
                recorder: service.recorder(),
                leader_seen: std::sync::atomic::AtomicU64::new(0),
                db,
                crdt: Mutex::new(crdt),
                paxos: Mutex::new(paxos),
                acceptor: tokio::sync::Mutex::new(acceptor),
                load: Mutex::new(LoadSwitch::new(config.window, config.high, config.low)),
                paxos_log: Mutex::new(PaxosLog::default()),
                changes: watch::channel(0).0,
                decided: watch::channel(0).0,
                outgoing: Mutex::new(vec![None; config.peers.len()]),
                send_now: tokio::sync::Notify::new(),
                paxos_out: config.peers.iter().map(|_| PaxosQueue::default()).collect(),
                lazy_decided: Mutex::new(Vec::new()),
                read_waiters: Mutex::new(reads::ReadWaiters::new()),
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
        self.inner.load.lock().expect("load lock poisoned").mode()
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
        let switched = self.inner.load.lock().expect("load lock poisoned").hit(Instant::now());
        self.switched(switched);
    }

    /// Say that the mode switched, and why; back in CRDT + Paxos, bring Paxos up to the numbers
    /// added while it was off.
    fn switched(&self, switched: Option<Switched>) {
        let Some(Switched { to, why }) = switched else { return };
        let name = match to {
            SyncMode::CrdtOnly => "CRDT-only",
            SyncMode::CrdtPaxos => "CRDT + Paxos",
        };
        tracing::warn!(mode = name, %why, "switched");
        self.inner.events.emit(EventKind::Mode, format!("switched to {name}: {why}"));
        self.inner
            .recorder
            .note("mode", || serde_json::json!({"mode": to, "why": why.to_string()}));
        if to == SyncMode::CrdtPaxos {
            let max = self.inner.crdt.lock().expect("crdt lock poisoned").max.0;
            let node = self.clone();
            tokio::spawn(async move { node.propose(max).await });
        }
    }

    /// Force CRDT-only (`true`) or release the force and let load decide (`false`).
    pub fn force_crdt_only(&self, force: bool) -> LoadInfo {
        let switched = self.inner.load.lock().expect("load lock poisoned").force(force);
        self.switched(switched);
        self.notify();
        self.load_info()
    }

    pub fn load_info(&self) -> LoadInfo {
        self.inner.load.lock().expect("load lock poisoned").info(Instant::now())
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
        let highest = self.paxos().highest();
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

    /// The Paxos state machine, locked, with the deliberate bugs switched on now.
    fn paxos(&self) -> std::sync::MutexGuard<'_, Paxos> {
        let mut paxos = self.inner.paxos.lock().expect("paxos lock poisoned");
        let bugs = &self.inner.bugs;
        paxos.set_bugs(PaxosBugs {
            ignore_promised_values: bugs.on(Bug::PaxosIgnorePromisedValues),
            accept_below_promise: bugs.on(Bug::PaxosAcceptBelowPromise),
            // The read bugs are the simulation's (`paxos/tests.rs`): no switch of `/admin/bugs`.
            ..PaxosBugs::default()
        });
        paxos
    }

    fn highest(&self) -> u64 {
        self.paxos().highest().unwrap_or(0)
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
            self.paxos().tick();
            self.drain(None).await;
            self.notify_if_moved(before);
            self.flush_decided().await;
            let switched =
                self.inner.load.lock().expect("load lock poisoned").reevaluate(Instant::now());
            if switched.is_some() {
                self.switched(switched);
                self.notify();
            }
        }
    }
}
