//! Rate limiting with tower-governor (GCRA), in three buckets:
//!
//! - the API bucket (`RATE_LIMIT_*`), per user when signed in, per client IP otherwise, so users
//!   behind one NAT do not share a limit and a user does not get more by changing address;
//! - the stricter credentials bucket on login and register (`AUTH_RATE_LIMIT_*`), always per
//!   client IP, token or not: it exists to slow down password guessing, and keying it by a token
//!   the caller chooses would give one address a fresh bucket per token it holds;
//! - the storefront bucket (`WEB_RATE_LIMIT_*`) for everything outside `/api` and the JWKS
//!   (the web upstream's static files), keyed like the API bucket but generous and separate: a
//!   cold load of the shop fetches some twenty files, which must not use up the API allowance,
//!   yet a flood of them is still refused rather than passed on to the web service.
//!
//! Login and register count against both the API and the credentials bucket; their answers
//! show the API bucket's counts, and a refusal by the credentials bucket shows its own.
//!
//! Limits are per replica: with N gateway replicas a client gets up to N times the configured
//! rate. That is the honest cost of keeping the limiter in memory (no network hop per request);
//! a shared limit would need a shared store such as Redis.
//!
//! Answers carry the IETF `RateLimit-Limit` and `RateLimit-Remaining` headers (renamed from
//! tower-governor's `x-ratelimit-*`); a 429 is a problem with `Retry-After` and `RateLimit-Reset`
//! (seconds until a request is allowed again).

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::middleware::StateInformationMiddleware;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
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

/// The address a request comes from, as the authentication middleware determined it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The peer address of a request, or, behind a trusted proxy, the address that proxy
    /// appended last to `X-Forwarded-For` (the earlier entries are the client's own claims and
    /// could be forged to dodge the limit).
    pub fn of(request: &Request, trust_forwarded_for: bool) -> Option<Self> {
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
        forwarded.or(peer).map(Self)
    }
}

/// Keys the API and storefront buckets: the [`ClientKey`] the authentication middleware stored.
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

/// Keys the credentials bucket: the [`ClientIp`] the authentication middleware stored, even
/// for a request that carries a valid token.
#[derive(Debug, Clone, Copy)]
pub struct ByIp;

impl KeyExtractor for ByIp {
    type Key = IpAddr;

    fn extract<T>(&self, request: &http::Request<T>) -> Result<IpAddr, GovernorError> {
        request
            .extensions()
            .get::<ClientIp>()
            .map(|ClientIp(ip)| *ip)
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

/// A limiter configuration keyed by `K`.
pub type Limiter<K = ByClient> = GovernorConfig<K, StateInformationMiddleware>;

/// The API limiter: `per_second` sustained, `burst` at once, per client.
pub fn api(limits: &RateLimits) -> Limiter {
    build(ByClient, per_second(limits.per_second), limits.burst)
}

/// The storefront limiter, per client.
pub fn web(limits: &RateLimits) -> Limiter {
    build(
        ByClient,
        per_second(limits.web_per_second),
        limits.web_burst,
    )
}

/// The login/register limiter, per client IP.
pub fn credentials(limits: &RateLimits) -> Limiter<ByIp> {
    build(
        ByIp,
        Duration::from_millis(60_000 / limits.auth_per_minute.max(1)),
        limits.auth_burst,
    )
}

fn per_second(rate: u64) -> Duration {
    Duration::from_nanos(1_000_000_000 / rate.max(1))
}

fn build<K>(key: K, period: Duration, burst: u32) -> Limiter<K>
where
    K: KeyExtractor,
{
    let mut builder = GovernorConfigBuilder::default().key_extractor(key);
    builder
        .period(period.max(Duration::from_nanos(1)))
        .burst_size(burst.max(1));
    match builder.use_headers().finish() {
        Some(config) => config,
        None => unreachable!("period and burst are clamped to be non-zero"),
    }
}

/// Every minute, runs `sweep`, which drops the state of clients idle long enough to be back at a
/// full bucket, so the limiters' memory follows active clients, not every address ever seen.
pub fn spawn_cleanup(sweep: impl Fn() + Send + 'static, shutdown: &kit::shutdown::Shutdown) {
    let stop = shutdown.cancelled_owned();
    shutdown.spawn(async move {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => sweep(),
            }
        }
    });
}

/// The 429 problem, with the limiter's headers in their standard names.
pub fn rejection(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, headers } => {
            // tower-governor rounds the wait down, so a client told "0" would retry too early.
            let wait = wait_time.max(1);
            let mut response = ApiError::TooManyRequests {
                retry_after: Some(wait),
            }
            .into_response();
            let out = response.headers_mut();
            if let Some(limit) = headers.as_ref().and_then(|h| h.get(LEGACY_LIMIT)) {
                out.insert(LIMIT, limit.clone());
            }
            out.insert(REMAINING, HeaderValue::from(0));
            out.insert(RESET, HeaderValue::from(wait));
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

const LEGACY_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const LEGACY_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const LEGACY_WHITELISTED: HeaderName = HeaderName::from_static("x-ratelimit-whitelisted");
const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Renames tower-governor's `x-ratelimit-*` headers on every answer that passed a limiter (429s
/// already carry the standard names, see [`rejection`]).
pub async fn standard_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    rename_legacy_headers(response.headers_mut());
    response
}

fn rename_legacy_headers(headers: &mut HeaderMap) {
    // Moved, not copied: this runs on every answer. A 429 of the credentials bucket passes back
    // through the API limiter, which adds its own (full) counts: the refusal's standard headers
    // win. On an answer, with two limiters on the route, the outer (API) one's counts are left.
    for (legacy, standard) in [(LEGACY_LIMIT, LIMIT), (LEGACY_REMAINING, REMAINING)] {
        if let Some(value) = headers.remove(&legacy)
            && !headers.contains_key(&standard)
        {
            headers.insert(standard, value);
        }
    }
    headers.remove(LEGACY_WHITELISTED);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_headers_are_renamed_and_others_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(LEGACY_LIMIT, HeaderValue::from(40));
        headers.insert(LEGACY_REMAINING, HeaderValue::from(39));
        headers.insert(LEGACY_WHITELISTED, HeaderValue::from_static("false"));
        headers.insert(http::header::ETAG, HeaderValue::from_static("\"v1\""));
        rename_legacy_headers(&mut headers);
        assert_eq!(headers[LIMIT], "40");
        assert_eq!(headers[REMAINING], "39");
        assert_eq!(headers[http::header::ETAG], "\"v1\"");
        assert_eq!(headers.len(), 3, "{headers:?}");
    }

    #[test]
    fn a_refusals_counts_are_not_overwritten_by_an_outer_limiter() {
        let mut headers = HeaderMap::new();
        headers.insert(LIMIT, HeaderValue::from(5));
        headers.insert(REMAINING, HeaderValue::from(0));
        headers.insert(LEGACY_LIMIT, HeaderValue::from(40));
        headers.insert(LEGACY_REMAINING, HeaderValue::from(39));
        rename_legacy_headers(&mut headers);
        assert_eq!(headers[LIMIT], "5");
        assert_eq!(headers[REMAINING], "0");
        assert_eq!(headers.len(), 2, "{headers:?}");
    }

    #[test]
    fn a_rejection_carries_retry_after_and_the_standard_headers() {
        let mut legacy = HeaderMap::new();
        legacy.insert(LEGACY_LIMIT, HeaderValue::from(5));
        let response = rejection(GovernorError::TooManyRequests {
            wait_time: 0,
            headers: Some(legacy),
        });
        assert_eq!(response.status(), 429);
        let headers = response.headers();
        assert_eq!(headers[http::header::RETRY_AFTER], "1");
        assert_eq!(headers[LIMIT], "5");
        assert_eq!(headers[REMAINING], "0");
        assert_eq!(headers[RESET], "1");
    }
}
