//! Every way a registry request can fail, and the JSON answer for each.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::service::error_response;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Every server fails its health check: there is none to hand out.
    #[error("no healthy server: every shop server fails its health check")]
    NoHealthyServer,
    /// Not a `host:port` the registry can check and DNS can answer for (the reason says why).
    #[error("{0}")]
    BadAddress(String),
    #[error("{0} is already registered")]
    AlreadyRegistered(String),
    #[error("{0} is not registered")]
    NotRegistered(String),
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let status = match &self {
            RegistryError::NoHealthyServer => StatusCode::SERVICE_UNAVAILABLE,
            RegistryError::BadAddress(_) => StatusCode::BAD_REQUEST,
            RegistryError::AlreadyRegistered(_) => StatusCode::CONFLICT,
            RegistryError::NotRegistered(_) => StatusCode::NOT_FOUND,
        };
        error_response(status, self.to_string())
    }
}
