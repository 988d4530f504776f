pub mod models;
pub mod overview;
pub mod replication;
pub mod runs;
pub mod shop;
pub mod sync;
