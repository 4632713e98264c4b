//! Authentication at the edge: verify the access token, vouch for the caller upstream.
//!
//! Keys come from the user service's JWKS document, fetched on first use and cached. A token
//! signed with a key id the cache does not know triggers one refetch (the user service may have
//! rotated), at most once per `refetch_min_interval`, so forged key ids cannot turn the gateway
//! into an amplifier against the user service.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use contracts::auth::{Claims, Role};
use http::header::{self, HeaderValue};
use kit::ApiError;
use kit::identity::{Identity, USER_ID_HEADER, USER_ROLES_HEADER};
use tokens::{Jwks, Verifier, VerifyError};
use tokio::sync::{Mutex, RwLock};

use crate::AppState;
use crate::config::AuthConfig;
use crate::ratelimit::{ClientIp, ClientKey};
use crate::routes::{self, Access};

/// The cached verification keys.
#[derive(Debug)]
pub struct Keys {
    config: AuthConfig,
    http: reqwest::Client,
    verifier: RwLock<Option<Arc<Verifier>>>,
    last_fetch: Mutex<Option<Instant>>,
}

impl Keys {
    /// An empty cache that fetches from `config.jwks_url`.
    pub fn new(config: AuthConfig, http: reqwest::Client) -> Self {
        Self {
            config,
            http,
            verifier: RwLock::new(None),
            last_fetch: Mutex::new(None),
        }
    }

    /// Verifies an access token.
    pub async fn verify(&self, token: &str) -> Result<Claims, ApiError> {
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
        *last_fetch = Some(Instant::now());
        tracing::info!(keys = jwks.keys.len(), "JWKS loaded");
        Ok(verifier)
    }
}

fn invalid_token() -> ApiError {
    ApiError::Unauthorized("The access token is invalid or expired.".to_owned())
}

/// Middleware: drops client-sent identity headers, verifies the bearer token when there is one,
/// enforces the route's access level, and records whom the request counts against: the
/// [`ClientIp`] always (the credentials bucket's key), and the [`ClientKey`], the user when
/// signed in, the address otherwise (the other buckets' key).
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers_mut();
    headers.remove(USER_ID_HEADER);
    headers.remove(USER_ROLES_HEADER);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());
    let access = routes::resolve(
        request.method(),
        request.uri().path(),
        state.proxy.has_web(),
    )
    .map_or(Access::Public, |route| route.access);

    let claims = match token {
        Some(token) => match state.keys.verify(&token).await {
            Ok(claims) => Some(claims),
            Err(error) => return error.into_response(),
        },
        None => None,
    };
    let ip = ClientIp::of(&request, state.trust_forwarded_for);
    let key = match (&claims, access) {
        (None, Access::User | Access::Admin) => {
            return ApiError::Unauthorized("Sign in to continue.".to_owned()).into_response();
        }
        (Some(claims), Access::Admin) if !claims.roles.contains(&Role::Admin) => {
            return ApiError::Forbidden("This needs the admin role.".to_owned()).into_response();
        }
        (Some(claims), _) => {
            let headers = request.headers_mut();
            if let Ok(id) = HeaderValue::from_str(&claims.sub.to_string()) {
                headers.insert(USER_ID_HEADER, id);
            }
            if let Ok(roles) = HeaderValue::from_str(&Identity::roles_header(&claims.roles)) {
                headers.insert(USER_ROLES_HEADER, roles);
            }
            Some(ClientKey::User(claims.sub))
        }
        (None, Access::Public) => ip.map(|ClientIp(ip)| ClientKey::Ip(ip)),
    };
    match key {
        Some(key) => {
            request.extensions_mut().insert(key);
            if let Some(ip) = ip {
                request.extensions_mut().insert(ip);
            }
            next.run(request).await
        }
        None => {
            ApiError::Internal(anyhow::anyhow!("no peer address for rate limiting")).into_response()
        }
    }
}
