//! Forwarding a request to its upstream and the answer back, streamed both ways.
//!
//! The request keeps its method, path, query and body; hop-by-hop headers are dropped
//! (`Transfer-Encoding` among them: each hop frames the body its own way, and a coding the
//! gateway decoded, or one it does not speak, must not be announced to the next hop), and so is
//! every `x-user-*` header the caller sent, since upstreams trust those names to come from the
//! gateway: the verified caller's identity is set in their place. So is the internal token
//! header (see `kit::internal`): a client may not send it upstream. The `X-Forwarded-*`
//! headers are set, and the current trace context is injected so the upstream's spans join the
//! gateway's. Each upstream has a circuit breaker (see [`crate::breaker`] for
//! what counts as a failure).
//!
//! Retries: a request whose method is idempotent (GET, HEAD, OPTIONS, PUT, DELETE) and that has
//! no body is retried up to `UPSTREAM_RETRIES` times when the exchange broke before an answer
//! (connection refused or reset, closed mid-request): repeating it is harmless by definition.
//! Other methods are sent once, since the upstream may have acted on them before the connection
//! broke; so is a request that timed out, since retrying a slow upstream only doubles the wait,
//! and so is any answer, 5xx included: the upstream spoke.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kit::ApiError;

use crate::auth::Verified;
use crate::breaker::{Breaker, Permit};
use crate::config::{GatewayConfig, Resilience};
use crate::metrics::BreakerStates;
use crate::routes::{PerUpstream, Route, Upstream};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1, and
/// `Transfer-Encoding`, RFC 9112 §6.1: hyper frames each side's body itself).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The internal token's header, which only services send one another.
const INTERNAL_TOKEN: HeaderName = HeaderName::from_static(kit::internal::INTERNAL_TOKEN_HEADER);

/// The pooled clients, the upstreams' addresses and their breakers.
#[derive(Debug, Clone)]
pub struct Proxy {
    clients: Clients,
    bases: Arc<PerUpstream<Base>>,
    breakers: Arc<PerUpstream<Breaker>>,
    resilience: Resilience,
    body_limit: usize,
    /// `X-Forwarded-Proto`: `https` when the public listener is reached over HTTPS.
    forwarded_proto: HeaderValue,
}

impl Proxy {
    /// A proxy for the configured upstreams.
    pub fn new(config: &GatewayConfig) -> anyhow::Result<Self> {
        let resilience = config.resilience;
        let mut bases = PerUpstream::default();
        let mut breakers = PerUpstream::default();
        for upstream in Upstream::ALL {
            if let Some(base) = upstream.base_url(config) {
                bases[upstream.index()] = Some(Base {
                    uri: base.parse::<Uri>()?,
                    text: base.trim_end_matches('/').to_owned(),
                });
                breakers[upstream.index()] = Some(Breaker::new(
                    resilience.breaker_failures,
                    resilience.breaker_cooldown,
                ));
            }
        }
        Ok(Self {
            clients: Clients::new(resilience),
            bases: Arc::new(bases),
            breakers: Arc::new(breakers),
            resilience,
            body_limit: config.body_limit,
            forwarded_proto: HeaderValue::from_static(if config.public_https {
                "https"
            } else {
                "http"
            }),
        })
    }

    /// The state of every upstream's circuit breaker, for the metrics.
    pub fn breaker_states(&self) -> BreakerStates {
        BreakerStates(self.breakers.clone())
    }

    /// The URL `path` has at `upstream`, for spans (`None` when it is not configured).
    pub fn url(&self, upstream: Upstream, path: &str) -> Option<String> {
        let base = self.bases[upstream.index()].as_ref()?;
        Some([base.text.as_str(), path].concat())
    }

    /// Whether a web upstream is configured.
    pub fn has_web(&self) -> bool {
        self.bases[Upstream::Web.index()].is_some()
    }

    /// Forwards `request` along `route`, from the peer `client`, vouching for `identity`.
    pub async fn forward(
        &self,
        route: Route,
        request: Request<Body>,
        client: Option<SocketAddr>,
        identity: Option<&Verified>,
    ) -> Result<Response, ApiError> {
        let upstream = route.upstream;
        let slot = upstream.index();
        let (base, breaker) = match (&self.bases[slot], &self.breakers[slot]) {
            (Some(base), Some(breaker)) => (base, breaker),
            _ => return Err(ApiError::NotFound("No such route.".to_owned())),
        };
        if declared_length(request.headers()).is_some_and(|len| len > self.body_limit as u64) {
            return Err(ApiError::PayloadTooLarge);
        }
        let (parts, body) = request.into_parts();
        let empty = body_is_empty(&body);
        let replayable = is_idempotent(&parts.method) && empty;
        // An empty body has nothing to limit, and wrapping it would cost an allocation.
        let body = if empty {
            body
        } else {
            Body::new(Limited::new(body, self.body_limit))
        };
        let mut outgoing = Request::from_parts(parts, body);
        prepare(
            &mut outgoing,
            &base.uri,
            client,
            identity,
            &self.forwarded_proto,
        )?;
        let timeout = route.timeout(&self.resilience);
        let attempts = if replayable {
            self.resilience.retries + 1
        } else {
            1
        };

        // One permit per client request, whatever its retries: the breaker counts requests.
        if breaker.permit() == Permit::Rejected {
            return Err(ApiError::unavailable(upstream.name()));
        }
        let mut outgoing = Some(outgoing);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(request) = outgoing.take() else {
                return Err(ApiError::unavailable(upstream.name()));
            };
            // A bodiless request can be rebuilt for a retry; others are sent once.
            if attempt < attempts {
                outgoing = Some(clone_bodiless(&request));
            }
            match tokio::time::timeout(timeout, self.clients.local().request(request)).await {
                Ok(Ok(response)) => {
                    if says_unavailable(response.status()) {
                        breaker.failure();
                    } else {
                        breaker.success();
                    }
                    return Ok(into_response(response));
                }
                // The client's body was too big: nothing to hold against the upstream.
                Ok(Err(error)) if body_too_large(&error) => return Err(ApiError::PayloadTooLarge),
                Ok(Err(error)) => {
                    tracing::warn!(upstream = upstream.name(), attempt, error = %error, "upstream request failed");
                    if attempt >= attempts {
                        breaker.failure();
                        return Err(ApiError::unavailable(upstream.name()));
                    }
                }
                Err(_) => {
                    breaker.failure();
                    tracing::warn!(upstream = upstream.name(), ?timeout, "upstream timed out");
                    return Err(ApiError::unavailable(upstream.name()));
                }
            }
            tokio::time::sleep(Duration::from_millis(25 * u64::from(attempt))).await;
        }
    }
}

/// An upstream's base URL: parsed, to forward to, and as configured, for the client spans.
#[derive(Debug)]
struct Base {
    uri: Uri,
    /// Without a trailing slash: a request's path starts with one.
    text: String,
}

/// A pool of upstream connections per thread, made on first use there.
///
/// A pooled connection is a task on the runtime that opened it. Shared by every thread, a
/// request from one event loop (see `kit::server::serve`) would often go out on a connection
/// of another, waking that thread to write it and again to hand the answer back; one pool per
/// thread keeps a request and its upstream exchange on the thread that serves it.
#[derive(Debug, Clone)]
struct Clients {
    /// Tells this proxy's pools from those of other proxies in the same process (tests make
    /// several; a thread keeps the pools of each it served, the service's one among them).
    id: u64,
    resilience: Resilience,
}

type Pool = Client<HttpConnector, Body>;

thread_local! {
    static POOLS: std::cell::RefCell<HashMap<u64, Pool>> = std::cell::RefCell::new(HashMap::new());
}

impl Clients {
    fn new(resilience: Resilience) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Self {
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            resilience,
        }
    }

    /// This thread's pool.
    fn local(&self) -> Pool {
        POOLS.with_borrow_mut(|pools| {
            pools
                .entry(self.id)
                .or_insert_with(|| {
                    let mut connector = HttpConnector::new();
                    connector.set_nodelay(true);
                    connector.set_connect_timeout(Some(self.resilience.connect_timeout));
                    Client::builder(TokioExecutor::new())
                        .pool_idle_timeout(kit::server::CLIENT_POOL_IDLE)
                        .http2_only(self.resilience.http2)
                        .build(connector)
                })
                .clone()
        })
    }
}

/// Answers by which an upstream says it cannot serve now (overloaded, draining, a dependency down).
fn says_unavailable(status: http::StatusCode) -> bool {
    matches!(status.as_u16(), 502..=504)
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

fn body_is_empty(body: &Body) -> bool {
    http_body::Body::size_hint(body).exact() == Some(0)
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn clone_bodiless(request: &Request<Body>) -> Request<Body> {
    let mut copy = Request::new(Body::empty());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

// Constants rather than strings, which the header map would copy into a new name each time.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Points the request at the upstream and rewrites the headers a proxy owns.
fn prepare(
    request: &mut Request<Body>,
    base: &Uri,
    client: Option<SocketAddr>,
    identity: Option<&Verified>,
    forwarded_proto: &HeaderValue,
) -> Result<(), ApiError> {
    // The upstream's scheme and authority with the request's own path and query, moved
    // rather than printed and parsed again.
    let mut target = base.clone().into_parts();
    target.path_and_query = std::mem::take(request.uri_mut())
        .into_parts()
        .path_and_query
        .or_else(|| Some(PathAndQuery::from_static("/")));
    *request.uri_mut() = Uri::from_parts(target)
        .map_err(|e| ApiError::bad_request(format!("Invalid request target: {e}")))?;
    let headers = request.headers_mut();
    strip(headers, Strip::HopByHopAndIdentity);
    // Identity reaches upstreams only as the gateway's own headers, set after verification.
    headers.remove(header::AUTHORIZATION);
    if let Some(identity) = identity {
        for (name, value) in identity.identity_headers() {
            headers.insert(name, value);
        }
    }
    if let Some(host) = headers.remove(header::HOST) {
        headers.insert(X_FORWARDED_HOST, host);
    }
    if let Some(addr) = client {
        let forwarded_for = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(previous) => format!("{previous}, {}", addr.ip()),
            None => addr.ip().to_string(),
        };
        if let Ok(value) = HeaderValue::try_from(forwarded_for) {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    headers.insert(X_FORWARDED_PROTO, forwarded_proto.clone());
    kit::telemetry::inject_http(headers);
    Ok(())
}

/// What [`strip`] drops besides the hop-by-hop headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strip {
    /// Nothing else: an answer.
    HopByHop,
    /// Every `x-user-*` header and the internal token too: a caller's request, whose claims to
    /// an identity are void.
    HopByHopAndIdentity,
}

/// The names upstreams read identity from (see `kit::identity`), all reserved to the gateway.
const IDENTITY_PREFIX: &str = "x-user-";

fn strip(headers: &mut HeaderMap, what: Strip) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| name.trim().parse().ok())
        .collect();
    // One pass over the names present rather than a removal (a hash and a probe) for each
    // hop-by-hop name: this runs twice per request, and a message rarely carries any of them.
    // The identity prefix is checked in the same pass, so a spoofed `x-user-anything` costs
    // nothing extra to find.
    let identity = what == Strip::HopByHopAndIdentity;
    let present: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            HOP_BY_HOP.contains(name)
                || listed.contains(name)
                || (identity
                    && (name.as_str().starts_with(IDENTITY_PREFIX) || *name == INTERNAL_TOKEN))
        })
        .cloned()
        .collect();
    for name in present {
        headers.remove(name);
    }
}

fn into_response(response: http::Response<hyper::body::Incoming>) -> Response {
    let (mut parts, body) = response.into_parts();
    strip(&mut parts.headers, Strip::HopByHop);
    Response::from_parts(parts, Body::new(body.map_err(axum::Error::new))).into_response()
}

fn body_too_large(error: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(
            "x-user-email",
            HeaderValue::from_static("answer@shop.example"),
        );
        let mut answer = headers.clone();
        strip(&mut headers, Strip::HopByHopAndIdentity);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key(header::ACCEPT));
        // An upstream's answer keeps its own `x-user-*` headers: they vouch for nothing there.
        strip(&mut answer, Strip::HopByHop);
        assert_eq!(answer.len(), 2);
        assert!(answer.contains_key("x-user-email"));
    }

    #[test]
    fn requests_are_pointed_at_the_upstream_with_forwarding_headers() {
        let mut request = Request::builder()
            .uri("/api/v1/products?q=mouse")
            .header(header::HOST, "shop.example")
            .header(header::AUTHORIZATION, "Bearer abc")
            .header("x-forwarded-for", "203.0.113.9")
            .header("x-user-id", "someone-else")
            .body(Body::empty())
            .expect("request");
        let base: Uri = "http://product:8080".parse().expect("uri");
        prepare(
            &mut request,
            &base,
            Some(SocketAddr::from(([10, 0, 0, 7], 5555))),
            None,
            &HeaderValue::from_static("http"),
        )
        .expect("prepare");
        assert_eq!(request.uri(), "http://product:8080/api/v1/products?q=mouse");
        let headers = request.headers();
        assert!(!headers.contains_key(header::AUTHORIZATION));
        assert_eq!(headers["x-forwarded-host"], "shop.example");
        assert_eq!(headers["x-forwarded-for"], "203.0.113.9, 10.0.0.7");
        assert!(!headers.contains_key("x-user-id"), "anonymous: no identity");
    }

    #[test]
    fn only_idempotent_methods_are_replayable() {
        assert!(is_idempotent(&Method::GET));
        assert!(is_idempotent(&Method::DELETE));
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }
}
