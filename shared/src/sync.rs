//! The sync nodes (7001-7003): persons (name + account number), the highest account number, the
//! load-driven switch between CRDT + Paxos and CRDT-only.

use serde::{Deserialize, Serialize};

/// A person as clients send and see it (`update_data`, `POST /add_name`). `number` is `null`
/// for a person added by name only (the original's `/add_name`); 0 means the same.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonRecord {
    /// Not blank, at most 100 characters (spaces around it are trimmed).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100, pattern = r"\S"))]
    pub name: String,
    /// At most 2^53; the original's page sends it as a string of digits, which is taken too
    /// (up to 15 digits; an empty string is no number).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = account_number))]
    pub number: Option<u64>,
}

/// The schema of an account number as clients may send it: a whole number from 0 to 2^53, a
/// string of up to 15 digits (the original's page), or null.
#[cfg(feature = "openapi")]
fn account_number() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(9_007_199_254_740_992_u64)),
        )
        .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[0-9]{0,15}$")))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build()
        .into()
}

/// One entry of the original project's `data` list: a name, with the node's highest number
/// (the same on every entry: that is what the original answered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamedEntry {
    /// The person's name.
    pub name: String,
    /// `null` while the node has no highest number yet.
    pub max_number: Option<u64>,
}

/// How a node keeps the highest account number consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum SyncMode {
    /// Names by CRDT, the highest number by Paxos.
    CrdtPaxos,
    /// Both by CRDT (under load, or forced).
    CrdtOnly,
}

/// `GET /get_data` (and the Socket.IO `data` / `data_updated` events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NodeData {
    /// The original project's shape: one entry per distinct name.
    pub data: Vec<NamedEntry>,
    /// The answering node's name in the lab (`node-1`).
    pub node: String,
    /// Every person the node holds (the CRDT set's present elements).
    pub persons: Vec<PersonRecord>,
    /// The highest account number the node knows: agreed by Paxos, or merged by CRDT in
    /// CRDT-only mode.
    pub highest_number: u64,
    /// How the node keeps that number consistent right now.
    pub mode: SyncMode,
}

/// `POST /add_name`: what became of the person added (the whole list is `GET /get_data`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Added {
    /// The original's answer: `Name "ana" added successfully`.
    pub message: String,
    /// The node that took the add (`node-1`).
    pub node: String,
    /// The person as stored: name trimmed, number read.
    pub person: PersonRecord,
    /// The node's highest number once this add was applied (and agreed, if `agreed`).
    pub highest_number: u64,
    /// The mode the add was made in.
    pub mode: SyncMode,
    /// With Paxos (`crdt-paxos`): whether the nodes had agreed on a highest number at least this
    /// person's before the answer went out (if not — no majority reachable in time — the
    /// decision follows). `null` in CRDT-only mode, where nothing is agreed.
    pub agreed: Option<bool>,
}

/// A node's part in Multi-Paxos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum PaxosRole {
    /// Phase 1 done: each value costs phase 2 only.
    Leader,
    /// Running phase 1.
    Preparing,
    /// Forwards values to the leader.
    Follower,
}

/// `GET /paxos/status`: this node's part in Multi-Paxos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PaxosStatus {
    /// The node's name in the lab (`node-2`).
    pub node: String,
    /// Whether it leads, is running phase 1, or follows.
    pub role: PaxosRole,
    /// The ballot it leads or prepares with, `round.node`.
    pub ballot: Option<String>,
    /// The owner of the newest ballot this node promised or was told of: the leader, as far as
    /// it knows (alive or not).
    pub leader: Option<u64>,
    /// Instances this node has seen decided with a number, and with a no-op (gap closed).
    pub decided: u64,
    /// Instances it has seen decided with a no-op (gaps a new leader closed).
    pub noops: u64,
    /// The first instance it has not seen decided.
    pub first_undecided: u64,
    /// Values it is still trying to get decided.
    pub pending: u64,
    /// The highest number among the values decided so far.
    pub highest_number: u64,
    /// Decided instances kept in its log (in memory and on disk): the ones above its snapshot,
    /// at most twice the number a compaction keeps.
    #[serde(default)]
    pub kept: u64,
    /// The instance its snapshot reaches (every instance up to it decided and trimmed; 0: none
    /// yet).
    #[serde(default)]
    pub snapshot_index: u64,
}

/// `GET /get_load`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LoadInfo {
    /// The original's field: client requests in the current window (the same as `requests`).
    pub load: u64,
    /// Client requests in the current window.
    pub requests: u64,
    /// The length of the window requests are counted in, in milliseconds.
    pub window_ms: u64,
    /// Above this many requests per window the node switches to CRDT-only.
    pub high: u64,
    /// Below this many it switches back (hysteresis).
    pub low: u64,
    /// The mode the node is in now.
    pub mode: SyncMode,
    /// Switched by hand (`POST /switch_to_crdt_only`): load does not switch it back.
    pub forced: bool,
    /// How many times the node has switched modes since it started.
    pub switches: u64,
}

/// `POST /switch_to_crdt_only` and `POST /switch_to_normal`: the original's `message` and
/// `load_increased` (true while CRDT-only), beside the load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Switched {
    /// What the node did: `Switched to CRDT only` or `Switched to CRDT + Paxos`.
    pub message: String,
    /// `true` while the node is CRDT-only: the original's name for that mode.
    pub load_increased: bool,
    /// The node's load and mode after the switch.
    #[serde(flatten)]
    pub load: LoadInfo,
}

/// `GET /data_transfer`: every reachable peer's state pulled and merged (the original answered
/// `Done`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transferred {
    /// `Done`.
    pub message: String,
    /// Peers that answered.
    pub peers_reached: usize,
    /// The node's data after the merge.
    #[serde(flatten)]
    pub node_data: NodeData,
}

/// The Socket.IO `highest_number` event (answer to `get_highest_number`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HighestNumber {
    /// The node's highest account number.
    pub number: u64,
    /// The answering node's name (`node-3`).
    pub node: String,
    /// The mode the node is in.
    pub mode: SyncMode,
}

/// The Socket.IO `socket_list` event (answer to `get_socket_list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SocketList {
    /// The port of every node this node can reach, itself included (the original's list of
    /// active nodes).
    pub sockets: Vec<u16>,
    /// The Socket.IO ids of the clients connected to this node.
    pub clients: Vec<String>,
}

/// The original's single-decree acceptor: `POST /prepare {"proposal_number": N}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrepareRequest {
    /// At most 2^53.
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "openapi", schema(maximum = 9_007_199_254_740_992.0))]
    pub proposal_number: u64,
}

/// The answer to `/prepare`: whether the acceptor promised, and what it accepted before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrepareAnswer {
    /// Whether it promised to accept no proposal below this one (false: it promised a higher
    /// one).
    pub promised: bool,
    /// The number of the last proposal it accepted, if any.
    pub accepted_proposal: Option<u64>,
    /// The value of that proposal (what a proposer must propose instead of its own).
    pub accepted_value: Option<serde_json::Value>,
    /// The highest proposal number it has promised (not to accept anything below).
    pub promised_proposal: Option<u64>,
}

/// `POST /accept {"proposal_number": N, "value": V}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptRequest {
    /// At most 2^53.
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "openapi", schema(maximum = 9_007_199_254_740_992.0))]
    pub proposal_number: u64,
    /// Any JSON value but `null` (the original proposed account numbers).
    #[cfg_attr(feature = "openapi", schema(schema_with = any_but_null))]
    pub value: serde_json::Value,
}

/// The schema of a JSON value that is not `null`.
#[cfg(feature = "openapi")]
pub fn any_but_null() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let kinds = [Type::Number, Type::String, Type::Boolean, Type::Object, Type::Array];
    let one_of = kinds.into_iter().fold(OneOfBuilder::new(), |one_of, kind| {
        one_of.item(ObjectBuilder::new().schema_type(kind))
    });
    utoipa::openapi::schema::Schema::OneOf(one_of.build())
}

/// The answer to `/accept`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptAnswer {
    /// Whether it accepted the value: the proposal was not below its promise.
    pub accepted: bool,
    /// The highest proposal number it has promised, for a proposer that was refused.
    pub promised_proposal: Option<u64>,
}

/// `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// The node's name in the lab (`node-1`).
    pub node: String,
    /// Its Paxos id, 1 to 3 (`--id`): the `.node` of its ballots.
    pub id: u64,
    /// The address it is bound to (`--bind`, 127.0.0.1 unless told otherwise).
    pub address: String,
    /// The port it listens on (HTTP and Socket.IO alike).
    pub port: u16,
    /// Its peers' base URLs (`http://localhost:7002`).
    pub peers: Vec<String>,
    /// How it keeps the highest number consistent right now.
    pub mode: SyncMode,
}

/// One Paxos message a node sent (for the dashboard's message log).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PaxosLogEntry {
    /// When it was sent, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The sending node's id.
    pub from: u64,
    /// The receiving node's id.
    pub to: u64,
    /// `prepare`, `promise`, `accept`, `accepted`, `nack`, `decided`, `forward`.
    pub kind: String,
    /// The log slot, for messages about one (accept, accepted, decided).
    pub instance: Option<u64>,
    /// `round.node`, when the message has a ballot.
    pub ballot: Option<String>,
    /// The account number the message proposes, accepts or announces, if it carries one.
    pub value: Option<u64>,
    /// What else the message says (a prepare's first instance, what a promise reports, ...).
    pub note: Option<String>,
}

/// What a read of the highest number is (`GET /highest?read=...`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ReadConsistency {
    /// At least every number agreed (acknowledged) before the read began, and only agreed
    /// numbers: Paxos's ReadIndex (a majority confirms the leader, the node waits for its log to
    /// reach the leader's).
    #[default]
    Linearizable,
    /// What the node holds now, with no round to its peers: may lag a number already agreed
    /// (`GET /get_data`'s `highestNumber` is this read).
    Local,
}

/// `GET /highest`: the node's highest number, and what kind of read produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HighestRead {
    /// The highest account number the read returned.
    pub highest_number: u64,
    /// What the answer actually is: `local` when a linearizable read was asked of a node in
    /// CRDT-only mode (see `reason`).
    pub read: ReadConsistency,
    /// The answering node's name in the lab (`node-1`).
    pub node: String,
    /// Every Paxos instance up to this one was decided at the node when it read (for a
    /// linearizable read, the leader's read index); `null` in CRDT-only mode, where the number
    /// is the max register's, not Paxos's.
    pub instance: Option<u64>,
    /// The mode the node was in when it read.
    pub mode: SyncMode,
    /// Why the read is weaker than asked (`null` when it is what was asked).
    pub reason: Option<String>,
}
