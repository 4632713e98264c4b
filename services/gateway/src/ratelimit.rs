//! Rate limiting with tower-governor (GCRA), keyed per user when signed in, per client IP
//! otherwise, with a stricter bucket for login and register.
//!
//! Limits are per replica: with N gateway replicas a client gets up to N times the configured
//! rate. That is the honest cost of keeping the limiter in memory (no network hop per request);
//! a shared limit would need a shared store such as Redis.
//!
//! Answers carry the IETF `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers
//! (renamed from tower-governor's `x-ratelimit-*`), and a 429 is a problem with `Retry-After`.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::middleware::StateInformationMiddleware;
use http::HeaderMap;
use http::header::HeaderName;
use kit::ApiError;
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;
use uuid::Uuid;

use crate::config::RateLimits;

/// Whom a request counts against, decided by the authentication middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A verified user, wherever they connect from.
    User(Uuid),
    /// An anonymous client.
    Ip(IpAddr),
}

impl ClientKey {
    /// The anonymous key of a request: the peer address, or, behind a trusted proxy, the
    /// address that proxy appended last to `X-Forwarded-For` (the earlier entries are the
    /// client's own claims and could be forged to dodge the limit).
    pub fn anonymous(request: &Request, trust_forwarded_for: bool) -> Option<Self> {
        let forwarded = trust_forwarded_for
            .then(|| request.headers().get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse().ok());
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        forwarded.or(peer).map(Self::Ip)
    }
}

/// Reads the [`ClientKey`] the authentication middleware stored.
#[derive(Debug, Clone, Copy)]
pub struct ByClient;

impl KeyExtractor for ByClient {
    type Key = ClientKey;

    fn extract<T>(&self, request: &http::Request<T>) -> Result<ClientKey, GovernorError> {
        request
            .extensions()
            .get::<ClientKey>()
            .copied()
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

/// A limiter configuration.
pub type Limiter = GovernorConfig<ByClient, StateInformationMiddleware>;

/// The general limiter: `per_second` sustained, `burst` at once.
pub fn general(limits: &RateLimits) -> Limiter {
    build(
        Duration::from_nanos(1_000_000_000 / limits.per_second.max(1)),
        limits.burst,
    )
}

/// The login/register limiter.
pub fn credentials(limits: &RateLimits) -> Limiter {
    build(
        Duration::from_millis(60_000 / limits.auth_per_minute.max(1)),
        limits.auth_burst,
    )
}

fn build(period: Duration, burst: u32) -> Limiter {
    let mut builder = GovernorConfigBuilder::default().key_extractor(ByClient);
    builder
        .period(period.max(Duration::from_nanos(1)))
        .burst_size(burst.max(1));
    match builder.use_headers().finish() {
        Some(config) => config,
        None => unreachable!("period and burst are clamped to be non-zero"),
    }
}

/// Drops the state of clients idle long enough to be back at a full bucket, so the limiter's
/// memory follows active clients, not every address ever seen.
pub fn spawn_cleanup(limiters: Vec<std::sync::Arc<Limiter>>, shutdown: &kit::shutdown::Shutdown) {
    let stop = shutdown.cancelled_owned();
    shutdown.spawn(async move {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {
                    for limiter in &limiters {
                        limiter.limiter().retain_recent();
                    }
                }
            }
        }
    });
}

/// The 429 problem, with the limiter's headers in their standard names.
pub fn rejection(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, headers } => {
            let mut response = ApiError::TooManyRequests {
                retry_after: Some(wait_time.max(1)),
            }
            .into_response();
            if let Some(headers) = headers {
                copy_standard_headers(&headers, response.headers_mut());
            }
            response
        }
        GovernorError::UnableToExtractKey => {
            ApiError::Internal(anyhow::anyhow!("rate limiter found no client key")).into_response()
        }
        GovernorError::Other { code, msg, .. } => {
            ApiError::Internal(anyhow::anyhow!("rate limiter: {code} {msg:?}")).into_response()
        }
    }
}

/// Renames tower-governor's `x-ratelimit-*` headers on every answer.
pub async fn standard_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let legacy = response.headers().clone();
    copy_standard_headers(&legacy, response.headers_mut());
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-after",
        "x-ratelimit-whitelisted",
    ] {
        response.headers_mut().remove(name);
    }
    response
}

fn copy_standard_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (legacy, standard) in [
        ("x-ratelimit-limit", "ratelimit-limit"),
        ("x-ratelimit-remaining", "ratelimit-remaining"),
        ("x-ratelimit-after", "ratelimit-reset"),
    ] {
        if let Some(value) = from.get(legacy) {
            to.insert(HeaderName::from_static(standard), value.clone());
        }
    }
    if from.contains_key("x-ratelimit-after") && !to.contains_key("ratelimit-remaining") {
        to.insert(HeaderName::from_static("ratelimit-remaining"), 0.into());
    }
}
