//! The HTTP handlers of categories.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use contracts::catalog::{Category, NewCategory, UpdateCategory};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::identity::Admin;
use kit::{ApiError, ApiResult, Json, Path};
use sqlx::PgConnection;
use uuid::Uuid;

use super::store;
use crate::AppState;
use crate::catalog;
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
    let categories = store::all(&state.db).await?;
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
    store::lock_tree(&mut tx).await?;
    if let Some(parent) = new.parent_id
        && !store::lock_live(&mut tx, parent).await?
    {
        return Err(unknown_parent());
    }
    let category = store::insert(&mut tx, &new).await?;
    tx.commit().await?;
    state.cache.invalidate_categories().await;
    Ok(with_etag(StatusCode::CREATED, category))
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
    store::lock_tree(&mut tx).await?;
    // No row lock needed: `lock_tree` keeps every other category write out until commit.
    let version = store::version(&mut tx, id).await?.ok_or_else(not_found)?;
    versions::check_current(
        "category",
        version,
        Some(update.version),
        matching.as_deref(),
    )?;
    if let Some(Some(parent)) = update.parent_id {
        check_parent(&mut tx, id, parent).await?;
    }
    let category = store::update(&mut tx, id, &update).await?;
    tx.commit().await?;
    state.cache.invalidate_categories().await;
    Ok(with_etag(StatusCode::OK, category))
}

/// Refuses `parent` as the new parent of `id` unless it is live and neither `id` nor one of
/// its descendants. Runs under [`store::lock_tree`], so the tree it walks stays as it is.
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
    let standing = store::parent(tx, id, parent).await?;
    if standing.live != Some(true) {
        return Err(unknown_parent());
    }
    if standing.below {
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
    store::lock_tree(&mut tx).await?;
    // The row lock waits for product writes holding the category (`lock_live`), so the
    // count below sees the products they added.
    let version = store::lock_version(&mut tx, id)
        .await?
        .ok_or_else(not_found)?;
    versions::check_current("category", version, None, matching.as_deref())?;
    let products = catalog::count_in_category(&mut tx, id).await?;
    let children = store::count_children(&mut tx, id).await?;
    if products > 0 || children > 0 {
        return Err(ApiError::conflict(format!(
            "The category is not empty: products {products}, subcategories {children}. \
             Move or delete them first."
        )));
    }
    store::delete(&mut tx, id).await?;
    tx.commit().await?;
    state.cache.invalidate_categories().await;
    Ok(StatusCode::NO_CONTENT)
}
