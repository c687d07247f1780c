//! The operator's key: `Authorization: Bearer <key>`, checked before any
//! handler runs, against every configured key in constant time. An address
//! that keeps offering wrong keys is refused for a while without a check, so
//! keys cannot be guessed at the speed of the server.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::Api;
use crate::limits::{client_ip, WindowCounter};

/// Wrong keys an address may offer per window before it is refused outright.
pub const MAX_FAILURES: usize = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at once (older windows go first).
const MAX_ADDRESSES: usize = 100_000;

/// The failed attempts per address.
pub struct Failures(WindowCounter<IpAddr>);

impl Default for Failures {
    fn default() -> Failures {
        Failures(WindowCounter::new(FAILURE_WINDOW, MAX_ADDRESSES))
    }
}

/// Lets the request through only with one of the keys.
pub async fn authorize(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let ip = caller_ip(&api, &request);
    let failures = &api.failures.0;
    if failures.count(&ip) >= MAX_FAILURES {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many requests with a wrong key from this address; try again later",
        );
        e.retry_after = Some(failures.remaining(&ip).as_secs().max(1));
        return e.into_response();
    }
    let offered = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match offered {
        Some(key) if api.keys.accepts(key) => next.run(request).await,
        _ => {
            failures.add(&ip);
            tracing::info!(%ip, path = %request.uri().path(), "operator API: missing or wrong key");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid operator key is required: Authorization: Bearer <key>",
            )
            .into_response()
        }
    }
}

/// The address the failures count against (behind a trusted proxy, the client's).
fn caller_ip(api: &Api, request: &Request) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    client_ip(peer, forwarded, &api.app.settings.limits.trusted_proxies)
}
