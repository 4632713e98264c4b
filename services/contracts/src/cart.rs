//! The shopping cart: `GET /api/v1/cart` and `PUT|DELETE /api/v1/cart/items/{product_id}`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Money;

/// A user's cart, priced at the current catalog prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cart {
    /// One line per product, in the order they were added.
    pub items: Vec<CartLine>,
    /// The sum of the line totals, before tax and shipping (zero for an empty cart).
    pub subtotal: Money,
}

/// One product in the cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CartLine {
    /// The product.
    pub product_id: Uuid,
    /// The product's name.
    pub name: String,
    /// The current unit price.
    pub unit_price: Money,
    /// How many units.
    pub quantity: u32,
    /// `unit_price × quantity`.
    pub line_total: Money,
}

/// `PUT /api/v1/cart/items/{product_id}`: set how many units of a product are in the cart.
///
/// It sets, not adds, so retrying it is harmless. The quantity is 1 to 99; a line is removed
/// with `DELETE /api/v1/cart/items/{product_id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetQuantity {
    /// The number of units wanted.
    pub quantity: u32,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::money::Currency;

    #[test]
    fn cart_wire_shape() {
        let usd = Currency::parse("USD").expect("valid");
        let cart = Cart {
            items: vec![CartLine {
                product_id: Uuid::from_u128(2),
                name: "Mug".to_owned(),
                unit_price: Money::new(899, usd),
                quantity: 2,
                line_total: Money::new(1798, usd),
            }],
            subtotal: Money::new(1798, usd),
        };
        let value = serde_json::to_value(&cart).expect("serialize");
        assert_eq!(
            value,
            json!({
                "items": [{
                    "product_id": "00000000-0000-0000-0000-000000000002",
                    "name": "Mug",
                    "unit_price": {"amount": 899, "currency": "USD"},
                    "quantity": 2,
                    "line_total": {"amount": 1798, "currency": "USD"}
                }],
                "subtotal": {"amount": 1798, "currency": "USD"}
            })
        );
        assert_eq!(
            serde_json::from_value::<Cart>(value).expect("deserialize"),
            cart
        );
    }

    #[test]
    fn set_quantity_accepts_only_a_non_negative_quantity() {
        let set: SetQuantity = serde_json::from_value(json!({"quantity": 3})).expect("deserialize");
        assert_eq!(set.quantity, 3);
        for bad in [
            json!({"quantity": -1}),
            json!({"quantity": 1.5}),
            json!({"quantity": "3"}),
            json!({}),
            json!({"quantity": 3, "product_id": "x"}),
        ] {
            assert!(
                serde_json::from_value::<SetQuantity>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
