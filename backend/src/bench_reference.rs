//! `lab bench-reference`: the benchmark's reference row — a bare axum server in this same binary,
//! one route, no middleware (no metrics, tracing, timeout, CORS or body limit), answering what
//! `GET /getServer` answers. What it does on this machine is the limit the services' figures are
//! read against (`make bench` prints each as a ratio to it). Not part of the lab.

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use shared::registry::GetServer;
use tokio::net::TcpListener;

/// The one route: the registry's answer, built and serialized per request as the registry does.
pub fn app() -> Router {
    Router::new().route(
        "/getServer",
        get(|| async { Json(GetServer { code: 200, server: "localhost:3001".to_owned() }) }),
    )
}

pub async fn serve(address: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(address).await?;
    tracing::info!(address = %listener.local_addr()?, "bench reference: GET /getServer, no middleware");
    axum::serve(listener, app()).await?;
    Ok(())
}
