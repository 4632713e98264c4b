//! Prices and totals, in integer minor units.
//!
//! The rules, in the order they apply:
//!
//! 1. A line costs `unit_price × quantity`, at the catalog's current price. A product can be
//!    sold only when the catalog knows it, it is active, and it is priced in the shop's currency.
//! 2. The subtotal is the sum of the line totals.
//! 3. Tax is `subtotal × TAX_RATE_BPS / 10 000`, rounded to the nearest minor unit with halves
//!    rounded up (`Money::percent_bps`): at 8 %, a subtotal of 1 006 cents has 80.48 cents of tax,
//!    charged as 80; one of 1 000 625 cents has 80 050 exactly; 0.5 of a cent becomes 1. Tax is on
//!    the goods only: shipping is not taxed.
//! 4. Shipping is `SHIPPING_FLAT_MINOR`, or nothing when the subtotal is at least
//!    `FREE_SHIPPING_THRESHOLD_MINOR`.
//! 5. `total = subtotal + tax + shipping`.
//!
//! Every step is checked arithmetic: an amount that does not fit in `i64` is an error, never a
//! wrapped number or a panic.

use contracts::cart::UnavailableReason;
use contracts::inventory::ProductPrice;
use contracts::money::{Currency, Money, MoneyError};
use contracts::orders::Totals;
use uuid::Uuid;

/// How an order's totals are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pricing {
    /// The one currency the shop sells in.
    pub currency: Currency,
    /// Tax on the subtotal, in basis points.
    pub tax_bps: u32,
    /// The shipping fee in minor units.
    pub shipping_flat: u32,
    /// A subtotal of at least this many minor units ships free.
    pub free_shipping_threshold: u32,
}

/// A product and a quantity, priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    /// The product as the catalog sells it now.
    pub product: ProductPrice,
    /// How many units.
    pub quantity: u32,
    /// `price × quantity`.
    pub line_total: Money,
}

/// Why a product cannot be sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsellable {
    /// The catalog does not know it (deleted, or never existed).
    Unknown(Uuid),
    /// The catalog has it but does not sell it now.
    Inactive(Uuid),
    /// It is priced in another currency than the shop's.
    OtherCurrency(Uuid, Currency),
}

impl Unsellable {
    /// The product.
    pub fn product_id(&self) -> Uuid {
        match *self {
            Self::Unknown(id) | Self::Inactive(id) | Self::OtherCurrency(id, _) => id,
        }
    }

    /// Why, as the cart shows it.
    pub fn reason(&self) -> UnavailableReason {
        match self {
            Self::Unknown(_) => UnavailableReason::Unknown,
            Self::Inactive(_) => UnavailableReason::Inactive,
            Self::OtherCurrency(..) => UnavailableReason::Currency,
        }
    }

    /// A short machine-readable reason: `unknown`, `inactive` or `currency`.
    pub fn code(&self) -> &'static str {
        self.reason().code()
    }

    /// A sentence for people.
    pub fn message(&self) -> String {
        match self {
            Self::Unknown(id) => format!("Product {id} does not exist."),
            Self::Inactive(id) => format!("Product {id} is not for sale."),
            Self::OtherCurrency(id, currency) => {
                format!("Product {id} is priced in {currency}, which this shop does not sell in.")
            }
        }
    }
}

/// The outcome of pricing a list of products.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PricedItems {
    /// The lines that can be sold, in the order asked for.
    pub lines: Vec<PricedLine>,
    /// The products that cannot.
    pub unsellable: Vec<Unsellable>,
}

impl Pricing {
    /// Prices `items` (product and quantity) with the catalog's `prices`.
    pub fn price_items(
        &self,
        items: &[(Uuid, u32)],
        prices: &[ProductPrice],
    ) -> Result<PricedItems, MoneyError> {
        let mut priced = PricedItems::default();
        for &(product_id, quantity) in items {
            let Some(product) = prices.iter().find(|p| p.product_id == product_id) else {
                priced.unsellable.push(Unsellable::Unknown(product_id));
                continue;
            };
            if !product.active {
                priced.unsellable.push(Unsellable::Inactive(product_id));
            } else if product.price.currency != self.currency {
                priced.unsellable.push(Unsellable::OtherCurrency(
                    product_id,
                    product.price.currency,
                ));
            } else {
                priced.lines.push(PricedLine {
                    line_total: product.price.checked_mul(quantity)?,
                    product: product.clone(),
                    quantity,
                });
            }
        }
        Ok(priced)
    }

    /// The sum of the line totals.
    pub fn subtotal(&self, lines: &[PricedLine]) -> Result<Money, MoneyError> {
        Money::checked_sum(self.currency, lines.iter().map(|line| line.line_total))
    }

    /// Tax, shipping and total of a subtotal (see the module documentation for the rules).
    pub fn totals(&self, subtotal: Money) -> Result<Totals, MoneyError> {
        if subtotal.currency != self.currency {
            return Err(MoneyError::CurrencyMismatch {
                left: subtotal.currency,
                right: self.currency,
            });
        }
        let tax = subtotal.percent_bps(self.tax_bps)?;
        let shipping = if subtotal.amount >= i64::from(self.free_shipping_threshold) {
            Money::zero(self.currency)
        } else {
            Money::new(i64::from(self.shipping_flat), self.currency)
        };
        let total = subtotal.checked_add(tax)?.checked_add(shipping)?;
        Ok(Totals {
            subtotal,
            tax,
            shipping,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("valid")
    }

    fn pricing(tax_bps: u32) -> Pricing {
        Pricing {
            currency: usd(),
            tax_bps,
            shipping_flat: 499,
            free_shipping_threshold: 5000,
        }
    }

    fn product(id: u128, amount: i64, currency: &str, active: bool) -> ProductPrice {
        ProductPrice {
            product_id: Uuid::from_u128(id),
            sku: format!("SKU-{id}"),
            name: format!("Product {id}"),
            price: Money::new(amount, Currency::parse(currency).expect("valid")),
            active,
        }
    }

    #[test]
    fn the_documented_examples_hold() {
        let totals = pricing(800)
            .totals(Money::new(1006, usd()))
            .expect("in range");
        assert_eq!(totals.tax.amount, 80);
        assert_eq!(totals.shipping.amount, 499);
        assert_eq!(totals.total.amount, 1006 + 80 + 499);
        let totals = pricing(800)
            .totals(Money::new(1_000_625, usd()))
            .expect("in range");
        assert_eq!(totals.tax.amount, 80_050);
        assert_eq!(totals.shipping.amount, 0);
        // 10 % of 5 cents is half a cent: rounded up.
        assert_eq!(
            pricing(1000)
                .totals(Money::new(5, usd()))
                .expect("ok")
                .tax
                .amount,
            1
        );
    }

    #[test]
    fn shipping_is_free_from_the_threshold_on() {
        let rules = pricing(0);
        assert_eq!(
            rules
                .totals(Money::new(4999, usd()))
                .expect("ok")
                .shipping
                .amount,
            499
        );
        assert_eq!(
            rules
                .totals(Money::new(5000, usd()))
                .expect("ok")
                .shipping
                .amount,
            0
        );
    }

    #[test]
    fn only_known_active_products_in_the_shop_currency_are_sold() {
        let prices = [
            product(1, 899, "USD", true),
            product(2, 100, "USD", false),
            product(3, 100, "EUR", true),
        ];
        let items = [
            (Uuid::from_u128(1), 3),
            (Uuid::from_u128(2), 1),
            (Uuid::from_u128(3), 1),
            (Uuid::from_u128(4), 1),
        ];
        let priced = pricing(0).price_items(&items, &prices).expect("in range");
        assert_eq!(priced.lines.len(), 1);
        assert_eq!(priced.lines[0].line_total.amount, 2697);
        let codes: Vec<_> = priced.unsellable.iter().map(Unsellable::code).collect();
        assert_eq!(codes, ["inactive", "currency", "unknown"]);
        assert_eq!(priced.unsellable[2].product_id(), Uuid::from_u128(4));
        assert!(priced.unsellable[1].message().contains("EUR"));
    }

    #[test]
    fn a_subtotal_in_another_currency_is_refused() {
        let eur = Money::new(100, Currency::parse("EUR").expect("valid"));
        assert!(matches!(
            pricing(0).totals(eur),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn huge_line_totals_overflow_into_an_error() {
        let prices = [product(1, i64::MAX / 2, "USD", true)];
        let result = pricing(0).price_items(&[(Uuid::from_u128(1), 99)], &prices);
        assert_eq!(result, Err(MoneyError::Overflow));
    }

    proptest! {
        #[test]
        fn total_is_the_sum_of_its_parts(
            subtotal in 0_i64..=i64::MAX,
            tax_bps in 0_u32..=10_000,
            shipping_flat in any::<u32>(),
            threshold in any::<u32>(),
        ) {
            let rules = Pricing { currency: usd(), tax_bps, shipping_flat, free_shipping_threshold: threshold };
            match rules.totals(Money::new(subtotal, usd())) {
                Ok(totals) => {
                    prop_assert_eq!(totals.subtotal.amount, subtotal);
                    prop_assert_eq!(
                        i128::from(totals.total.amount),
                        i128::from(totals.subtotal.amount)
                            + i128::from(totals.tax.amount)
                            + i128::from(totals.shipping.amount)
                    );
                    for part in [totals.tax, totals.shipping, totals.total] {
                        prop_assert_eq!(part.currency, usd());
                        prop_assert!(part.amount >= 0);
                    }
                }
                // Only a total beyond i64 may fail, and it fails as an error.
                Err(error) => {
                    prop_assert_eq!(error, MoneyError::Overflow);
                    let exact_tax = (i128::from(subtotal) * i128::from(tax_bps) + 5_000) / 10_000;
                    prop_assert!(i128::from(subtotal) + exact_tax + i128::from(shipping_flat) > i128::from(i64::MAX));
                }
            }
        }

        #[test]
        fn tax_is_within_half_a_minor_unit_of_the_exact_value(
            subtotal in 0_i64..1_000_000_000_000,
            tax_bps in 0_u32..=10_000,
        ) {
            let totals = pricing(tax_bps).totals(Money::new(subtotal, usd())).expect("in range");
            let exact = i128::from(subtotal) * i128::from(tax_bps);
            let charged = i128::from(totals.tax.amount) * 10_000;
            prop_assert!((charged - exact).abs() <= 5_000);
            // A tie goes up, never down.
            prop_assert!(charged - exact != -5_000);
        }

        #[test]
        fn shipping_is_free_iff_the_subtotal_reaches_the_threshold(
            subtotal in 0_i64..100_000,
            shipping_flat in 1_u32..10_000,
            threshold in 0_u32..100_000,
        ) {
            let rules = Pricing { currency: usd(), tax_bps: 0, shipping_flat, free_shipping_threshold: threshold };
            let totals = rules.totals(Money::new(subtotal, usd())).expect("in range");
            let free = subtotal >= i64::from(threshold);
            prop_assert_eq!(totals.shipping.amount == 0, free);
            if !free {
                prop_assert_eq!(totals.shipping.amount, i64::from(shipping_flat));
            }
        }

        #[test]
        fn pricing_never_panics(
            amounts in proptest::collection::vec(any::<i64>(), 1..5),
            quantities in proptest::collection::vec(1_u32..=99, 1..5),
            tax_bps in any::<u32>(),
        ) {
            let prices: Vec<_> = amounts
                .iter()
                .enumerate()
                .map(|(i, &amount)| product(i as u128, amount, "USD", true))
                .collect();
            let items: Vec<_> = quantities
                .iter()
                .enumerate()
                .map(|(i, &q)| (Uuid::from_u128(i as u128), q))
                .collect();
            let rules = pricing(tax_bps);
            let outcome = rules
                .price_items(&items, &prices)
                .and_then(|priced| rules.subtotal(&priced.lines))
                .and_then(|subtotal| rules.totals(subtotal));
            if let Err(error) = outcome {
                prop_assert_eq!(error, MoneyError::Overflow);
            }
        }
    }
}
