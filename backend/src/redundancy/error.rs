//! Every way a front's request can fail, and the JSON answer for each.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::service::error_response;

#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    /// The roles forbid it: no mirror to promote, a primary that still answers, nothing to
    /// rebuild, or two stores claiming the same role.
    #[error("{0}")]
    Conflict(String),
    /// A store answered, but refused what it was asked or answered something unreadable.
    #[error("{0}")]
    BadGateway(String),
    /// No store could do it now: unreachable, no store takes writes, or the mirror did not
    /// confirm in time.
    #[error("{0}")]
    Unavailable(String),
}

impl IntoResponse for FrontError {
    fn into_response(self) -> Response {
        let status = match &self {
            FrontError::Conflict(_) => StatusCode::CONFLICT,
            FrontError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            FrontError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        error_response(status, self.to_string())
    }
}
