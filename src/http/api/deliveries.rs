//! The webhook deliveries that had no try left: listed until replayed.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::Api;

#[derive(Serialize, ToSchema)]
pub struct FailedDelivery {
    /// The `webhook-id` (the same on every try, and on a replay).
    id: String,
    url: String,
    #[serde(rename = "type")]
    kind: &'static str,
    workspace: String,
    attempts: u32,
    last_error: String,
    /// Milliseconds since the epoch.
    last_attempt_at: u64,
}

#[derive(Serialize, ToSchema)]
pub struct FailedList {
    deliveries: Vec<FailedDelivery>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only `failed` is listed.
    status: String,
}

fn no_webhooks() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no webhook_urls are configured")
}

/// The deliveries that had no try left.
#[utoipa::path(get, path = "/api/v1/webhook-deliveries", params(DeliveriesQuery), tag = "webhooks",
    responses((status = 200, body = FailedList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn deliveries_list(
    State(api): State<Arc<Api>>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> Result<Json<FailedList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if q.status != "failed" {
        return Err(ApiError::bad_request("status must be failed"));
    }
    let Some(webhooks) = &api.app.webhooks else {
        return Ok(Json(FailedList { deliveries: Vec::new() }));
    };
    let deliveries = webhooks
        .failed()
        .into_iter()
        .map(|f| FailedDelivery {
            id: f.message.id.clone(),
            url: f.url,
            kind: f.message.kind,
            workspace: f.message.workspace.to_string(),
            attempts: f.attempts,
            last_error: f.last_error,
            last_attempt_at: f.last_attempt_at,
        })
        .collect();
    Ok(Json(FailedList { deliveries }))
}

/// Queues a failed delivery again, with the same `webhook-id`, to each URL it failed for.
#[utoipa::path(post, path = "/api/v1/webhook-deliveries/{id}/retry", tag = "webhooks",
    params(("id" = String, Path, description = "The delivery's webhook-id")),
    responses((status = 202), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deliveries_retry(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let webhooks = api.app.webhooks.as_ref().ok_or_else(no_webhooks)?;
    if webhooks.retry(&id) {
        Ok((StatusCode::ACCEPTED, Json(serde_json::json!({}))))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no failed delivery has this id",
        ))
    }
}
