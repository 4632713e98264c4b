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
//! - `openapi`: the public API's OpenAPI document, at `/openapi.json`.
//!
//! Routes under `/api/v1` are public (through the gateway); routes under `/internal` are for
//! the order service, which must send the internal token ([`kit::internal`]), and
//! `/openapi.json` for the gateway: neither is routed by the gateway.

use axum::Router;
use axum::routing::{get, patch, post, put};
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
mod versions;

use cache::Cache;
use config::CatalogSettings;
use cursor::CursorCodec;
use metrics::ProductMetrics;

/// The embedded migrations of the product database.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    db: PgPool,
    cache: Cache,
    settings: CatalogSettings,
    cursors: CursorCodec,
    metrics: ProductMetrics,
}

impl AppState {
    /// The state of a service on `db`, caching in `cache`.
    pub fn new(db: PgPool, cache: Cache, settings: CatalogSettings) -> Self {
        let cursors = CursorCodec::new(&settings.cursor_secret);
        let metrics = ProductMetrics::new(cache.reads());
        Self {
            db,
            cache,
            settings,
            cursors,
            metrics,
        }
    }

    /// The service's own metrics (register them with [`ProductMetrics::register`]).
    pub fn metrics(&self) -> &ProductMetrics {
        &self.metrics
    }

    /// The database pool.
    pub fn db(&self) -> &PgPool {
        &self.db
    }
}

/// The service's routes, to be wrapped by [`kit::server::router`].
pub fn app(state: AppState) -> Router {
    let internal = Router::new()
        .route("/internal/products/prices", post(catalog::prices))
        .route("/internal/reservations", post(inventory::reserve))
        .route(
            "/internal/reservations/{order_id}/commit",
            post(inventory::commit),
        )
        .route(
            "/internal/reservations/{order_id}/release",
            post(inventory::release),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.settings.internal_token.clone(),
            kit::internal::require,
        ));
    Router::new()
        .route("/api/v1/categories", get(categories::list_categories))
        .route("/api/v1/products", get(search::list_products))
        .route("/api/v1/products/{id}", get(catalog::get_product))
        .route(
            "/api/v1/products/{id}/image.svg",
            get(images::product_image),
        )
        .route(
            "/api/v1/admin/categories",
            post(categories::create_category),
        )
        .route(
            "/api/v1/admin/categories/{id}",
            patch(categories::update_category).delete(categories::delete_category),
        )
        .route("/api/v1/admin/products", post(catalog::create_product))
        .route(
            "/api/v1/admin/products/{id}",
            patch(catalog::update_product).delete(catalog::delete_product),
        )
        .route(
            "/api/v1/admin/products/{id}/stock",
            put(inventory::set_stock),
        )
        .merge(internal)
        .merge(openapi::routes())
        .with_state(state)
}
