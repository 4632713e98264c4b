//! Authentication at the edge: verify the access token, vouch for the caller upstream.
//!
//! Keys come from the user service's JWKS document. A background task ([`spawn_refresh`])
//! fetches it at start and again whenever the user service's `Cache-Control: max-age` says it
//! may have changed, so a key removed from the set (a compromised one, say) stops verifying
//! within that time even if no token ever names an unknown key. A token signed with a key id
//! the set does not know also triggers one refetch (the user service may have just rotated), at
//! most once per `refetch_min_interval`, so forged key ids cannot turn the gateway into an
//! amplifier against the user service.
//!
//! Verified tokens are remembered for a while (see [`crate::verified`]), so a client's every
//! request does not pay for a signature check. A fetched key set that differs from the one in
//! force replaces it and forgets them all, so a token signed with a key the set no longer lists
//! is checked, and refused, at once; an unchanged set changes nothing, so a forged key id that
//! triggers a refetch does not cost every signed-in client a signature check.
//!
//! The `Authorization` header is read by [`bearer`], which refuses a token longer than any the
//! user service issues before it is hashed for a cache lookup or parsed for a signature check:
//! a [`Bearer`] can only be made there, and only a `Bearer` is looked up or verified. The
//! gateway charges a rate limit bucket before it verifies a token it has not seen recently
//! (see [`crate::admit`]), so a flood of forged tokens costs the sender its bucket, not the
//! gateway a signature check each.
//!
//! What the caller sent as identity is never passed on: the proxy drops every `x-user-*`
//! header of the request and sets the verified caller's (see [`Verified::identity_headers`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use contracts::auth::{Claims, Role};
use http::HeaderName;
use http::header::{self, HeaderValue};
use kit::ApiError;
use kit::identity::{Identity, USER_ID_HEADER, USER_ROLES_HEADER};
use kit::shutdown::Shutdown;
use prometheus_client::metrics::counter::Counter;
use tokens::{Jwks, MAX_TOKEN_LEN, Verifier, VerifyError};
use tokio::sync::{Mutex, RwLock};

use crate::config::AuthConfig;
use crate::routes::Access;
use crate::verified::TokenCache;

/// The longest a verified token is remembered (less when it expires sooner). Short, so the
/// cache's memory follows active clients; a token cannot be revoked before its `exp` anyway.
const VERIFIED_FOR: Duration = Duration::from_secs(60);

/// How long the key set is kept when the user service does not say (`max-age`).
const KEYS_FRESH_FOR: Duration = Duration::from_secs(300);

/// Bounds on the time between two scheduled fetches, whatever `max-age` says: at least a second,
/// so a `max-age=0` cannot make the gateway fetch in a loop; at most an hour, so a removed key
/// stops verifying within the hour even if the user service asked for longer.
const REFRESH_BOUNDS: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));

/// How soon a scheduled fetch that failed is tried again (the keys in force stay meanwhile).
const RETRY_FAILED_FETCH: Duration = Duration::from_secs(5);

/// The cached verification keys, and the tokens verified with them recently.
#[derive(Debug)]
pub struct Keys {
    config: AuthConfig,
    http: reqwest::Client,
    /// The key set in force. Tokens are remembered only while their set is in force: an entry
    /// is added under its read lock, the cache is cleared under its write lock.
    current: RwLock<Option<Arc<KeySet>>>,
    last_fetch: Mutex<Option<Instant>>,
    /// `None` when `TOKEN_CACHE_CAPACITY` is 0: every token is verified on every request.
    verified: Option<TokenCache<Verified>>,
    /// Signature checks made, valid or not (`gateway_token_verifications_total`).
    pub(crate) verifications: Counter,
}

/// A key set and the verifier made of it.
#[derive(Debug)]
struct KeySet {
    jwks: Jwks,
    verifier: Verifier,
}

/// The token of an `Authorization: Bearer` header, no longer than [`tokens::MAX_TOKEN_LEN`]
/// (the user service's tokens are a few hundred bytes): the only form in which a token is
/// looked up in the cache or verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bearer<'a>(&'a str);

impl<'a> Bearer<'a> {
    /// `token`, unless it is longer than [`tokens::MAX_TOKEN_LEN`] (401).
    pub fn parse(token: &'a str) -> Result<Self, ApiError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid_token());
        }
        Ok(Self(token))
    }
}

/// A verified token: its claims, and the identity headers they make for upstreams, rendered
/// once per token rather than once per request.
#[derive(Debug)]
pub struct Verified {
    /// The token's claims.
    pub claims: Claims,
    user_id: HeaderValue,
    roles: HeaderValue,
}

// Constants, so that setting them does not copy a name into the header map for each request.
const USER_ID: HeaderName = HeaderName::from_static(USER_ID_HEADER);
const USER_ROLES: HeaderName = HeaderName::from_static(USER_ROLES_HEADER);

impl Verified {
    /// The headers that tell an upstream who the caller is.
    pub fn identity_headers(&self) -> [(HeaderName, HeaderValue); 2] {
        [
            (USER_ID, self.user_id.clone()),
            (USER_ROLES, self.roles.clone()),
        ]
    }

    fn new(claims: Claims) -> Result<Self, ApiError> {
        let header = |value: String| {
            HeaderValue::try_from(value)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("unusable identity header: {e}")))
        };
        Ok(Self {
            user_id: header(claims.sub.to_string())?,
            roles: header(Identity::roles_header(&claims.roles))?,
            claims,
        })
    }
}

impl Keys {
    /// An empty cache that fetches from `config.jwks_url`.
    pub fn new(config: AuthConfig, http: reqwest::Client) -> Self {
        Self {
            http,
            current: RwLock::new(None),
            last_fetch: Mutex::new(None),
            verified: (config.token_cache_capacity > 0)
                .then(|| TokenCache::new(config.token_cache_capacity, VERIFIED_FOR)),
            verifications: Counter::default(),
            config,
        }
    }

    /// What verifying `token` found, if it was verified recently: no signature check.
    pub fn remembered(&self, token: Bearer<'_>) -> Option<Arc<Verified>> {
        self.verified.as_ref()?.get(token.0)
    }

    /// Verifies an access token, or finds it verified recently.
    pub async fn verify(&self, token: Bearer<'_>) -> Result<Arc<Verified>, ApiError> {
        if let Some(verified) = self.remembered(token) {
            return Ok(verified);
        }
        let (claims, set) = self.check(token.0).await?;
        let verified = Arc::new(Verified::new(claims)?);
        if let Some(cache) = &self.verified {
            // Only while the set that verified it is in force: a token checked against a set
            // replaced meanwhile is not remembered past the clearing of the cache.
            let current = self.current.read().await;
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &set)) {
                cache.insert(token.0, verified.claims.exp, verified.clone());
            }
        }
        Ok(verified)
    }

    /// Checks an access token's signature and claims against the keys; answers the claims and
    /// the set that verified them.
    async fn check(&self, token: &str) -> Result<(Claims, Arc<KeySet>), ApiError> {
        self.verifications.inc();
        // Bound first: a guard in the match scrutinee would live through `refresh`, which
        // takes the write lock.
        let cached = self.current.read().await.clone();
        let set = match cached {
            Some(set) => set,
            None => self.refresh(None).await?,
        };
        match set.verifier.verify(token) {
            Ok(claims) => Ok((claims, set)),
            Err(VerifyError::UnknownKey(_)) => {
                let set = self.refresh(Some(&set)).await?;
                let claims = set.verifier.verify(token).map_err(|_| invalid_token())?;
                Ok((claims, set))
            }
            Err(_) => Err(invalid_token()),
        }
    }

    /// Fetches the JWKS again for a request. `stale` is the set that did not know a key id:
    /// when another request already replaced it, or the last fetch was too recent, the set in
    /// force stands.
    async fn refresh(&self, stale: Option<&Arc<KeySet>>) -> Result<Arc<KeySet>, ApiError> {
        let mut last_fetch = self.last_fetch.lock().await;
        let cached = self.current.read().await.clone();
        if let Some(current) = cached {
            let replaced = stale.is_none_or(|s| !Arc::ptr_eq(s, &current));
            let too_soon =
                last_fetch.is_some_and(|at| at.elapsed() < self.config.refetch_min_interval);
            if replaced || too_soon {
                return Ok(current);
            }
        }
        let (jwks, _) = self.fetch().await?;
        *last_fetch = Some(Instant::now());
        self.install(jwks).await
    }

    /// The scheduled fetch: installs the set the user service publishes now, and answers how
    /// long until the next one (its `max-age`, within [`REFRESH_BOUNDS`]).
    async fn refresh_scheduled(&self) -> Duration {
        let mut last_fetch = self.last_fetch.lock().await;
        let fetched = self.fetch().await;
        let outcome = match fetched {
            Ok((jwks, max_age)) => {
                *last_fetch = Some(Instant::now());
                self.install(jwks).await.map(|_| max_age)
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(max_age) => max_age
                .unwrap_or(KEYS_FRESH_FOR)
                .clamp(REFRESH_BOUNDS.0, REFRESH_BOUNDS.1),
            Err(error) => {
                tracing::warn!(%error, retry_in = ?RETRY_FAILED_FETCH, "the scheduled JWKS refresh failed; the keys in force stay");
                RETRY_FAILED_FETCH
            }
        }
    }

    /// The key set the user service publishes, and how long it says to keep it.
    async fn fetch(&self) -> Result<(Jwks, Option<Duration>), ApiError> {
        let response = self
            .http
            .get(&self.config.jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| {
                tracing::warn!(error = %e, url = %self.config.jwks_url, "cannot fetch the JWKS");
                ApiError::unavailable("user service")
            })?;
        let max_age = response
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let jwks = response
            .json()
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("malformed JWKS: {e}")))?;
        Ok((jwks, max_age))
    }

    /// Puts `jwks` in force, unless it is the set in force already: then nothing changes, and
    /// the verified tokens stay remembered.
    async fn install(&self, jwks: Jwks) -> Result<Arc<KeySet>, ApiError> {
        let mut current = self.current.write().await;
        if let Some(set) = current.as_ref().filter(|set| set.jwks == jwks) {
            return Ok(set.clone());
        }
        let verifier = Verifier::new(&jwks, &self.config.issuer, &self.config.audience)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("unusable JWKS: {e}")))?;
        tracing::info!(keys = jwks.keys.len(), "JWKS loaded");
        let set = Arc::new(KeySet { jwks, verifier });
        *current = Some(set.clone());
        if let Some(cache) = &self.verified {
            cache.clear();
        }
        Ok(set)
    }
}

/// Keeps `keys` fresh until shutdown: fetches the key set now, then again each time the user
/// service's `max-age` runs out.
pub fn spawn_refresh(keys: Arc<Keys>, shutdown: &Shutdown) {
    let stop = shutdown.cancelled_owned();
    shutdown.spawn(async move {
        tokio::pin!(stop);
        loop {
            let wait = tokio::select! {
                () = &mut stop => return,
                wait = keys.refresh_scheduled() => wait,
            };
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(wait) => {},
            }
        }
    });
}

/// The `max-age` of a `Cache-Control` header value, if it has a well-formed one.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .filter_map(|directive| {
            let (name, value) = directive.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| value.trim().trim_matches('"').parse().ok())?
        })
        .next()
        .map(Duration::from_secs)
}

fn invalid_token() -> ApiError {
    ApiError::Unauthorized("The access token is invalid or expired.".to_owned())
}

/// The bearer token of a request, if it sends one: `Authorization: Bearer <token>`, the scheme
/// in any case (RFC 9110 §11.1). Another scheme, or a header that is not visible ASCII, is no
/// bearer token: the request is anonymous (and the proxy drops the header). A bearer token
/// longer than [`tokens::MAX_TOKEN_LEN`] is refused here, before anything hashes or parses it.
pub fn bearer(headers: &http::HeaderMap) -> Result<Option<Bearer<'_>>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    // Checked on the raw bytes: even the ASCII check below is not paid for an oversized header.
    if value.len() > "Bearer ".len() + MAX_TOKEN_LEN {
        return Err(invalid_token());
    }
    let Ok(value) = value.to_str() else {
        return Ok(None);
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    Bearer::parse(token.trim()).map(Some)
}

/// Enforces a route's access level on the caller `verified` (`None`: anonymous).
pub fn authorize(verified: Option<&Verified>, access: Access) -> Result<(), ApiError> {
    match (verified, access) {
        (None, Access::User | Access::Admin) => {
            Err(ApiError::Unauthorized("Sign in to continue.".to_owned()))
        }
        (Some(verified), Access::Admin) if !verified.claims.has_role(Role::Admin) => {
            Err(ApiError::Forbidden("This needs the admin role.".to_owned()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use tokens::Signer;

    use super::*;

    /// Keys that already trust `signer`'s key, without leeway, and never need a fetch.
    fn trusting(signer: &Signer) -> Keys {
        trusting_with_cache(signer, 8)
    }

    fn trusting_with_cache(signer: &Signer, token_cache_capacity: usize) -> Keys {
        let keys = Keys::new(
            AuthConfig {
                jwks_url: "http://127.0.0.1:9/.well-known/jwks.json".into(),
                issuer: "ecommerce".into(),
                audience: "ecommerce-api".into(),
                refetch_min_interval: Duration::from_secs(3600),
                token_cache_capacity,
            },
            reqwest::Client::new(),
        );
        trust_only(&keys, signer);
        keys
    }

    /// Makes `keys` trust `signer`'s key and no other.
    fn trust_only(keys: &Keys, signer: &Signer) {
        let jwks = Jwks {
            keys: vec![signer.jwk()],
        };
        let verifier = Verifier::new(&jwks, "ecommerce", "ecommerce-api")
            .expect("verifier")
            .with_leeway(Duration::ZERO);
        *keys.current.try_write().expect("unlocked") = Some(Arc::new(KeySet { jwks, verifier }));
    }

    /// Whether `keys` answers `token` from its cache.
    fn remembered(keys: &Keys, token: &str) -> bool {
        keys.verified
            .as_ref()
            .is_some_and(|cache| cache.get(token).is_some())
    }

    async fn verify(keys: &Keys, token: &str) -> Result<Arc<Verified>, ApiError> {
        keys.verify(Bearer::parse(token)?).await
    }

    fn sign(signer: &Signer, expires_in: i64) -> String {
        testkit::token::access_token(signer, uuid::Uuid::new_v4(), &[Role::Customer], expires_in)
    }

    fn sign_as(signer: &Signer, role: Role) -> String {
        testkit::token::access_token(signer, uuid::Uuid::new_v4(), &[role], 300)
    }

    fn signer() -> Signer {
        Signer::from_pem("k1", &tokens::generate_pem().expect("key")).expect("signer")
    }

    #[tokio::test]
    async fn a_cached_token_is_refused_once_it_expires() {
        let signer = signer();
        let keys = trusting(&signer);
        // `exp` is whole seconds, so a token expiring "in 1 s" may have only a moment left by
        // the time it is checked (the test failed so on a busy machine): 2 s leaves at least 1.
        let token = sign(&signer, 2);
        verify(&keys, &token).await.expect("valid now");
        assert!(remembered(&keys, &token));

        // Past `exp` by more than a whole second, so the verifier refuses it too.
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let error = verify(&keys, &token).await.expect_err("expired");
        assert_eq!(error.status(), 401);
    }

    #[tokio::test]
    async fn a_bad_signature_is_never_answered_from_the_cache() {
        let signer = signer();
        let keys = trusting(&signer);
        let token = sign(&signer, 300);
        let verified = verify(&keys, &token).await.expect("valid");

        // The same header and claims, which are cached, with another signature.
        let (signed, signature) = token.rsplit_once('.').expect("three parts");
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{signed}.{flipped}{}", &signature[1..]);
        // And a signature made by another key over the same bytes.
        let other = sign(&self::signer(), 300);
        let foreign = format!("{signed}.{}", other.rsplit_once('.').expect("parts").1);
        for bad in [forged, foreign] {
            for _ in 0..2 {
                let error = verify(&keys, &bad).await.expect_err("bad signature");
                assert_eq!(error.status(), 401, "{bad}");
            }
            assert!(!remembered(&keys, &bad), "{bad}");
        }
        let again = verify(&keys, &token).await.expect("still valid");
        assert_eq!(again.claims, verified.claims);
    }

    #[tokio::test]
    async fn with_the_cache_off_every_request_checks_the_signature() {
        let signer = signer();
        let keys = trusting_with_cache(&signer, 0);
        let token = sign(&signer, 300);
        verify(&keys, &token).await.expect("valid");
        verify(&keys, &token).await.expect("still valid");

        // The same key id now names another key: a cache would still answer for the token
        // verified a moment ago; without one, its signature is checked, and fails.
        let impostor =
            Signer::from_pem("k1", &tokens::generate_pem().expect("key")).expect("signer");
        trust_only(&keys, &impostor);
        let error = verify(&keys, &token).await.expect_err("checked again");
        assert_eq!(error.status(), 401);
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let secs = |value: &str| max_age(value).map(|d| d.as_secs());
        assert_eq!(secs("public, max-age=300"), Some(300));
        assert_eq!(secs("Max-Age = 5 ,public"), Some(5));
        assert_eq!(secs("max-age=\"7\""), Some(7));
        assert_eq!(secs("no-cache"), None);
        assert_eq!(secs("max-age=soon"), None);
        assert_eq!(secs("max-age=-1"), None);
    }

    fn authorization(value: &[u8]) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).expect("a header value"),
        );
        headers
    }

    #[tokio::test]
    async fn an_oversized_authorization_header_is_refused_before_the_cache_is_consulted() {
        let signer = signer();
        let keys = trusting(&signer);
        // A token the cache would answer for, were it ever asked: only the length check
        // stands between it and the request.
        let oversized = format!("{}.{}", sign(&signer, 300), "A".repeat(MAX_TOKEN_LEN));
        let cache = keys.verified.as_ref().expect("a cache");
        let admin = sign_as(&signer, Role::Admin);
        let claims = verify(&keys, &admin).await.expect("valid").claims.clone();
        let exp = claims.exp;
        cache.insert(
            &oversized,
            exp,
            Arc::new(Verified::new(claims).expect("identity")),
        );

        let headers = authorization(format!("Bearer {oversized}").as_bytes());
        let error = bearer(&headers).expect_err("too long to be read");
        assert_eq!(error.status(), 401);
        assert!(Bearer::parse(&oversized).is_err());
        // A header far past the limit is refused on its length alone.
        let huge = authorization(&[b'x'; 64 * 1024]);
        assert_eq!(bearer(&huge).expect_err("too long").status(), 401);
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case_and_others_are_anonymous() {
        for value in ["Bearer abc", "bearer abc", "BEARER abc", "Bearer   abc  "] {
            let headers = authorization(value.as_bytes());
            assert_eq!(
                bearer(&headers).expect("readable"),
                Some(Bearer("abc")),
                "{value}"
            );
        }
        for value in [
            &b"Basic YWxhZGRpbjpvcGVuc2VzYW1l"[..],
            b"Bearer",
            b"Bearer\xff\xfe",
            b"token",
        ] {
            let headers = authorization(value);
            assert_eq!(bearer(&headers).expect("readable"), None, "{value:?}");
        }
        assert_eq!(bearer(&http::HeaderMap::new()).expect("readable"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_authorization_header_is_read_without_panicking_and_within_the_limit(
            value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000)
        ) {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                let mut headers = http::HeaderMap::new();
                headers.insert(header::AUTHORIZATION, value);
                if let Ok(Some(token)) = bearer(&headers) {
                    proptest::prop_assert!(token.0.len() <= MAX_TOKEN_LEN);
                }
            }
        }

        #[test]
        fn a_token_of_any_length_up_to_the_limit_is_read_back_whole(token in "[A-Za-z0-9_.-]{1,2048}") {
            let headers = authorization(format!("Bearer {token}").as_bytes());
            proptest::prop_assert_eq!(bearer(&headers).expect("readable"), Some(Bearer(&token)));
        }
    }
}
