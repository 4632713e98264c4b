//! The API gateway: the shop's one public entrance.
//!
//! It routes `/api/v1/*` by prefix to the user, product and order services (and, optionally,
//! everything else to the web service), verifies access tokens against the user service's
//! JWKS and vouches for the caller with `x-user-*` headers, limits request rates, enforces CORS
//! and body limits, short-circuits upstreams that are down, and serves the merged OpenAPI
//! document. Internal and ops endpoints of the upstreams are never reachable through it, and
//! neither are its own: `/healthz`, `/readyz` and `/metrics` are served on a separate ops
//! listener (`OPS_BIND_ADDR`), see [`startup`].
//!
//! Every answer of the public listener carries `X-Content-Type-Options: nosniff`, and
//! `Strict-Transport-Security` when the listener is reached over HTTPS (`PUBLIC_HTTPS`); an
//! answer to a signed-in caller is `Cache-Control: no-store`, so no shared or browser cache
//! keeps one person's data for another.
//!
//! Access logs: the kit writes one line per request (method, path, status, latency, request and
//! trace ids); for each request forwarded the gateway adds a `forwarded` line inside the same
//! request span, naming the client's address (as rate limits see it, so behind a trusted proxy
//! the address that proxy reported), the upstream, and the status answered: the upstream's, or
//! the gateway's own when it could not get one (503, 413).

pub mod auth;
pub mod breaker;
pub mod config;
pub mod metrics;
pub mod openapi;
pub mod path;
pub mod proxy;
pub mod ratelimit;
pub mod routes;
pub mod startup;
mod verified;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::{HeaderValue, Method, header};
use kit::ApiError;
use kit::metrics::{HttpClientMetrics, Metrics};
use kit::shutdown::Shutdown;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;

use crate::auth::{Keys, Verified};
use crate::config::GatewayConfig;
use crate::openapi::Docs;
use crate::proxy::Proxy;
use crate::ratelimit::{Allowance, Bucket, ClientIp, ClientKey, Limits, Refusal};
use crate::routes::{Access, Route, Upstream};

/// What the gateway's handlers share (behind one `Arc`, so a request clones a pointer, not the
/// clients and tables inside).
#[derive(Debug)]
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
    /// The rate limiters.
    pub limits: Arc<Limits>,
    upstream_requests: Family<UpstreamLabels, Counter>,
    upstream_calls: HttpClientMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: &'static str,
    status: u16,
}

impl AppState {
    /// The gateway's state for `config`; registers its metrics on `metrics`.
    pub fn new(config: &GatewayConfig, metrics: &Metrics) -> anyhow::Result<Self> {
        // Answers pass through as the upstream encoded them. reqwest's gzip feature is off in the
        // gateway's build, but on in a workspace build (loadgen's goose turns it on), where the
        // client would otherwise decompress a gzip answer and drop its Content-Encoding.
        //
        // No pool: these calls are rare (a key set refresh every few minutes, the documents
        // once), and a pooled connection is driven by the runtime that opened it, which may be
        // an event loop (`HTTP_EVENT_LOOPS`) that every later use from elsewhere would wake.
        let http = reqwest::Client::builder()
            .no_gzip()
            .pool_max_idle_per_host(0)
            .timeout(config.resilience.timeout)
            .connect_timeout(config.resilience.connect_timeout)
            .build()?;
        let upstream_requests = Family::<UpstreamLabels, Counter>::default();
        metrics.register(
            "gateway_upstream_requests",
            "Requests forwarded, by upstream and answer status (503: upstream unreachable)",
            upstream_requests.clone(),
        );
        let keys = Keys::new(config.auth.clone(), http.clone());
        metrics.register(
            "gateway_token_verifications",
            "Access token signatures checked (tokens answered from the verified-token cache are not)",
            keys.verifications.clone(),
        );
        let upstreams = &config.upstreams;
        let proxy = Proxy::new(config)?;
        metrics.register_collector(proxy.breaker_states());
        let upstream_calls = HttpClientMetrics::default();
        upstream_calls.register(metrics);
        let limits = Limits::new(&config.rate_limits);
        limits.rejections().register(metrics);
        Ok(Self {
            proxy,
            keys: Arc::new(keys),
            docs: Arc::new(Docs::new(openapi::CACHE_FOR)),
            openapi_sources: Arc::new(vec![
                ("user", format!("{}/openapi.json", upstreams.user)),
                ("product", format!("{}/openapi.json", upstreams.product)),
                ("order", format!("{}/openapi.json", upstreams.order)),
            ]),
            http,
            trust_forwarded_for: config.trust_forwarded_for,
            limits: Arc::new(limits),
            upstream_requests,
            upstream_calls,
        })
    }
}

/// The header of a visitor's guest cart token (see `contracts::cart`).
const GUEST_CART_TOKEN: http::HeaderName =
    http::HeaderName::from_static(contracts::cart::GUEST_CART_TOKEN_HEADER);

/// The gateway's routes, without the kit's standard stack.
///
/// Authentication and rate limits run inside the handlers ([`admit`]), not as tower layers: a
/// layer on a router is applied to every route, and each one clones the whole stack beneath it
/// on every request, which cost a proxied request more than all the work it does.
pub(crate) fn app(state: Arc<AppState>, config: &GatewayConfig, shutdown: &Shutdown) -> Router {
    ratelimit::spawn_cleanup(state.limits.clone(), shutdown);
    auth::spawn_refresh(state.keys.clone(), shutdown);
    Router::new()
        .route("/api/v1/openapi.json", get(document))
        .route("/api/v1/docs", get(page))
        .route("/api/v1/auth/login", post(credentials))
        .route("/api/v1/auth/register", post(credentials))
        .route("/api/{*path}", any(api))
        .route("/.well-known/jwks.json", any(api))
        // Everything outside the API is the storefront's (or a 404): its own bucket.
        .route("/", any(storefront))
        .route("/{*path}", any(storefront))
        .layer(cors(&config.cors_origins))
        .with_state(state)
}

/// A request let in: its route, when one serves it, its caller and the caller's allowance.
struct Admitted {
    route: Option<Route>,
    caller: Caller,
    allowance: Allowance,
}

/// Who sent a request, as far as the gateway can tell.
struct Caller {
    /// The address, token or not: the access log's client.
    ip: Option<ClientIp>,
    /// The verified token, when one was sent: the identity the upstream is told.
    verified: Option<Arc<Verified>>,
}

/// What every public route does first, cheapest check first, so that whatever a request is
/// refused for costs the gateway as little as it can:
///
/// 1. the path must be in normal form ([`path::check`]), or 400;
/// 2. an `Authorization` header is read, a bearer token too long to be one is refused (401);
/// 3. a token verified recently is found in the cache; any other request (anonymous, or with a
///    token not seen recently) counts against its address's bucket now, before anything is
///    verified, and login and register against the address's credentials bucket;
/// 4. the token's signature is checked, if it was not found in the cache (401 when bad);
/// 5. the route's access level is enforced (401, 403);
/// 6. a visitor's cart write without a guest cart token, which creates a guest cart, counts
///    against the address's guest cart bucket;
/// 7. a verified user counts against their own bucket, whose counts the answer shows.
///
/// `request` is borrowed mutably though it is only read: a shared borrow held across an await
/// would make the handler's future not `Send`, since a body is not `Sync`.
async fn admit(
    state: &AppState,
    request: &mut Request,
    bucket: Bucket,
) -> Result<Admitted, Refusal> {
    let path = request.uri().path();
    if let Err(reason) = path::check(path) {
        return Err(ApiError::BadRequest {
            detail: format!("The request path is not in normal form: {reason}."),
            errors: vec![kit::error::field_error(
                "path",
                reason.code(),
                reason.to_string(),
            )],
        }
        .into());
    }
    let route = routes::resolve(request.method(), path, state.proxy.has_web());
    let access = route.map_or(Access::Public, |route| route.access);
    let ip = ClientIp::of(request, state.trust_forwarded_for);
    let address = || {
        ip.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no peer address for rate limiting")))
    };
    let token = auth::bearer(request.headers());
    let remembered = match &token {
        Ok(Some(token)) => state.keys.remembered(*token),
        _ => None,
    };
    let paid = match remembered {
        Some(_) => None,
        None => Some(
            state
                .limits
                .check(bucket, ClientKey::Ip(address()?.key()))?,
        ),
    };
    if bucket == Bucket::Credentials {
        state.limits.check_credentials(address()?)?;
    }
    let verified = match (remembered, token?) {
        (Some(verified), _) => Some(verified),
        (None, Some(token)) => Some(state.keys.verify(token).await?),
        (None, None) => None,
    };
    auth::authorize(verified.as_deref(), access)?;
    if route.is_some_and(|route| route.creates_guest_cart)
        && verified.is_none()
        && !request.headers().contains_key(GUEST_CART_TOKEN)
    {
        state.limits.check_guest_cart(address()?)?;
    }
    let allowance = match &verified {
        Some(verified) => state
            .limits
            .check(bucket, ClientKey::User(verified.claims.sub))?,
        // An anonymous request was counted at its address above.
        None => paid.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("an anonymous request was not counted"))
        })?,
    };
    Ok(Admitted {
        route,
        caller: Caller { ip, verified },
        allowance,
    })
}

async fn api(State(state): State<Arc<AppState>>, request: Request) -> Response {
    forward(&state, request, Bucket::Api).await
}

async fn credentials(State(state): State<Arc<AppState>>, request: Request) -> Response {
    forward(&state, request, Bucket::Credentials).await
}

async fn storefront(State(state): State<Arc<AppState>>, request: Request) -> Response {
    forward(&state, request, Bucket::Web).await
}

async fn document(State(state): State<Arc<AppState>>, mut request: Request) -> Response {
    match admit(&state, &mut request, Bucket::Api).await {
        Ok(Admitted { allowance, .. }) => {
            allowance.annotate(openapi::document(&state).await.into_response())
        }
        Err(refusal) => refusal.into_response(),
    }
}

async fn page(State(state): State<Arc<AppState>>, mut request: Request) -> Response {
    match admit(&state, &mut request, Bucket::Api).await {
        Ok(Admitted { allowance, .. }) => {
            allowance.annotate(openapi::page(&state).await.into_response())
        }
        Err(refusal) => refusal.into_response(),
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    // A predicate over a shared list rather than `AllowOrigin::list`: the layer is cloned with
    // the route's service on every request, and a list is a vector copied each time.
    let origins: Arc<[HeaderValue]> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origins.contains(origin)
        }))
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
            GUEST_CART_TOKEN,
            // A browser that traces (or tags its requests) joins the gateway's trace and logs.
            http::HeaderName::from_static("traceparent"),
            http::HeaderName::from_static("tracestate"),
            http::HeaderName::from_static("x-request-id"),
        ])
        // What a script may read: the request id to quote in a bug report, when to retry, and
        // the token of the guest cart its first cart write created.
        .expose_headers([
            http::HeaderName::from_static("x-request-id"),
            GUEST_CART_TOKEN,
            http::header::ETAG,
            http::header::RETRY_AFTER,
            http::HeaderName::from_static("ratelimit-limit"),
            http::HeaderName::from_static("ratelimit-remaining"),
            http::HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

async fn forward(state: &AppState, mut request: Request, bucket: Bucket) -> Response {
    let Admitted {
        route,
        caller,
        allowance,
    } = match admit(state, &mut request, bucket).await {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(route) = route else {
        return allowance.annotate(
            ApiError::NotFound(format!(
                "No route for {} {}.",
                request.method(),
                request.uri().path()
            ))
            .into_response(),
        );
    };
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    let started = Instant::now();
    let upstream = route.upstream.name();
    // One client span for the request forwarded, its retries included: the upstream's spans
    // are its children. Its URL is written only when the span is made.
    let span = if kit::telemetry::client_spans_enabled() {
        let url = state
            .proxy
            .url(route.upstream, request.uri().path())
            .unwrap_or_default();
        kit::telemetry::client_span(request.method(), &url)
    } else {
        tracing::Span::none()
    };
    let call = state.upstream_calls.start(upstream, request.method());
    let forwarded = state
        .proxy
        .forward(route, request, client, caller.verified.as_deref())
        .instrument(span.clone())
        .await;
    call.finish(forwarded.as_ref().ok().map(|r| r.status().as_u16()));
    let mut response = forwarded.unwrap_or_else(IntoResponse::into_response);
    kit::telemetry::record_response(&span, Some(response.status().as_u16()));
    if caller.verified.is_some() && route.upstream != Upstream::Web {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let status = response.status().as_u16();
    state
        .upstream_requests
        .get_or_create(&UpstreamLabels { upstream, status })
        .inc();
    // The access log's gateway half; the method, path and ids are the request span's fields.
    tracing::info!(
        client_ip = caller.ip.map(|ClientIp(ip)| tracing::field::display(ip)),
        upstream,
        status,
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "forwarded"
    );
    allowance.annotate(response)
}
