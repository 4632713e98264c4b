//! The order endpoints: the customer's own orders, and every order for admins.

use axum::extract::State;
use contracts::orders::{AdminOrderQuery, Order, OrderStatus, StatusChange};
use contracts::pagination::{MAX_LIMIT, Page, PageLimit, PageQuery};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::error::field_error;
use kit::identity::{Admin, Identity};
use kit::{ApiError, ApiResult, Json, Path, Query};
use sqlx::PgPool;
use uuid::Uuid;

use super::domain::{Filter, not_found};
use super::lifecycle::{advance, cancel};
use super::store;
use crate::AppState;

/// The caller's orders, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "orders",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the caller's orders", body = Page<Order>),
        (status = 400, description = "The limit is out of range or the cursor is malformed", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn list_own(
    State(state): State<AppState>,
    identity: Identity,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<Order>>> {
    let filter = Filter {
        user_id: Some(identity.user_id),
        ..Filter::default()
    };
    list(&state.pool, &filter, query.limit, query.cursor.as_deref())
        .await
        .map(Json)
}

/// One of the caller's orders; someone else's is a 404.
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = Order),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such order of the caller's", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn get_own(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Order>> {
    match store::load(&state.pool, id).await? {
        Some(order) if order.user_id == identity.user_id => Ok(Json(order)),
        _ => Err(not_found(id)),
    }
}

/// Cancel one of the caller's orders while it is pending or paid (a paid one is refunded).
#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/cancel",
    tag = "orders",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The cancelled order (a paid one is refunded)", body = Order),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such order of the caller's", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The order can no longer be cancelled", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn cancel_own(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Order>> {
    cancel(&state, id, Some(identity.user_id)).await.map(Json)
}

/// Every order, newest first, a page at a time; `status` keeps those in that status.
#[utoipa::path(
    get,
    path = "/api/v1/admin/orders",
    tag = "orders admin",
    security(("bearer" = [])),
    params(AdminOrderQuery),
    responses(
        (status = 200, description = "A page of orders", body = Page<Order>),
        (status = 400, description = "The limit is out of range, or the cursor or status is malformed", body = Problem, content_type = PROBLEM_JSON),
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn list_all(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<AdminOrderQuery>,
) -> ApiResult<Json<Page<Order>>> {
    let filter = Filter {
        status: query.status,
        ..Filter::default()
    };
    list(&state.pool, &filter, query.limit, query.cursor.as_deref())
        .await
        .map(Json)
}

/// Ship, deliver or cancel an order (admins only).
///
/// `paid` and `payment_failed` are outcomes of a payment, so only checkout sets them.
#[utoipa::path(
    post,
    path = "/api/v1/admin/orders/{id}/status",
    tag = "orders admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The order's id")),
    request_body = StatusChange,
    responses(
        (status = 200, description = "The order in its new status", body = Order),
        (status = 403, description = "Not an admin", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such order", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The lifecycle forbids the move, or only checkout sets that status", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "The status is unknown", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn change_status(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<Uuid>,
    Json(change): Json<StatusChange>,
) -> ApiResult<Json<Order>> {
    let order = match change.status {
        OrderStatus::Cancelled => cancel(&state, id, None).await?,
        OrderStatus::Shipped | OrderStatus::Delivered => advance(&state, id, change.status).await?,
        OrderStatus::Pending | OrderStatus::Paid | OrderStatus::PaymentFailed => {
            return Err(ApiError::Conflict {
                detail: format!("Only checkout moves an order to {}.", change.status),
                errors: vec![field_error(
                    "status",
                    "not_allowed",
                    "an admin may set shipped, delivered or cancelled",
                )],
            });
        }
    };
    Ok(Json(order))
}

/// One page of orders, newest first. The cursor is the id of the last order of the previous
/// page: ids are UUIDv7, ordered by creation time.
async fn list(
    pool: &PgPool,
    filter: &Filter,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> ApiResult<Page<Order>> {
    let limit = PageLimit::from_query(limit).map_err(|error| ApiError::BadRequest {
        detail: format!("The query parameter `limit` must be 1 to {MAX_LIMIT}."),
        errors: vec![field_error("limit", "range", error.to_string())],
    })?;
    let after = cursor
        .map(|c| {
            c.parse::<Uuid>().map_err(|_| ApiError::BadRequest {
                detail: "The query parameter `cursor` is not a cursor this service issued."
                    .to_owned(),
                errors: vec![field_error("cursor", "invalid", "not a valid cursor")],
            })
        })
        .transpose()?;
    let mut rows = store::list(pool, filter, after, limit.fetch()).await?;
    let page = usize::try_from(limit.get()).map_err(anyhow::Error::from)?;
    let more = rows.len() > page;
    rows.truncate(page);
    let next_cursor = more
        .then(|| rows.last().map(|row| row.id.to_string()))
        .flatten();
    Ok(Page {
        items: store::assemble(pool, rows).await?,
        next_cursor,
    })
}
