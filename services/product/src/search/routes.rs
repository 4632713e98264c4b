//! The handler of the product list.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use contracts::catalog::{Product, ProductQuery, ProductSort};
use contracts::pagination::{MAX_LIMIT, Page, PageLimit};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::{ApiError, ApiResult, Json, Query};
use serde::Serialize;
use sqlx::PgConnection;

use super::domain::{self, Search, bad_query, effective_sort, foreign_cursor};
use super::pages::{Answer, CachedPage, PageCache, PageKey, Ranked};
use super::store::{self, Hit};
use crate::AppState;
use crate::catalog::Viewer;
use crate::categories;
use crate::cursor::{Cursor, InvalidCursor, Position};
use crate::metrics::SearchRead;

/// The media type of a page, as `Json` gives it.
const JSON: &str = "application/json";

/// Longest text query accepted.
const MAX_QUERY_CHARS: usize = 200;

/// What a cursor is bound to: every input that decides which rows come in which order.
#[derive(Serialize)]
struct Scope<'a> {
    q: Option<&'a str>,
    category: Option<&'a str>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock: Option<bool>,
    featured: Option<bool>,
    sort: ProductSort,
    include_hidden: bool,
}

/// Search and list products
///
/// Full-text search over names (weighing most), descriptions, SKUs and attributes, with typo
/// correction when nothing matches; filters; sorts; pages of at most 100 items. Pass
/// `next_cursor` back as `cursor` with the same other parameters for the next page.
#[utoipa::path(
    get,
    path = "/api/v1/products",
    tag = "catalog",
    params(ProductQuery),
    responses(
        (status = 200, description = "A page of products", body = Page<Product>),
        (status = 400, description = "A parameter is invalid (named in `errors`)", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn list_products(
    State(state): State<AppState>,
    Extension(pages): Extension<PageCache>,
    viewer: Viewer,
    Query(query): Query<ProductQuery>,
) -> ApiResult<Response> {
    let limit = PageLimit::from_query(query.limit)
        .map_err(|_| bad_query("limit", &format!("must be 1 to {MAX_LIMIT}")))?;
    let text = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    if text
        .as_ref()
        .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(bad_query(
            "q",
            &format!("must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    for (field, value) in [
        ("min_price", query.min_price),
        ("max_price", query.max_price),
    ] {
        if value.is_some_and(|v| v < 0) {
            return Err(bad_query(field, "must be zero or more minor units"));
        }
    }
    if let (Some(min), Some(max)) = (query.min_price, query.max_price)
        && min > max
    {
        return Err(bad_query("max_price", "must not be below min_price"));
    }
    let sort = query.sort.unwrap_or_default();
    let category = query
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let scope = serde_json::to_vec(&Scope {
        q: text.as_deref(),
        category,
        min_price: query.min_price,
        max_price: query.max_price,
        in_stock: query.in_stock,
        featured: query.featured,
        sort,
        include_hidden: viewer.admin,
    })
    .map_err(|e| ApiError::Internal(e.into()))?;
    let cursor = query
        .cursor
        .as_deref()
        .map(|token| state.cursors.decode(&scope, token))
        .transpose()
        .map_err(|InvalidCursor| foreign_cursor())?;
    let request = PageRequest {
        search: Search {
            text,
            categories: None,
            min_price: query.min_price,
            max_price: query.max_price,
            in_stock: query.in_stock,
            featured: query.featured,
            sort,
            limit,
            include_hidden: viewer.admin,
        },
        category: category.map(str::to_owned),
        cursor,
        key: PageKey {
            scope,
            cursor: query.cursor,
            limit: limit.get(),
        },
    };
    // The cache follows the service's (Redis) cache setting, so both are on or off together.
    if state.cache.pool().is_none() {
        let mut db = state.db.acquire().await?;
        return Ok(Json(compute(&mut db, &state, None, &request).await?).into_response());
    }
    // Only the request that plans a read copies what the read needs.
    let read = || {
        let (state, pages, request) = (state.clone(), pages.clone(), request.clone());
        async move { shared(&state, &pages, &request).await }
    };
    match pages.rounds(&request.key).read(read).await {
        Some(Answer::Page(body)) => Ok(([(CONTENT_TYPE, JSON)], body).into_response()),
        Some(Answer::Unavailable(dependency)) => Err(ApiError::unavailable(dependency)),
        Some(Answer::Failed) | None => {
            let mut db = state.db.acquire().await?;
            let page = compute(&mut db, &state, Some(&pages), &request).await?;
            Ok(Json(page).into_response())
        }
    }
}

/// A validated request for a page: the search, the slug of the category whose subtree it
/// covers, where the page starts, and its key among the kept pages (whose scope its cursors are
/// bound to).
#[derive(Clone)]
struct PageRequest {
    search: Search,
    category: Option<String>,
    cursor: Option<Cursor>,
    key: PageKey,
}

/// A round's read of the page of `request`, for every request waiting for it: the kept page's
/// rows read again while its generation is current, the page computed (and kept) otherwise.
async fn shared(state: &AppState, pages: &PageCache, request: &PageRequest) -> Answer {
    let body = async {
        // One connection for the whole read: a typo takes four queries, and under load each
        // would otherwise wait its turn for the pool again.
        let mut db = state.db.acquire().await?;
        let kept = match pages.get(&request.key) {
            Some(cached) => {
                state.metrics().search_read(SearchRead::Reread);
                store::reread(&mut db, &cached)
                    .await?
                    .map(|hits| (cached.text.clone(), hits))
            }
            None => None,
        };
        let page = match kept {
            Some((text, hits)) => page(state, &request.search, &request.key.scope, text, hits)?,
            None => compute(&mut db, state, Some(pages), request).await?,
        };
        let body = serde_json::to_vec(&page).map_err(|e| ApiError::Internal(e.into()))?;
        Ok::<_, ApiError>(Bytes::from(body))
    };
    match body.await {
        Ok(body) => Answer::Page(body),
        Err(ApiError::Unavailable { dependency }) => Answer::Unavailable(dependency),
        Err(error) => {
            // Each request waiting for this read computes its search itself, and answers with
            // that one's error if Postgres still fails.
            tracing::warn!(%error, "a shared search read failed; each request computes it instead");
            Answer::Failed
        }
    }
}

/// Computes the page of `request`, and keeps it in `keep` when given.
async fn compute(
    db: &mut PgConnection,
    state: &AppState,
    keep: Option<&PageCache>,
    request: &PageRequest,
) -> ApiResult<Page<Product>> {
    // Read before the search, so a page is never kept under a generation newer than what it
    // saw: a write committed in between only makes the page miss next time.
    let generation = match keep {
        Some(_) => Some(store::generation(db).await?),
        None => None,
    };
    state.metrics().search_read(SearchRead::Compute);
    let mut search = request.search.clone();
    if let Some(slug) = &request.category {
        let subtree = categories::subtree(db, slug).await?;
        if subtree.is_empty() {
            return Ok(Page::last(Vec::new()));
        }
        search.categories = Some(subtree);
    }
    let (text, hits) = match &request.cursor {
        Some(cursor) => {
            let hits =
                store::fetch(db, &search, cursor.text.as_deref(), Some(cursor.after)).await?;
            (cursor.text.clone(), hits)
        }
        None => {
            let hits = store::fetch(db, &search, search.text.as_deref(), None).await?;
            match &search.text {
                Some(query) if hits.is_empty() => {
                    match domain::correct(store::nearest_words(db, query).await?) {
                        Some(corrected) => {
                            let hits = store::fetch(db, &search, Some(&corrected), None).await?;
                            (Some(corrected), hits)
                        }
                        None => (search.text.clone(), hits),
                    }
                }
                _ => (search.text.clone(), hits),
            }
        }
    };
    if let (Some(pages), Some(generation)) = (keep, generation) {
        let rows = hits
            .iter()
            .map(|hit| Ranked {
                id: hit.id,
                exact: hit.exact,
                rank: hit.rank,
            })
            .collect();
        pages.put(
            request.key.clone(),
            CachedPage {
                generation,
                text: text.clone(),
                rows,
            },
        );
    }
    page(state, &search, &request.key.scope, text, hits)
}

/// The page, with a cursor after its last row when more rows follow.
fn page(
    state: &AppState,
    search: &Search,
    scope: &[u8],
    text: Option<String>,
    mut hits: Vec<Hit>,
) -> ApiResult<Page<Product>> {
    let page_size = search.limit.get() as usize;
    let more = hits.len() > page_size;
    hits.truncate(page_size);
    let next_cursor = match hits.last() {
        Some(last) if more => {
            let after = match effective_sort(search) {
                ProductSort::PriceAsc | ProductSort::PriceDesc => Position::Price {
                    amount: last.price_amount,
                    id: last.id,
                },
                ProductSort::Newest => Position::Newest {
                    created_us: i64::try_from(last.created_at.unix_timestamp_nanos() / 1000)
                        .map_err(|e| ApiError::Internal(e.into()))?,
                    id: last.id,
                },
                ProductSort::Relevance => Position::Rank {
                    exact: last.exact,
                    rank: last.rank,
                    id: last.id,
                },
            };
            Some(state.cursors.encode(scope, &Cursor { text, after }))
        }
        _ => None,
    };
    let items = hits
        .into_iter()
        .map(|hit| hit.product.into_product())
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page { items, next_cursor })
}
