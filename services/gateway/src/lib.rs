//! The API gateway: the shop's one public entrance.
//!
//! It routes `/api/v1/*` by prefix to the user, product and order services (and, optionally,
//! everything else to the web service), verifies access tokens against the user service's
//! JWKS and vouches for the caller with `x-user-*` headers, limits request rates, enforces CORS
//! and body limits, short-circuits upstreams that are down, and serves the merged OpenAPI
//! document. Internal and ops endpoints of the upstreams are never reachable through it, and
//! neither are its own: `/healthz`, `/readyz` and `/metrics` are served on a separate ops
//! listener (`OPS_BIND_ADDR`), see [`routers`].

pub mod auth;
pub mod breaker;
pub mod config;
pub mod openapi;
pub mod proxy;
pub mod ratelimit;
pub mod routes;
mod verified;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::{HeaderValue, Method};
use kit::ApiError;
use kit::config::HttpConfig;
use kit::metrics::Metrics;
use kit::server::Ops;
use kit::shutdown::Shutdown;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::net::TcpListener;
use tower_governor::GovernorLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::Keys;
use crate::config::GatewayConfig;
use crate::openapi::Docs;
use crate::proxy::Proxy;

/// What the gateway's handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Forwards to upstreams.
    pub proxy: Proxy,
    /// Verifies tokens.
    pub keys: Arc<Keys>,
    /// The merged API document.
    pub docs: Arc<Docs>,
    /// Where each service's OpenAPI document is.
    pub openapi_sources: Arc<Vec<(&'static str, String)>>,
    /// A client for the gateway's own calls (JWKS, OpenAPI documents).
    pub http: reqwest::Client,
    /// Whether `X-Forwarded-For` comes from a trusted proxy in front of the gateway.
    pub trust_forwarded_for: bool,
    upstream_requests: Family<UpstreamLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: &'static str,
    status: u16,
}

impl AppState {
    /// The gateway's state for `config`; registers its metrics on `metrics`.
    pub fn new(config: &GatewayConfig, metrics: &Metrics) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.resilience.timeout)
            .connect_timeout(config.resilience.connect_timeout)
            .build()?;
        let upstream_requests = Family::<UpstreamLabels, Counter>::default();
        metrics.register(
            "gateway_upstream_requests",
            "Requests forwarded, by upstream and answer status (503: upstream unreachable)",
            upstream_requests.clone(),
        );
        let upstreams = &config.upstreams;
        Ok(Self {
            proxy: Proxy::new(config)?,
            keys: Arc::new(Keys::new(config.auth.clone(), http.clone())),
            docs: Arc::new(Docs::new(openapi::CACHE_FOR)),
            openapi_sources: Arc::new(vec![
                ("user", format!("{}/openapi.json", upstreams.user)),
                ("product", format!("{}/openapi.json", upstreams.product)),
                ("order", format!("{}/openapi.json", upstreams.order)),
            ]),
            http,
            trust_forwarded_for: config.trust_forwarded_for,
            upstream_requests,
        })
    }
}

/// What the gateway serves, on two listeners.
#[derive(Debug)]
pub struct Routers {
    /// The public listener (`BIND_ADDR`): the API and the storefront, under the kit's standard
    /// layers, without any ops endpoint.
    pub public: Router,
    /// The ops listener (`OPS_BIND_ADDR`): the gateway's own `/healthz`, `/readyz` and
    /// `/metrics`, for probes and the scraper inside the cluster.
    pub ops: Router,
}

/// The gateway's two routers.
pub fn routers(
    state: AppState,
    config: &GatewayConfig,
    http: &HttpConfig,
    ops: &Ops,
    shutdown: &Shutdown,
) -> Routers {
    Routers {
        public: kit::server::layered(app(state, config, shutdown), &ops.metrics, http),
        ops: kit::server::ops_router(ops),
    }
}

/// Serves the public and the ops router until `shutdown` fires and the public listener has
/// drained; the ops listener stays up meanwhile, so probes see readiness turn false.
pub async fn serve(
    routers: Routers,
    public: TcpListener,
    ops: TcpListener,
    shutdown: Shutdown,
    drain: std::time::Duration,
) -> anyhow::Result<()> {
    let ops_addr = ops.local_addr()?;
    tracing::info!(addr = %ops_addr, "ops listening");
    let ops_server = axum::serve(ops, routers.ops);
    tokio::select! {
        outcome = kit::server::serve(public, routers.public, shutdown, drain) => outcome,
        outcome = ops_server => {
            Err(anyhow::anyhow!("the ops listener on {ops_addr} stopped: {outcome:?}"))
        }
    }
}

/// The gateway's routes and layers, without the kit's standard stack.
fn app(state: AppState, config: &GatewayConfig, shutdown: &Shutdown) -> Router {
    let limits = &config.rate_limits;
    let (api, web, credentials) = (
        Arc::new(ratelimit::api(limits)),
        Arc::new(ratelimit::web(limits)),
        Arc::new(ratelimit::credentials(limits)),
    );
    let sweep = {
        let (api, web, credentials) = (api.clone(), web.clone(), credentials.clone());
        move || {
            api.limiter().retain_recent();
            web.limiter().retain_recent();
            credentials.limiter().retain_recent();
        }
    };
    ratelimit::spawn_cleanup(sweep, shutdown);
    let strict = GovernorLayer::new(credentials).error_handler(ratelimit::rejection);
    let api = Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/docs", get(openapi::page))
        .route("/api/v1/auth/login", post(forward).layer(strict.clone()))
        .route("/api/v1/auth/register", post(forward).layer(strict))
        .route("/api/{*path}", any(forward))
        .route("/.well-known/jwks.json", any(forward))
        .layer(GovernorLayer::new(api).error_handler(ratelimit::rejection));
    // Everything outside the API is the storefront's (or a 404): its own bucket.
    let storefront = Router::new()
        .route("/", any(forward))
        .route("/{*path}", any(forward))
        .layer(GovernorLayer::new(web).error_handler(ratelimit::rejection));
    api.merge(storefront)
        .layer(middleware::from_fn(ratelimit::standard_headers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(cors(&config.cors_origins))
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            http::header::AUTHORIZATION,
            http::header::CONTENT_TYPE,
            http::header::IF_MATCH,
            http::HeaderName::from_static("idempotency-key"),
            // A browser that traces (or tags its requests) joins the gateway's trace and logs.
            http::HeaderName::from_static("traceparent"),
            http::HeaderName::from_static("tracestate"),
            http::HeaderName::from_static("x-request-id"),
        ])
        // What a script may read: the request id to quote in a bug report, and when to retry.
        .expose_headers([
            http::HeaderName::from_static("x-request-id"),
            http::header::ETAG,
            http::header::RETRY_AFTER,
            http::HeaderName::from_static("ratelimit-limit"),
            http::HeaderName::from_static("ratelimit-remaining"),
            http::HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

async fn forward(State(state): State<AppState>, request: Request<Body>) -> Response {
    let Some(route) = routes::resolve(
        request.method(),
        request.uri().path(),
        state.proxy.has_web(),
    ) else {
        return ApiError::NotFound(format!(
            "No route for {} {}.",
            request.method(),
            request.uri().path()
        ))
        .into_response();
    };
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let started = Instant::now();
    let response = state
        .proxy
        .forward(route, request, client)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    state
        .upstream_requests
        .get_or_create(&UpstreamLabels {
            upstream: route.upstream.name(),
            status: response.status().as_u16(),
        })
        .inc();
    tracing::debug!(upstream = route.upstream.name(), elapsed = ?started.elapsed(), "forwarded");
    response
}
