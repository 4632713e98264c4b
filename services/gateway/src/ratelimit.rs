//! Rate limiting with governor (GCRA), in four buckets:
//!
//! - the API bucket (`RATE_LIMIT_*`), per user when signed in, per client IP otherwise, so users
//!   behind one NAT do not share a limit and a user does not get more by changing address;
//! - the stricter credentials bucket on login and register (`AUTH_RATE_LIMIT_*`), always per
//!   client IP, token or not: it exists to slow down password guessing, and keying it by a token
//!   the caller chooses would give one address a fresh bucket per token it holds;
//! - the storefront bucket (`WEB_RATE_LIMIT_*`) for everything outside `/api` and the JWKS
//!   (the web upstream's static files), keyed like the API bucket but generous and separate: a
//!   cold load of the shop fetches some twenty files, which must not use up the API allowance,
//!   yet a flood of them is still refused rather than passed on to the web service;
//! - the guest cart bucket (`GUEST_CART_RATE_LIMIT_*`), per client IP, on the cart writes of
//!   visitors without a guest cart token, each of which creates a guest cart: a visitor needs
//!   one, so a few a minute per address is plenty, and a script cannot fill the cart table.
//!   Writes with a token (made-up tokens are refused, never create anything) and signed-in
//!   writes do not count against it.
//!
//! Login and register count against both the API and the credentials bucket; their answers
//! show the API bucket's counts, and a refusal by the credentials bucket shows its own.
//!
//! A request pays at its address before the gateway spends anything on it: anonymous requests,
//! and signed-in ones whose token the gateway has not verified recently, count against the
//! address's bucket before the token's signature is checked (a flood of forged tokens empties a
//! bucket instead of costing a signature check each), and login and register take from the
//! credentials bucket before any check too. A verified user then counts against their own
//! bucket. IPv6 clients are keyed by their /64, the block a single subscriber is usually given:
//! keyed by address, one client would get a fresh bucket for each of its 2^64 addresses.
//!
//! Limits are per replica: with N gateway replicas a client gets up to N times the configured
//! rate. That is the honest cost of keeping the limiter in memory (no network hop per request);
//! a shared limit would need a shared store such as Redis.
//!
//! Answers carry the IETF `RateLimit-Limit` and `RateLimit-Remaining` headers; a 429 is a
//! problem with `Retry-After` and `RateLimit-Reset` (seconds until a request is allowed again).
//!
//! The handlers ask [`Limits::check`] directly, once the caller is known, rather than through a
//! tower layer per bucket: a layer per route clones the whole service stack beneath it on every
//! request, which cost more than the limiting itself.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::header::{HeaderName, HeaderValue};
use kit::ApiError;
use uuid::Uuid;

use crate::config::RateLimits;
use crate::metrics::Rejections;

/// Whom a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A verified user, wherever they connect from.
    User(Uuid),
    /// An address (an IPv6 one reduced to its /64, see [`ClientIp::key`]).
    Ip(IpAddr),
}

/// The address a request comes from.
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

    /// The address as rate limits count it: an IPv4 address as it is (also when written as an
    /// IPv4-mapped IPv6 one), an IPv6 address reduced to its /64 network.
    pub fn key(self) -> IpAddr {
        match self.0.to_canonical() {
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
            v4 => v4,
        }
    }
}

/// The buckets a route counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// The API bucket.
    Api,
    /// The API bucket, then the credentials bucket (login and register).
    Credentials,
    /// The storefront bucket.
    Web,
}

type Limiter<K> =
    RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// The gateway's three buckets.
#[derive(Debug)]
pub struct Limits {
    api: Limiter<ClientKey>,
    web: Limiter<ClientKey>,
    credentials: Limiter<IpAddr>,
    guest_carts: Limiter<IpAddr>,
    rejections: Rejections,
}

/// The counts a request that was let through reports in its answer's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    limit: u32,
    remaining: u32,
}

impl Allowance {
    /// Adds `RateLimit-Limit` and `RateLimit-Remaining` to an answer.
    pub fn annotate(self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        headers.insert(LIMIT, HeaderValue::from(self.limit));
        headers.insert(REMAINING, HeaderValue::from(self.remaining));
        response
    }
}

impl Limits {
    /// The buckets for `limits`.
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            api: limiter(per_second(limits.per_second), limits.burst),
            web: limiter(per_second(limits.web_per_second), limits.web_burst),
            credentials: limiter(
                Duration::from_millis(60_000 / limits.auth_per_minute.max(1)),
                limits.auth_burst,
            ),
            guest_carts: limiter(
                Duration::from_millis(60_000 / limits.guest_cart_per_minute.max(1)),
                limits.guest_cart_burst,
            ),
            rejections: Rejections::default(),
        }
    }

    /// The count of refusals, to register with the service's metrics.
    pub fn rejections(&self) -> &Rejections {
        &self.rejections
    }

    /// Counts a request of `key` against `bucket`'s API or storefront bucket (login and
    /// register count against the API bucket; see [`Limits::check_credentials`] for theirs).
    pub fn check(&self, bucket: Bucket, key: ClientKey) -> Result<Allowance, Refusal> {
        let (limiter, name) = match bucket {
            Bucket::Api | Bucket::Credentials => (&self.api, "api"),
            Bucket::Web => (&self.web, "web"),
        };
        let client = match key {
            ClientKey::Ip(_) => "ip",
            ClientKey::User(_) => "user",
        };
        check(limiter, &key).inspect_err(|_| self.rejections.record(name, client))
    }

    /// Counts a login or register attempt from `ip` against the credentials bucket.
    pub fn check_credentials(&self, ip: ClientIp) -> Result<(), Refusal> {
        check(&self.credentials, &ip.key())
            .map(|_| ())
            .inspect_err(|_| self.rejections.record("credentials", "ip"))
    }

    /// Counts a guest cart about to be created for a visitor at `ip`.
    pub fn check_guest_cart(&self, ip: ClientIp) -> Result<(), Refusal> {
        check(&self.guest_carts, &ip.key())
            .map(|_| ())
            .inspect_err(|_| self.rejections.record("guest_cart", "ip"))
    }

    /// Drops the state of clients idle long enough to be back at a full bucket.
    pub fn retain_recent(&self) {
        self.api.retain_recent();
        self.web.retain_recent();
        self.credentials.retain_recent();
        self.guest_carts.retain_recent();
    }
}

fn per_second(rate: u64) -> Duration {
    Duration::from_nanos(1_000_000_000 / rate.max(1))
}

fn limiter<K: Hash + Eq + Clone>(period: Duration, burst: u32) -> Limiter<K> {
    let period = period.max(Duration::from_nanos(1));
    let Some(quota) = Quota::with_period(period) else {
        unreachable!("the period is clamped to be non-zero")
    };
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    RateLimiter::keyed(quota.allow_burst(burst)).with_middleware::<StateInformationMiddleware>()
}

fn check<K: Hash + Eq + Clone>(limiter: &Limiter<K>, key: &K) -> Result<Allowance, Refusal> {
    match limiter.check_key(key) {
        Ok(snapshot) => Ok(Allowance {
            limit: snapshot.quota().burst_size().get(),
            remaining: snapshot.remaining_burst_capacity(),
        }),
        Err(refused) => Err(Refusal::Limited {
            limit: refused.quota().burst_size().get(),
            wait: refused.wait_time_from(limiter.clock().now()),
        }),
    }
}

/// Every minute, drops the state of clients idle long enough to be back at a full bucket, so
/// the limiters' memory follows active clients, not every address ever seen.
pub fn spawn_cleanup(limits: std::sync::Arc<Limits>, shutdown: &kit::shutdown::Shutdown) {
    let stop = shutdown.cancelled_owned();
    shutdown.spawn(async move {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => limits.retain_recent(),
            }
        }
    });
}

/// Why a request may not go on.
#[derive(Debug)]
pub enum Refusal {
    /// A bucket of `limit` requests is empty and lets one through again after `wait`.
    Limited {
        /// The bucket's size.
        limit: u32,
        /// The time until it lets a request through.
        wait: Duration,
    },
    /// Anything else: the caller is not authenticated or not allowed, or cannot be told apart.
    Problem(ApiError),
}

impl From<ApiError> for Refusal {
    fn from(problem: ApiError) -> Self {
        Self::Problem(problem)
    }
}

impl IntoResponse for Refusal {
    /// A 429 is a problem with `Retry-After`, `RateLimit-Reset` and the bucket's counts.
    fn into_response(self) -> Response {
        let (limit, wait) = match self {
            Self::Limited { limit, wait } => (limit, wait),
            Self::Problem(problem) => return problem.into_response(),
        };
        // Rounded up: a client told to wait less than it must would retry too early.
        let wait = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        let mut response = ApiError::TooManyRequests {
            retry_after: Some(wait),
        }
        .into_response();
        let headers = response.headers_mut();
        headers.insert(LIMIT, HeaderValue::from(limit));
        headers.insert(REMAINING, HeaderValue::from(0));
        headers.insert(RESET, HeaderValue::from(wait));
        response
    }
}

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn limits(burst: u32, auth_burst: u32) -> Limits {
        Limits::new(&RateLimits {
            per_second: 1,
            burst,
            web_per_second: 1,
            web_burst: burst,
            auth_per_minute: 1,
            auth_burst,
            guest_cart_per_minute: 1,
            guest_cart_burst: auth_burst,
        })
    }

    const ADDRESS: ClientIp = ClientIp(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)));

    fn user() -> ClientKey {
        ClientKey::User(Uuid::new_v4())
    }

    fn header(response: &Response, name: HeaderName) -> &str {
        response.headers()[name].to_str().expect("ascii")
    }

    #[test]
    fn answers_carry_the_buckets_counts_until_it_refuses() {
        let limits = limits(3, 3);
        let key = user();
        for remaining in [2, 1, 0] {
            let allowance = limits.check(Bucket::Api, key).expect("allowed");
            assert_eq!(
                allowance,
                Allowance {
                    limit: 3,
                    remaining
                }
            );
            let response = allowance.annotate(Response::new(axum::body::Body::empty()));
            assert_eq!(header(&response, LIMIT), "3");
            assert_eq!(header(&response, REMAINING), remaining.to_string());
        }
        let refused = limits
            .check(Bucket::Api, key)
            .expect_err("refused")
            .into_response();
        assert_eq!(refused.status(), 429);
        assert_eq!(header(&refused, LIMIT), "3");
        assert_eq!(header(&refused, REMAINING), "0");
        assert_eq!(header(&refused, http::header::RETRY_AFTER), "1");
        assert_eq!(header(&refused, RESET), "1");

        // Other clients and the storefront bucket are apart.
        assert!(limits.check(Bucket::Api, user()).is_ok());
        assert!(limits.check(Bucket::Web, key).is_ok());
    }

    #[test]
    fn credentials_count_against_both_buckets_and_a_refusal_shows_its_own_counts() {
        let limits = limits(10, 2);
        for _ in 0..2 {
            // Each user has an API bucket of their own, but the address's credentials bucket
            // is the same whoever's token comes with the attempt.
            limits.check_credentials(ADDRESS).expect("allowed");
            let allowance = limits.check(Bucket::Credentials, user()).expect("allowed");
            assert_eq!(
                allowance,
                Allowance {
                    limit: 10,
                    remaining: 9
                },
                "the API bucket's counts are reported"
            );
        }
        let refused = limits
            .check_credentials(ADDRESS)
            .expect_err("refused")
            .into_response();
        assert_eq!(refused.status(), 429);
        assert_eq!(header(&refused, LIMIT), "2");
        assert_eq!(header(&refused, REMAINING), "0");
        // A minute a request: the wait is most of a minute.
        let wait: u64 = header(&refused, RESET).parse().expect("seconds");
        assert!((29..=60).contains(&wait), "{wait}");
        assert_eq!(
            header(&refused, http::header::RETRY_AFTER),
            wait.to_string()
        );

        let key = ClientKey::Ip(ADDRESS.0);
        assert!(limits.check(Bucket::Api, key).is_ok());
    }

    fn ip(address: &str) -> ClientIp {
        ClientIp(address.parse().expect("an address"))
    }

    #[test]
    fn an_ipv6_client_rotating_addresses_in_its_64_is_one_client() {
        let home = ip("2001:db8:1:2::1").key();
        for same in [
            "2001:db8:1:2::2",
            "2001:db8:1:2:ffff:ffff:ffff:ffff",
            "2001:db8:1:2:a:b:c:d",
        ] {
            assert_eq!(ip(same).key(), home, "{same}");
        }
        for other in ["2001:db8:1:3::1", "2001:db8:2:2::1", "::1"] {
            assert_ne!(ip(other).key(), home, "{other}");
        }
        // IPv4 clients keep their address, however it is written.
        assert_eq!(ip("10.0.0.7").key(), ADDRESS.0);
        assert_eq!(ip("::ffff:10.0.0.7").key(), ADDRESS.0);
        assert_ne!(ip("10.0.0.8").key(), ADDRESS.0);

        let limits = limits(10, 2);
        limits
            .check_credentials(ip("2001:db8:1:2::1"))
            .expect("allowed");
        limits
            .check_credentials(ip("2001:db8:1:2::99"))
            .expect("allowed");
        assert!(limits.check_credentials(ip("2001:db8:1:2::abcd")).is_err());
        assert!(limits.check_credentials(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn guest_carts_have_a_bucket_per_address_of_their_own() {
        let limits = limits(10, 2);
        for _ in 0..2 {
            limits.check_guest_cart(ADDRESS).expect("allowed");
        }
        let refused = limits
            .check_guest_cart(ADDRESS)
            .expect_err("refused")
            .into_response();
        assert_eq!(refused.status(), 429);
        assert_eq!(header(&refused, LIMIT), "2");
        // Another address, and the address's other buckets, are untouched.
        assert!(limits.check_guest_cart(ip("10.0.0.8")).is_ok());
        assert!(limits.check_credentials(ADDRESS).is_ok());
        assert!(limits.check(Bucket::Api, ClientKey::Ip(ADDRESS.0)).is_ok());
    }
}
