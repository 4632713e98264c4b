//! Orders: their tables, their lifecycle, and the customer's and admin's order endpoints.
//!
//! An order only moves along [`OrderStatus::can_transition_to`]. Every move is a conditional
//! update (`... WHERE status = <the status it was read in>`, under a row lock), in one
//! transaction with the event it causes, so two concurrent moves cannot both win and an event
//! exists exactly when its change does. An illegal move answers 409.
//!
//! Cancelling (the customer's own pending or paid order, or any such order by an admin)
//! refunds a paid order through the payment provider while the order's row is locked, then
//! releases its stock: over HTTP right away, and through the `order.cancelled` event, which
//! the product service also acts on (both are idempotent), so the stock comes back even if the
//! product service is down at that moment.

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use contracts::events::{EventLine, OrderEventKind};
use contracts::money::{Currency, Money};
use contracts::orders::{
    AdminOrderQuery, Order, OrderLine, OrderStatus, PaymentStatus, PaymentSummary, ShippingAddress,
    StatusChange, Totals,
};
use contracts::pagination::{DEFAULT_LIMIT, MAX_LIMIT, Page, PageQuery};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::error::field_error;
use kit::identity::{Admin, Identity};
use kit::{ApiError, ApiResult, Json, Path, Query};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::catalog_client::Release;
use crate::outbox;
use crate::payments;
use crate::pricing::PricedLine;

/// The order and payment columns every read selects, followed by `rest`.
macro_rules! select_orders {
    ($rest:literal) => {
        concat!(
            "SELECT o.id, o.user_id, o.status, o.currency, o.subtotal, o.tax, o.shipping, o.total,
                    o.shipping_address, o.created_at, o.updated_at,
                    p.card_last4, p.card_brand, p.status AS payment_status
             FROM orders o JOIN payments p ON p.order_id = o.id ",
            $rest
        )
    };
}

/// The order endpoints.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orders", get(list_own))
        .route("/api/v1/orders/{id}", get(get_own))
        .route("/api/v1/orders/{id}/cancel", post(cancel_own))
        .route("/api/v1/admin/orders", get(list_all))
        .route("/api/v1/admin/orders/{id}/status", post(change_status))
}

/// The caller's orders, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "orders",
    security(("bearer" = [])),
    // Listed one by one: `PageQuery` does not say its fields are query parameters.
    params(
        ("limit" = Option<u32>, Query, description = "The page size, 1 to 100; 20 when absent"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
    ),
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
        status: None,
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
    match load(&state.pool, id).await? {
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
    // Listed one by one: `AdminOrderQuery` does not say its fields are query parameters.
    params(
        ("status" = Option<OrderStatus>, Query, description = "Only orders in this status"),
        ("limit" = Option<u32>, Query, description = "The page size, 1 to 100; 20 when absent"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
    ),
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
        user_id: None,
        status: query.status,
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

fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("Order {id} does not exist."))
}

fn illegal(from: OrderStatus, to: OrderStatus) -> ApiError {
    ApiError::Conflict {
        detail: format!("An order that is {from} cannot become {to}."),
        errors: vec![field_error(
            "status",
            "illegal_transition",
            format!("{from} cannot move to {to}"),
        )],
    }
}

/// Moves an order to `shipped` or `delivered`; shipping publishes `order.shipped`.
async fn advance(state: &AppState, id: Uuid, to: OrderStatus) -> ApiResult<Order> {
    let mut tx = state.pool.begin().await?;
    let (from, user_id) = lock(&mut tx, id).await?;
    if !from.can_transition_to(to) {
        return Err(illegal(from, to));
    }
    set_status(&mut tx, id, to).await?;
    if to == OrderStatus::Shipped {
        let lines = event_lines(&mut tx, id).await?;
        outbox::enqueue(&mut tx, OrderEventKind::Shipped, id, user_id, lines).await?;
    }
    tx.commit().await?;
    state.outbox.notify();
    load(&state.pool, id).await?.ok_or_else(|| not_found(id))
}

/// Cancels a pending or paid order: refunds it when paid, releases its stock. With `owner`,
/// only that user's order can be cancelled (another's is a 404).
pub async fn cancel(state: &AppState, id: Uuid, owner: Option<Uuid>) -> ApiResult<Order> {
    let mut tx = state.pool.begin().await?;
    let (from, user_id) = lock(&mut tx, id).await?;
    if owner.is_some_and(|owner| owner != user_id) {
        return Err(not_found(id));
    }
    if !from.can_transition_to(OrderStatus::Cancelled) {
        return Err(illegal(from, OrderStatus::Cancelled));
    }
    let payment = if from == OrderStatus::Paid {
        let (payment_id, amount, currency): (Option<String>, i64, String) = sqlx::query_as(
            "SELECT provider_payment_id, amount, currency FROM payments WHERE order_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let payment_id = payment_id
            .ok_or_else(|| anyhow::anyhow!("paid order {id} has no provider payment id"))?;
        let amount = Money::new(amount, parse_currency(&currency)?);
        // The row stays locked while the provider refunds, so nothing else moves the order
        // meanwhile; a failed refund rolls everything back and the customer may retry.
        payments::within(
            state.checkout.payment_timeout,
            state.payments.refund(&payment_id, amount),
        )
        .await
        .map_err(|error| {
            tracing::warn!(%error, order_id = %id, "refund failed");
            ApiError::unavailable("payment provider")
        })?;
        PaymentStatus::Refunded
    } else {
        PaymentStatus::Voided
    };
    set_status(&mut tx, id, OrderStatus::Cancelled).await?;
    set_payment(&mut tx, id, payment, None, None).await?;
    let lines = event_lines(&mut tx, id).await?;
    outbox::enqueue(&mut tx, OrderEventKind::Cancelled, id, user_id, lines).await?;
    tx.commit().await?;
    state.outbox.notify();
    release_stock(state, id).await;
    load(&state.pool, id).await?.ok_or_else(|| not_found(id))
}

/// Gives an order's stock back right away. When the product service cannot be reached the
/// `order.cancelled` event (already committed) releases it later, so a failure is only logged.
pub(crate) async fn release_stock(state: &AppState, id: Uuid) {
    match state.catalog.release(id).await {
        Ok(Release::Released(_) | Release::NothingHeld) => {}
        Err(error) => {
            tracing::warn!(%error, order_id = %id, "stock not released now; the order.cancelled event will release it");
        }
    }
}

/// Locks an order's row; answers its status and owner, or 404.
async fn lock(tx: &mut PgConnection, id: Uuid) -> ApiResult<(OrderStatus, Uuid)> {
    let row: Option<(String, Uuid)> =
        sqlx::query_as("SELECT status, user_id FROM orders WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let (status, user_id) = row.ok_or_else(|| not_found(id))?;
    Ok((parse_status(&status)?, user_id))
}

async fn set_status(tx: &mut PgConnection, id: Uuid, to: OrderStatus) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE orders SET status = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(to.as_str())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn set_payment(
    tx: &mut PgConnection,
    id: Uuid,
    status: PaymentStatus,
    provider_payment_id: Option<&str>,
    failure_reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = $2,
                provider_payment_id = COALESCE($3, provider_payment_id),
                failure_reason = COALESCE($4, failure_reason),
                updated_at = now()
         WHERE order_id = $1",
    )
    .bind(id)
    .bind(payment_status_str(status))
    .bind(provider_payment_id)
    .bind(failure_reason)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The products and quantities of an order, for its events.
async fn event_lines(tx: &mut PgConnection, id: Uuid) -> Result<Vec<EventLine>, sqlx::Error> {
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT product_id, quantity FROM order_lines WHERE order_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(product_id, quantity)| EventLine {
            product_id,
            quantity: u32::try_from(quantity).unwrap_or_default(),
        })
        .collect())
}

/// A new order, as checkout builds it.
#[derive(Debug, Clone)]
pub(crate) struct NewOrder {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) lines: Vec<PricedLine>,
    pub(crate) totals: Totals,
    pub(crate) shipping_address: ShippingAddress,
    pub(crate) card_last4: String,
    pub(crate) card_brand: Option<&'static str>,
    pub(crate) provider: &'static str,
}

/// Creates a `pending` order with its lines, its pending payment and its `order.placed` event.
#[tracing::instrument(
    name = "INSERT orders",
    skip_all,
    fields(
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = "INSERT",
        db.collection.name = "orders",
    )
)]
pub(crate) async fn insert_pending(state: &AppState, order: &NewOrder) -> ApiResult<()> {
    let mut tx = state.pool.begin().await?;
    let totals = &order.totals;
    sqlx::query(
        "INSERT INTO orders (id, user_id, status, currency, subtotal, tax, shipping, total,
                             shipping_address)
         VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8)",
    )
    .bind(order.id)
    .bind(order.user_id)
    .bind(totals.total.currency.as_str())
    .bind(totals.subtotal.amount)
    .bind(totals.tax.amount)
    .bind(totals.shipping.amount)
    .bind(totals.total.amount)
    .bind(sqlx::types::Json(&order.shipping_address))
    .execute(&mut *tx)
    .await?;
    let mut lines = QueryBuilder::<Postgres>::new(
        "INSERT INTO order_lines (order_id, position, product_id, sku, name, unit_price, quantity,
                                  line_total) ",
    );
    lines.push_values(
        order.lines.iter().enumerate(),
        |mut row, (position, line)| {
            row.push_bind(order.id)
                .push_bind(i32::try_from(position).unwrap_or(i32::MAX))
                .push_bind(line.product.product_id)
                .push_bind(line.product.sku.clone())
                .push_bind(line.product.name.clone())
                .push_bind(line.product.price.amount)
                .push_bind(i32::try_from(line.quantity).unwrap_or(i32::MAX))
                .push_bind(line.line_total.amount);
        },
    );
    lines.build().execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO payments (order_id, provider, status, amount, currency, card_last4, card_brand)
         VALUES ($1, $2, 'pending', $3, $4, $5, $6)",
    )
    .bind(order.id)
    .bind(order.provider)
    .bind(totals.total.amount)
    .bind(totals.total.currency.as_str())
    .bind(&order.card_last4)
    .bind(order.card_brand)
    .execute(&mut *tx)
    .await?;
    let event_lines = order
        .lines
        .iter()
        .map(|line| EventLine {
            product_id: line.product.product_id,
            quantity: line.quantity,
        })
        .collect();
    outbox::enqueue(
        &mut tx,
        OrderEventKind::Placed,
        order.id,
        order.user_id,
        event_lines,
    )
    .await?;
    tx.commit().await?;
    state.outbox.notify();
    Ok(())
}

/// Records a successful payment: the order becomes `paid`, `order.paid` is written, and the
/// bought products leave the cart. Fails with 409 when the order is no longer pending (it was
/// cancelled or expired meanwhile).
#[tracing::instrument(
    name = "UPDATE orders",
    skip_all,
    fields(
        otel.kind = "client",
        db.system.name = "postgresql",
        db.operation.name = "UPDATE",
        db.collection.name = "orders",
    )
)]
pub(crate) async fn mark_paid(
    state: &AppState,
    id: Uuid,
    user_id: Uuid,
    provider_payment_id: &str,
) -> ApiResult<Order> {
    let mut tx = state.pool.begin().await?;
    let moved = sqlx::query(
        "UPDATE orders SET status = 'paid', updated_at = now() WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Err(ApiError::conflict(format!(
            "Order {id} was cancelled while it was being paid; the payment is refunded."
        )));
    }
    set_payment(
        &mut tx,
        id,
        PaymentStatus::Succeeded,
        Some(provider_payment_id),
        None,
    )
    .await?;
    let lines = event_lines(&mut tx, id).await?;
    let products: Vec<Uuid> = lines.iter().map(|line| line.product_id).collect();
    outbox::enqueue(&mut tx, OrderEventKind::Paid, id, user_id, lines).await?;
    sqlx::query("DELETE FROM cart_items WHERE user_id = $1 AND product_id = ANY($2)")
        .bind(user_id)
        .bind(&products)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    state.outbox.notify();
    load(&state.pool, id).await?.ok_or_else(|| not_found(id))
}

/// Ends a pending order that will not be paid: `to` is `cancelled` or `payment_failed`, the
/// payment becomes `payment` (with `reason`, and the provider's id of a charge that was made
/// and refunded), and `order.cancelled` is written so the product service releases whatever it
/// holds. Returns false when the order was no longer pending.
pub(crate) async fn end_unpaid(
    state: &AppState,
    id: Uuid,
    to: OrderStatus,
    payment: PaymentStatus,
    provider_payment_id: Option<&str>,
    reason: &str,
) -> ApiResult<bool> {
    let mut tx = state.pool.begin().await?;
    let user_id: Option<Uuid> = sqlx::query_scalar(
        "UPDATE orders SET status = $2, updated_at = now()
         WHERE id = $1 AND status = 'pending' RETURNING user_id",
    )
    .bind(id)
    .bind(to.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user_id else {
        return Ok(false);
    };
    set_payment(&mut tx, id, payment, provider_payment_id, Some(reason)).await?;
    let lines = event_lines(&mut tx, id).await?;
    outbox::enqueue(&mut tx, OrderEventKind::Cancelled, id, user_id, lines).await?;
    tx.commit().await?;
    state.outbox.notify();
    Ok(true)
}

/// Cancels pending orders created more than `older_than` ago — their checkout crashed or a
/// dependency failed half-way — and releases their stock. Returns how many were cancelled.
pub async fn expire_pending(state: &AppState, older_than: std::time::Duration) -> ApiResult<usize> {
    const BATCH: i64 = 100;
    let mut expired = 0;
    loop {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM orders
             WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1)
             ORDER BY created_at LIMIT $2",
        )
        .bind(older_than.as_secs_f64())
        .bind(BATCH)
        .fetch_all(&state.pool)
        .await?;
        for &id in &ids {
            if end_unpaid(
                state,
                id,
                OrderStatus::Cancelled,
                PaymentStatus::Voided,
                None,
                "expired",
            )
            .await?
            {
                tracing::info!(order_id = %id, "expired a pending order");
                release_stock(state, id).await;
                expired += 1;
            }
        }
        if ids.len() < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            return Ok(expired);
        }
    }
}

/// Which orders a list shows.
#[derive(Debug, Clone, Copy)]
struct Filter {
    user_id: Option<Uuid>,
    status: Option<OrderStatus>,
}

/// One page of orders, newest first. The cursor is the id of the last order of the previous
/// page: ids are UUIDv7, ordered by creation time.
async fn list(
    pool: &PgPool,
    filter: &Filter,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> ApiResult<Page<Order>> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest {
            detail: format!("The query parameter `limit` must be 1 to {MAX_LIMIT}."),
            errors: vec![field_error(
                "limit",
                "range",
                format!("must be 1 to {MAX_LIMIT}"),
            )],
        });
    }
    let after = cursor
        .map(|c| {
            c.parse::<Uuid>().map_err(|_| ApiError::BadRequest {
                detail: "The query parameter `cursor` is not a cursor this service issued."
                    .to_owned(),
                errors: vec![field_error("cursor", "invalid", "not a valid cursor")],
            })
        })
        .transpose()?;
    let mut query = QueryBuilder::<Postgres>::new(select_orders!("WHERE true"));
    if let Some(user_id) = filter.user_id {
        query.push(" AND o.user_id = ").push_bind(user_id);
    }
    if let Some(status) = filter.status {
        query.push(" AND o.status = ").push_bind(status.as_str());
    }
    if let Some(after) = after {
        query.push(" AND o.id < ").push_bind(after);
    }
    query
        .push(" ORDER BY o.id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    let mut rows: Vec<OrderRow> = query.build_query_as().fetch_all(pool).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| rows.last().map(|row| row.id.to_string()))
        .flatten();
    Ok(Page {
        items: assemble(pool, rows).await?,
        next_cursor,
    })
}

/// One order, whoever owns it.
pub(crate) async fn load(pool: &PgPool, id: Uuid) -> ApiResult<Option<Order>> {
    let row: Option<OrderRow> = sqlx::query_as(select_orders!("WHERE o.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(assemble(pool, row.into_iter().collect()).await?.pop())
}

#[derive(Debug, sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    user_id: Uuid,
    status: String,
    currency: String,
    subtotal: i64,
    tax: i64,
    shipping: i64,
    total: i64,
    shipping_address: sqlx::types::Json<ShippingAddress>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    card_last4: String,
    card_brand: Option<String>,
    payment_status: String,
}

#[derive(Debug, sqlx::FromRow)]
struct LineRow {
    order_id: Uuid,
    product_id: Uuid,
    sku: String,
    name: String,
    unit_price: i64,
    quantity: i32,
    line_total: i64,
}

/// Joins orders with their lines.
async fn assemble(pool: &PgPool, rows: Vec<OrderRow>) -> ApiResult<Vec<Order>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let line_rows: Vec<LineRow> = sqlx::query_as(
        "SELECT order_id, product_id, sku, name, unit_price, quantity, line_total
         FROM order_lines WHERE order_id = ANY($1) ORDER BY order_id, position",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut lines: HashMap<Uuid, Vec<LineRow>> = HashMap::new();
    for line in line_rows {
        lines.entry(line.order_id).or_default().push(line);
    }
    rows.into_iter()
        .map(|row| {
            let currency = parse_currency(&row.currency)?;
            let money = |amount| Money::new(amount, currency);
            let order_lines = lines
                .remove(&row.id)
                .unwrap_or_default()
                .into_iter()
                .map(|line| OrderLine {
                    product_id: line.product_id,
                    sku: line.sku,
                    name: line.name,
                    unit_price: money(line.unit_price),
                    quantity: u32::try_from(line.quantity).unwrap_or_default(),
                    line_total: money(line.line_total),
                })
                .collect();
            Ok(Order {
                id: row.id,
                user_id: row.user_id,
                status: parse_status(&row.status)?,
                lines: order_lines,
                totals: Totals {
                    subtotal: money(row.subtotal),
                    tax: money(row.tax),
                    shipping: money(row.shipping),
                    total: money(row.total),
                },
                shipping_address: row.shipping_address.0,
                payment: PaymentSummary {
                    card_last4: row.card_last4,
                    brand: row.card_brand,
                    status: parse_payment_status(&row.payment_status)?,
                },
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}

fn parse_status(value: &str) -> ApiResult<OrderStatus> {
    OrderStatus::ALL
        .into_iter()
        .find(|status| status.as_str() == value)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("unknown order status {value:?}")))
}

fn parse_currency(value: &str) -> ApiResult<Currency> {
    Currency::parse(value).map_err(|e| ApiError::Internal(e.into()))
}

const PAYMENT_STATUSES: [PaymentStatus; 5] = [
    PaymentStatus::Pending,
    PaymentStatus::Succeeded,
    PaymentStatus::Declined,
    PaymentStatus::Refunded,
    PaymentStatus::Voided,
];

fn payment_status_str(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Succeeded => "succeeded",
        PaymentStatus::Declined => "declined",
        PaymentStatus::Refunded => "refunded",
        PaymentStatus::Voided => "voided",
    }
}

fn parse_payment_status(value: &str) -> ApiResult<PaymentStatus> {
    PAYMENT_STATUSES
        .into_iter()
        .find(|status| payment_status_str(*status) == value)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("unknown payment status {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_column_values() {
        for status in OrderStatus::ALL {
            assert_eq!(parse_status(status.as_str()).expect("known"), status);
        }
        for status in PAYMENT_STATUSES {
            let text = payment_status_str(status);
            assert_eq!(parse_payment_status(text).expect("known"), status);
            // The column values are the wire names.
            assert_eq!(
                serde_json::to_value(status).expect("serialize"),
                serde_json::json!(text)
            );
        }
        assert!(parse_status("lost").is_err());
        assert!(parse_payment_status("lost").is_err());
    }
}
