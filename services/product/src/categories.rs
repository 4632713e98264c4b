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

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use contracts::catalog::{Category, NewCategory, UpdateCategory};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::identity::Admin;
use kit::{ApiError, ApiResult, Json, Path, ResultExt};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::AppState;
use crate::catalog::taken;
use crate::fields;
use crate::versions::{self, Versioned, with_etag};

fn not_found() -> ApiError {
    ApiError::NotFound("There is no such category.".to_owned())
}

fn unknown_parent() -> ApiError {
    ApiError::invalid("parent_id", "unknown", "there is no such category")
}

/// Every category, by name.
#[utoipa::path(
    get,
    path = "/api/v1/categories",
    tag = "catalog",
    responses((status = 200, description = "The categories", body = Vec<Category>))
)]
pub(crate) async fn list_categories(
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<Category>>> {
    all(&state).await.map(Json)
}

/// Every live category, by name, through the cache.
pub(crate) async fn all(state: &AppState) -> ApiResult<Vec<Category>> {
    if let Some(categories) = state.cache.categories::<Vec<Category>>().await {
        return Ok(categories);
    }
    let categories = load_categories(&state.db).await?;
    state.cache.put_categories(&categories).await;
    Ok(categories)
}

/// A category's version validates its own fields and its place in the tree, not which
/// products are listed under it: products come and go without a new category version.
impl Versioned for Category {
    fn version(&self) -> i64 {
        self.version
    }
}

/// The columns a [`CategoryRow`] reads.
const CATEGORY_COLUMNS: &str = "id, slug, name, parent_id, version";

type CategoryRow = (Uuid, String, String, Option<Uuid>, i64);

fn category((id, slug, name, parent_id, version): CategoryRow) -> Category {
    Category {
        id,
        slug,
        name,
        parent_id,
        version,
    }
}

/// Every live category, from Postgres.
async fn load_categories(db: &PgPool) -> Result<Vec<Category>, sqlx::Error> {
    let rows: Vec<CategoryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CATEGORY_COLUMNS} FROM categories WHERE deleted_at IS NULL ORDER BY name, id"
    )))
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(category).collect())
}

/// Makes category writes take turns. A move is checked against the whole tree, and two moves
/// that are each fine alone can close a cycle together; a deletion checks for subcategories
/// that a concurrent create could add. `SHARE ROW EXCLUSIVE` excludes itself and every other
/// write to the table, but not reads nor the row locks product writes take. Category edits
/// are rare admin actions, so waiting in line costs nothing.
pub(crate) async fn lock_tree(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("LOCK TABLE categories IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Whether `id` is a live category, holding it so until the transaction ends: `FOR SHARE`
/// makes a concurrent deletion wait for this transaction, and a deletion that came first
/// makes this answer `false`.
pub(crate) async fn lock_live(tx: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM categories WHERE id = $1 AND deleted_at IS NULL FOR SHARE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(found.is_some())
}

/// Create a category
///
/// Answered with the category and its `ETag`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/categories",
    tag = "catalog admin",
    request_body = NewCategory,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Category,
            headers(("ETag" = String, description = "The version, quoted: \"1\""))),
        (status = 409, description = "The slug is taken", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is invalid, or the parent does not exist", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn create_category(
    State(state): State<AppState>,
    _admin: Admin,
    Json(new): Json<NewCategory>,
) -> ApiResult<Response> {
    let errors = fields::check_new_category(&new);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = state.db.begin().await?;
    lock_tree(&mut tx).await?;
    if let Some(parent) = new.parent_id
        && !lock_live(&mut tx, parent).await?
    {
        return Err(unknown_parent());
    }
    let row: CategoryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO categories (id, slug, name, parent_id) VALUES ($1, $2, $3, $4) \
         RETURNING {CATEGORY_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(&new.slug)
    .bind(&new.name)
    .bind(new.parent_id)
    .fetch_one(&mut *tx)
    .await
    .on_constraint("categories_slug_key", |_| taken("slug", "category"))?;
    tx.commit().await?;
    state.cache.invalidate_categories().await;
    Ok(with_etag(StatusCode::CREATED, category(row)))
}

/// Change a category
///
/// Absent fields stay as they are; `"parent_id": null` makes the category top-level. The new
/// parent must be a live category that is not this one nor below it. Optimistic concurrency:
/// `version` in the body, and `If-Match` when sent, must name the current version, or the
/// write answers 412 and changes nothing.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/categories/{id}",
    tag = "catalog admin",
    request_body = UpdateCategory,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The category's id"),
        ("If-Match" = Option<String>, Header, description = "The version read, quoted: \"3\""),
    ),
    responses(
        (status = 200, description = "The changed category", body = Category,
            headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 400, description = "If-Match is malformed", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such category", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The slug is taken", body = Problem, content_type = PROBLEM_JSON),
        (status = 412, description = "The category changed since it was read", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is invalid, or the parent does not exist or would make a cycle", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn update_category(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(update): Json<UpdateCategory>,
) -> ApiResult<Response> {
    let matching = versions::if_match(&headers)?;
    let errors = fields::check_category_update(&update);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = state.db.begin().await?;
    lock_tree(&mut tx).await?;
    // No row lock needed: `lock_tree` keeps every other category write out until commit.
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM categories WHERE id = $1 AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let version = version.ok_or_else(not_found)?;
    versions::check_current(
        "category",
        version,
        Some(update.version),
        matching.as_deref(),
    )?;
    if let Some(Some(parent)) = update.parent_id {
        check_parent(&mut tx, id, parent).await?;
    }
    let row: CategoryRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE categories SET slug = COALESCE($2, slug), name = COALESCE($3, name), \
           parent_id = CASE WHEN $4 THEN $5 ELSE parent_id END, version = version + 1 \
         WHERE id = $1 RETURNING {CATEGORY_COLUMNS}"
    )))
    .bind(id)
    .bind(&update.slug)
    .bind(&update.name)
    .bind(update.parent_id.is_some())
    .bind(update.parent_id.flatten())
    .fetch_one(&mut *tx)
    .await
    .on_constraint("categories_slug_key", |_| taken("slug", "category"))?;
    tx.commit().await?;
    state.cache.invalidate_categories().await;
    Ok(with_etag(StatusCode::OK, category(row)))
}

/// Refuses `parent` as the new parent of `id` unless it is live and neither `id` nor one of
/// its descendants. Runs under [`lock_tree`], so the tree it walks stays as it is.
async fn check_parent(tx: &mut PgConnection, id: Uuid, parent: Uuid) -> ApiResult<()> {
    let cycle = || {
        ApiError::invalid(
            "parent_id",
            "cycle",
            "must not be the category itself or one of its subcategories",
        )
    };
    if parent == id {
        return Err(cycle());
    }
    // The parent's ancestors, up to the root; UNION (not ALL) stops at a repeated row.
    let (live, below): (Option<bool>, bool) = sqlx::query_as(
        "WITH RECURSIVE up AS ( \
           SELECT id, parent_id FROM categories WHERE id = $1 \
           UNION \
           SELECT c.id, c.parent_id FROM categories c JOIN up ON c.id = up.parent_id \
         ) SELECT (SELECT deleted_at IS NULL FROM categories WHERE id = $1), \
                  EXISTS (SELECT 1 FROM up WHERE id = $2)",
    )
    .bind(parent)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if live != Some(true) {
        return Err(unknown_parent());
    }
    if below {
        return Err(cycle());
    }
    Ok(())
}

/// Delete a category
///
/// Only an empty category can be deleted: move or delete its products and subcategories
/// first. Its slug is free for a new category. `If-Match`, when sent, must name the current
/// version.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/categories/{id}",
    tag = "catalog admin",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The category's id"),
        ("If-Match" = Option<String>, Header, description = "The version read, quoted: \"3\""),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "If-Match is malformed", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such category", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The category still has products or subcategories", body = Problem, content_type = PROBLEM_JSON),
        (status = 412, description = "The category changed since it was read", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn delete_category(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let matching = versions::if_match(&headers)?;
    let mut tx = state.db.begin().await?;
    lock_tree(&mut tx).await?;
    // The row lock waits for product writes holding the category (`lock_live`), so the
    // count below sees the products they added.
    let version: Option<i64> = sqlx::query_scalar(
        "SELECT version FROM categories WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let version = version.ok_or_else(not_found)?;
    versions::check_current("category", version, None, matching.as_deref())?;
    let (products, children): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM products WHERE category_id = $1 AND deleted_at IS NULL), \
                (SELECT count(*) FROM categories WHERE parent_id = $1 AND deleted_at IS NULL)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if products > 0 || children > 0 {
        return Err(ApiError::conflict(format!(
            "The category is not empty: products {products}, subcategories {children}. \
             Move or delete them first."
        )));
    }
    sqlx::query("UPDATE categories SET deleted_at = now(), version = version + 1 WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    state.cache.invalidate_categories().await;
    Ok(StatusCode::NO_CONTENT)
}
