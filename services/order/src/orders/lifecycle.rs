//! The moves of an order's life, each one transaction with the event it causes, and the one
//! path by which money goes back to a customer ([`refund`]).

use axum::http::StatusCode;
use contracts::events::OrderEventKind;
use contracts::orders::{Order, OrderStatus, PaymentStatus};
use kit::{ApiError, ApiResult};
use uuid::Uuid;

use super::domain::{NewOrder, check_transition, not_found};
use super::store::{self, Charge};
use crate::AppState;
use crate::cart;
use crate::catalog_client::Release;
use crate::idempotency::{self, StoredResponse};
use crate::outbox;
use crate::payments::{self, ProviderUnavailable};

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
    store::insert_pending(&mut tx, order).await?;
    outbox::enqueue(
        &mut tx,
        OrderEventKind::Placed,
        order.id,
        order.user_id,
        order.event_lines(),
    )
    .await?;
    tx.commit().await?;
    state.outbox.notify();
    Ok(())
}

/// Moves an order to `shipped` or `delivered`; shipping publishes `order.shipped`.
pub(crate) async fn advance(state: &AppState, id: Uuid, to: OrderStatus) -> ApiResult<Order> {
    let mut tx = state.pool.begin().await?;
    let locked = store::lock(&mut tx, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    check_transition(locked.status, to)?;
    store::set_status(&mut tx, id, to).await?;
    if to == OrderStatus::Shipped {
        let lines = store::event_lines(&mut tx, id).await?;
        outbox::enqueue(&mut tx, OrderEventKind::Shipped, id, locked.user_id, lines).await?;
    }
    tx.commit().await?;
    state.outbox.notify();
    store::load(&state.pool, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Cancels a pending or paid order: refunds it when paid, releases its stock. With `owner`,
/// only that user's order can be cancelled (another's is a 404).
pub async fn cancel(state: &AppState, id: Uuid, owner: Option<Uuid>) -> ApiResult<Order> {
    let mut tx = state.pool.begin().await?;
    let locked = store::lock(&mut tx, id)
        .await?
        .filter(|locked| owner.is_none_or(|owner| owner == locked.user_id))
        .ok_or_else(|| not_found(id))?;
    check_transition(locked.status, OrderStatus::Cancelled)?;
    let payment = if locked.status == OrderStatus::Paid {
        let charge = store::charge(&mut tx, id).await?;
        // The row stays locked while the provider refunds, so nothing else moves the order
        // meanwhile; a failed refund rolls everything back and the customer may retry.
        refund(state, id, &charge)
            .await
            .map_err(|_| ApiError::unavailable("payment provider"))?;
        PaymentStatus::Refunded
    } else {
        PaymentStatus::Voided
    };
    store::set_status(&mut tx, id, OrderStatus::Cancelled).await?;
    store::set_payment(&mut tx, id, payment, None, None).await?;
    let lines = store::event_lines(&mut tx, id).await?;
    outbox::enqueue(
        &mut tx,
        OrderEventKind::Cancelled,
        id,
        locked.user_id,
        lines,
    )
    .await?;
    tx.commit().await?;
    state.outbox.notify();
    release_stock(state, id).await;
    store::load(&state.pool, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Gives a charge back in full, waiting at most `PAYMENT_TIMEOUT_MS`: the one way money goes
/// back, for a paid order that is cancelled and for a checkout that charged but could not sell.
/// A failure is logged with the provider's payment id, which the order keeps for an operator.
pub(crate) async fn refund(
    state: &AppState,
    order_id: Uuid,
    charge: &Charge,
) -> Result<(), ProviderUnavailable> {
    payments::within(
        state.checkout.payment_timeout,
        state.payments.refund(&charge.payment_id, charge.amount),
    )
    .await
    .inspect_err(|error| {
        tracing::warn!(%error, %order_id, payment_id = %charge.payment_id, "refund failed");
    })
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

/// Records a successful payment: the order becomes `paid`, `order.paid` is written, the bought
/// products leave the cart, and the answer, 201 with the order, is stored under the checkout's
/// idempotency `key`, all in one transaction: a retry after a crash finds the order it paid for,
/// never a second checkout of the emptied cart. Fails with 409 when the order is no longer
/// pending (it was cancelled or expired meanwhile).
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
    order: &NewOrder,
    provider_payment_id: &str,
    key: &str,
) -> ApiResult<StoredResponse> {
    let id = order.id;
    let mut tx = state.pool.begin().await?;
    let Some(stamps) = store::pay(&mut tx, id, provider_payment_id).await? else {
        return Err(ApiError::conflict(format!(
            "Order {id} was cancelled while it was being paid; the payment is refunded."
        )));
    };
    let lines = order.event_lines();
    let products: Vec<Uuid> = lines.iter().map(|line| line.product_id).collect();
    outbox::enqueue(&mut tx, OrderEventKind::Paid, id, order.user_id, lines).await?;
    cart::store::remove_products(&mut tx, order.user_id, &products).await?;
    let answer =
        StoredResponse::json(StatusCode::CREATED, "application/json", &order.paid(stamps))?;
    idempotency::complete(&mut *tx, order.user_id, key, &answer).await?;
    tx.commit().await?;
    state.outbox.notify();
    Ok(answer)
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
    let Some(user_id) = store::move_from(&mut tx, id, OrderStatus::Pending, to).await? else {
        return Ok(false);
    };
    store::set_payment(&mut tx, id, payment, provider_payment_id, Some(reason)).await?;
    let lines = store::event_lines(&mut tx, id).await?;
    outbox::enqueue(&mut tx, OrderEventKind::Cancelled, id, user_id, lines).await?;
    tx.commit().await?;
    state.outbox.notify();
    Ok(true)
}

/// Cancels pending orders created more than `older_than` ago — their checkout crashed or a
/// dependency failed half-way — and releases their stock. Returns how many were cancelled.
pub async fn expire_pending(state: &AppState, older_than: std::time::Duration) -> ApiResult<usize> {
    const BATCH: u16 = 100;
    let mut expired = 0;
    loop {
        let ids = store::pending_older_than(&state.pool, older_than, i64::from(BATCH)).await?;
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
        if ids.len() < usize::from(BATCH) {
            return Ok(expired);
        }
    }
}
