//! `GET /api/v1/products`: full-text search with a typo-tolerant fallback, filters, sorts and
//! keyset pagination.
//!
//! A text query is matched against the weighted search document (`products.search`: name above
//! description above SKU and attributes) with `websearch_to_tsquery`, ranked by `ts_rank`, and
//! a product whose name is exactly the query comes first. When that finds nothing, each word of
//! the query is replaced by the word of a product name it was most likely meant as (within the
//! typo budget of shop search engines, among the nearest words of the `search_words` lexicon by
//! pg_trgm) and the corrected query is searched instead, so "keybaord" still finds keyboards and
//! "seleve" sleeves. The text the first page searched for is carried in the cursor, so every
//! page of a list searches for the same. Pages are keyset pages: the cursor names the last
//! row's sort key and id.
//!
//! The lists are read with a `QueryBuilder`, not a checked macro: each query shape (text or
//! not, which filters, which sort, first page or later) composes its own `WHERE` and
//! `ORDER BY`, so that every shape gets the plan of its index. Their rows are read into the
//! named `Hit`. The typo correction's query is fixed, and checked.
//!
//! - `routes`: the handler: the query's rules, the cursor, the page;
//! - `store`: the list queries, and the nearest known words of each query word;
//! - `domain`: the validated search, its sort, and the typo correction's choice of words.

mod domain;
pub(crate) mod routes;
mod store;

use axum::Router;
use axum::routing::get;

use crate::AppState;

/// The product list.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/products", get(routes::list_products))
}
