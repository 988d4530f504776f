//! The JSON error shape on every route, including requests axum itself rejects.
//!
//! Services define their own error enums (one per service) and turn them into responses with
//! [`error_response`]; the extractors here ([`ApiJson`], [`ApiQuery`], [`ApiPath`]) make a
//! malformed body, query or path answer with the same `{code, message}` envelope instead of
//! axum's plain-text rejections.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use shared::ErrorBody;

/// A `{code, message}` JSON answer with that status.
pub fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(ErrorBody::new(status.as_u16(), message))).into_response()
}

/// A request the service could not even parse, answered as JSON.
#[derive(Debug)]
pub struct Rejection {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        error_response(self.status, self.message)
    }
}

impl From<JsonRejection> for Rejection {
    fn from(rejection: JsonRejection) -> Self {
        Self { status: rejection.status(), message: rejection.body_text() }
    }
}

impl From<QueryRejection> for Rejection {
    fn from(rejection: QueryRejection) -> Self {
        Self { status: rejection.status(), message: rejection.body_text() }
    }
}

impl From<PathRejection> for Rejection {
    fn from(rejection: PathRejection) -> Self {
        Self { status: rejection.status(), message: rejection.body_text() }
    }
}

/// `axum::Json`, rejecting with the lab's JSON error shape.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(Json), rejection(Rejection))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// `axum::extract::Query`, rejecting with the lab's JSON error shape.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Rejection))]
pub struct ApiQuery<T>(pub T);

/// `axum::extract::Path`, rejecting with the lab's JSON error shape.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Rejection))]
pub struct ApiPath<T>(pub T);
