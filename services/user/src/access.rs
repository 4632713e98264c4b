//! Access tokens: issuing them, and publishing the keys that verify them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use contracts::auth::{Claims, Role};
use tokens::{Jwks, Signer};
use uuid::Uuid;

use crate::AppState;
use crate::config::TokenConfig;

/// How long caches (the gateway, proxies) may keep the key set. Short, so a rotation is picked
/// up quickly; the gateway also refetches when it meets an unknown `kid`.
const JWKS_MAX_AGE_SECS: u32 = 300;

/// Signs access tokens and holds the key set that verifies them.
#[derive(Debug)]
pub(crate) struct AccessTokens {
    signer: Signer,
    jwks: Jwks,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl AccessTokens {
    pub(crate) fn new(config: &TokenConfig) -> Self {
        Self {
            signer: config.signer.clone(),
            jwks: config.jwks(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.access_ttl,
        }
    }

    /// A signed token for `user_id` with `roles`, valid for the configured time.
    pub(crate) fn issue(&self, user_id: Uuid, roles: &[Role]) -> anyhow::Result<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let iat = i64::try_from(now)?;
        let claims = Claims {
            sub: user_id,
            roles: roles.to_vec(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat,
            exp: iat + i64::try_from(self.ttl.as_secs())?,
            jti: Uuid::new_v4().to_string(),
        };
        Ok(self.signer.sign(&claims)?)
    }

    /// Seconds an access token lives, for `expires_in`.
    pub(crate) fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }
}

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

/// The public keys that verify access tokens.
///
/// A JWKS document (RFC 7517) of Ed25519 keys (RFC 8037: `kty` `OKP`, `crv` `Ed25519`, `alg`
/// `EdDSA`); the key that signs new tokens comes first. Match a token's `kid` header to a key.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "auth",
    responses((status = 200, description = "The JWKS document", content_type = "application/json"))
)]
pub(crate) async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE_SECS}"),
        )],
        kit::Json(state.access.jwks.clone()),
    )
}
