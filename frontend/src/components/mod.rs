pub mod health_badge;
pub mod nav;
pub mod service_table;
