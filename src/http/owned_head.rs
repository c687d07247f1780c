//! Copies a request's head out of hyper's read buffer before the Socket.IO
//! layer sees it.
//!
//! hyper parses the head without copying: each `HeaderValue` and the URI are
//! slices of the connection's 8 KB read buffer, and axum's router adds a
//! clone of the URI (`OriginalUri`). The Socket.IO layer keeps every socket's
//! request head, extensions included, for the socket's whole life
//! (engineioxide `Socket::req_parts`), so one short header pins the whole
//! buffer (bench/idle-memory.md). Owned copies cost the header bytes only.
//! (Upstream, engineioxide could keep only the parts it exposes.)

use axum::extract::{OriginalUri, Request};
use http::{HeaderValue, Uri};

/// The request with its URI and header values in allocations of their own.
pub fn owned_head(mut req: Request) -> Request {
    for value in req.headers_mut().values_mut() {
        if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
            copy.set_sensitive(value.is_sensitive());
            *value = copy;
        }
    }
    if let Ok(uri) = Uri::try_from(req.uri().to_string()) {
        if req.extensions().get::<OriginalUri>().is_some() {
            req.extensions_mut().insert(OriginalUri(uri.clone()));
        }
        *req.uri_mut() = uri;
    }
    req
}
