//! Wire types of the distributed computing and data redundancy lab.
//!
//! Every request and response body that crosses the network — between two services, or between a
//! service and the Yew dashboard — is defined here once, so the two sides cannot drift. The crate
//! depends on serde and serde_json only (plus `utoipa`, for OpenAPI schemas, behind the `openapi`
//! feature the backend turns on).
#![deny(missing_docs)]

#[macro_use]
mod named;

pub mod bugs;
pub mod control;
pub mod error;
pub mod events;
pub mod history;
pub mod models;
pub mod services;

pub use error::ErrorBody;
pub use events::{EventKind, LabEvent};
pub use services::{Health, HealthReport, ServiceKind, ServiceStatus};
pub mod registry;
pub mod replication;
pub mod shop;
pub mod socketio;
pub mod sync;
pub mod whole;
pub mod workshop;
