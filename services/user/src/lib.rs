//! The user service: accounts, password hashing (argon2id), access tokens (Ed25519 JWTs
//! published as a JWKS document), rotating refresh tokens, roles, and saved addresses.
//!
//! Routes (the gateway forwards the public ones and verifies access tokens; the protected ones
//! read the caller from the gateway's `x-user-id`/`x-user-roles` headers):
//!
//! - `POST /api/v1/auth/register|login|refresh|logout`;
//! - `GET|PATCH /api/v1/users/me`, `GET|POST /api/v1/users/me/addresses`,
//!   `PATCH|DELETE /api/v1/users/me/addresses/{id}`;
//! - `GET /api/v1/admin/users`, `PATCH /api/v1/admin/users/{id}` (admins);
//! - `GET /.well-known/jwks.json`;
//! - `GET /openapi.json`: the public API's OpenAPI document, which the gateway merges;
//! - `GET /internal/users/{user_id}/addresses/{id}` (other services only, with the internal
//!   token of [`kit::internal`]; never routed by the gateway).
//!
//! Modules own their tables: `accounts` (users), `refresh` (refresh_tokens), `backoff`
//! (login_attempts), `addresses`.

mod access;
mod accounts;
mod addresses;
mod admin;
mod auth;
mod backoff;
pub mod config;
mod cookie;
mod domain;
pub mod housekeeping;
mod openapi;
mod passwords;
mod profile;
mod refresh;
pub mod startup;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

pub use accounts::{AdminBootstrap, create_admin};

use crate::access::AccessTokens;
use crate::config::{BackoffConfig, Config};
use crate::passwords::Passwords;

/// The service's migrations, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// What request handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    db: PgPool,
    passwords: Passwords,
    access: Arc<AccessTokens>,
    refresh_ttl: Duration,
    backoff: BackoffConfig,
    internal_token: kit::internal::InternalToken,
}

impl AppState {
    /// The state for `config` over `db`. Prepares the password hasher, which takes one hash's
    /// time.
    pub async fn new(config: &Config, db: PgPool) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            passwords: Passwords::new(&config.passwords).await?,
            access: Arc::new(AccessTokens::new(&config.tokens)),
            refresh_ttl: config.tokens.refresh_ttl,
            backoff: config.login,
            internal_token: config.internal_token.clone(),
        })
    }
}

/// The service's routes, to be wrapped by [`kit::server::router`].
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(access::router())
        .merge(auth::router())
        .merge(profile::router())
        .merge(addresses::router())
        .merge(addresses::internal_router(&state.internal_token))
        .merge(admin::router())
        .merge(openapi::router())
        .with_state(state)
}
