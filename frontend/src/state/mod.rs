//! Page state as pure reducers: no I/O, tested natively with `cargo test`.

pub mod models;
pub mod replication;
pub mod services;
pub mod shop;
pub mod sync;
