//! The shop: the workshop's e-commerce API (servers A and B on 3001/3002) over one SQLite store.
//!
//! Run one with `lab serve shop --name shop-a --port 3001 --db data/shop.sqlite3`; start a
//! second on another port with the same `--db` and the two are interchangeable.
//!
//! Routes: `GET/POST /products`, `GET/PUT/DELETE /products/{id}`, `POST /orders`,
//! `GET /orders/{userId}`, `POST/GET /cart/{userId}`, `DELETE /cart/{userId}/item/{productId}`.

mod cache;
mod error;
pub mod replica;
pub mod routes;
mod serve;
pub mod store;
mod validate;

use std::sync::Arc;

use axum::Router;
use shared::ServiceKind;
use utoipa_axum::router::OpenApiRouter;

pub use error::ShopError;
pub use serve::{serve, serve_store, InitialRole, ServeArgs, StoreArgs};
pub use store::ShopStore;

use crate::service::Service;

/// The service a shop server runs as: its health depends on reading the store.
pub fn service(name: &str, store: &ShopStore) -> Service {
    let store = store.clone();
    Service::new(name, ServiceKind::Shop).health_probe(Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    }))
}

/// The shop's router, with the plumbing every service has.
pub fn router(name: &str, store: ShopStore) -> Router {
    service(name, &store).into_router(routes(store))
}

/// A store process (`lab serve store`): the shop routes over a logged store, plus replication.
pub fn store_router(name: &str, store: ShopStore) -> Router {
    // Replication batches (up to `replica::MAX_BATCH` changes) are far larger than any form.
    let service = Service::new(name, ServiceKind::Store).body_limit(16 * 1024 * 1024);
    service.into_router(routes::router().merge(replica::routes()).with_state(store))
}

/// The shop routes' OpenAPI document, for services that serve them through a proxy.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes::router().split_for_parts().1
}

/// Just the shop routes, for services that serve them over another store arrangement.
pub fn routes(store: ShopStore) -> OpenApiRouter {
    routes::router().with_state(store)
}
