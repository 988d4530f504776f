//! Every way a model's request can fail, and the JSON answer for each.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::service::error_response;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A measurement is missing, not a number, or absurd (the reason names it).
    #[error("{0}")]
    BadMeasurements(String),
    /// The model's behaviour makes it fail this request (flapping).
    #[error("{0}")]
    Unavailable(&'static str),
}

impl IntoResponse for ModelError {
    fn into_response(self) -> Response {
        let status = match &self {
            ModelError::BadMeasurements(_) => StatusCode::BAD_REQUEST,
            ModelError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        error_response(status, self.to_string())
    }
}
