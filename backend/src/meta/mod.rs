//! The meta-model (6001): stake-weighted consensus over the Iris models, with slashing.
pub mod consensus;
