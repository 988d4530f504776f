//! Hooks for what several pages do alike.

pub mod use_polled;

pub use use_polled::use_polled;
