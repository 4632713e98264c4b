//! The shopping cart: `GET /api/v1/cart`, `PUT|DELETE /api/v1/cart/items/{product_id}`, and
//! `POST /api/v1/cart/merge`.
//!
//! A signed-in customer's cart is theirs; a visitor's is a guest cart, named by the opaque
//! token in the [`GUEST_CART_TOKEN_HEADER`] header that the first cart write without one
//! answers. Signing in does not move it: the client merges it into the account's cart with
//! `POST /api/v1/cart/merge`, which spends the token.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Money;

/// The request and response header that carries a guest cart's token (HTTP header names are
/// case-insensitive; written `Guest-Cart-Token` in documents).
pub const GUEST_CART_TOKEN_HEADER: &str = "guest-cart-token";

/// A user's cart, priced at the current catalog prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cart {
    /// One line per product the catalog sells, in the order they were added.
    pub items: Vec<CartLine>,
    /// The sum of the line totals of `items`, before tax and shipping (zero for an empty cart).
    pub subtotal: Money,
    /// The products in the cart that the catalog does not sell now, in the order they were
    /// added. They stay in the cart (and come back to `items` once they are for sale again)
    /// until removed with `DELETE /api/v1/cart/items/{product_id}`; while there are any,
    /// checkout is refused. Left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<UnavailableLine>,
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

/// A product in the cart that cannot be bought now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnavailableLine {
    /// The product.
    pub product_id: Uuid,
    /// The product's name, when the catalog still has the product (a deleted one has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How many units the cart holds.
    pub quantity: u32,
    /// Why it cannot be bought.
    pub reason: UnavailableReason,
}

/// Why the catalog does not sell a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UnavailableReason {
    /// The catalog does not know the product: it was deleted (or never existed).
    Unknown,
    /// The catalog has the product but does not sell it now (an admin deactivated it).
    Inactive,
    /// The product is priced in a currency the shop does not sell in.
    Currency,
}

impl UnavailableReason {
    /// The reason as it is written on the wire, also the `code` of the field errors that
    /// refuse such a product (`unknown`, `inactive`, `currency`).
    pub const fn code(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Inactive => "inactive",
            Self::Currency => "currency",
        }
    }
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

/// How many units of a product a cart line holds: 1 to [`Quantity::MAX`].
///
/// Built only by [`Quantity::parse`] (also when read from JSON, where it is a plain number),
/// so a line never holds zero units (a line is removed instead) nor more than a parcel takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(minimum = 1, maximum = 99)
)]
pub struct Quantity(u32);

impl Quantity {
    /// The fewest units of a line.
    pub const MIN: u32 = 1;
    /// The most units of a line.
    pub const MAX: u32 = 99;

    /// `units` as a quantity, when it is 1 to [`Quantity::MAX`].
    pub fn parse(units: u32) -> Result<Self, QuantityError> {
        if (Self::MIN..=Self::MAX).contains(&units) {
            Ok(Self(units))
        } else {
            Err(QuantityError(units))
        }
    }

    /// The number of units.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Quantity {
    type Error = QuantityError;

    fn try_from(units: u32) -> Result<Self, Self::Error> {
        Self::parse(units)
    }
}

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> Self {
        quantity.0
    }
}

/// A number of units outside 1 to [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be {min} to {max}, not {0}", min = Quantity::MIN, max = Quantity::MAX)]
pub struct QuantityError(pub u32);

/// The answer of `POST /api/v1/cart/merge`: what became of the guest cart's products.
///
/// Each product the account's cart already held keeps the sum of both quantities, up to the
/// most a line holds; the others are added while the account's cart has room for more
/// products. The guest cart and its token are gone either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MergedCart {
    /// The guest cart's products now in the account's cart, in the order they were added.
    pub merged: Vec<Uuid>,
    /// The guest cart's products left out because the account's cart was full.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out: Vec<Uuid>,
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
            unavailable: Vec::new(),
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
    fn unavailable_lines_are_listed_only_when_there_are_some() {
        let usd = Currency::parse("USD").expect("valid");
        let cart = Cart {
            items: Vec::new(),
            subtotal: Money::zero(usd),
            unavailable: vec![
                UnavailableLine {
                    product_id: Uuid::from_u128(3),
                    name: Some("Lamp".to_owned()),
                    quantity: 1,
                    reason: UnavailableReason::Inactive,
                },
                UnavailableLine {
                    product_id: Uuid::from_u128(4),
                    name: None,
                    quantity: 2,
                    reason: UnavailableReason::Unknown,
                },
            ],
        };
        let value = serde_json::to_value(&cart).expect("serialize");
        assert_eq!(
            value,
            json!({
                "items": [],
                "subtotal": {"amount": 0, "currency": "USD"},
                "unavailable": [
                    {
                        "product_id": "00000000-0000-0000-0000-000000000003",
                        "name": "Lamp",
                        "quantity": 1,
                        "reason": "inactive"
                    },
                    {
                        "product_id": "00000000-0000-0000-0000-000000000004",
                        "quantity": 2,
                        "reason": "unknown"
                    }
                ]
            })
        );
        assert_eq!(
            serde_json::from_value::<Cart>(value).expect("deserialize"),
            cart
        );
    }

    #[test]
    fn a_cart_from_before_unavailable_lines_still_reads() {
        let cart: Cart = serde_json::from_value(json!({
            "items": [],
            "subtotal": {"amount": 0, "currency": "USD"}
        }))
        .expect("deserialize");
        assert!(cart.unavailable.is_empty());
    }

    #[test]
    fn reason_codes_are_the_wire_names() {
        for reason in [
            UnavailableReason::Unknown,
            UnavailableReason::Inactive,
            UnavailableReason::Currency,
        ] {
            assert_eq!(
                serde_json::to_value(reason).expect("serialize"),
                json!(reason.code())
            );
        }
        assert!(serde_json::from_value::<UnavailableReason>(json!("gone")).is_err());
    }

    #[test]
    fn merged_cart_lists_left_out_products_only_when_there_are_some() {
        let merged = MergedCart {
            merged: vec![Uuid::from_u128(1)],
            left_out: Vec::new(),
        };
        let value = serde_json::to_value(&merged).expect("serialize");
        assert_eq!(
            value,
            json!({"merged": ["00000000-0000-0000-0000-000000000001"]})
        );
        assert_eq!(
            serde_json::from_value::<MergedCart>(value).expect("deserialize"),
            merged
        );
    }

    #[test]
    fn quantities_are_one_to_ninety_nine() {
        assert_eq!(Quantity::parse(1).map(Quantity::get), Ok(1));
        assert_eq!(Quantity::parse(99).map(Quantity::get), Ok(99));
        assert_eq!(Quantity::parse(0), Err(QuantityError(0)));
        assert_eq!(Quantity::parse(100), Err(QuantityError(100)));
        assert_eq!(QuantityError(100).to_string(), "must be 1 to 99, not 100");
        assert_eq!(
            serde_json::from_value::<Quantity>(json!(7)).expect("deserialize"),
            Quantity::parse(7).expect("valid")
        );
        for bad in [json!(0), json!(100), json!(-1), json!(1.5), json!("3")] {
            assert!(
                serde_json::from_value::<Quantity>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[cfg(feature = "openapi")]
    #[test]
    fn the_quantity_schema_is_the_bounded_integer_of_the_json() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(Quantity::schema()).expect("serialize");
        assert_eq!(schema["type"], json!("integer"), "{schema}");
        assert_eq!(schema["minimum"], json!(1), "{schema}");
        assert_eq!(schema["maximum"], json!(99), "{schema}");
    }

    proptest::proptest! {
        #[test]
        fn a_quantity_is_exactly_a_number_from_one_to_the_most(units in proptest::prelude::any::<u32>()) {
            let parsed = Quantity::parse(units);
            proptest::prop_assert_eq!(parsed.is_ok(), (1..=Quantity::MAX).contains(&units));
            if let Ok(quantity) = parsed {
                proptest::prop_assert_eq!(quantity.get(), units);
                let json = serde_json::to_value(quantity).expect("serialize");
                proptest::prop_assert_eq!(&json, &json!(units));
                proptest::prop_assert_eq!(serde_json::from_value::<Quantity>(json).ok(), Some(quantity));
            }
        }
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
