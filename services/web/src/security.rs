//! The security headers of every answer of the web service.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The Content-Security-Policy of the app.
///
/// Scripts only from this origin and never inline (the loader is an external module, see
/// `frontend/boot.js`); `'wasm-unsafe-eval'` lets the page compile its WebAssembly and nothing
/// else. Styles only from stylesheets (no `style` attributes), the API on the same origin,
/// images from the origin (product images are served under it) or inline `data:` icons, and
/// the page may not be framed (clickjacking) nor post forms elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; \
     img-src 'self' data:; \
     connect-src 'self'; \
     object-src 'none'; \
     frame-ancestors 'none'; \
     base-uri 'self'; \
     form-action 'self'";

/// Browser features the shop never uses, switched off so injected code cannot use them either.
pub const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=(), payment=(), usb=()";

/// The headers added to every answer, in order.
pub fn headers() -> [(HeaderName, HeaderValue); 6] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(PERMISSIONS_POLICY),
        ),
        // For browsers that predate `frame-ancestors`.
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

/// Middleware adding [`headers`] to a response.
pub async fn add_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let target = response.headers_mut();
    for (name, value) in headers() {
        target.insert(name, value);
    }
    response
}
