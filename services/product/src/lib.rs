//! The product service: categories, products, full-text search, inventory and reservations.
//!
//! - `categories` and `catalog`: the category tree and the products, the public reads and
//!   the admin's edits;
//! - `search`: the product list with full-text search, filters, sorts and signed cursors;
//! - [`inventory`]: stock, reservations for the order service and the expiry sweeper;
//! - [`events`]: the order events that commit and release reservations;
//! - [`cache`]: cache-aside on Redis that falls back to Postgres;
//! - [`metrics`]: cache hit ratio, order events consumed and their lag, stock held;
//! - `images`: product images generated as SVG; [`seed`]: the demo catalog;
//! - [`config`]: the service's settings; [`fields`]: the rules catalog fields follow;
//! - `versions`: optimistic concurrency, versions as `ETag`s and `If-Match`;
//! - `openapi`: the public API's OpenAPI document, at `/openapi.json`;
//! - [`startup`]: the service assembled, for `main`, the tests and the benches.
//!
//! Each resource module exposes its routes as `router()` (and the ones behind the internal
//! token as `internal_router()`), which [`app`] merges. The big ones are folders split by what
//! each part owns: `routes` (the handlers), `store` (the SQL of the tables the module owns,
//! checked by sqlx's macros against `.sqlx`) and, where there are any, `domain` (types and
//! rules, no IO).
//!
//! Routes under `/api/v1` are public (through the gateway); routes under `/internal` are for
//! the order service, which must send the internal token ([`kit::internal`]), and
//! `/openapi.json` for the gateway: neither is routed by the gateway.

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use secrecy::ExposeSecret;
use sqlx::PgPool;

pub mod cache;
mod catalog;
mod categories;
pub mod config;
mod cursor;
pub mod events;
pub mod fields;
mod images;
pub mod inventory;
pub mod metrics;
mod openapi;
mod search;
pub mod seed;
pub mod startup;
mod versions;

use cache::Cache;
use config::CatalogSettings;
use cursor::CursorCodec;
use metrics::ProductMetrics;

/// The embedded migrations of the product database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// What every request handler shares. axum clones the state for every request, so clones share
/// one copy: cloning the settings and the cache's configuration (strings, a secret) cost
/// allocations on every read.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// The state itself, reached through [`AppState`].
#[derive(Debug)]
pub struct Shared {
    db: PgPool,
    cache: Cache,
    settings: CatalogSettings,
    cursors: CursorCodec,
    metrics: ProductMetrics,
}

impl AppState {
    /// The state of a service on `db`, caching in `cache`.
    pub fn new(db: PgPool, cache: Cache, settings: CatalogSettings) -> Self {
        let cursors = CursorCodec::new(settings.cursor_secret.expose_secret().as_bytes());
        let metrics = ProductMetrics::new(cache.reads());
        Self(Arc::new(Shared {
            db,
            cache,
            settings,
            cursors,
            metrics,
        }))
    }

    /// The service's own metrics (register them with [`ProductMetrics::register`]).
    pub fn metrics(&self) -> &ProductMetrics {
        &self.metrics
    }

    /// The database pool.
    pub fn db(&self) -> &PgPool {
        &self.db
    }

    /// The cache in front of it.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The service's routes, to be wrapped by [`kit::server::router`]: each resource module's.
pub fn app(state: AppState) -> Router {
    let token = &state.settings.internal.token;
    Router::new()
        .merge(categories::router())
        .merge(search::router())
        .merge(catalog::router())
        .merge(images::router())
        .merge(inventory::router())
        .merge(catalog::internal_router(token))
        .merge(inventory::internal_router(token))
        .merge(openapi::router())
        .with_state(state)
}
