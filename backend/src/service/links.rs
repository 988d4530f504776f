//! Simulated faults on a service's outgoing links (cut, latency, loss), and the admin routes
//! that set them.
//!
//! A service that calls peers (the registry checking shop servers, a replicator shipping to a
//! mirror, a sync node talking to its peers) asks [`LinkFaults::pass`] before each call; a cut
//! link fails at once, a slow link waits first, a lossy link fails a share of calls. The fault
//! lives in the sending service, so cutting A→B leaves B→A working: one-way partitions are
//! possible. Peers are keyed by `host:port`, with `localhost` read as `127.0.0.1`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use shared::control::{LinkFault, LinkFaultEntry};
use shared::EventKind;

use super::events::EventBus;
use super::{error_response, ApiJson, ApiPath};

/// The faults set on this service's links.
#[derive(Debug, Clone, Default)]
pub struct LinkFaults {
    faults: Arc<RwLock<BTreeMap<String, LinkFault>>>,
}

/// Why a call over a faulty link did not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("link to {0} is cut (simulated partition)")]
    Cut(String),
    #[error("call to {0} dropped (simulated loss)")]
    Dropped(String),
}

/// `http://localhost:3001/x` or `localhost:3001` → `127.0.0.1:3001`.
pub fn peer_key(url_or_address: &str) -> String {
    let rest = url_or_address.split_once("://").map_or(url_or_address, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => authority.to_owned(),
    }
}

impl LinkFaults {
    pub fn set(&self, peer: &str, fault: LinkFault) {
        let mut faults = self.faults.write().expect("link faults lock poisoned");
        if fault.is_healthy() {
            faults.remove(&peer_key(peer));
        } else {
            faults.insert(peer_key(peer), fault);
        }
    }

    pub fn get(&self, peer: &str) -> LinkFault {
        self.faults
            .read()
            .expect("link faults lock poisoned")
            .get(&peer_key(peer))
            .copied()
            .unwrap_or_default()
    }

    pub fn all(&self) -> Vec<LinkFaultEntry> {
        let faults = self.faults.read().expect("link faults lock poisoned");
        faults
            .iter()
            .map(|(peer, fault)| LinkFaultEntry { peer: peer.clone(), fault: *fault })
            .collect()
    }

    /// Call before talking to `peer`: waits out the link's latency, or fails as the fault says.
    pub async fn pass(&self, peer: &str) -> Result<(), LinkError> {
        let fault = self.get(peer);
        if fault.cut {
            return Err(LinkError::Cut(peer_key(peer)));
        }
        if fault.drop_rate > 0.0 && rand::rng().random_bool(fault.drop_rate.clamp(0.0, 1.0)) {
            return Err(LinkError::Dropped(peer_key(peer)));
        }
        if fault.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(fault.latency_ms)).await;
        }
        Ok(())
    }
}

/// Admin routes' state.
#[derive(Debug, Clone)]
pub(super) struct LinkAdmin {
    pub faults: LinkFaults,
    pub events: EventBus,
}

/// Every fault set on this service's outgoing links.
#[utoipa::path(get, path = "/admin/links", tag = "links", responses(
    (status = 200, body = [LinkFaultEntry]),
))]
pub(super) async fn list(State(admin): State<LinkAdmin>) -> ApiJson<Vec<LinkFaultEntry>> {
    ApiJson(admin.faults.all())
}

/// Set the fault on this service's link to `peer` (simulated: the service's own calls to it
/// fail, wait or get lost); an all-healthy fault heals it.
#[utoipa::path(put, path = "/admin/links/{peer}", tag = "links",
    params(("peer" = String, Path, pattern = "^[A-Za-z0-9.-]{1,253}:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$",
        description = "the peer's host:port")),
    request_body = LinkFault,
    responses(
        (status = 200, body = LinkFaultEntry),
        (status = 400, description = "The peer is not host:port", body = shared::ErrorBody),
    ))]
pub(super) async fn set(
    State(admin): State<LinkAdmin>,
    ApiPath(peer): ApiPath<String>,
    ApiJson(fault): ApiJson<LinkFault>,
) -> Response {
    if !(0.0..=1.0).contains(&fault.drop_rate) || fault.drop_rate.is_nan() {
        return error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "dropRate must be between 0 and 1",
        );
    }
    if fault.latency_ms > 60_000 {
        return error_response(StatusCode::UNPROCESSABLE_ENTITY, "latencyMs must be at most 60000");
    }
    if !super::address::host_port(&peer) {
        return error_response(StatusCode::BAD_REQUEST, format!("{peer:?} is not host:port"));
    }
    admin.faults.set(&peer, fault);
    admin.events.emit(EventKind::Link, describe(&peer_key(&peer), &fault));
    ApiJson(LinkFaultEntry { peer: peer_key(&peer), fault }).into_response()
}

/// Heal this service's link to `peer`.
#[utoipa::path(delete, path = "/admin/links/{peer}", tag = "links",
    params(("peer" = String, Path, pattern = "^[A-Za-z0-9.-]{1,253}:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$",
        description = "the peer's host:port")),
    responses(
        (status = 200, body = LinkFaultEntry),
        (status = 400, description = "The peer is not host:port", body = shared::ErrorBody),
    ))]
pub(super) async fn heal(
    State(admin): State<LinkAdmin>,
    ApiPath(peer): ApiPath<String>,
) -> Response {
    if !super::address::host_port(&peer) {
        return error_response(StatusCode::BAD_REQUEST, format!("{peer:?} is not host:port"));
    }
    admin.faults.set(&peer, LinkFault::default());
    admin.events.emit(EventKind::Link, format!("link to {} healed", peer_key(&peer)));
    ApiJson(LinkFaultEntry { peer: peer_key(&peer), fault: LinkFault::default() }).into_response()
}

fn describe(peer: &str, fault: &LinkFault) -> String {
    if fault.is_healthy() {
        format!("link to {peer} healed")
    } else {
        format!("link to {peer}: {fault}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_keyed_by_host_and_port() {
        assert_eq!(peer_key("http://localhost:3001/health"), "127.0.0.1:3001");
        assert_eq!(peer_key("localhost:3001"), "127.0.0.1:3001");
        assert_eq!(peer_key("10.0.0.1:80"), "10.0.0.1:80");
    }

    #[tokio::test]
    async fn a_cut_link_fails_and_a_healed_one_passes() {
        let faults = LinkFaults::default();
        faults.set("localhost:3001", LinkFault { cut: true, ..LinkFault::default() });
        assert_eq!(
            faults.pass("http://127.0.0.1:3001/x").await,
            Err(LinkError::Cut("127.0.0.1:3001".into()))
        );
        assert!(faults.pass("127.0.0.1:3002").await.is_ok(), "other links are untouched");
        faults.set("127.0.0.1:3001", LinkFault::default());
        assert!(faults.pass("localhost:3001").await.is_ok());
        assert!(faults.all().is_empty());
    }

    #[tokio::test]
    async fn a_lossy_link_drops_about_its_share() {
        let faults = LinkFaults::default();
        faults.set("a:1", LinkFault { drop_rate: 0.5, ..LinkFault::default() });
        let mut dropped = 0;
        for _ in 0..2_000 {
            if faults.pass("a:1").await.is_err() {
                dropped += 1;
            }
        }
        assert!((800..1200).contains(&dropped), "{dropped} of 2000 dropped at 50%");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_link_waits_its_latency() {
        let faults = LinkFaults::default();
        faults.set("a:1", LinkFault { latency_ms: 300, ..LinkFault::default() });
        let started = tokio::time::Instant::now();
        faults.pass("a:1").await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(300));
    }
}
