//! Storage redundancy: the shop's change log, the stores that apply it, and the fronts that
//! mirror it synchronously (3010) or replicate it asynchronously (3020).

use serde::{Deserialize, Serialize};

use crate::shop::{Order, Product};

/// One write to the shop, as its effect: absolute values with concrete ids, so applying it on
/// any store gives the same data, and applying it twice changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Change {
    /// Create or replace a product.
    PutProduct {
        /// The product as it is after the write, id included.
        product: Product,
    },
    /// Delete a product (and take it out of every cart).
    DeleteProduct {
        /// The deleted product's id.
        #[serde(deserialize_with = "crate::whole::number")]
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 9_007_199_254_740_991.0))]
        id: u64,
    },
    /// Store a placed order, priced.
    PlaceOrder {
        /// The order as the primary priced it: its id, lines, unit prices and total.
        order: Order,
    },
    /// Set how many of a product a user's cart holds.
    SetCartItem {
        /// Whose cart.
        #[serde(rename = "userId")]
        #[serde(deserialize_with = "crate::whole::number")]
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 9_007_199_254_740_991.0))]
        user_id: u64,
        /// Which product.
        #[serde(rename = "productId")]
        #[serde(deserialize_with = "crate::whole::number")]
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 9_007_199_254_740_991.0))]
        product_id: u64,
        /// How many the cart holds now (not how many were added): 1 to 10,000.
        #[serde(deserialize_with = "crate::whole::number")]
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10_000))]
        quantity: u32,
    },
    /// Take a product out of a user's cart.
    RemoveCartItem {
        /// Whose cart.
        #[serde(rename = "userId")]
        #[serde(deserialize_with = "crate::whole::number")]
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 9_007_199_254_740_991.0))]
        user_id: u64,
        /// Which product leaves it.
        #[serde(rename = "productId")]
        #[serde(deserialize_with = "crate::whole::number")]
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 9_007_199_254_740_991.0))]
        product_id: u64,
    },
}

/// What a store is: the one that takes writes, or the one that applies its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum StoreRole {
    /// Takes the shop's writes and logs them.
    Primary,
    /// Applies the primary's logged changes, and nothing else.
    Mirror,
}

impl StoreRole {
    /// The role's name on the wire and on disk (`--role primary`).
    pub fn as_str(self) -> &'static str {
        match self {
            StoreRole::Primary => "primary",
            StoreRole::Mirror => "mirror",
        }
    }
}

impl std::fmt::Display for StoreRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which guarantee a front gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ReplicationMode {
    /// Synchronous mirroring (3010): a write is acknowledged once both stores hold it.
    Sync,
    /// Asynchronous replication (3020): acknowledged once the primary holds it; shipped later.
    Async,
}

impl ReplicationMode {
    /// The mode's name on the wire (`sync`, `async`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationMode::Sync => "sync",
            ReplicationMode::Async => "async",
        }
    }
}

/// Where replication stands, as a front reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ReplicationState {
    /// The mirror is behind, and changes are on their way (sync mode, or an interval is set).
    Streaming,
    /// The mirror holds every change the primary has.
    CaughtUp,
    /// The mirror is behind and nothing ships until `POST /sync`.
    Behind,
    /// The primary store does not answer: writes are refused, reads come from the mirror.
    PrimaryDown,
    /// The mirror store does not answer: sync writes are refused, async ones pile up as lag.
    MirrorDown,
    /// No mirror: after this front's failover, until the old primary is rebuilt.
    NoMirror,
    /// Both stores claim the same role (see `conflict`).
    Conflict,
}

impl ReplicationState {
    /// The name on the wire (`caught-up`, `primary-down`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationState::Streaming => "streaming",
            ReplicationState::CaughtUp => "caught-up",
            ReplicationState::Behind => "behind",
            ReplicationState::PrimaryDown => "primary-down",
            ReplicationState::MirrorDown => "mirror-down",
            ReplicationState::NoMirror => "no-mirror",
            ReplicationState::Conflict => "conflict",
        }
    }
}

/// A change with its place in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LoggedChange {
    /// 1, 2, 3, ... without gaps.
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 9_007_199_254_740_991.0))]
    pub seq: u64,
    /// When the primary committed it (milliseconds since the Unix epoch).
    #[serde(deserialize_with = "crate::whole::number")]
    #[cfg_attr(feature = "openapi", schema(maximum = 9_007_199_254_740_991.0))]
    pub at_ms: u64,
    /// What the write did.
    pub change: Change,
}

/// `GET /replication/state` of a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StoreState {
    /// What the store is now, as it keeps it on disk (a promoted mirror stays primary).
    pub role: StoreRole,
    /// The last change applied (0: none).
    pub last_seq: u64,
    /// When that change was committed on the primary.
    pub last_change_ms: Option<u64>,
    /// Rows in its products table.
    pub products: u64,
    /// Orders it holds.
    pub orders: u64,
    /// Cart lines it holds, over every user.
    pub cart_items: u64,
    /// The change log holds every seq from 1 to `last_seq`, once each.
    pub log_contiguous: bool,
    /// SQLite's `PRAGMA quick_check` (`ok`, or what is wrong) when asked for with
    /// `?check=true`; `not checked` otherwise (it reads the whole database).
    pub integrity: String,
}

/// `GET /replication/position` of a store, and the answer to `POST /replication/apply`: where
/// its log stands and what the store is — cheap to ask on every round, whatever the store's size
/// (the fronts ask it to learn which store is the primary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StorePosition {
    /// The last change it holds (0: none); a mirror is sent the changes after it.
    pub last_seq: u64,
    /// What the store says it is: the fronts follow this, not their flags.
    pub role: StoreRole,
}

/// `GET /replication` of a front: what `pg_stat_replication` would say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReplicationStatus {
    /// Whether this front waits for the mirror (`sync`, 3010) or ships later (`async`, 3020).
    pub mode: ReplicationMode,
    /// The store that takes writes, as the stores themselves report their roles (not as the
    /// front's flags named them). During a `conflict`: the store reads are served from.
    pub primary: String,
    /// The store the primary's changes are shipped to (`None`: after this front's failover, until
    /// the old primary is rebuilt). During a `conflict`: the other store.
    pub mirror: Option<String>,
    /// The primary's last seq (the last one seen, when the primary is down).
    pub primary_seq: u64,
    /// The last seq the mirror holds (the last one seen, when it is down).
    pub mirror_seq: u64,
    /// Changes the mirror lacks: `primarySeq - mirrorSeq`, what a failover now would lose.
    pub lag_entries: u64,
    /// Age of the oldest change the mirror lacks.
    pub lag_ms: u64,
    /// When changes were last shipped to the mirror, in milliseconds since the Unix epoch;
    /// `None` before the first time.
    pub last_sync_ms: Option<u64>,
    /// A one-word summary of the above, for the dashboard's badge.
    pub state: ReplicationState,
    /// Background replication interval (0: only `POST /sync`).
    pub interval_ms: u64,
    /// The highest seq this front acknowledged to a client.
    pub acked_seq: u64,
    /// Whether the primary answered this status request.
    pub primary_up: bool,
    /// Whether the mirror answered this status request (`false` too when there is none).
    pub mirror_up: bool,
    /// Why no store takes writes although both answer — both claim to be the primary, or both
    /// the mirror — with the command that resolves it; `None` when the stores' roles agree.
    #[serde(default)]
    pub conflict: Option<String>,
}

/// `POST /failover`: the mirror is promoted; what that cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FailoverReport {
    /// The store that is the primary now, as the front names it (`http://localhost:3022`).
    pub promoted: String,
    /// Acknowledged writes the promoted mirror never received (RPO, in entries).
    pub entries_lost: u64,
    /// The lag last reported before the primary was lost.
    pub lag_before: u64,
    /// From the primary's first failure seen to the promotion (RTO), if a failure was seen.
    pub rto_ms: Option<u64>,
}

/// `GET /replication/diff`: what differs between primary and mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StoreDiff {
    /// The primary's state, `None` when it did not answer.
    pub primary: Option<StoreState>,
    /// The mirror's state, `None` when it did not answer (or there is none).
    pub mirror: Option<StoreState>,
    /// Product ids on the primary but not on the mirror.
    pub missing_on_mirror: Vec<u64>,
    /// Product ids on the mirror but not on the primary.
    pub extra_on_mirror: Vec<u64>,
    /// Product ids on both whose contents differ.
    pub different: Vec<u64>,
}
