//! Payments: the provider adapter, the built-in test provider, and card validation.
//!
//! The card number and CVC are handed to the provider and forgotten: only the last four digits
//! and the brand are stored, and `CardDetails`'s `Debug` redacts the rest, so no log line can
//! carry them.

use std::fmt;
use std::time::Duration;

use contracts::money::Money;
use contracts::orders::CardDetails;
use contracts::problem::FieldError;
use futures::future::BoxFuture;
use kit::error::field_error;
use time::Date;
use uuid::Uuid;

use crate::config::TestPaymentSettings;

/// What is asked of the provider: charge `amount` to `card` for `order_id`.
#[derive(Debug, Clone, Copy)]
pub struct PaymentRequest<'a> {
    /// The order, also the provider's idempotency key: authorising one order twice charges once.
    pub order_id: Uuid,
    /// The amount to charge.
    pub amount: Money,
    /// The card.
    pub card: &'a CardDetails,
}

/// The provider's answer to an authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorisation {
    /// The money is taken.
    Authorised {
        /// The provider's id of the payment, needed to refund it.
        payment_id: String,
    },
    /// The card was refused.
    Declined {
        /// Why, as a short code such as `card_declined` or `insufficient_funds`.
        reason: String,
    },
}

/// The provider could not be asked, or did not answer: nothing is known to have been charged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payment provider unavailable: {0}")]
pub struct ProviderUnavailable(pub String);

/// A payment service provider.
pub trait PaymentProvider: fmt::Debug + Send + Sync + 'static {
    /// The provider's name, stored with each payment.
    fn name(&self) -> &'static str;

    /// Charges the card.
    fn authorise<'a>(
        &'a self,
        request: PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<Authorisation, ProviderUnavailable>>;

    /// Gives a charged payment back in full; repeating it is harmless.
    fn refund<'a>(
        &'a self,
        payment_id: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<(), ProviderUnavailable>>;
}

/// Waits at most `deadline` for a provider call: a provider that does not answer in time
/// counts as unavailable, so a hanging provider cannot hold a checkout (or an order's row lock
/// during a refund) for ever.
pub async fn within<T>(
    deadline: Duration,
    call: impl Future<Output = Result<T, ProviderUnavailable>>,
) -> Result<T, ProviderUnavailable> {
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or_else(|_| {
            Err(ProviderUnavailable(format!(
                "no answer within {} ms",
                deadline.as_millis()
            )))
        })
}

/// The built-in provider for development and tests; it never touches real money.
///
/// - `4242 4242 4242 4242` (Visa) and `5555 5555 5555 4444` (Mastercard) are charged;
/// - `4000 0000 0000 0002` is declined (`card_declined`);
/// - `4000 0000 0000 9995` is declined for `insufficient_funds`;
/// - any other card is declined (`unknown_test_card`), so a real card is never "charged".
///
/// Every call waits `PAYMENT_TEST_LATENCY_MS`, and fails as if the provider were down with the
/// probability `PAYMENT_TEST_FAILURE_RATE`.
#[derive(Debug, Clone, Copy)]
pub struct TestPaymentProvider {
    latency: Duration,
    failure_rate: f64,
}

impl TestPaymentProvider {
    /// A provider with the given latency and failure rate.
    pub fn new(settings: TestPaymentSettings) -> Self {
        Self {
            latency: settings.latency,
            failure_rate: settings.failure_rate.get(),
        }
    }

    /// Waits the configured latency, then fails with the configured probability.
    async fn behave(&self) -> Result<(), ProviderUnavailable> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if self.failure_rate > 0.0 && random_unit() < self.failure_rate {
            return Err(ProviderUnavailable(
                "simulated test provider failure".to_owned(),
            ));
        }
        Ok(())
    }
}

/// A uniformly distributed number in `[0, 1)`.
fn random_unit() -> f64 {
    // 53 random bits fill an f64 mantissa exactly. Without OS randomness, fail safe: never
    // simulate a failure.
    getrandom::u64().map_or(1.0, |bits| (bits >> 11) as f64 / (1_u64 << 53) as f64)
}

impl PaymentProvider for TestPaymentProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    fn authorise<'a>(
        &'a self,
        request: PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<Authorisation, ProviderUnavailable>> {
        Box::pin(async move {
            self.behave().await?;
            let outcome = match digits(&request.card.number).as_str() {
                "4242424242424242" | "5555555555554444" => Authorisation::Authorised {
                    payment_id: format!("test_pay_{}", request.order_id.simple()),
                },
                "4000000000000002" => declined("card_declined"),
                "4000000000009995" => declined("insufficient_funds"),
                _ => declined("unknown_test_card"),
            };
            Ok(outcome)
        })
    }

    fn refund<'a>(
        &'a self,
        _payment_id: &'a str,
        _amount: Money,
    ) -> BoxFuture<'a, Result<(), ProviderUnavailable>> {
        Box::pin(self.behave())
    }
}

fn declined(reason: &str) -> Authorisation {
    Authorisation::Declined {
        reason: reason.to_owned(),
    }
}

/// The digits of a card number, without spaces or dashes.
pub(crate) fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// The brand a card number belongs to, by its prefix, when it is one of the common ones.
pub fn brand(number: &str) -> Option<&'static str> {
    let digits = digits(number);
    let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
    match (prefix(1), prefix(2), prefix(4)) {
        (Some(4), _, _) => Some("visa"),
        (_, Some(51..=55), _) | (_, _, Some(2221..=2720)) => Some("mastercard"),
        (_, Some(34 | 37), _) => Some("amex"),
        _ => None,
    }
}

/// Whether `digits` (ASCII digits only) pass the Luhn check.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .map(|b| u32::from(b - b'0'))
        .enumerate()
        .map(|(i, d)| match (i % 2, d * 2) {
            (0, _) => d,
            (_, doubled) if doubled > 9 => doubled - 9,
            (_, doubled) => doubled,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Checks a card as far as it can be checked without the provider: the number (12 to 19
/// digits, spaces and dashes allowed, passing the Luhn check), the expiry (a month of this year
/// or later, at most 20 years ahead) and the CVC (3 or 4 digits). Each failure names its field
/// under `card.`.
pub fn validate_card(card: &CardDetails, today: Date) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let number_ok = card
        .number
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-');
    let digits = digits(&card.number);
    if !number_ok || !(12..=19).contains(&digits.len()) {
        errors.push(field_error(
            "card.number",
            "format",
            "must be 12 to 19 digits (spaces and dashes allowed)",
        ));
    } else if !luhn(&digits) {
        errors.push(field_error(
            "card.number",
            "checksum",
            "is not a valid card number",
        ));
    }
    if !(1..=12).contains(&card.exp_month) {
        errors.push(field_error("card.exp_month", "range", "must be 1 to 12"));
    }
    let this_year = today.year();
    let year = i32::from(card.exp_year);
    if year > this_year + 20 {
        errors.push(field_error(
            "card.exp_year",
            "range",
            "must be a four-digit year at most 20 years ahead",
        ));
    } else if (1..=12).contains(&card.exp_month)
        && (year, card.exp_month) < (this_year, u8::from(today.month()))
    {
        errors.push(field_error(
            "card.exp_year",
            "expired",
            "the card has expired",
        ));
    }
    if !(3..=4).contains(&card.cvc.len()) || !card.cvc.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(field_error("card.cvc", "format", "must be 3 or 4 digits"));
    }
    errors
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use time::macros::date;

    use super::*;
    use crate::config::Rate;

    fn card(number: &str, exp_month: u8, exp_year: u16, cvc: &str) -> CardDetails {
        CardDetails {
            number: number.to_owned(),
            exp_month,
            exp_year,
            cvc: cvc.to_owned(),
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors
            .iter()
            .map(|e| (e.field.as_str(), e.code.as_str()))
            .collect()
    }

    const TODAY: Date = date!(2026 - 05 - 15);

    #[test]
    fn the_test_cards_are_valid() {
        for number in [
            "4242 4242 4242 4242",
            "4000-0000-0000-0002",
            "4000000000009995",
            "5555555555554444",
        ] {
            assert!(
                validate_card(&card(number, 5, 2026, "123"), TODAY).is_empty(),
                "{number}"
            );
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let errors = validate_card(&card("4242 4242 4242 4241", 13, 2026, "12"), TODAY);
        assert_eq!(
            fields(&errors),
            [
                ("card.number", "checksum"),
                ("card.exp_month", "range"),
                ("card.cvc", "format")
            ]
        );
        let errors = validate_card(&card("4242x4242", 4, 2026, "12345"), TODAY);
        assert_eq!(
            fields(&errors),
            [
                ("card.number", "format"),
                ("card.exp_year", "expired"),
                ("card.cvc", "format")
            ]
        );
        let errors = validate_card(&card("4242424242424242", 1, 2099, "1234"), TODAY);
        assert_eq!(fields(&errors), [("card.exp_year", "range")]);
    }

    #[test]
    fn a_card_is_valid_through_its_expiry_month() {
        assert!(validate_card(&card("4242424242424242", 5, 2026, "123"), TODAY).is_empty());
        assert!(!validate_card(&card("4242424242424242", 12, 2025, "123"), TODAY).is_empty());
    }

    #[test]
    fn brands_by_prefix() {
        assert_eq!(brand("4242 4242 4242 4242"), Some("visa"));
        assert_eq!(brand("5555555555554444"), Some("mastercard"));
        assert_eq!(brand("2223003122003222"), Some("mastercard"));
        assert_eq!(brand("378282246310005"), Some("amex"));
        assert_eq!(brand("6011111111111117"), None);
        assert_eq!(brand(""), None);
    }

    fn provider(failure_rate: &str) -> TestPaymentProvider {
        TestPaymentProvider::new(TestPaymentSettings {
            latency: Duration::ZERO,
            failure_rate: failure_rate.parse::<Rate>().expect("valid rate"),
        })
    }

    async fn authorise(provider: &TestPaymentProvider, number: &str) -> Authorisation {
        let usd = contracts::money::Currency::parse("USD").expect("valid");
        provider
            .authorise(PaymentRequest {
                order_id: Uuid::from_u128(7),
                amount: Money::new(1000, usd),
                card: &card(number, 12, 2030, "123"),
            })
            .await
            .expect("no failures configured")
    }

    #[tokio::test]
    async fn test_provider_answers_by_card_number() {
        let provider = provider("0");
        let first = authorise(&provider, "4242 4242 4242 4242").await;
        assert!(matches!(first, Authorisation::Authorised { .. }));
        assert_eq!(
            authorise(&provider, "4242424242424242").await,
            first,
            "one order is charged once"
        );
        assert_eq!(
            authorise(&provider, "4000 0000 0000 0002").await,
            declined("card_declined")
        );
        assert_eq!(
            authorise(&provider, "4000 0000 0000 9995").await,
            declined("insufficient_funds")
        );
        assert_eq!(
            authorise(&provider, "378282246310005").await,
            declined("unknown_test_card")
        );
    }

    #[tokio::test]
    async fn test_provider_fails_at_the_configured_rate() {
        let usd = contracts::money::Currency::parse("USD").expect("valid");
        let always = provider("1");
        let result = always
            .authorise(PaymentRequest {
                order_id: Uuid::from_u128(7),
                amount: Money::new(1000, usd),
                card: &card("4242424242424242", 12, 2030, "123"),
            })
            .await;
        assert!(result.is_err());
        assert!(
            always
                .refund("test_pay_x", Money::new(1, usd))
                .await
                .is_err()
        );
        assert!(
            provider("0")
                .refund("test_pay_x", Money::new(1, usd))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_provider_slower_than_the_deadline_counts_as_unavailable() {
        let slow = TestPaymentProvider::new(TestPaymentSettings {
            latency: Duration::from_secs(60),
            failure_rate: Rate::default(),
        });
        let usd = contracts::money::Currency::parse("USD").expect("valid");
        let started = std::time::Instant::now();
        let outcome = within(
            Duration::from_millis(50),
            slow.refund("test_pay_x", Money::new(1, usd)),
        )
        .await;
        assert_eq!(
            outcome,
            Err(ProviderUnavailable("no answer within 50 ms".to_owned()))
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "it did not wait for the provider"
        );
        let fast = provider("0");
        assert_eq!(
            within(
                Duration::from_millis(50),
                fast.refund("test_pay_x", Money::new(1, usd))
            )
            .await,
            Ok(())
        );
    }

    proptest! {
        #[test]
        fn one_changed_digit_breaks_the_checksum(position in 0_usize..16, delta in 1_u8..10) {
            let valid = "4242424242424242";
            let mut bytes = valid.as_bytes().to_vec();
            bytes[position] = b'0' + (bytes[position] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).expect("ascii");
            prop_assert!(luhn(valid));
            prop_assert!(!luhn(&changed));
        }

        #[test]
        fn validation_never_panics(number in "\\PC{0,30}", month in any::<u8>(), year in any::<u16>(), cvc in "\\PC{0,6}") {
            let _ = validate_card(&card(&number, month, year, &cvc), TODAY);
            let _ = brand(&number);
        }

        #[test]
        fn random_unit_is_in_range(_ in 0..100_u8) {
            let x = random_unit();
            prop_assert!((0.0..1.0).contains(&x));
        }
    }
}
