//! The API's errors: always `{"error": {"code", "message"}}` with a status
//! that says the same, whether the refusal came from the key check, the
//! body, or the workspace core (whose refusals the socket side words as
//! alerts: the same rule refuses both).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::workspaces::{Alert, Rejection};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait (429).
    pub retry_after: Option<u64>,
}

/// The body of every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case: what a program compares.
    #[schema(example = "not_found")]
    code: &'static str,
    /// For people; may change.
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn no_workspace() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such workspace")
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> ApiError {
        match r {
            Rejection::Destroyed => ApiError::no_workspace(),
            Rejection::Full => ApiError::new(StatusCode::CONFLICT, "full", "the workspace has no seat left"),
            Rejection::Alert(Alert::TargetNotMember) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such attendee in this workspace")
            }
            Rejection::Alert(Alert::OwnerCannotBeKicked) => ApiError::new(
                StatusCode::CONFLICT,
                "owner_cannot_be_removed",
                "the owner cannot be removed from its workspace; delete the workspace instead",
            ),
            Rejection::Alert(a @ Alert::LiveLimit) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "live_limit", a.text())
            }
            Rejection::Alert(a @ Alert::SharedStateUnavailable) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", a.text())
            }
            Rejection::Alert(a @ Alert::StorageFailed) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage_failed", a.text())
            }
            Rejection::Alert(a) => ApiError::bad_request(a.text()),
            Rejection::Invalid(i) => ApiError::bad_request(i.text()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
