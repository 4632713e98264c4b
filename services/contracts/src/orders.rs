//! Orders: checkout, the order lifecycle, and the user's and admin's order lists.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::address::PostalAddress;
use crate::money::Money;

/// Where an order is in its life. Only [`OrderStatus::can_transition_to`] moves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OrderStatus {
    /// Placed, stock reserved, payment not settled yet.
    Pending,
    /// Paid; waiting to ship.
    Paid,
    /// Handed to the carrier.
    Shipped,
    /// Received by the customer. Final.
    Delivered,
    /// Cancelled by the customer or an admin; stock released. Final.
    Cancelled,
    /// The payment was declined; stock released. Final.
    PaymentFailed,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Paid,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::PaymentFailed,
    ];

    /// Whether an order in this status may move to `next`.
    ///
    /// The whole lifecycle: `pending → paid → shipped → delivered`; `pending → payment_failed`;
    /// `pending | paid → cancelled` (a shipped order can no longer be cancelled). Nothing else,
    /// not even staying put, so a repeated change is reported rather than silently accepted.
    pub const fn can_transition_to(self, next: Self) -> bool {
        matches!(
            (self, next),
            (
                Self::Pending,
                Self::Paid | Self::PaymentFailed | Self::Cancelled
            ) | (Self::Paid, Self::Shipped | Self::Cancelled)
                | (Self::Shipped, Self::Delivered)
        )
    }

    /// Whether no status can follow this one.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::Cancelled | Self::PaymentFailed
        )
    }

    /// The name used on the wire: `"pending"`, `"payment_failed"`, ...
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Paid => "paid",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::PaymentFailed => "payment_failed",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order as its owner and admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    /// The order's id.
    pub id: Uuid,
    /// The customer who placed it.
    pub user_id: Uuid,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// What was bought, at the prices of the moment of checkout.
    pub lines: Vec<OrderLine>,
    /// The amounts charged.
    pub totals: Totals,
    /// Where it ships, copied at checkout so later edits of the address book do not change it.
    pub shipping_address: PostalAddress,
    /// The payment, as far as it is safe to show.
    pub payment: PaymentSummary,
    /// When it was placed.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One product of an order, frozen at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderLine {
    /// The product.
    pub product_id: Uuid,
    /// The product's SKU at checkout.
    pub sku: String,
    /// The product's name at checkout.
    pub name: String,
    /// The unit price charged.
    pub unit_price: Money,
    /// How many units.
    pub quantity: u32,
    /// `unit_price × quantity`.
    pub line_total: Money,
}

/// The amounts of an order: `total = subtotal + tax + shipping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Totals {
    /// The sum of the line totals.
    pub subtotal: Money,
    /// Tax on the subtotal (see [`Money::percent_bps`] for the rounding).
    pub tax: Money,
    /// The shipping fee.
    pub shipping: Money,
    /// What the customer pays.
    pub total: Money,
}

/// Where a payment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PaymentStatus {
    /// Sent to the provider, no answer yet.
    Pending,
    /// The provider took the money.
    Succeeded,
    /// The provider declined the card.
    Declined,
    /// The money went back to the customer (a paid order was cancelled).
    Refunded,
    /// Nothing was charged: the order ended before its payment was settled (stock was short,
    /// a dependency was down, or the order expired while pending).
    Voided,
}

/// What is safe to show of a payment: never the card number or CVC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentSummary {
    /// The last four digits of the card.
    pub card_last4: String,
    /// The card brand (`visa`, `mastercard`) when the provider tells.
    pub brand: Option<String>,
    /// Where the payment is.
    pub status: PaymentStatus,
}

/// `POST /api/v1/checkout` (with an `Idempotency-Key` header): turn the cart into an order.
///
/// Answered by `201` and the [`Order`], `402` when the card is declined, `409` when stock is short.
/// The address travels with the request (the client picks it from the user's address book or
/// takes a new one), so checkout depends on no other service for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckoutRequest {
    /// Where the order ships; copied onto the order.
    pub shipping_address: PostalAddress,
    /// The card to charge; passed to the payment provider, never stored.
    pub card: CardDetails,
}

/// A payment card. Its `Debug` shows only the last four digits, so it can be logged safely.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CardDetails {
    /// The card number (PAN), digits and optional spaces.
    pub number: String,
    /// Expiry month, 1 to 12.
    pub exp_month: u8,
    /// Expiry year, four digits.
    pub exp_year: u16,
    /// The 3- or 4-digit security code.
    pub cvc: String,
}

impl CardDetails {
    /// The last four digits of the number (fewer if it has fewer), ignoring spaces and dashes:
    /// what receipts and [`PaymentSummary::card_last4`] show.
    pub fn last4(&self) -> String {
        let digits: Vec<char> = self.number.chars().filter(char::is_ascii_digit).collect();
        digits[digits.len().saturating_sub(4)..].iter().collect()
    }
}

impl fmt::Debug for CardDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardDetails")
            .field("number", &format_args!("**** {}", self.last4()))
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvc", &format_args!("[redacted]"))
            .finish()
    }
}

/// `GET /api/v1/admin/orders?status=&limit=&cursor=`: every order, newest first, answered by a
/// [`Page`](crate::pagination::Page) of [`Order`]s. A customer's own list takes a
/// [`PageQuery`](crate::pagination::PageQuery).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema, utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct AdminOrderQuery {
    /// Only orders in this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OrderStatus>,
    /// The page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `POST /api/v1/admin/orders/{id}/status`: move an order to another status.
///
/// A move [`OrderStatus::can_transition_to`] forbids answers `409`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusChange {
    /// The status to move to.
    pub status: OrderStatus,
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::money::Currency;
    use OrderStatus::*;

    #[test]
    fn the_transition_table_is_exactly_the_lifecycle() {
        let allowed = [
            (Pending, Paid),
            (Pending, PaymentFailed),
            (Pending, Cancelled),
            (Paid, Shipped),
            (Paid, Cancelled),
            (Shipped, Delivered),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn final_statuses_have_no_way_out() {
        for from in OrderStatus::ALL {
            let has_successor = OrderStatus::ALL
                .into_iter()
                .any(|to| from.can_transition_to(to));
            assert_eq!(from.is_final(), !has_successor, "{from}");
        }
    }

    #[test]
    fn statuses_are_snake_case_on_the_wire() {
        let names: Vec<_> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            serde_json::to_value(OrderStatus::ALL).expect("serialize"),
            json!(names)
        );
        assert_eq!(PaymentFailed.to_string(), "payment_failed");
        let change: StatusChange =
            serde_json::from_value(json!({"status": "shipped"})).expect("deserialize");
        assert_eq!(change.status, Shipped);
        assert!(serde_json::from_value::<StatusChange>(json!({"status": "Shipped"})).is_err());
        assert!(serde_json::from_value::<StatusChange>(json!({"status": "lost"})).is_err());
        assert_eq!(
            serde_json::to_value([PaymentStatus::Refunded, PaymentStatus::Voided])
                .expect("serialize"),
            json!(["refunded", "voided"])
        );
    }

    fn card(number: &str) -> CardDetails {
        CardDetails {
            number: number.to_owned(),
            exp_month: 12,
            exp_year: 2030,
            cvc: "987".to_owned(),
        }
    }

    fn new_address() -> PostalAddress {
        PostalAddress {
            recipient: "Ada".to_owned(),
            line1: "1 Main St".to_owned(),
            line2: None,
            city: "Springfield".to_owned(),
            postal_code: "12345".to_owned(),
            region: None,
            country: "US".to_owned(),
            phone: None,
        }
    }

    #[test]
    fn card_debug_shows_only_the_last_four_digits() {
        let debug = format!("{:?}", card("4242 4242 4242 1234"));
        assert!(debug.contains("**** 1234"), "{debug}");
        assert!(!debug.contains("4242"), "{debug}");
        assert!(!debug.contains("987"), "{debug}");
        let request = CheckoutRequest {
            shipping_address: new_address(),
            card: card("4000000000000002"),
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("4000000000"), "{debug}");
        assert!(debug.contains("**** 0002"), "{debug}");
    }

    #[test]
    fn last4_ignores_separators_and_short_numbers() {
        assert_eq!(card("4242-4242-4242-4242").last4(), "4242");
        assert_eq!(card("5555555555554444").last4(), "4444");
        assert_eq!(card("12").last4(), "12");
        assert_eq!(card("").last4(), "");
        assert_eq!(card("١٢٣٤ 5678").last4(), "5678");
    }

    #[test]
    fn checkout_request_wire_shape_and_typos() {
        let body = json!({
            "shipping_address": {
                "recipient": "Ada", "line1": "1 Main St", "city": "Springfield",
                "postal_code": "12345", "country": "US"
            },
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
        });
        let request: CheckoutRequest = serde_json::from_value(body.clone()).expect("deserialize");
        assert_eq!(request.card.exp_month, 12);
        assert_eq!(request.shipping_address, new_address());
        assert_eq!(serde_json::to_value(&request).expect("serialize"), body);
        let shipping = request.shipping_address;
        assert_eq!(
            (shipping.city.as_str(), shipping.line2),
            ("Springfield", None)
        );
        let mut typo = body.clone();
        typo["card"]["cvv"] = json!("123");
        assert!(serde_json::from_value::<CheckoutRequest>(typo).is_err());
        let mut typo = body;
        typo["shipping_address"]["zip"] = json!("12345");
        assert!(serde_json::from_value::<CheckoutRequest>(typo).is_err());
    }

    #[test]
    fn order_round_trips() {
        let usd = Currency::parse("USD").expect("valid");
        let order = Order {
            id: Uuid::from_u128(5),
            user_id: Uuid::from_u128(1),
            status: Paid,
            lines: vec![OrderLine {
                product_id: Uuid::from_u128(2),
                sku: "MUG-1".to_owned(),
                name: "Mug".to_owned(),
                unit_price: Money::new(899, usd),
                quantity: 2,
                line_total: Money::new(1798, usd),
            }],
            totals: Totals {
                subtotal: Money::new(1798, usd),
                tax: Money::new(130, usd),
                shipping: Money::new(499, usd),
                total: Money::new(2427, usd),
            },
            shipping_address: new_address(),
            payment: PaymentSummary {
                card_last4: "4242".to_owned(),
                brand: Some("visa".to_owned()),
                status: PaymentStatus::Succeeded,
            },
            created_at: datetime!(2024-05-01 12:00:00 UTC),
            updated_at: datetime!(2024-05-01 12:00:01 UTC),
        };
        let value = serde_json::to_value(&order).expect("serialize");
        assert_eq!(value["status"], json!("paid"));
        assert_eq!(
            value["totals"]["total"],
            json!({"amount": 2427, "currency": "USD"})
        );
        assert_eq!(value["shipping_address"]["city"], json!("Springfield"));
        assert!(value["shipping_address"].get("id").is_none());
        assert_eq!(value["payment"]["status"], json!("succeeded"));
        assert_eq!(
            serde_json::from_value::<Order>(value).expect("deserialize"),
            order
        );
    }

    #[test]
    fn admin_order_query_filters_by_status() {
        let query: AdminOrderQuery =
            serde_json::from_value(json!({"status": "payment_failed", "limit": 5}))
                .expect("deserialize");
        assert_eq!(query.status, Some(PaymentFailed));
        assert_eq!(query.limit, Some(5));
    }
}
