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
//! The lists are read with a [`QueryBuilder`], not a checked macro: each query shape (text or
//! not, which filters, which sort, first page or later) composes its own `WHERE` and
//! `ORDER BY`, so that every shape gets the plan of its index. Their rows are read into the
//! named [`Hit`]. The typo correction's query is fixed, and checked.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use contracts::catalog::{Product, ProductQuery, ProductSort};
use contracts::pagination::{DEFAULT_LIMIT, MAX_LIMIT, Page};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::error::field_error;
use kit::{ApiError, ApiResult, Json, Query};
use serde::Serialize;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::catalog::{PRODUCT_COLUMNS, ProductRow, Viewer};
use crate::categories;
use crate::cursor::{Cursor, InvalidCursor, Position};

/// The product list.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/products", get(list_products))
}

/// Longest text query accepted.
const MAX_QUERY_CHARS: usize = 200;

/// How similar a known word must be to a query word to replace it, as trigram similarity: low
/// enough for a typo or two ("keybaord" scores 0.38 against "keyboard", "keyb" 0.4), high
/// enough to leave unrelated words alone.
const SIMILARITY_THRESHOLD: f32 = 0.3;

/// A query word (the `n`th) and one of the known words nearest to it by trigrams, if any.
#[derive(Debug)]
struct Candidate {
    n: i64,
    term: String,
    word: Option<String>,
    similarity: Option<f32>,
}

/// A known word near a query word, and its trigram similarity.
type Near = (String, f32);

/// How many of the words nearest by trigrams a query word is compared with, edit by edit.
const CANDIDATES: i64 = 32;

/// A validated search.
#[derive(Debug)]
struct Search {
    text: Option<String>,
    categories: Option<Vec<Uuid>>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock: Option<bool>,
    featured: Option<bool>,
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
    featured: Option<bool>,
    sort: ProductSort,
    include_hidden: bool,
}

/// A row of a result page: the product and its rank, for the cursor. Read by name from the
/// composed queries (`FromRow`), which no checked macro can describe.
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
    // One connection for the whole search: a typo takes three queries, and under load each
    // would otherwise wait its turn for the pool again.
    let mut db = state.db.acquire().await?;
    let categories = match category {
        Some(slug) => Some(categories::subtree(&mut db, slug).await?),
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
        featured: query.featured,
        sort,
        limit,
        include_hidden: viewer.admin,
    };
    let (text, hits) = match cursor {
        Some(cursor) => {
            let hits = fetch(&mut db, &search, cursor.text.as_deref(), Some(cursor.after)).await?;
            (cursor.text, hits)
        }
        None => {
            let hits = fetch(&mut db, &search, search.text.as_deref(), None).await?;
            match &search.text {
                Some(query) if hits.is_empty() => match correct(&mut db, query).await? {
                    Some(corrected) => {
                        let hits = fetch(&mut db, &search, Some(&corrected), None).await?;
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

/// The query with each word replaced by the known word it was most likely meant as, or `None`
/// when no word changes (searching again would find nothing again).
///
/// The typo budget is the shop search engines' (Meilisearch, Typesense): a word of 5 to 8
/// letters may be one edit away, a word of 9 or more two, where an edit is a letter added,
/// dropped, changed, or two neighbours swapped (optimal string alignment distance). Trigram
/// similarity alone misses short words with a swap ("seleve" shares 3 of 11 trigrams with
/// "sleeve"), so it only nominates the candidates: the words nearest by trigrams, from the
/// GiST index, of which the fewest edits wins. A word without a candidate in budget (shorter
/// words, truncations like "keyb") takes the most similar word above the similarity threshold,
/// as before.
async fn correct(db: &mut PgConnection, query: &str) -> ApiResult<Option<String>> {
    let rows = sqlx::query_as!(
        Candidate,
        r#"SELECT t.n AS "n!", t.term AS "term!", near.word AS "word?",
             similarity(near.word, t.term) AS "similarity?"
           FROM regexp_split_to_table(lower($1), '[^[:alnum:]]+') WITH ORDINALITY AS t(term, n)
           LEFT JOIN LATERAL (
             SELECT w.word FROM search_words w ORDER BY w.word <-> t.term LIMIT $2
           ) near ON length(t.term) >= 3
           WHERE t.term <> '' ORDER BY t.n, near.word <-> t.term"#,
        query,
        CANDIDATES,
    )
    .fetch_all(db)
    .await?;
    // One row per candidate, in the query's word order, nearest first: grouped back by word.
    let mut words: Vec<(i64, String, Vec<Near>)> = Vec::new();
    for Candidate {
        n,
        term,
        word,
        similarity,
    } in rows
    {
        if words.last().is_none_or(|(last, ..)| *last != n) {
            words.push((n, term, Vec::new()));
        }
        if let (Some((.., candidates)), Some(word), Some(similarity)) =
            (words.last_mut(), word, similarity)
        {
            candidates.push((word, similarity));
        }
    }
    let mut changed = false;
    let corrected: Vec<String> = words
        .into_iter()
        .map(
            |(_, term, candidates)| match best_word(&term, &candidates) {
                Some(best) if best != term => {
                    changed = true;
                    best
                }
                _ => term,
            },
        )
        .collect();
    Ok(changed.then(|| corrected.join(" ")))
}

/// Edits a query word of `letters` letters may be away from the word it was meant as.
fn typo_budget(letters: usize) -> usize {
    match letters {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// The word `term` was meant as among `candidates` (nearest by trigrams first): the fewest
/// edits within the typo budget, else the most similar above the threshold.
fn best_word(term: &str, candidates: &[Near]) -> Option<String> {
    let budget = typo_budget(term.chars().count());
    candidates
        .iter()
        .map(|(word, _)| (strsim::osa_distance(term, word), word))
        .filter(|&(edits, _)| edits <= budget)
        .min_by_key(|&(edits, _)| edits)
        .map(|(_, word)| word)
        .or_else(|| {
            candidates
                .first()
                .filter(|(_, similarity)| *similarity >= SIMILARITY_THRESHOLD)
                .map(|(word, _)| word)
        })
        .cloned()
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
    db: &mut PgConnection,
    search: &Search,
    text: Option<&str>,
    after: Option<Position>,
) -> ApiResult<Vec<Hit>> {
    let mut sql = match text {
        Some(text) => ranked_page(search, text, after)?,
        None => listed_page(search, after)?,
    };
    Ok(sql.build_query_as::<Hit>().fetch_all(db).await?)
}

/// A page of a text search. Ranking needs every match, thousands for a common word, so the
/// query sorts the matches by their sort keys alone and reads full rows and stock for the page
/// only: carrying each match's row and stock through the sort cost several times the ranking.
///
/// ```sql
/// WITH q AS MATERIALIZED (SELECT websearch_to_tsquery('english', $text) AS query)
/// SELECT <product columns>, page.exact, page.rank FROM (
///   SELECT * FROM (
///     SELECT p.id, p.price_amount, p.created_at, <exact> AS exact, <rank> AS rank
///     FROM q JOIN products p ON p.search @@ q.query WHERE <filters> ORDER BY <sort>
///   ) ranked
///   WHERE <after the cursor> AND <in stock> ORDER BY <sort> LIMIT <limit + 1>
/// ) page JOIN products p ON p.id = page.id JOIN inventory i ON i.product_id = p.id
/// ORDER BY <sort>
/// ```
fn ranked_page(
    search: &Search,
    text: &str,
    after: Option<Position>,
) -> ApiResult<QueryBuilder<Postgres>> {
    let sort = effective_sort(search);
    // The tsquery is parsed once, not per row as a generic plan would. Hidden in a CTE, it is
    // also opaque to the planner, which then always takes the GIN index: a sequential scan that
    // tests every product against a common word costs several times a bitmap scan of its
    // matches, and walking the price index for a word nothing contains reads the whole table.
    let mut sql =
        QueryBuilder::new("WITH q AS MATERIALIZED (SELECT websearch_to_tsquery('english', ");
    sql.push_bind(text)
        .push(") AS query) SELECT ")
        .push(PRODUCT_COLUMNS)
        .push(", page.exact, page.rank FROM (SELECT * FROM (")
        .push("SELECT p.id, p.price_amount, p.created_at, ");
    if sort == ProductSort::Relevance {
        // The products named exactly the query are found once, through the lower(name) index,
        // rather than by lowering the name of every match.
        sql.push("p.id IN (SELECT e.id FROM products e WHERE lower(e.name) = lower(")
            .push_bind(text)
            .push(")) AS exact, ts_rank(p.search, q.query) AS rank");
    } else {
        // The other sorts need neither, so no match is ranked.
        sql.push("false AS exact, 0::real AS rank");
    }
    sql.push(" FROM q JOIN products p ON p.search @@ q.query");
    push_filters(&mut sql, search);
    // Sorted in a subquery of its own, so the stock check below runs on the matches in order
    // and stops when the page is full, instead of looking up the stock of every match. Without
    // a stock check the LIMIT still reaches this sort, which then keeps only the best rows.
    sql.push(order_by(sort, "")).push(") ranked");
    let mut glue = " WHERE ";
    if let Some(after) = after {
        // Postgres pushes this down into the scan, so later pages rank each match twice: still
        // cheaper than materializing the ranked matches (1.6 ms against 4 ms for 14,000).
        sql.push(glue);
        push_keyset(&mut sql, "ranked.", sort, after)?;
        glue = " AND ";
    }
    if let Some(in_stock) = search.in_stock {
        // A scalar subquery, not EXISTS: the planner would turn EXISTS into a join and look up
        // the stock of every match before sorting.
        sql.push(glue).push(if in_stock {
            "(SELECT i.on_hand > i.reserved FROM inventory i WHERE i.product_id = ranked.id)"
        } else {
            "(SELECT i.on_hand <= i.reserved FROM inventory i WHERE i.product_id = ranked.id)"
        });
    }
    sql.push(order_by(sort, "ranked."))
        .push(" LIMIT ")
        .push_bind(i64::from(search.limit) + 1)
        .push(") page JOIN products p ON p.id = page.id JOIN inventory i ON i.product_id = p.id")
        .push(order_by(sort, "page."));
    Ok(sql)
}

/// A page of a list without text: the indexes on price and creation time give the rows in
/// order, so the scan stops after the page.
fn listed_page(search: &Search, after: Option<Position>) -> ApiResult<QueryBuilder<Postgres>> {
    let sort = effective_sort(search);
    let mut sql = QueryBuilder::new("SELECT ");
    sql.push(PRODUCT_COLUMNS).push(
        ", false AS exact, 0::real AS rank FROM products p JOIN inventory i ON i.product_id = p.id",
    );
    push_filters(&mut sql, search);
    match search.in_stock {
        Some(true) => sql.push(" AND i.on_hand > i.reserved"),
        Some(false) => sql.push(" AND i.on_hand <= i.reserved"),
        None => &mut sql,
    };
    if let Some(after) = after {
        sql.push(" AND ");
        push_keyset(&mut sql, "p.", sort, after)?;
    }
    sql.push(order_by(sort, "p."))
        .push(" LIMIT ")
        .push_bind(i64::from(search.limit) + 1);
    Ok(sql)
}

/// `WHERE` with the visibility, category, featured and price filters on products `p`.
fn push_filters(sql: &mut QueryBuilder<Postgres>, search: &Search) {
    sql.push(" WHERE p.deleted_at IS NULL");
    if !search.include_hidden {
        sql.push(" AND p.active");
    }
    if let Some(categories) = &search.categories {
        sql.push(" AND p.category_id = ANY(")
            .push_bind(categories.clone())
            .push(")");
    }
    if let Some(featured) = search.featured {
        // `p.featured` as the partial index `products_featured_idx` spells it, so the few
        // featured rows are found through it rather than by a scan of the catalog.
        sql.push(if featured {
            " AND p.featured"
        } else {
            " AND NOT p.featured"
        });
    }
    if let Some(min) = search.min_price {
        sql.push(" AND p.price_amount >= ").push_bind(min);
    }
    if let Some(max) = search.max_price {
        sql.push(" AND p.price_amount <= ").push_bind(max);
    }
}

/// The sort's `ORDER BY` over the sort keys `id`, `price_amount`, `created_at`, and for
/// relevance `exact` and `rank`, each name prefixed with `row` (`"page."`, or `""` for the
/// columns of the query's own select list).
fn order_by(sort: ProductSort, row: &str) -> String {
    match sort {
        ProductSort::PriceAsc => format!(" ORDER BY {row}price_amount ASC, {row}id ASC"),
        ProductSort::PriceDesc => format!(" ORDER BY {row}price_amount DESC, {row}id DESC"),
        ProductSort::Relevance => {
            format!(" ORDER BY {row}exact DESC, {row}rank DESC, {row}id DESC")
        }
        ProductSort::Newest => format!(" ORDER BY {row}created_at DESC, {row}id DESC"),
    }
}

/// The condition that a row (its sort keys prefixed with `row`) comes strictly after `after` in
/// the sort's order.
fn push_keyset(
    sql: &mut QueryBuilder<Postgres>,
    row: &str,
    sort: ProductSort,
    after: Position,
) -> ApiResult<()> {
    match (sort, after) {
        (ProductSort::PriceAsc, Position::Price { amount, id }) => {
            sql.push(format!("({row}price_amount, {row}id) > ("))
                .push_bind(amount)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        (ProductSort::PriceDesc, Position::Price { amount, id }) => {
            sql.push(format!("({row}price_amount, {row}id) < ("))
                .push_bind(amount)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        (ProductSort::Newest, Position::Newest { created_us, id }) => {
            let created = OffsetDateTime::from_unix_timestamp_nanos(i128::from(created_us) * 1000)
                .map_err(|_| foreign_cursor())?;
            sql.push(format!("({row}created_at, {row}id) < ("))
                .push_bind(created)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        (ProductSort::Relevance, Position::Rank { exact, rank, id }) => {
            sql.push(format!("({row}exact, {row}rank, {row}id) < ("))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(words: &[(&str, f32)]) -> Vec<Near> {
        words.iter().map(|&(w, s)| (w.to_owned(), s)).collect()
    }

    #[test]
    fn one_typo_in_five_to_eight_letters_a_swap_included() {
        // "sleeve" is not the nearest by trigrams, and below the similarity threshold.
        let near = candidates(&[("select", 0.3), ("sleeve", 0.27), ("sleek", 0.2)]);
        assert_eq!(best_word("seleve", &near).as_deref(), Some("sleeve"));
        let near = candidates(&[("keyboard", 0.38)]);
        assert_eq!(best_word("keybaord", &near).as_deref(), Some("keyboard"));
        // Two edits in six letters are over the budget, and not similar enough either.
        let near = candidates(&[("sleeve", 0.1)]);
        assert_eq!(best_word("slaevx", &near), None);
    }

    #[test]
    fn two_typos_from_nine_letters() {
        let near = candidates(&[("headphone", 0.2), ("headphones", 0.25)]);
        assert_eq!(
            best_word("haedphoens", &near).as_deref(),
            Some("headphones")
        );
        let near = candidates(&[("headset", 0.1)]);
        assert_eq!(best_word("haedphoens", &near), None);
    }

    #[test]
    fn the_fewest_edits_win_and_the_nearest_breaks_ties() {
        let near = candidates(&[("mouser", 0.5), ("mouse", 0.4), ("moose", 0.3)]);
        assert_eq!(best_word("mouse", &near).as_deref(), Some("mouse"));
        let near = candidates(&[("cable", 0.4), ("table", 0.4)]);
        assert_eq!(best_word("gable", &near).as_deref(), Some("cable"));
    }

    #[test]
    fn short_words_and_truncations_take_the_most_similar_above_the_threshold() {
        assert_eq!(typo_budget(4), 0);
        assert_eq!(typo_budget(5), 1);
        assert_eq!(typo_budget(8), 1);
        assert_eq!(typo_budget(9), 2);
        let near = candidates(&[("mouse", 0.375)]);
        assert_eq!(best_word("mose", &near).as_deref(), Some("mouse"));
        let near = candidates(&[("keyboard", 0.4)]);
        assert_eq!(best_word("keyb", &near).as_deref(), Some("keyboard"));
        let near = candidates(&[("mouse", 0.2)]);
        assert_eq!(best_word("zzzz", &near), None);
    }
}
