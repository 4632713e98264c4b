//! What an order is before it is stored, and the lifecycle's rules and refusals. No IO.

use contracts::address::Address;
use contracts::events::EventLine;
use contracts::orders::{Order, OrderLine, OrderStatus, PaymentStatus, PaymentSummary, Totals};
use kit::ApiError;
use kit::error::field_error;
use uuid::Uuid;

use super::store::Stamps;
use crate::pricing::PricedLine;

/// A new order, as checkout builds it.
#[derive(Debug, Clone)]
pub(crate) struct NewOrder {
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) lines: Vec<PricedLine>,
    pub(crate) totals: Totals,
    pub(crate) shipping_address: Address,
    pub(crate) card_last4: String,
    pub(crate) card_brand: Option<&'static str>,
    pub(crate) provider: &'static str,
}

impl NewOrder {
    /// The products and quantities, for the order's events.
    pub(crate) fn event_lines(&self) -> Vec<EventLine> {
        self.lines
            .iter()
            .map(|line| EventLine {
                product_id: line.product.product_id,
                quantity: line.quantity,
            })
            .collect()
    }

    /// The order as it reads once paid at `stamps`: what was written, without reading it back.
    pub(crate) fn paid(&self, stamps: Stamps) -> Order {
        Order {
            id: self.id,
            user_id: self.user_id,
            status: OrderStatus::Paid,
            lines: self
                .lines
                .iter()
                .map(|line| OrderLine {
                    product_id: line.product.product_id,
                    sku: line.product.sku.clone(),
                    name: line.product.name.clone(),
                    unit_price: line.product.price,
                    quantity: line.quantity,
                    line_total: line.line_total,
                })
                .collect(),
            totals: self.totals,
            shipping_address: self.shipping_address.clone().into(),
            payment: PaymentSummary {
                card_last4: self.card_last4.clone(),
                brand: self.card_brand.map(str::to_owned),
                status: PaymentStatus::Succeeded,
            },
            created_at: stamps.created_at,
            updated_at: stamps.updated_at,
        }
    }
}

/// Which orders a read shows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Filter {
    /// Only this order.
    pub(crate) order_id: Option<Uuid>,
    /// Only this user's orders.
    pub(crate) user_id: Option<Uuid>,
    /// Only orders in this status.
    pub(crate) status: Option<OrderStatus>,
}

/// 404 for an order that does not exist (or is someone else's).
pub(crate) fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("Order {id} does not exist."))
}

/// Allows the move `from` → `to`, or answers the 409 naming it.
pub(crate) fn check_transition(from: OrderStatus, to: OrderStatus) -> Result<(), ApiError> {
    if from.can_transition_to(to) {
        return Ok(());
    }
    Err(ApiError::Conflict {
        detail: format!("An order that is {from} cannot become {to}."),
        errors: vec![field_error(
            "status",
            "illegal_transition",
            format!("{from} cannot move to {to}"),
        )],
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_shipped_order_cannot_be_cancelled() {
        assert!(check_transition(OrderStatus::Paid, OrderStatus::Shipped).is_ok());
        match check_transition(OrderStatus::Shipped, OrderStatus::Cancelled) {
            Err(ApiError::Conflict { detail, errors }) => {
                assert_eq!(detail, "An order that is shipped cannot become cancelled.");
                assert_eq!(errors[0].field, "status");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }

    proptest! {
        #[test]
        fn a_move_is_allowed_exactly_when_the_lifecycle_allows_it(
            from in proptest::sample::select(OrderStatus::ALL.to_vec()),
            to in proptest::sample::select(OrderStatus::ALL.to_vec()),
        ) {
            prop_assert_eq!(check_transition(from, to).is_ok(), from.can_transition_to(to));
        }
    }
}
