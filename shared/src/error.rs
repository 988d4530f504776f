//! The one error envelope every service answers with.

use serde::{Deserialize, Serialize};

/// The body of every 4xx/5xx answer in the lab: `{"code": 404, "message": "..."}`.
///
/// `code` repeats the HTTP status so that a client reading only the body (a log line, a
/// websocket relay) still knows what kind of failure it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// The HTTP status code of the answer.
    pub code: u16,
    /// What went wrong, in words meant for the person who sent the request.
    pub message: String,
}

impl ErrorBody {
    /// An error body for HTTP status `code`.
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}
