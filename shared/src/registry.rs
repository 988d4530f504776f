//! The health-checked registry of shop servers (:8000) — the workshop's "DNS registry".

use serde::{Deserialize, Serialize};

/// `GET /getServer`: exactly the workshop's `{"code":200,"server":"localhost:3001"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GetServer {
    /// 200, the HTTP status repeated: the workshop's clients read it from the body (a 503 comes
    /// as an [`crate::ErrorBody`]).
    pub code: u16,
    /// The shop server to call, `host:port` (`localhost:3001`): the next up one, in round robin.
    pub server: String,
}

/// A server's state as the registry's health checks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ServerState {
    /// Added, not checked yet: not handed out.
    Checking,
    /// Passed its first check, or `rise` in a row after being down: handed out.
    Up,
    /// Failed `fall` checks in a row (a cut link fails them too): not handed out.
    Down,
}

/// One row of `GET /servers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegistryServer {
    /// `localhost:3001`.
    pub address: String,
    /// What the last checks concluded; only `up` servers are handed out.
    pub state: ServerState,
    /// Checks in a row pointing towards a change of state (towards `fall` or `rise`).
    pub streak: u32,
    /// Milliseconds since the Unix epoch.
    pub last_check_ms: Option<u64>,
    /// Why the last check failed (timeout, refused, a non-200 status); `None` when it passed.
    pub last_error: Option<String>,
}

/// `GET /servers`: every server and how they are checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegistryStatus {
    /// Every server the registry knows, in the order they were added.
    pub servers: Vec<RegistryServer>,
    /// Milliseconds between two health checks of each server.
    pub interval_ms: u64,
    /// Failed checks in a row that take an up server down.
    pub fall: u32,
    /// Passed checks in a row that bring a down server back.
    pub rise: u32,
    /// The DNS name answered with A and SRV records of the up servers (`shop.lab.`).
    pub dns_name: String,
    /// UDP port of the DNS server, if it runs.
    pub dns_port: Option<u16>,
}

/// `POST /servers`: `{"address":"localhost:3003"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddServer {
    /// `host:port` of a shop server, e.g. `localhost:3003`.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = "^[A-Za-z0-9.-]{1,253}:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$"
        )
    )]
    pub address: String,
}
