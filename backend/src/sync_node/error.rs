//! Every way a request to a node can fail — over HTTP or Socket.IO — and what the client is told.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::sqlite::DbError;

/// Why a request to a node failed; answered as `{code, message}` (and, where the original
/// project answered `{"error": ...}`, that too).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("Name is required")]
    NameRequired,
    #[error("{0}")]
    BadRequest(String),
    /// The node's database failed: logged, and told without SQLite's words.
    #[error("the node's database failed")]
    Db(#[from] DbError),
    /// A linearizable read found no majority in time (a partition, peers down).
    #[error("{0}")]
    NoQuorum(String),
}

impl NodeError {
    /// The status and the words the client gets; a database failure is logged here.
    pub fn reported(self) -> (StatusCode, String) {
        let status = match &self {
            NodeError::NameRequired | NodeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            NodeError::NoQuorum(_) => StatusCode::SERVICE_UNAVAILABLE,
            NodeError::Db(err) => {
                tracing::error!(%err, "the node's database failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, self.to_string())
    }
}

/// The original's error shape beside the lab's: `{"error": "Name is required", "code": 400,
/// "message": "Name is required"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OriginalError {
    /// The original project's field (absent when the request did not even parse).
    pub error: Option<String>,
    pub code: u16,
    pub message: String,
}

impl IntoResponse for NodeError {
    fn into_response(self) -> Response {
        let (status, text) = self.reported();
        let body =
            OriginalError { error: Some(text.clone()), code: status.as_u16(), message: text };
        (status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_failure_is_logged_not_told() {
        let err = NodeError::Db(DbError::Pool("disk I/O error in /data/node-1.sqlite3".into()));
        let (status, message) = err.reported();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(message, "the node's database failed");
    }

    #[tokio::test]
    async fn the_original_shape_keeps_its_error_field() {
        let response = NodeError::NameRequired.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "Name is required", "code": 400, "message": "Name is required"})
        );
    }
}
