//! Every way a shop request can fail, and the JSON answer for each.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::service::error_response;
use crate::sqlite::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// The request is well-formed JSON but breaks a rule (empty name, zero quantity, ...).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the shop's state (ordering a product that is out of stock).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl IntoResponse for ShopError {
    fn into_response(self) -> Response {
        match self {
            ShopError::Invalid(message) => error_response(StatusCode::BAD_REQUEST, message),
            ShopError::NotFound(message) => error_response(StatusCode::NOT_FOUND, message),
            ShopError::Conflict(message) => error_response(StatusCode::CONFLICT, message),
            ShopError::Db(err) if err.is_busy() => {
                tracing::warn!(%err, "store busy");
                error_response(StatusCode::SERVICE_UNAVAILABLE, "the store is busy, try again")
            }
            ShopError::Db(err) => {
                tracing::error!(%err, "store failure");
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the store failed; nothing was written",
                )
            }
        }
    }
}
