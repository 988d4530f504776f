//! The lab's native side: every service as a module with its router, and the plumbing they share.
//!
//! - [`service`] — what every service gets: health, metrics, OpenAPI, CORS, limits, JSON errors.
//! - [`catalog`] — which services the lab runs, on which ports.
//! - [`control`] — the control plane (:8080): dashboard, service list, child processes.
//! - [`shop`] — the e-commerce API (shop servers A and B, 3001/3002).
//! - [`check`] — the checkers that judge a recorded history (pure code, no I/O).
//!
//! The `lab` binary (`src/main.rs`) only parses flags and calls into these modules.

pub mod bench_reference;
pub mod catalog;
pub mod check;
pub mod cli;
pub mod control;
pub mod iris;
pub mod lab_test;
pub mod meta;
pub mod model;
pub mod redundancy;
pub mod registry;
pub mod service;
pub mod shop;
pub mod shop_client;
pub mod sqlite;
pub mod sync_node;
