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
//! A computed page is kept in the process with the search generation it was computed at, and
//! served again (its rows read by id, with current stock) while the generation has not moved:
//! see `pages`. Requests for the same page that arrive together share one read, whether it reads
//! the kept page again or computes it: see `rounds`.
//!
//! - `routes`: the handler: the query's rules, the cursor, the page;
//! - `store`: the list queries, the nearest known words of each query word, the generation,
//!   and a cached page's rows read again;
//! - `domain`: the validated search, its sort, and the typo correction's choice of words;
//! - `pages`: the pages already computed;
//! - `rounds`: the reads of a page, shared by the requests that wait for them.

mod domain;
mod pages;
mod rounds;
pub(crate) mod routes;
mod store;

use axum::routing::get;
use axum::{Extension, Router};

use crate::AppState;

/// The product list, with the pages it computed (one cache per router, so per service).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/products", get(routes::list_products))
        .layer(Extension(pages::PageCache::default()))
}
