//! Products: the public reads, the admin's edits and the prices the order service asks for.
//! Owns the `products` table.
//!
//! Product details are read through the [`Cache`](crate::cache::Cache); every write deletes
//! what it made stale once its transaction has committed.
//!
//! - `routes`: the HTTP handlers, and the cached reads other modules share;
//! - `store`: the SQL of `products`, and the stored row as the API shows it.

pub(crate) mod routes;
mod store;

use axum::Router;
use axum::routing::{get, patch, post};
use kit::internal::InternalToken;

use crate::AppState;

pub(crate) use routes::{Viewer, product_by_id, visible};
pub(crate) use store::{
    PRODUCT_COLUMNS, ProductRow, count_in_category, count_version, feature_unwritten,
    insert_if_absent, load_product, lock_for_write, taken,
};

/// The product endpoints: the shop's reads and the admin's edits.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/products/{id}", get(routes::get_product))
        .route("/api/v1/admin/products", post(routes::create_product))
        .route(
            "/api/v1/admin/products/{id}",
            patch(routes::update_product).delete(routes::delete_product),
        )
}

/// The prices the order service asks for, behind the internal token.
pub(crate) fn internal_router(token: &InternalToken) -> Router<AppState> {
    Router::new()
        .route("/internal/products/prices", post(routes::prices))
        .route_layer(axum::middleware::from_fn_with_state(
            token.clone(),
            kit::internal::require,
        ))
}
