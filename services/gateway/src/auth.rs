//! Authentication at the edge: verify the access token, vouch for the caller upstream.
//!
//! Keys come from the user service's JWKS document, fetched on first use and cached. A token
//! signed with a key id the cache does not know triggers one refetch (the user service may have
//! rotated), at most once per `refetch_min_interval`, so forged key ids cannot turn the gateway
//! into an amplifier against the user service.
//!
//! Verified tokens are remembered for a while (see [`crate::verified`]), so a client's every
//! request does not pay for a signature check; fetching new keys forgets them all, so a token
//! signed with a key the JWKS no longer lists is checked, and refused, at once.
//!
//! What the caller sent as identity is never passed on: the proxy drops every `x-user-*`
//! header of the request and sets the verified caller's (see [`Verified::identity_headers`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use contracts::auth::{Claims, Role};
use http::HeaderName;
use http::header::{self, HeaderValue};
use kit::ApiError;
use kit::identity::{Identity, USER_ID_HEADER, USER_ROLES_HEADER};
use tokens::{Jwks, Verifier, VerifyError};
use tokio::sync::{Mutex, RwLock};

use crate::AppState;
use crate::config::AuthConfig;
use crate::ratelimit::{ClientIp, ClientKey};
use crate::routes::Access;
use crate::verified::TokenCache;

/// The longest a verified token is remembered (less when it expires sooner). Short, so the
/// cache's memory follows active clients; a token cannot be revoked before its `exp` anyway.
const VERIFIED_FOR: Duration = Duration::from_secs(60);

/// The cached verification keys, and the tokens verified with them recently.
#[derive(Debug)]
pub struct Keys {
    config: AuthConfig,
    http: reqwest::Client,
    verifier: RwLock<Option<Arc<Verifier>>>,
    last_fetch: Mutex<Option<Instant>>,
    /// `None` when `TOKEN_CACHE_CAPACITY` is 0: every token is verified on every request.
    verified: Option<TokenCache<Verified>>,
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
            verifier: RwLock::new(None),
            last_fetch: Mutex::new(None),
            verified: (config.token_cache_capacity > 0)
                .then(|| TokenCache::new(config.token_cache_capacity, VERIFIED_FOR)),
            config,
        }
    }

    /// Verifies an access token, or finds it verified recently.
    pub async fn verify(&self, token: &str) -> Result<Arc<Verified>, ApiError> {
        let cache = self.verified.as_ref();
        if let Some(verified) = cache.and_then(|cache| cache.get(token)) {
            return Ok(verified);
        }
        let verified = Arc::new(Verified::new(self.check(token).await?)?);
        if let Some(cache) = cache {
            cache.insert(token, verified.claims.exp, verified.clone());
        }
        Ok(verified)
    }

    /// Checks an access token's signature and claims against the keys.
    async fn check(&self, token: &str) -> Result<Claims, ApiError> {
        // Bound first: a guard in the match scrutinee would live through `refresh`, which
        // takes the write lock.
        let cached = self.verifier.read().await.clone();
        let verifier = match cached {
            Some(verifier) => verifier,
            None => self.refresh(None).await?,
        };
        match verifier.verify(token) {
            Ok(claims) => Ok(claims),
            Err(VerifyError::UnknownKey(_)) => {
                let verifier = self.refresh(Some(&verifier)).await?;
                verifier.verify(token).map_err(|_| invalid_token())
            }
            Err(_) => Err(invalid_token()),
        }
    }

    /// Fetches the JWKS again. `stale` is the verifier that did not know a key id: when another
    /// request already replaced it, or the last fetch was too recent, the cached keys stand.
    async fn refresh(&self, stale: Option<&Arc<Verifier>>) -> Result<Arc<Verifier>, ApiError> {
        let mut last_fetch = self.last_fetch.lock().await;
        let cached = self.verifier.read().await.clone();
        if let Some(current) = cached {
            let replaced = stale.is_none_or(|s| !Arc::ptr_eq(s, &current));
            let too_soon =
                last_fetch.is_some_and(|at| at.elapsed() < self.config.refetch_min_interval);
            if replaced || too_soon {
                return Ok(current);
            }
        }
        let jwks: Jwks = self
            .http
            .get(&self.config.jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| {
                tracing::warn!(error = %e, url = %self.config.jwks_url, "cannot fetch the JWKS");
                ApiError::unavailable("user service")
            })?
            .json()
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("malformed JWKS: {e}")))?;
        let verifier = Arc::new(
            Verifier::new(&jwks, &self.config.issuer, &self.config.audience)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("unusable JWKS: {e}")))?,
        );
        *self.verifier.write().await = Some(verifier.clone());
        if let Some(cache) = &self.verified {
            cache.clear();
        }
        *last_fetch = Some(Instant::now());
        tracing::info!(keys = jwks.keys.len(), "JWKS loaded");
        Ok(verifier)
    }
}

fn invalid_token() -> ApiError {
    ApiError::Unauthorized("The access token is invalid or expired.".to_owned())
}

/// The token of an `Authorization: Bearer` header.
fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Who sent a request, as far as the gateway can tell.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user when signed in, the address otherwise: the API and storefront buckets' key.
    pub key: ClientKey,
    /// The address, token or not: the credentials bucket's key, and the access log's client.
    pub ip: Option<ClientIp>,
    /// The verified token, when one was sent: the identity the upstream is told.
    pub verified: Option<Arc<Verified>>,
}

/// Verifies the bearer token when there is one and enforces `access`. The request is only read
/// (borrowed mutably to keep the future `Send`): the proxy replaces the caller's `x-user-*`
/// headers with [`Caller::verified`]'s.
pub async fn authenticate(
    state: &AppState,
    request: &mut Request,
    access: Access,
) -> Result<Caller, ApiError> {
    let verified = match bearer(request.headers()) {
        Some(token) => Some(state.keys.verify(token).await?),
        None => None,
    };
    let ip = ClientIp::of(request, state.trust_forwarded_for);
    let key = match (&verified, access) {
        (None, Access::User | Access::Admin) => {
            return Err(ApiError::Unauthorized("Sign in to continue.".to_owned()));
        }
        (Some(verified), Access::Admin) if !verified.claims.has_role(Role::Admin) => {
            return Err(ApiError::Forbidden("This needs the admin role.".to_owned()));
        }
        (Some(verified), _) => ClientKey::User(verified.claims.sub),
        (None, Access::Public) => match ip {
            Some(ClientIp(ip)) => ClientKey::Ip(ip),
            None => {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "no peer address for rate limiting"
                )));
            }
        },
    };
    Ok(Caller { key, ip, verified })
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
        *keys.verifier.try_write().expect("unlocked") = Some(Arc::new(verifier));
    }

    /// Whether `keys` answers `token` from its cache.
    fn remembered(keys: &Keys, token: &str) -> bool {
        keys.verified
            .as_ref()
            .is_some_and(|cache| cache.get(token).is_some())
    }

    fn sign(signer: &Signer, expires_in: i64) -> String {
        testkit::token::access_token(signer, uuid::Uuid::new_v4(), &[Role::Customer], expires_in)
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
        keys.verify(&token).await.expect("valid now");
        assert!(remembered(&keys, &token));

        // Past `exp` by more than a whole second, so the verifier refuses it too.
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let error = keys.verify(&token).await.expect_err("expired");
        assert_eq!(error.status(), 401);
    }

    #[tokio::test]
    async fn a_bad_signature_is_never_answered_from_the_cache() {
        let signer = signer();
        let keys = trusting(&signer);
        let token = sign(&signer, 300);
        let verified = keys.verify(&token).await.expect("valid");

        // The same header and claims, which are cached, with another signature.
        let (signed, signature) = token.rsplit_once('.').expect("three parts");
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{signed}.{flipped}{}", &signature[1..]);
        // And a signature made by another key over the same bytes.
        let other = sign(&self::signer(), 300);
        let foreign = format!("{signed}.{}", other.rsplit_once('.').expect("parts").1);
        for bad in [forged, foreign] {
            for _ in 0..2 {
                let error = keys.verify(&bad).await.expect_err("bad signature");
                assert_eq!(error.status(), 401, "{bad}");
            }
            assert!(!remembered(&keys, &bad), "{bad}");
        }
        let again = keys.verify(&token).await.expect("still valid");
        assert_eq!(again.claims, verified.claims);
    }

    #[tokio::test]
    async fn with_the_cache_off_every_request_checks_the_signature() {
        let signer = signer();
        let keys = trusting_with_cache(&signer, 0);
        let token = sign(&signer, 300);
        keys.verify(&token).await.expect("valid");
        keys.verify(&token).await.expect("still valid");

        // The same key id now names another key: a cache would still answer for the token
        // verified a moment ago; without one, its signature is checked, and fails.
        let impostor =
            Signer::from_pem("k1", &tokens::generate_pem().expect("key")).expect("signer");
        trust_only(&keys, &impostor);
        let error = keys.verify(&token).await.expect_err("checked again");
        assert_eq!(error.status(), 401);
    }
}
