//! `GET /api/v1/products`: full-text search with a typo-tolerant fallback, filters, sorts and
//! keyset pagination.
//!
//! A text query is matched against the weighted search document (`products.search`: name above
//! description above SKU and attributes) with `websearch_to_tsquery`, ranked by `ts_rank`, and
//! a product whose name is exactly the query comes first. When that finds nothing, each word of
//! the query is replaced by the most similar word of any product name (pg_trgm similarity over
//! the `search_words` lexicon) and the corrected query is searched instead, so "keybaord" still
//! finds keyboards. The text the first page searched for is carried in the cursor, so every
//! page of a list searches for the same. Pages are keyset pages: the cursor names the last
//! row's sort key and id.

use axum::extract::State;
use contracts::catalog::{Product, ProductQuery, ProductSort};
use contracts::pagination::{DEFAULT_LIMIT, MAX_LIMIT, Page};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::error::field_error;
use kit::{ApiError, ApiResult, Json, Query};
use serde::Serialize;
use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::catalog::{PRODUCT_COLUMNS, ProductRow, Viewer};
use crate::cursor::{Cursor, InvalidCursor, Position};

/// Longest text query accepted.
const MAX_QUERY_CHARS: usize = 200;

/// How similar a known word must be to a query word to replace it, as trigram similarity: low
/// enough for a typo or two ("keybaord" scores 0.38 against "keyboard", "keyb" 0.4), high
/// enough to leave unrelated words alone.
const SIMILARITY_THRESHOLD: f32 = 0.3;

/// A validated search.
#[derive(Debug)]
struct Search {
    text: Option<String>,
    categories: Option<Vec<Uuid>>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock: Option<bool>,
    sort: ProductSort,
    limit: u32,
    include_hidden: bool,
}

/// What a cursor is bound to: every input that decides which rows come in which order.
#[derive(Serialize)]
struct Scope<'a> {
    q: Option<&'a str>,
    category: Option<&'a str>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock: Option<bool>,
    sort: ProductSort,
    include_hidden: bool,
}

/// A row of a result page: the product and its rank, for the cursor.
#[derive(sqlx::FromRow)]
struct Hit {
    #[sqlx(flatten)]
    product: ProductRow,
    exact: bool,
    rank: f32,
    price_amount: i64,
    created_at: OffsetDateTime,
    id: Uuid,
}

fn bad_query(field: &str, message: &str) -> ApiError {
    ApiError::BadRequest {
        detail: format!("The query parameter `{field}` is invalid: {message}."),
        errors: vec![field_error(field, "invalid", message)],
    }
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
    viewer: Viewer,
    Query(query): Query<ProductQuery>,
) -> ApiResult<Json<Page<Product>>> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad_query("limit", &format!("must be 1 to {MAX_LIMIT}")));
    }
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
    let categories = match category {
        Some(slug) => Some(category_tree(&state, slug).await?),
        None => None,
    };
    if categories.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Json(Page::last(Vec::new())));
    }
    let search = Search {
        text,
        categories,
        min_price: query.min_price,
        max_price: query.max_price,
        in_stock: query.in_stock,
        sort,
        limit,
        include_hidden: viewer.admin,
    };
    let (text, hits) = match cursor {
        Some(cursor) => {
            let hits = fetch(&state, &search, cursor.text.as_deref(), Some(cursor.after)).await?;
            (cursor.text, hits)
        }
        None => {
            let hits = fetch(&state, &search, search.text.as_deref(), None).await?;
            match &search.text {
                Some(query) if hits.is_empty() => match correct(&state, query).await? {
                    Some(corrected) => {
                        let hits = fetch(&state, &search, Some(&corrected), None).await?;
                        (Some(corrected), hits)
                    }
                    None => (search.text.clone(), hits),
                },
                _ => (search.text.clone(), hits),
            }
        }
    };
    page(&state, &search, &scope, text, hits).map(Json)
}

/// The query with each word replaced by the most similar word of a product name, or `None`
/// when no word changes (searching again would find nothing again).
async fn correct(state: &AppState, query: &str) -> ApiResult<Option<String>> {
    let words: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT t.term, best.word \
         FROM regexp_split_to_table(lower($1), '[^[:alnum:]]+') WITH ORDINALITY AS t(term, n) \
         LEFT JOIN LATERAL ( \
           SELECT w.word FROM search_words w ORDER BY w.word <-> t.term LIMIT 1 \
         ) best ON length(t.term) >= 3 AND similarity(best.word, t.term) >= $2 \
         WHERE t.term <> '' ORDER BY t.n",
    )
    .bind(query)
    .bind(SIMILARITY_THRESHOLD)
    .fetch_all(&state.db)
    .await?;
    let changed = words
        .iter()
        .any(|(term, best)| best.as_ref().is_some_and(|best| best != term));
    Ok(changed.then(|| {
        words
            .into_iter()
            .map(|(term, best)| best.unwrap_or(term))
            .collect::<Vec<_>>()
            .join(" ")
    }))
}

/// The ids of the category with `slug` and of all categories below it; empty when unknown.
async fn category_tree(state: &AppState, slug: &str) -> ApiResult<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "WITH RECURSIVE tree AS ( \
           SELECT id FROM categories WHERE slug = $1 AND deleted_at IS NULL \
           UNION ALL \
           SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id \
           WHERE c.deleted_at IS NULL \
         ) SELECT id FROM tree",
    )
    .bind(slug)
    .fetch_all(&state.db)
    .await?)
}

/// The sort a search really uses: relevance without a text query means newest first.
fn effective_sort(search: &Search) -> ProductSort {
    match (search.sort, &search.text) {
        (ProductSort::Relevance, None) => ProductSort::Newest,
        (sort, _) => sort,
    }
}

/// One page of hits (plus one, to tell whether another page follows) for `text`.
async fn fetch(
    state: &AppState,
    search: &Search,
    text: Option<&str>,
    after: Option<Position>,
) -> ApiResult<Vec<Hit>> {
    let mut sql = QueryBuilder::<Postgres>::new("SELECT ");
    sql.push(PRODUCT_COLUMNS);
    match text {
        None => sql.push(", false AS exact, 0::real AS rank"),
        Some(_) => {
            sql.push(", lower(p.name) = q.lowered AS exact, ts_rank(p.search, q.query) AS rank")
        }
    };
    sql.push(" FROM products p JOIN inventory i ON i.product_id = p.id");
    if let Some(text) = text {
        sql.push(" CROSS JOIN (SELECT websearch_to_tsquery('english', ")
            .push_bind(text.to_owned())
            .push(") AS query, lower(")
            .push_bind(text.to_owned())
            .push(") AS lowered) q");
    }
    sql.push(" WHERE p.deleted_at IS NULL");
    if !search.include_hidden {
        sql.push(" AND p.active");
    }
    if text.is_some() {
        sql.push(" AND p.search @@ q.query");
    }
    if let Some(categories) = &search.categories {
        sql.push(" AND p.category_id = ANY(")
            .push_bind(categories.clone())
            .push(")");
    }
    if let Some(min) = search.min_price {
        sql.push(" AND p.price_amount >= ").push_bind(min);
    }
    if let Some(max) = search.max_price {
        sql.push(" AND p.price_amount <= ").push_bind(max);
    }
    match search.in_stock {
        Some(true) => sql.push(" AND i.on_hand > i.reserved"),
        Some(false) => sql.push(" AND i.on_hand <= i.reserved"),
        None => &mut sql,
    };
    let sort = effective_sort(search);
    if let Some(after) = after {
        push_keyset(&mut sql, sort, after)?;
    }
    sql.push(match sort {
        ProductSort::PriceAsc => " ORDER BY p.price_amount ASC, p.id ASC",
        ProductSort::PriceDesc => " ORDER BY p.price_amount DESC, p.id DESC",
        ProductSort::Relevance => " ORDER BY exact DESC, rank DESC, p.id DESC",
        ProductSort::Newest => " ORDER BY p.created_at DESC, p.id DESC",
    });
    sql.push(" LIMIT ").push_bind(i64::from(search.limit) + 1);
    Ok(sql.build_query_as::<Hit>().fetch_all(&state.db).await?)
}

/// Only rows strictly after `after` in the sort's order.
fn push_keyset(
    sql: &mut QueryBuilder<Postgres>,
    sort: ProductSort,
    after: Position,
) -> ApiResult<()> {
    match (sort, after) {
        (ProductSort::PriceAsc, Position::Price { amount, id }) => {
            sql.push(" AND (p.price_amount, p.id) > (")
                .push_bind(amount)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        (ProductSort::PriceDesc, Position::Price { amount, id }) => {
            sql.push(" AND (p.price_amount, p.id) < (")
                .push_bind(amount)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        (ProductSort::Newest, Position::Newest { created_us, id }) => {
            let created = OffsetDateTime::from_unix_timestamp_nanos(i128::from(created_us) * 1000)
                .map_err(|_| foreign_cursor())?;
            sql.push(" AND (p.created_at, p.id) < (")
                .push_bind(created)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        (ProductSort::Relevance, Position::Rank { exact, rank, id }) => {
            sql.push(" AND (lower(p.name) = q.lowered, ts_rank(p.search, q.query), p.id) < (")
                .push_bind(exact)
                .push(", ")
                .push_bind(rank)
                .push("::real, ")
                .push_bind(id)
                .push(")");
        }
        _ => return Err(foreign_cursor()),
    }
    Ok(())
}

fn foreign_cursor() -> ApiError {
    bad_query(
        "cursor",
        "is not a cursor this service gave for this search; start from the first page",
    )
}

/// The page, with a cursor after its last row when more rows follow.
fn page(
    state: &AppState,
    search: &Search,
    scope: &[u8],
    text: Option<String>,
    mut hits: Vec<Hit>,
) -> ApiResult<Page<Product>> {
    let more = hits.len() > search.limit as usize;
    hits.truncate(search.limit as usize);
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
