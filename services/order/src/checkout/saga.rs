//! Steps 3 to 7 of the checkout ([module docs](super)), and the one place that undoes them.
//!
//! [`Saga`] records what the checkout has done for its order — stock reserved, card charged —
//! and [`Saga::compensate`] undoes exactly that whatever step failed: the charge is refunded,
//! the order ended as its [`Failure`] says, the stock released.

use contracts::inventory::{ReserveLine, ReserveRequest};
use kit::{ApiError, ApiResult};
use uuid::Uuid;

use super::domain::{
    Checkout, Failure, declined, insufficient_stock, not_for_sale, stock_gone, too_large,
};
use crate::AppState;
use crate::cart;
use crate::catalog_client::{Commit, ReserveOutcome};
use crate::idempotency::StoredResponse;
use crate::orders::domain::NewOrder;
use crate::orders::lifecycle::{end_unpaid, insert_pending, mark_paid, refund, release_stock};
use crate::orders::store::Charge;
use crate::payments::{self, Authorisation, PaymentRequest};

/// What a checkout has done for its order so far, to undo on failure.
#[derive(Debug)]
pub(crate) struct Saga<'a> {
    state: &'a AppState,
    order_id: Uuid,
    reserved: bool,
    charge: Option<Charge>,
}

impl<'a> Saga<'a> {
    /// A checkout that created the pending order `order_id` and did nothing else yet.
    fn new(state: &'a AppState, order_id: Uuid) -> Self {
        Self {
            state,
            order_id,
            reserved: false,
            charge: None,
        }
    }

    /// Undoes what was done, in this order: refunds the charge, ends the order as `failure`
    /// says (recording the charge's id and whether it came back), and releases the stock held.
    /// The stock is released even when ending the order failed; that failure is the answer,
    /// and the sweeper ends the order later.
    pub(crate) async fn compensate(self, failure: &Failure) -> ApiResult<()> {
        let Self {
            state,
            order_id,
            reserved,
            charge,
        } = self;
        let refunded = match &charge {
            Some(charge) => {
                let refunded = refund(state, order_id, charge).await.is_ok();
                if !refunded {
                    tracing::error!(%order_id, payment_id = %charge.payment_id,
                        "refund after a failed checkout did not go through");
                }
                Some(refunded)
            }
            None => None,
        };
        let ended = match failure.ending(refunded) {
            Some(ending) => end_unpaid(
                state,
                order_id,
                ending.status,
                ending.payment,
                charge.as_ref().map(|charge| charge.payment_id.as_str()),
                &ending.reason,
            )
            .await
            .map(drop),
            None => Ok(()),
        };
        if reserved {
            release_stock(state, order_id).await;
        }
        ended
    }
}

/// Steps 3 to 7 of the module documentation, for the request that claimed `key`; a paid order's
/// answer is stored under the key as the order is marked paid.
pub(crate) async fn place_order(
    state: &AppState,
    user_id: Uuid,
    key: &str,
    checkout: &Checkout,
) -> ApiResult<StoredResponse> {
    let items = cart::store::items(&state.pool, user_id).await?;
    if items.is_empty() {
        return Err(ApiError::invalid(
            "cart",
            "empty",
            "the cart is empty; add products before checking out",
        ));
    }
    let ids: Vec<Uuid> = items.iter().map(|(id, _)| *id).collect();
    let prices = state.catalog.prices(&ids).await?;
    let priced = state
        .pricing
        .price_items(&items, &prices)
        .map_err(too_large)?;
    if !priced.unsellable.is_empty() {
        return Err(not_for_sale(&priced.unsellable, &prices));
    }
    let subtotal = state.pricing.subtotal(&priced.lines).map_err(too_large)?;
    let totals = state.pricing.totals(subtotal).map_err(too_large)?;
    let order = NewOrder {
        id: Uuid::now_v7(),
        user_id,
        lines: priced.lines,
        totals,
        shipping_address: checkout.shipping_address.clone(),
        card_last4: checkout.card.last4(),
        card_brand: payments::brand(&checkout.card.number),
        provider: state.payments.name(),
    };
    insert_pending(state, &order).await?;
    let order_id = order.id;
    tracing::info!(%order_id, total = %totals.total, "order placed");
    let mut saga = Saga::new(state, order_id);

    let ttl_seconds = u32::try_from(state.checkout.reservation_ttl.as_secs())
        .map_err(|_| anyhow::anyhow!("the reservation TTL does not fit in u32 seconds"))?;
    let reserve = ReserveRequest {
        order_id,
        lines: order
            .lines
            .iter()
            .map(|line| ReserveLine {
                product_id: line.product.product_id,
                quantity: line.quantity,
            })
            .collect(),
        ttl_seconds: Some(ttl_seconds),
    };
    match state.catalog.reserve(&reserve).await {
        Ok(ReserveOutcome::Reserved(_)) => saga.reserved = true,
        Ok(ReserveOutcome::InsufficientStock(short)) => {
            saga.compensate(&Failure::OutOfStock).await?;
            return Err(insufficient_stock(order_id, &order.lines, short));
        }
        Err(error) => {
            // The reservation may or may not exist: cancelling publishes order.cancelled, on
            // which the product service releases it once it is reachable.
            if let Err(cause) = saga.compensate(&Failure::ProductUnreachable).await {
                tracing::warn!(error = %cause, %order_id, "left pending for the sweeper");
            }
            return Err(error);
        }
    }

    let authorisation = payments::within(
        state.checkout.payment_timeout,
        state.payments.authorise(PaymentRequest {
            order_id,
            amount: totals.total,
            card: &checkout.card,
        }),
    )
    .await;
    match authorisation {
        Ok(Authorisation::Authorised { payment_id }) => {
            saga.charge = Some(Charge {
                payment_id,
                amount: totals.total,
            });
            settle_charge(saga, &order, key).await
        }
        Ok(Authorisation::Declined { reason }) => {
            saga.compensate(&Failure::Declined(reason.clone())).await?;
            tracing::info!(%order_id, %reason, "payment declined");
            Err(declined(order_id, &reason))
        }
        Err(error) => {
            tracing::warn!(%error, %order_id, "payment provider unavailable");
            saga.compensate(&Failure::ProviderUnavailable).await?;
            Err(ApiError::unavailable("payment provider"))
        }
    }
}

/// Step 7: the card is charged. Commits the stock, then marks the order paid; when either
/// fails, the saga gives the money and the stock back (releasing a committed reservation
/// restocks it).
async fn settle_charge(saga: Saga<'_>, order: &NewOrder, key: &str) -> ApiResult<StoredResponse> {
    let (state, order_id) = (saga.state, saga.order_id);
    let payment_id = saga
        .charge
        .as_ref()
        .map(|charge| charge.payment_id.clone())
        .ok_or_else(|| anyhow::anyhow!("settling order {order_id} without a charge"))?;
    let (failure, error) = match state.catalog.commit(order_id).await {
        Ok(Commit::Committed(_)) => match mark_paid(state, order, &payment_id, key).await {
            Ok(answer) => {
                tracing::info!(%order_id, "order paid");
                return Ok(answer);
            }
            Err(error) => (Failure::NotMarkedPaid, error),
        },
        Ok(Commit::Gone) => (Failure::ReservationGone, stock_gone(order_id)),
        Err(error) => (Failure::StockNotCommitted, error),
    };
    tracing::warn!(%error, %order_id, "charged but the stock is not sold; refunding");
    saga.compensate(&failure).await?;
    Err(error)
}
