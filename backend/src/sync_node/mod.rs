//! The sync nodes (7001-7003): person records kept consistent by a CRDT, the highest account
//! number agreed through Paxos, switching to CRDT-only under load.
//!
//! The protocol logic is pure code: [`crdt`] (add-wins OR-Set of persons, max register),
//! [`paxos`] (a message-driven Multi-Paxos state machine) and [`acceptor`] (the original
//! project's single-decree acceptor); [`node`] does their I/O, [`routes`] and [`socket`] serve
//! them (failing through [`error`]'s one type), [`page`] is the node's own page for a browser.
//!
//! Run one with `lab serve sync-node --id 1 --port 7001 --peers 2=http://localhost:7002,3=http://localhost:7003`.

pub mod acceptor;
pub mod crdt;
pub mod error;
pub mod load;
pub mod node;
pub mod page;
pub mod paxos;
pub mod routes;
mod serve;
pub mod socket;
pub mod update;

use axum::Router;
use shared::ServiceKind;

use crate::service::Service;
pub use serve::{serve, ServeArgs};

pub fn service(name: &str) -> Service {
    // Anti-entropy exchanges whole states: allow large bodies between nodes.
    Service::new(name, ServiceKind::SyncNode).body_limit(16 * 1024 * 1024)
}

/// The node's router with the plumbing every service has, and its Socket.IO endpoint
/// (`/socket.io/`); returns the Socket.IO handle too (close it on shutdown).
pub fn router(service: Service, node: node::SyncNode) -> (Router, socketioxide::SocketIo) {
    let (layer, io) = socket::layer(node.clone());
    (service.into_router(routes::router().with_state(node)).layer(layer), io)
}
