//! Page state as pure reducers: no I/O, tested natively with `cargo test`.

pub mod services;
pub mod shop;
