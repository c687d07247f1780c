//! `/demo`: the demo and self-test page (`demo_page`). Every file of it is
//! embedded in the binary, so the page works wherever the binary runs (`npm
//! start`, the container image, a copied binary) with nothing beside it and
//! no build step; its two libraries are vendored from npm
//! (`demo/vendor/README.md` says which versions, and the browser test checks
//! the copies against the npm packages).

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// name under `/demo/` → (content type, bytes).
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", HTML, include_str!("demo/index.html")),
    ("demo.css", CSS, include_str!("demo/demo.css")),
    ("app.js", JS, include_str!("demo/app.js")),
    ("session.js", JS, include_str!("demo/session.js")),
    ("mesh.js", JS, include_str!("demo/mesh.js")),
    ("selftest.js", JS, include_str!("demo/selftest.js")),
    (
        "vendor/socket.io.esm.min.js",
        JS,
        include_str!("demo/vendor/socket.io.esm.min.js"),
    ),
    ("vendor/qrcode.mjs", JS, include_str!("demo/vendor/qrcode.mjs")),
];

/// Only what the page itself needs: its own scripts, its socket to this
/// origin, the QR code as a data: image. An invite token in the URL
/// fragment never reaches a third party.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; media-src 'self' blob:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// The routes of the page, to merge into the main router when `demo_page` is on.
pub(super) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/demo", get(|| async { file("index.html") }))
        .route("/demo/", get(|| async { file("index.html") }))
        .route(
            "/demo/{*name}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
}

fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                // The page changes with the binary: revalidate, never serve a stale script.
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "no-referrer"),
            ],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module the page imports is one of the embedded files.
    #[test]
    fn every_import_is_embedded() {
        for (name, _, body) in FILES
            .iter()
            .filter(|(n, _, _)| n.ends_with(".js") && !n.starts_with("vendor/"))
        {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let target = line.split(['\'', '"']).nth(1).expect("an import names a file");
                let target = target.trim_start_matches("./");
                assert!(
                    FILES.iter().any(|(n, _, _)| *n == target),
                    "{name} imports {target}, which is not embedded"
                );
            }
        }
    }
}
