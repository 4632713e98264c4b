//! Money: integer minor units plus an ISO 4217 currency, with checked arithmetic.
//!
//! Amounts are `i64` minor units (cents for USD), never floats, so sums are exact.
//! Every operation that can overflow or mix currencies returns a [`MoneyError`]
//! instead of panicking or wrapping.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency code: exactly three uppercase ASCII letters, e.g. `USD`.
///
/// Only [`Currency::parse`] builds one, so holding a `Currency` means holding a well-formed code.
/// It does not check the code against the ISO list: which currencies a shop sells is configuration.
/// On the wire it is a plain string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, example = "USD")
)]
pub struct Currency([u8; 3]);

/// A string that is not three uppercase ASCII letters was given as a currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid currency {0:?}: expected three uppercase ASCII letters (ISO 4217), like \"USD\"")]
pub struct InvalidCurrency(String);

impl Currency {
    /// Parses a currency code. It is strict: no trimming, no case folding, so `"usd"` and
    /// `" USD"` are rejected rather than silently normalised.
    pub fn parse(code: &str) -> Result<Self, InvalidCurrency> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(InvalidCurrency(code.to_owned())),
        }
    }

    /// The code as a string slice, e.g. `"USD"`.
    pub fn as_str(&self) -> &str {
        // The bytes are uppercase ASCII by construction, so this never fails.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Currency {
    type Err = InvalidCurrency;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = InvalidCurrency;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.as_str().to_owned()
    }
}

/// Why a money operation has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The operands are in different currencies; there is no exchange rate here.
    #[error("cannot combine {left} with {right}")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },
    /// The result does not fit in `i64` minor units.
    #[error("amount out of range")]
    Overflow,
}

/// An amount of money: `{"amount": 1999, "currency": "USD"}` is 19.99 US dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    /// The amount in the currency's minor units (cents for USD, yen for JPY).
    pub amount: i64,
    /// The ISO 4217 currency.
    pub currency: Currency,
}

impl Money {
    /// Money of `amount` minor units in `currency`.
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Zero in `currency`: the start of a sum.
    pub const fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// `self + rhs`, or an error if the currencies differ or the sum overflows.
    pub fn checked_add(self, rhs: Self) -> Result<Self, MoneyError> {
        if self.currency != rhs.currency {
            return Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: rhs.currency,
            });
        }
        self.amount
            .checked_add(rhs.amount)
            .map(|amount| Self::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// `self × quantity` (a line total), or [`MoneyError::Overflow`].
    pub fn checked_mul(self, quantity: u32) -> Result<Self, MoneyError> {
        self.amount
            .checked_mul(i64::from(quantity))
            .map(|amount| Self::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The sum of `items`, all in `currency` (so an empty sum is zero in a known currency).
    pub fn checked_sum<I>(currency: Currency, items: I) -> Result<Self, MoneyError>
    where
        I: IntoIterator<Item = Self>,
    {
        items
            .into_iter()
            .try_fold(Self::zero(currency), Self::checked_add)
    }

    /// `self × bps / 10 000`: a rate in basis points (`725` is 7.25 %), e.g. tax on a subtotal.
    ///
    /// The result is rounded to the nearest minor unit, **half away from zero**: for the
    /// non-negative amounts a shop charges that is round-half-up (`0.5` cents becomes `1`),
    /// and a negative amount (a refund) rounds to the exact negation of its positive
    /// counterpart. The product is computed in `i128`, so the only failure is a result
    /// outside `i64` ([`MoneyError::Overflow`]).
    pub fn percent_bps(self, bps: u32) -> Result<Self, MoneyError> {
        const SCALE: i128 = 10_000;
        let exact = i128::from(self.amount) * i128::from(bps);
        let half = SCALE / 2;
        // Integer division truncates toward zero, so nudging by half a unit away from
        // zero first gives half-away-from-zero rounding.
        let rounded = if exact >= 0 {
            (exact + half) / SCALE
        } else {
            (exact - half) / SCALE
        };
        i64::try_from(rounded)
            .map(|amount| Self::new(amount, self.currency))
            .map_err(|_| MoneyError::Overflow)
    }
}

impl fmt::Display for Money {
    /// `1999 USD`: minor units and code, because the number of decimals depends on the currency.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("USD is a valid code")
    }

    fn eur() -> Currency {
        Currency::parse("EUR").expect("EUR is a valid code")
    }

    fn usd_amount(amount: i64) -> Money {
        Money::new(amount, usd())
    }

    #[test]
    fn currency_accepts_three_uppercase_letters() {
        for code in ["USD", "EUR", "JPY", "AAA", "ZZZ"] {
            let currency = Currency::parse(code).expect("valid code");
            assert_eq!(currency.as_str(), code);
            assert_eq!(currency.to_string(), code);
            assert_eq!(code.parse::<Currency>(), Ok(currency));
        }
    }

    #[test]
    fn currency_rejects_everything_else() {
        for code in [
            "", "U", "US", "USDD", "usd", "Usd", "uSD", " USD", "USD ", "U D", "U1D", "123", "US$",
            "ÜSD", "УСД", "US\0", "@SD", "[SD",
        ] {
            let err = Currency::parse(code).expect_err(code);
            assert!(
                err.to_string().contains("three uppercase ASCII letters"),
                "{err}"
            );
        }
    }

    #[test]
    fn currency_is_a_json_string_and_rejects_bad_codes_on_the_wire() {
        assert_eq!(
            serde_json::to_value(usd()).expect("serialize"),
            json!("USD")
        );
        let parsed: Currency = serde_json::from_value(json!("EUR")).expect("deserialize");
        assert_eq!(parsed, eur());
        assert!(serde_json::from_value::<Currency>(json!("eur")).is_err());
        assert!(serde_json::from_value::<Currency>(json!(840)).is_err());
    }

    #[test]
    fn money_wire_shape_is_amount_and_currency() {
        let money = usd_amount(1999);
        let text = serde_json::to_string(&money).expect("serialize");
        assert_eq!(text, r#"{"amount":1999,"currency":"USD"}"#);
        assert_eq!(
            serde_json::from_str::<Money>(&text).expect("deserialize"),
            money
        );
    }

    #[test]
    fn money_rejects_floats_unknown_fields_and_bad_currencies() {
        for bad in [
            json!({"amount": 19.99, "currency": "USD"}),
            json!({"amount": "1999", "currency": "USD"}),
            json!({"amount": 1999, "currency": "usd"}),
            json!({"amount": 1999}),
            json!({"amount": 1999, "currency": "USD", "scale": 2}),
        ] {
            assert!(
                serde_json::from_value::<Money>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn adding_different_currencies_is_an_error() {
        assert_eq!(
            usd_amount(1).checked_add(Money::new(1, eur())),
            Err(MoneyError::CurrencyMismatch {
                left: usd(),
                right: eur()
            })
        );
        assert_eq!(
            Money::checked_sum(usd(), [usd_amount(1), Money::new(2, eur())]),
            Err(MoneyError::CurrencyMismatch {
                left: usd(),
                right: eur()
            })
        );
    }

    #[test]
    fn sums_start_at_zero_in_the_given_currency() {
        assert_eq!(Money::checked_sum(eur(), []), Ok(Money::zero(eur())));
        assert_eq!(
            Money::checked_sum(usd(), [usd_amount(1999), usd_amount(1), usd_amount(-500)]),
            Ok(usd_amount(1500))
        );
        assert_eq!(
            Money::checked_sum(usd(), [usd_amount(i64::MAX), usd_amount(1)]),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn percent_rounds_half_away_from_zero() {
        // 7.25 % of 19.99 = 144.9275 cents -> 145.
        assert_eq!(usd_amount(1999).percent_bps(725), Ok(usd_amount(145)));
        // 10 % of 5 cents = 0.5 -> 1; of 4 cents = 0.4 -> 0.
        assert_eq!(usd_amount(5).percent_bps(1000), Ok(usd_amount(1)));
        assert_eq!(usd_amount(4).percent_bps(1000), Ok(usd_amount(0)));
        assert_eq!(usd_amount(15).percent_bps(1000), Ok(usd_amount(2)));
        assert_eq!(usd_amount(-5).percent_bps(1000), Ok(usd_amount(-1)));
        assert_eq!(usd_amount(-4).percent_bps(1000), Ok(usd_amount(0)));
        assert_eq!(usd_amount(1234).percent_bps(0), Ok(usd_amount(0)));
        assert_eq!(usd_amount(1234).percent_bps(10_000), Ok(usd_amount(1234)));
        assert_eq!(
            usd_amount(i64::MAX).percent_bps(10_000),
            Ok(usd_amount(i64::MAX))
        );
        assert_eq!(
            usd_amount(i64::MAX).percent_bps(10_001),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            usd_amount(i64::MIN).percent_bps(u32::MAX),
            Err(MoneyError::Overflow)
        );
    }

    proptest! {
        #[test]
        fn currency_parse_round_trips(code in "[A-Z]{3}") {
            let currency = Currency::parse(&code).expect("three uppercase letters");
            prop_assert_eq!(currency.as_str(), code.as_str());
            let json = serde_json::to_string(&currency).expect("serialize");
            prop_assert_eq!(serde_json::from_str::<Currency>(&json).expect("deserialize"), currency);
        }

        #[test]
        fn currency_rejects_anything_not_three_uppercase_letters(code in "\\PC{0,6}") {
            let valid = code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase());
            prop_assert_eq!(Currency::parse(&code).is_ok(), valid);
        }

        #[test]
        fn add_is_exact_or_overflow_never_panics(a in any::<i64>(), b in any::<i64>()) {
            let exact = i128::from(a) + i128::from(b);
            let expected = i64::try_from(exact).map(usd_amount).map_err(|_| MoneyError::Overflow);
            prop_assert_eq!(usd_amount(a).checked_add(usd_amount(b)), expected);
        }

        #[test]
        fn add_is_commutative(a in any::<i64>(), b in any::<i64>()) {
            prop_assert_eq!(
                usd_amount(a).checked_add(usd_amount(b)),
                usd_amount(b).checked_add(usd_amount(a))
            );
        }

        #[test]
        fn add_is_associative_when_nothing_overflows(
            a in -(1_i64 << 61)..(1_i64 << 61),
            b in -(1_i64 << 61)..(1_i64 << 61),
            c in -(1_i64 << 61)..(1_i64 << 61),
        ) {
            let (a, b, c) = (usd_amount(a), usd_amount(b), usd_amount(c));
            let left = a.checked_add(b).and_then(|ab| ab.checked_add(c));
            let right = b.checked_add(c).and_then(|bc| a.checked_add(bc));
            prop_assert!(left.is_ok());
            prop_assert_eq!(left, right);
        }

        #[test]
        fn mul_is_exact_or_overflow_never_panics(amount in any::<i64>(), quantity in any::<u32>()) {
            let exact = i128::from(amount) * i128::from(quantity);
            let expected = i64::try_from(exact).map(usd_amount).map_err(|_| MoneyError::Overflow);
            prop_assert_eq!(usd_amount(amount).checked_mul(quantity), expected);
        }

        #[test]
        fn mul_by_quantity_is_repeated_addition(amount in -1_000_000_i64..1_000_000, quantity in 0_u32..50) {
            let repeated = Money::checked_sum(usd(), (0..quantity).map(|_| usd_amount(amount)));
            prop_assert_eq!(usd_amount(amount).checked_mul(quantity), repeated);
        }

        #[test]
        fn percent_is_within_half_a_minor_unit_and_ties_round_up(
            amount in 0_i64..=i64::MAX,
            bps in 0_u32..=100_000,
        ) {
            let exact = i128::from(amount) * i128::from(bps);
            match usd_amount(amount).percent_bps(bps) {
                Ok(result) => {
                    let scaled = i128::from(result.amount) * 10_000;
                    // Never more than half a minor unit off the exact value...
                    prop_assert!((scaled - exact).abs() <= 5_000);
                    // ...and an exact half goes up.
                    prop_assert!(scaled - exact != -5_000);
                    prop_assert!(result.amount >= 0);
                    if bps <= 10_000 {
                        prop_assert!(result.amount <= amount);
                    }
                }
                Err(err) => {
                    prop_assert_eq!(err, MoneyError::Overflow);
                    prop_assert!((exact + 5_000) / 10_000 > i128::from(i64::MAX));
                }
            }
        }

        #[test]
        fn percent_of_a_negative_amount_mirrors_the_positive(amount in 0_i64..=i64::MAX, bps in any::<u32>()) {
            let positive = usd_amount(amount).percent_bps(bps);
            let negative = usd_amount(-amount).percent_bps(bps);
            prop_assert_eq!(negative.map(|m| m.amount), positive.map(|m| -m.amount));
        }

        #[test]
        fn percent_is_monotonic_in_the_rate(amount in 0_i64..1_000_000_000_000, bps in 0_u32..100_000) {
            let lower = usd_amount(amount).percent_bps(bps).expect("in range");
            let higher = usd_amount(amount).percent_bps(bps + 1).expect("in range");
            prop_assert!(lower.amount <= higher.amount);
        }
    }
}
