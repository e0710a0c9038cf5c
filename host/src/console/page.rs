//! The console's page, embedded in the binary: one HTML document, its
//! script and its style, which do everything through `/api/v1`. Served with
//! a policy that lets the page load nothing but its own files and talk to
//! nothing but its own server, and never be framed by another site.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const HTML: &str = include_str!("page.html");
/// The page's script: its sections, then the admin's Users section.
const SCRIPT: &str = concat!(include_str!("page.js"), include_str!("page_users.js"));
const STYLE: &str = include_str!("page.css");

const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub async fn html() -> Response {
    file("text/html; charset=utf-8", HTML)
}

pub async fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> Response {
    file("text/css; charset=utf-8", STYLE)
}
