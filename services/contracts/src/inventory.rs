//! The internal inventory API the order service calls on the product service: current prices
//! of the products in a cart, and stock reservations for an order.
//!
//! Served under `/internal/*`, which the gateway never exposes.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::money::Money;

/// `POST /internal/reservations`: hold stock for an order's lines until it is paid or cancelled.
///
/// Idempotent by `order_id`: repeating it answers the existing [`Reservation`]. All lines are
/// reserved or none; a shortage answers `409` with a
/// [`Problem`](crate::problem::Problem) listing [`InsufficientStock`] lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReserveRequest {
    /// The order the stock is held for.
    pub order_id: Uuid,
    /// What to hold; one line per product.
    pub lines: Vec<ReserveLine>,
    /// How long to hold it before it is released automatically; the service's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u32>,
}

/// A number of units of one product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReserveLine {
    /// The product.
    pub product_id: Uuid,
    /// How many units.
    pub quantity: u32,
}

/// Where a reservation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReservationStatus {
    /// The units are held and not available to others.
    Reserved,
    /// The order was paid: the units are sold.
    Committed,
    /// The order was cancelled: the units are available again.
    Released,
    /// Nobody committed it in time: the units are available again.
    Expired,
}

/// The stock held for one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reservation {
    /// The order the stock is held for.
    pub order_id: Uuid,
    /// Where the reservation is in its life.
    pub status: ReservationStatus,
    /// The units held.
    pub lines: Vec<ReserveLine>,
    /// When a still-`reserved` reservation is released automatically.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A line that could not be reserved: fewer units are available than requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InsufficientStock {
    /// The product.
    pub product_id: Uuid,
    /// The units asked for.
    pub requested: u32,
    /// The units available now.
    pub available: u32,
}

/// `POST /internal/products/prices`: the current price of many products at once (for a cart
/// or a checkout). Answered by a list of [`ProductPrice`]; unknown ids are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductsByIds {
    /// The products to price.
    pub ids: Vec<Uuid>,
}

/// What the order service needs to know about a product to sell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductPrice {
    /// The product.
    pub product_id: Uuid,
    /// The SKU, copied onto order lines.
    pub sku: String,
    /// The name, copied onto cart and order lines.
    pub name: String,
    /// The current unit price.
    pub price: Money,
    /// Whether the product can be bought.
    pub active: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::money::Currency;

    #[test]
    fn reserve_request_wire_shape() {
        let body = json!({
            "order_id": "00000000-0000-0000-0000-000000000001",
            "lines": [{"product_id": "00000000-0000-0000-0000-000000000002", "quantity": 2}],
            "ttl_seconds": 900
        });
        let request: ReserveRequest = serde_json::from_value(body.clone()).expect("deserialize");
        assert_eq!(request.lines[0].quantity, 2);
        assert_eq!(serde_json::to_value(&request).expect("serialize"), body);
        let no_ttl: ReserveRequest = serde_json::from_value(json!({
            "order_id": "00000000-0000-0000-0000-000000000001",
            "lines": []
        }))
        .expect("deserialize");
        assert_eq!(no_ttl.ttl_seconds, None);
        assert!(
            serde_json::from_value::<ReserveRequest>(json!({
                "order_id": "00000000-0000-0000-0000-000000000001",
                "lines": [{"product_id": "00000000-0000-0000-0000-000000000002", "qty": 2}]
            }))
            .is_err()
        );
    }

    #[test]
    fn reservation_round_trips() {
        let reservation = Reservation {
            order_id: Uuid::from_u128(1),
            status: ReservationStatus::Committed,
            lines: vec![ReserveLine {
                product_id: Uuid::from_u128(2),
                quantity: 1,
            }],
            expires_at: datetime!(2024-05-01 12:15:00 UTC),
        };
        let value = serde_json::to_value(&reservation).expect("serialize");
        assert_eq!(value["status"], json!("committed"));
        assert_eq!(value["expires_at"], json!("2024-05-01T12:15:00Z"));
        assert_eq!(
            serde_json::from_value::<Reservation>(value).expect("deserialize"),
            reservation
        );
        assert_eq!(
            serde_json::to_value([
                ReservationStatus::Reserved,
                ReservationStatus::Released,
                ReservationStatus::Expired
            ])
            .expect("serialize"),
            json!(["reserved", "released", "expired"])
        );
    }

    #[test]
    fn prices_by_ids() {
        let request: ProductsByIds =
            serde_json::from_value(json!({"ids": ["00000000-0000-0000-0000-000000000002"]}))
                .expect("deserialize");
        assert_eq!(request.ids, vec![Uuid::from_u128(2)]);
        let prices = vec![ProductPrice {
            product_id: Uuid::from_u128(2),
            sku: "MUG-1".to_owned(),
            name: "Mug".to_owned(),
            price: Money::new(899, Currency::parse("EUR").expect("valid")),
            active: false,
        }];
        let value = serde_json::to_value(&prices).expect("serialize");
        assert_eq!(
            value,
            json!([{
                "product_id": "00000000-0000-0000-0000-000000000002",
                "sku": "MUG-1",
                "name": "Mug",
                "price": {"amount": 899, "currency": "EUR"},
                "active": false
            }])
        );
        assert_eq!(
            serde_json::from_value::<Vec<ProductPrice>>(value).expect("deserialize"),
            prices
        );
    }
}
