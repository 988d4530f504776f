//! Every way a meta-model request can fail, and the JSON answer for each.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::ledger::LedgerError;
use crate::service::error_response;
use crate::sqlite::DbError;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("no model answered (every one failed, timed out, or is ejected)")]
    NoAnswer,
    /// The ledger's database failed: logged, and answered without SQLite's words.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<LedgerError> for MetaError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::Conflict(m) => MetaError::Conflict(m),
            LedgerError::NotFound(m) => MetaError::NotFound(m),
            LedgerError::Db(e) => MetaError::Db(e),
        }
    }
}

impl IntoResponse for MetaError {
    fn into_response(self) -> Response {
        let status = match &self {
            MetaError::Invalid(_) => StatusCode::BAD_REQUEST,
            MetaError::NotFound(_) => StatusCode::NOT_FOUND,
            MetaError::Conflict(_) => StatusCode::CONFLICT,
            MetaError::NoAnswer => StatusCode::SERVICE_UNAVAILABLE,
            MetaError::Db(err) => {
                tracing::error!(%err, "ledger failure");
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the stake ledger failed",
                );
            }
        };
        error_response(status, self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ledger_failure_is_logged_not_sent() {
        let err = MetaError::Db(DbError::Pool("disk I/O error in /data/ledger.sqlite3".into()));
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: shared::ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, shared::ErrorBody::new(500, "the stake ledger failed"));
    }
}
