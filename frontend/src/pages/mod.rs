pub mod models;
pub mod not_built;
pub mod overview;
pub mod replication;
pub mod shop;
