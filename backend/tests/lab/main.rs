//! The lab's integration tests, in one binary (one build and one link, not fifteen): each
//! module tests one part against real processes or the real router, with the shared fixtures
//! of `support` (a lab on free ports, bounded waits, processes cleaned up by PID).
//!
//! Run one part with `cargo test --test lab registry::` (a module's tests) or by test name.
//! The modules that need the set-up's Python tools (schemathesis, python-socketio) are built
//! with the `e2e` feature, as `make test` does.

#[path = "../support/mod.rs"]
mod support;

mod bugs;
mod check_cli;
mod control_plane;
mod crash_safety;
mod crash_stateful;
mod foreign_pages;
mod lab_processes;
mod linearizable_reads;
mod meta_model;
mod plumbing;
mod recording;
mod redundancy;
mod registry;
#[cfg(feature = "e2e")]
mod schemathesis;
mod shop_failover;
mod shop_routes;
#[cfg(feature = "e2e")]
mod socketio_compat;
mod sync_nodes;
mod workshop;
mod workshop_shapes;
