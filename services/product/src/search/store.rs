//! The search's SQL: the list queries, composed per query shape, and the known words nearest
//! to each word of a query, from the `search_words` lexicon.

use sqlx::{PgConnection, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use contracts::catalog::ProductSort;
use kit::ApiResult;

use super::domain::{QueryWord, Search, effective_sort, foreign_cursor};
use super::pages::CachedPage;
use crate::catalog::{PRODUCT_COLUMNS, ProductRow};
use crate::cursor::Position;

/// How many of the words nearest by trigrams a query word is compared with, edit by edit.
pub(crate) const CANDIDATES: i64 = 32;

/// A query word (the `n`th) and one of the known words nearest to it by trigrams, if any.
#[derive(Debug)]
struct Candidate {
    n: i64,
    term: String,
    word: Option<String>,
    similarity: Option<f32>,
}

/// A row of a result page: the product and its rank, for the cursor. Read by name from the
/// composed queries (`FromRow`), which no checked macro can describe.
#[derive(sqlx::FromRow)]
pub(crate) struct Hit {
    #[sqlx(flatten)]
    pub(crate) product: ProductRow,
    pub(crate) exact: bool,
    pub(crate) rank: f32,
    pub(crate) price_amount: i64,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) id: Uuid,
}

/// A hit of a cached page as read again, with the search generation of the same snapshot.
#[derive(sqlx::FromRow)]
struct Reread {
    #[sqlx(flatten)]
    hit: Hit,
    generation: i64,
}

/// The search generation: it moves on at the commit of every write that can change a result.
pub(crate) async fn generation(db: &mut PgConnection) -> ApiResult<i64> {
    Ok(
        sqlx::query_scalar!("SELECT value FROM search_generation WHERE only_row")
            .fetch_one(db)
            .await?,
    )
}

/// The hits of a cached page as they are now (current stock), or `None` when the search
/// generation moved on since the page was computed. One statement, so the rows and the
/// generation come from the same snapshot; the rows are found by primary key.
pub(crate) async fn reread(
    db: &mut PgConnection,
    page: &CachedPage,
) -> ApiResult<Option<Vec<Hit>>> {
    if page.rows.is_empty() {
        return Ok((generation(db).await? == page.generation).then(Vec::new));
    }
    let ids: Vec<Uuid> = page.rows.iter().map(|row| row.id).collect();
    let exact: Vec<bool> = page.rows.iter().map(|row| row.exact).collect();
    let rank: Vec<f32> = page.rows.iter().map(|row| row.rank).collect();
    let mut sql = QueryBuilder::new("SELECT ");
    sql.push(PRODUCT_COLUMNS)
        .push(
            ", page.exact, page.rank, \
             (SELECT g.value FROM search_generation g WHERE g.only_row) AS generation \
             FROM unnest(",
        )
        .push_bind(ids)
        .push("::uuid[], ")
        .push_bind(exact)
        .push("::boolean[], ")
        .push_bind(rank)
        .push(
            "::real[]) WITH ORDINALITY AS page(id, exact, rank, n) \
             JOIN products p ON p.id = page.id JOIN inventory i ON i.product_id = p.id \
             ORDER BY page.n",
        );
    let rows = sql.build_query_as::<Reread>().fetch_all(db).await?;
    let current =
        rows.len() == page.rows.len() && rows.iter().all(|row| row.generation == page.generation);
    Ok(current.then(|| rows.into_iter().map(|row| row.hit).collect()))
}

/// The words of `query` in order, each with the known words nearest to it by trigrams.
pub(crate) async fn nearest_words(db: &mut PgConnection, query: &str) -> ApiResult<Vec<QueryWord>> {
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
    let mut words: Vec<(i64, QueryWord)> = Vec::new();
    for Candidate {
        n,
        term,
        word,
        similarity,
    } in rows
    {
        if words.last().is_none_or(|(last, _)| *last != n) {
            words.push((
                n,
                QueryWord {
                    term,
                    candidates: Vec::new(),
                },
            ));
        }
        if let (Some((_, last)), Some(word), Some(similarity)) =
            (words.last_mut(), word, similarity)
        {
            last.candidates.push((word, similarity));
        }
    }
    Ok(words.into_iter().map(|(_, word)| word).collect())
}

/// One page of hits (plus one, to tell whether another page follows) for `text`.
pub(crate) async fn fetch(
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
        .push_bind(search.limit.fetch())
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
        .push_bind(search.limit.fetch());
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
