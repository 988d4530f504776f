//! The registry (:8000): hands out healthy shop servers in round robin — over HTTP
//! (`GET /getServer`, the workshop's route) and over real DNS (A and SRV records of `shop.lab.`).
//!
//! Run it with `lab serve registry --servers localhost:3001,localhost:3002 --dns-port 8053`.
//! An active checker calls every server's `GET /health` each interval; [`pool`] decides, with
//! fall/rise thresholds, which servers are up. Servers can be added and removed at run time
//! (`POST /servers`, `DELETE /servers/{address}`).

pub mod dns;
mod error;
pub mod pool;
mod serve;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Router;
use shared::registry::{AddServer, GetServer, RegistryServer, RegistryStatus};
use shared::{ErrorBody, EventKind, ServiceKind};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::{address, now_ms, ApiJson, ApiPath, EventBus, Outgoing, Service};
pub use error::RegistryError;
use pool::{ServerPool, ServerState, Thresholds};
pub use serve::{serve, ServeArgs};

/// How the registry checks its servers.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub interval: Duration,
    pub thresholds: Thresholds,
    /// The DNS name answered with the up servers, fully qualified (`shop.lab.`).
    pub dns_name: String,
    pub dns_port: Option<u16>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(200),
            thresholds: Thresholds::default(),
            dns_name: "shop.lab.".to_owned(),
            dns_port: None,
        }
    }
}

/// The registry's shared state: a cheap-to-clone handle (one reference count: axum clones the
/// state for every request, and cloning the parts one by one cost a few percent of
/// `GET /getServer`, a lock in the event bus's cancellation token among them).
#[derive(Debug, Clone)]
pub struct Registry(Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    /// A std mutex: held for a few instructions, never across an `.await`.
    pool: Mutex<ServerPool>,
    config: RegistryConfig,
    /// Failovers are reported here.
    events: EventBus,
    /// Health checks go out through this (a cut link fails its checks).
    client: Outgoing,
}

impl std::ops::Deref for Registry {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Registry {
    pub fn new(config: RegistryConfig, servers: &[String], service: &Service) -> Self {
        let mut pool = ServerPool::new(config.thresholds);
        for server in servers {
            pool.add(server);
        }
        Self(Arc::new(Shared {
            pool: Mutex::new(pool),
            config,
            events: service.events(),
            client: service.outgoing(4),
        }))
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, ServerPool> {
        self.pool.lock().expect("registry lock poisoned")
    }

    pub fn next_server(&self) -> Option<String> {
        self.pool().next_server().map(str::to_owned)
    }

    /// Addresses of the servers that are up now.
    pub fn up_servers(&self) -> Vec<String> {
        self.pool().up().map(str::to_owned).collect()
    }

    pub fn status(&self) -> RegistryStatus {
        let pool = self.pool();
        RegistryStatus {
            servers: pool.servers().iter().map(RegistryServer::from).collect(),
            interval_ms: self.config.interval.as_millis() as u64,
            fall: self.config.thresholds.fall,
            rise: self.config.thresholds.rise,
            dns_name: self.config.dns_name.clone(),
            dns_port: self.config.dns_port,
        }
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Check every server each interval, forever (spawn it).
    pub async fn check_forever(self) {
        let mut ticker = tokio::time::interval(self.config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let addresses: Vec<String> =
                self.pool().servers().iter().map(|s| s.address.clone()).collect();
            let client = &self.client;
            let checks = addresses.into_iter().map(|address| {
                let timeout = self.config.interval;
                async move {
                    let outcome = client.check_health(&base_url(&address), timeout).await;
                    (address, outcome)
                }
            });
            for (address, outcome) in futures::future::join_all(checks).await {
                let reason = outcome.as_ref().err().cloned();
                // The lock is released before the change is reported (not held through the block).
                let change = self.pool().record(&address, outcome, now_ms());
                if let Some(change) = change {
                    if change.to == ServerState::Up {
                        tracing::info!(server = %address, from = ?change.from, "server is up: handed out again");
                        self.events.emit(
                            EventKind::Failover,
                            format!("{address} is up: handed out again"),
                        );
                    } else {
                        tracing::warn!(server = %address, from = ?change.from, ?reason, "server is down: no longer handed out");
                        let why = reason.unwrap_or_default();
                        self.events.emit(
                            EventKind::Failover,
                            format!("{address} is down ({why}): no longer handed out"),
                        );
                    }
                }
            }
        }
    }
}

/// `localhost:3001` → `http://127.0.0.1:3001`. The lab's servers listen on IPv4 loopback; going
/// there directly spares each check a refused attempt on `::1`.
pub fn base_url(address: &str) -> String {
    match address.strip_prefix("localhost:") {
        Some(port) => format!("http://127.0.0.1:{port}"),
        None => format!("http://{address}"),
    }
}

/// Is `address` a `host:port` the registry can check and DNS can answer for?
fn valid_address(address: &str) -> Result<(), RegistryError> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| RegistryError::BadAddress(format!("{address:?} is not host:port")))?;
    if !address::port(port) || host.len() > 253 || !address::host(host) {
        return Err(RegistryError::BadAddress(format!(
            "{address:?} is not host:port (e.g. localhost:3003)"
        )));
    }
    Ok(())
}

/// The service a registry runs as (create it first: the registry reports through it).
pub fn service(name: &str) -> Service {
    Service::new(name, ServiceKind::Registry)
}

/// The registry's router with the plumbing every service has.
pub fn router(service: Service, registry: Registry) -> Router {
    let routes = OpenApiRouter::new()
        .routes(routes!(get_server))
        .routes(routes!(list_servers, add_server))
        .routes(routes!(remove_server))
        .with_state(registry);
    // Adding and removing servers changes who gets traffic: no foreign page may.
    service.into_router(crate::service::lab_only(routes))
}

/// The next healthy shop server, in round robin.
#[utoipa::path(get, path = "/getServer", tag = "registry", responses(
    (status = 200, body = GetServer, example = json!({"code": 200, "server": "localhost:3001"})),
    (status = 503, description = "No server passes its health checks", body = ErrorBody),
))]
async fn get_server(State(registry): State<Registry>) -> Result<ApiJson<GetServer>, RegistryError> {
    let server = registry.next_server().ok_or(RegistryError::NoHealthyServer)?;
    Ok(ApiJson(GetServer { code: 200, server }))
}

/// Every server with its state and last check.
#[utoipa::path(get, path = "/servers", tag = "registry", responses(
    (status = 200, body = RegistryStatus)))]
async fn list_servers(State(registry): State<Registry>) -> ApiJson<RegistryStatus> {
    ApiJson(registry.status())
}

/// Add a server; it is handed out once it passes a health check.
#[utoipa::path(post, path = "/servers", tag = "registry", request_body = AddServer, responses(
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
    (status = 201, body = RegistryStatus),
    (status = 400, body = ErrorBody),
    (status = 409, description = "Already registered", body = ErrorBody),
))]
async fn add_server(
    State(registry): State<Registry>,
    ApiJson(add): ApiJson<AddServer>,
) -> Result<(StatusCode, ApiJson<RegistryStatus>), RegistryError> {
    valid_address(&add.address)?;
    if !registry.pool().add(&add.address) {
        return Err(RegistryError::AlreadyRegistered(add.address));
    }
    tracing::info!(server = %add.address, "server added");
    Ok((StatusCode::CREATED, ApiJson(registry.status())))
}

/// Remove a server: it is no longer checked or handed out.
#[utoipa::path(delete, path = "/servers/{address}", tag = "registry", params(("address" = String, Path)), responses(
    (status = 403, description = "From a web page of another origin, or a foreign Host (DNS rebinding)", body = ErrorBody),
    (status = 200, body = RegistryStatus),
    (status = 404, body = ErrorBody),
))]
async fn remove_server(
    State(registry): State<Registry>,
    ApiPath(address): ApiPath<String>,
) -> Result<ApiJson<RegistryStatus>, RegistryError> {
    if !registry.pool().remove(&address) {
        return Err(RegistryError::NotRegistered(address));
    }
    tracing::info!(server = %address, "server removed");
    Ok(ApiJson(registry.status()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_must_be_host_and_port() {
        assert!(valid_address("localhost:3001").is_ok());
        assert!(valid_address("10.0.0.7:80").is_ok());
        for bad in ["localhost", ":80", "localhost:0", "localhost:99999", "a b:1", "http://x:1"] {
            assert!(valid_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn localhost_is_checked_over_ipv4() {
        assert_eq!(base_url("localhost:3001"), "http://127.0.0.1:3001");
        assert_eq!(base_url("10.0.0.7:80"), "http://10.0.0.7:80");
    }
}
