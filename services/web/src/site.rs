//! Serving the built frontend: files, caching, and the single-page apps' fallbacks. The
//! storefront is `index.html` at the root; the account app (signing in and the signed-in pages)
//! and the admin portal are builds of their own in `account/` and `admin/` (each its
//! `index.html` and assets), so the storefront's first page loads neither.

use std::convert::Infallible;
use std::path::Path;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kit::ApiError;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::config::WebConfig;
use crate::security;

/// `Cache-Control` of files whose name carries a hash of their content: a new build gives them
/// new names, so browsers and CDNs may keep them for good.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` of `index.html` and unhashed files: cached, but revalidated on every use
/// (`Last-Modified`), so a deployment is picked up on the next page load.
pub const REVALIDATE: &str = "no-cache";

/// The folder of the site that holds the admin portal's build, served under `/admin`.
pub const ADMIN_DIR: &str = "admin";

/// The folder of the site that holds the account app's build (its assets under `/account/`).
pub const ACCOUNT_DIR: &str = "account";

/// The first segment of the account app's routes: signing in, registering, the checkout, the
/// orders and the account itself (the frontend's `route::account` draws them).
const ACCOUNT_ROUTES: [&str; 5] = ["login", "register", "checkout", "orders", "account"];

/// The files of the built frontend.
#[derive(Debug, Clone)]
pub struct Site {
    files: ServeDir,
    index: ServeFile,
    account_index: ServeFile,
    admin_index: ServeFile,
}

impl Site {
    /// The site under `config.root`. Each file is answered with its `.br` or `.gz` twin when one
    /// exists and the browser accepts that encoding.
    pub fn new(config: &WebConfig) -> Self {
        Self {
            files: ServeDir::new(&config.root)
                .precompressed_br()
                .precompressed_gzip()
                .append_index_html_on_directories(false),
            index: ServeFile::new(config.root.join("index.html"))
                .precompressed_br()
                .precompressed_gzip(),
            account_index: ServeFile::new(config.root.join(ACCOUNT_DIR).join("index.html"))
                .precompressed_br()
                .precompressed_gzip(),
            admin_index: ServeFile::new(config.root.join(ADMIN_DIR).join("index.html"))
                .precompressed_br()
                .precompressed_gzip(),
        }
    }
}

/// The web service's routes: every `GET`/`HEAD` path is a file or a client route.
pub fn app(site: Site) -> Router {
    Router::new()
        .route("/", get(serve))
        .route("/{*path}", get(serve))
        .layer(middleware::from_fn(security::add_headers))
        .with_state(site)
}

/// What a request path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A route of the storefront (`/`, `/products/42`): answered with `index.html`, whose
    /// router draws the page.
    ClientRoute,
    /// A route of the account app (`/login`, `/checkout`, `/orders/42`, `/account`): answered
    /// with `account/index.html`, the account app's own build.
    AccountRoute,
    /// A route of the admin portal (`/admin`, `/admin/products/42`): answered with
    /// `admin/index.html`, the portal's own build.
    AdminRoute,
    /// A file (`/frontend-1a2b3c4d5e6f7a8b.js`, `/favicon.ico`): answered from disk or 404, never
    /// with `index.html`, so a stale script reference fails loudly instead of parsing HTML.
    File,
    /// An API path that reached this service: a routing mistake upstream, answered 404.
    Api,
}

impl Target {
    /// Classifies a request path. A file is a path whose last segment has an extension; the
    /// app's routes never do (ids are UUIDs, names are slugs).
    pub fn of(path: &str) -> Self {
        if path == "/api" || path.starts_with("/api/") {
            return Self::Api;
        }
        let last = path.rsplit('/').next().unwrap_or_default();
        let first = first_segment(path);
        match last.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Self::File,
            _ if first == "admin" => Self::AdminRoute,
            _ if ACCOUNT_ROUTES.contains(&first) => Self::AccountRoute,
            _ => Self::ClientRoute,
        }
    }
}

/// `admin` of `/admin` and `/admin/products`.
fn first_segment(path: &str) -> &str {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split('/').next().unwrap_or_default()
}

/// Whether a file name carries a content hash, as Trunk writes them:
/// `frontend-5d3c0a2b9e1f4a67_bg.wasm`, `styles-0f1e2d3c4b5a6978.css`.
pub fn is_hashed(file_name: &str) -> bool {
    let stem = file_name.split('.').next().unwrap_or_default();
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-').is_some_and(|(name, hash)| {
        !name.is_empty() && hash.len() >= 8 && hash.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

async fn serve(State(site): State<Site>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    match Target::of(&path) {
        Target::Api => {
            ApiError::NotFound(format!("{path} is an API path; the gateway routes those."))
                .into_response()
        }
        Target::ClientRoute => with_cache(respond(site.index.oneshot(request).await), REVALIDATE),
        Target::AccountRoute => app_index(site.account_index, request, "account app").await,
        Target::AdminRoute => app_index(site.admin_index, request, "admin portal").await,
        Target::File => {
            let response = respond(site.files.oneshot(request).await);
            if response.status() == StatusCode::NOT_FOUND {
                return ApiError::NotFound(format!("There is no file {path}.")).into_response();
            }
            let name = Path::new(&path)
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or_default();
            let policy = if name != "index.html" && is_hashed(name) {
                IMMUTABLE
            } else {
                REVALIDATE
            };
            with_cache(response, policy)
        }
    }
}

/// The page of an app with a build of its own, or a 404 naming the app when the site lacks it.
async fn app_index(index: ServeFile, request: Request, app: &str) -> Response {
    let path = request.uri().path().to_owned();
    let response = respond(index.oneshot(request).await);
    if response.status() == StatusCode::NOT_FOUND {
        return ApiError::NotFound(format!("{path}: this build has no {app}.")).into_response();
    }
    with_cache(response, REVALIDATE)
}

fn respond(result: Result<impl IntoResponse, Infallible>) -> Response {
    match result {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// Sets the cache policy of a successful answer; the encoding a cached copy holds depends on
/// the request's `Accept-Encoding`, so shared caches must key on it.
fn with_cache(mut response: Response, policy: &'static str) -> Response {
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_an_extension_are_files() {
        assert_eq!(Target::of("/"), Target::ClientRoute);
        assert_eq!(Target::of("/products"), Target::ClientRoute);
        assert_eq!(
            Target::of("/products/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
            Target::ClientRoute
        );
        assert_eq!(Target::of("/admin"), Target::AdminRoute);
        assert_eq!(Target::of("/admin/"), Target::AdminRoute);
        assert_eq!(Target::of("/admin/products/new"), Target::AdminRoute);
        assert_eq!(Target::of("/administrator"), Target::ClientRoute);
        // Every account route is served in tests/site.rs; here the edges of the prefix match.
        assert_eq!(Target::of("/account/"), Target::AccountRoute);
        assert_eq!(
            Target::of("/checkout/complete/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
            Target::AccountRoute
        );
        assert_eq!(Target::of("/accounts"), Target::ClientRoute);
        assert_eq!(Target::of("/cart"), Target::ClientRoute);
        assert_eq!(
            Target::of("/account/account-0a1b2c3d4e5f6a7b.js"),
            Target::File
        );
        assert_eq!(Target::of("/frontend-0a1b2c3d4e5f6a7b.js"), Target::File);
        assert_eq!(Target::of("/admin/admin-0a1b2c3d4e5f6a7b.js"), Target::File);
        assert_eq!(Target::of("/favicon.ico"), Target::File);
        assert_eq!(Target::of("/img/a.b/c.png"), Target::File);
        assert_eq!(Target::of("/.well-known"), Target::ClientRoute);
        assert_eq!(Target::of("/api/v1/products"), Target::Api);
        assert_eq!(Target::of("/api"), Target::Api);
        assert_eq!(Target::of("/apiary"), Target::ClientRoute);
    }

    #[test]
    fn trunk_hashed_names_are_recognised() {
        assert!(is_hashed("frontend-5d3c0a2b9e1f4a67.js"));
        assert!(is_hashed("frontend-5d3c0a2b9e1f4a67_bg.wasm"));
        assert!(is_hashed("styles-0f1e2d3c4b5a6978.css"));
        assert!(is_hashed("boot-0f1e2d3c4b5a6978.js"));
        assert!(!is_hashed("favicon.ico"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("my-logo.svg"));
        assert!(!is_hashed("-0f1e2d3c4b5a6978.css"));
        assert!(!is_hashed("app-12345.js"));
    }
}
