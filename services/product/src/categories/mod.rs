//! Categories: the tree products are listed under, its public list and the admin's edits.
//! Owns the `categories` table.
//!
//! A deleted category is kept, marked deleted, for the deleted products that still name it;
//! it frees its slug. Only an empty category can be deleted: one without live products or
//! subcategories, so every live category and product sits in a live category.
//!
//! Category writes take turns (see [`lock_tree`]); product writes lock the one category they
//! name with `FOR SHARE` (see [`lock_live`]), so a product never lands in a category that is
//! being deleted.
//!
//! Like products, categories are edited under optimistic concurrency (see
//! [`versions`](crate::versions)): every admin write counts a new version, answered as the
//! `ETag`; a PATCH names the version it is based on, and `If-Match` is optional and checked
//! when sent.
//!
//! - `routes`: the HTTP handlers, and the cached list other modules share;
//! - `store`: the SQL of `categories`.

pub(crate) mod routes;
mod store;

use axum::Router;
use axum::routing::{get, patch, post};

use crate::AppState;

pub(crate) use routes::all;
pub(crate) use store::{insert_if_absent, lock_live, lock_tree, subtree};

/// The category endpoints: the shop's list and the admin's edits.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/categories", get(routes::list_categories))
        .route("/api/v1/admin/categories", post(routes::create_category))
        .route(
            "/api/v1/admin/categories/{id}",
            patch(routes::update_category).delete(routes::delete_category),
        )
}
