//! The checkout's rules, without IO: the request's validation and fingerprint, how each
//! failure after the order was created ends it, and the problems checkout answers.

use contracts::address::Address;
use contracts::inventory::{InsufficientStock, ProductPrice};
use contracts::orders::{CardDetails, CheckoutRequest, OrderStatus, PaymentStatus};
use contracts::problem::{Problem, problem_types};
use kit::error::field_error;
use kit::{ApiError, ApiResult};
use serde::Serialize;
use uuid::Uuid;

use crate::idempotency::FingerprintKey;
use crate::payments;
use crate::pricing::{PricedLine, Unsellable};

/// A checkout request whose fields are valid.
#[derive(Debug, Clone)]
pub(crate) struct Checkout {
    pub(crate) shipping_address: Address,
    pub(crate) card: CardDetails,
}

/// What makes two checkout requests "the same": all of it, the address as parsed (trimmed)
/// and the card number without its spaces and dashes. It holds the card number and the CVC,
/// so it only ever exists to be hashed under the service's key ([`FingerprintKey`]): never
/// stored, logged or hashed without it.
#[derive(Serialize)]
struct Fingerprint<'a> {
    shipping_address: FingerprintAddress<'a>,
    card_number: String,
    exp_month: u8,
    exp_year: u16,
    cvc: &'a str,
}

/// The address as fingerprints have always hashed it: every field in this order, an absent
/// one as `null`. These bytes are frozen (unlike the address's JSON, which leaves absent
/// fields out): a key claimed by a replica of the previous release still matches its retry
/// on this one during a rolling update.
#[derive(Serialize)]
struct FingerprintAddress<'a> {
    recipient: &'a str,
    line1: &'a str,
    line2: Option<&'a str>,
    city: &'a str,
    postal_code: &'a str,
    region: Option<&'a str>,
    country: &'a str,
    phone: Option<&'a str>,
}

impl<'a> From<&'a Address> for FingerprintAddress<'a> {
    fn from(address: &'a Address) -> Self {
        Self {
            recipient: address.recipient(),
            line1: address.line1(),
            line2: address.line2(),
            city: address.city(),
            postal_code: address.postal_code(),
            region: address.region(),
            country: address.country(),
            phone: address.phone(),
        }
    }
}

impl Checkout {
    /// Parses the request: the address by the shop's one address rule ([`Address::parse`],
    /// the address book's too), the card by [`payments::validate_card`]. Every invalid field
    /// is named, under `shipping_address.` or `card.`.
    pub(crate) fn parse(request: CheckoutRequest, today: time::Date) -> ApiResult<Self> {
        let card_errors = payments::validate_card(&request.card, today);
        match Address::parse(request.shipping_address) {
            Ok(shipping_address) if card_errors.is_empty() => Ok(Self {
                shipping_address,
                card: request.card,
            }),
            parsed => {
                let mut errors = parsed
                    .err()
                    .map(|error| error.field_errors("shipping_address."))
                    .unwrap_or_default();
                errors.extend(card_errors);
                Err(ApiError::Validation(errors))
            }
        }
    }

    /// The request's fingerprint under `key`, as stored with its `Idempotency-Key`.
    pub(crate) fn fingerprint(&self, key: &FingerprintKey) -> ApiResult<String> {
        Ok(key.fingerprint(&self.canonical()?))
    }

    /// The bytes [`Checkout::fingerprint`] hashes.
    fn canonical(&self) -> ApiResult<Vec<u8>> {
        serde_json::to_vec(&Fingerprint {
            shipping_address: FingerprintAddress::from(&self.shipping_address),
            card_number: payments::digits(&self.card.number),
            exp_month: self.card.exp_month,
            exp_year: self.card.exp_year,
            cvc: &self.card.cvc,
        })
        .map_err(|e| ApiError::Internal(e.into()))
    }
}

/// Why a checkout stopped after its order was created; it says how the order ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Too little stock to reserve.
    OutOfStock,
    /// The product service could not be reached to reserve.
    ProductUnreachable,
    /// The card was declined, for this reason.
    Declined(String),
    /// The payment provider was down or too slow.
    ProviderUnavailable,
    /// Charged, but the product service let the reservation go.
    ReservationGone,
    /// Charged, but the product service could not be reached to commit the stock.
    StockNotCommitted,
    /// Charged and sold, but the order could not be marked paid: it was cancelled meanwhile
    /// (and is ended already), or the database failed (and the sweeper ends it).
    NotMarkedPaid,
}

/// How a failed checkout leaves its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ending {
    /// The order's final status.
    pub(crate) status: OrderStatus,
    /// Its payment's status.
    pub(crate) payment: PaymentStatus,
    /// Why, as the payment records it.
    pub(crate) reason: String,
}

impl Failure {
    /// How the order ends, given what became of a charge: `refunded` is `None` when nothing
    /// was charged, else whether the refund went through (a charge that could not be refunded
    /// stays `succeeded`, for an operator). `None` when the order is not this checkout's to end.
    pub(crate) fn ending(&self, refunded: Option<bool>) -> Option<Ending> {
        let (status, uncharged, reason) = match self {
            Self::OutOfStock => (
                OrderStatus::Cancelled,
                PaymentStatus::Voided,
                "insufficient_stock",
            ),
            Self::ProductUnreachable => (
                OrderStatus::Cancelled,
                PaymentStatus::Voided,
                "product_service_unavailable",
            ),
            Self::Declined(reason) => (
                OrderStatus::PaymentFailed,
                PaymentStatus::Declined,
                reason.as_str(),
            ),
            Self::ProviderUnavailable => (
                OrderStatus::PaymentFailed,
                PaymentStatus::Voided,
                "provider_unavailable",
            ),
            Self::ReservationGone => (
                OrderStatus::Cancelled,
                PaymentStatus::Voided,
                "reservation_gone",
            ),
            Self::StockNotCommitted => (
                OrderStatus::Cancelled,
                PaymentStatus::Voided,
                "stock_not_committed",
            ),
            Self::NotMarkedPaid => return None,
        };
        let payment = match refunded {
            None => uncharged,
            Some(true) => PaymentStatus::Refunded,
            Some(false) => PaymentStatus::Succeeded,
        };
        Some(Ending {
            status,
            payment,
            reason: reason.to_owned(),
        })
    }
}

/// 402: the card was declined.
pub(crate) fn declined(order_id: Uuid, reason: &str) -> ApiError {
    ApiError::Domain(Box::new(
        Problem::new(problem_types::PAYMENT_DECLINED, "Payment declined", 402)
            .with_detail(format!(
                "The card was declined ({reason}); try another card."
            ))
            .with_instance(format!("/api/v1/orders/{order_id}")),
    ))
}

/// 409: the product service let the order's stock go before it was paid.
pub(crate) fn stock_gone(order_id: Uuid) -> ApiError {
    ApiError::Domain(Box::new(
        Problem::new(problem_types::CONFLICT, "Stock no longer held", 409)
            .with_detail(
                "The stock held for this order was released before the payment completed, so \
                 the payment was refunded and the order cancelled. Check out again (with a new \
                 Idempotency-Key)."
                    .to_owned(),
            )
            .with_instance(format!("/api/v1/orders/{order_id}")),
    ))
}

/// Money that does not fit in `i64` minor units: far beyond any real cart.
pub(crate) fn too_large(error: contracts::money::MoneyError) -> ApiError {
    ApiError::invalid(
        "cart",
        "too_large",
        format!("the cart total is out of range: {error}"),
    )
}

/// 409 naming the products the catalog does not sell now, by name when it still has them;
/// `errors` has one entry per product, under `cart.{product_id}`.
pub(crate) fn not_for_sale(unsellable: &[Unsellable], prices: &[ProductPrice]) -> ApiError {
    let names: Vec<String> = unsellable
        .iter()
        .map(|u| {
            prices
                .iter()
                .find(|p| p.product_id == u.product_id())
                .map_or_else(|| u.product_id().to_string(), |p| p.name.clone())
        })
        .collect();
    ApiError::Conflict {
        detail: format!(
            "Some products in the cart are not for sale now: {}. Remove them from the cart and \
             check out again.",
            names.join(", ")
        ),
        errors: unsellable
            .iter()
            .map(|u| field_error(&format!("cart.{}", u.product_id()), u.code(), u.message()))
            .collect(),
    }
}

/// 409 naming the products that lack stock.
pub(crate) fn insufficient_stock(
    order_id: Uuid,
    lines: &[PricedLine],
    short: Vec<InsufficientStock>,
) -> ApiError {
    let names: Vec<String> = short
        .iter()
        .map(|s| {
            let name = lines
                .iter()
                .find(|line| line.product.product_id == s.product_id)
                .map_or_else(
                    || s.product_id.to_string(),
                    |line| line.product.name.clone(),
                );
            format!(
                "{name} ({} available, {} requested)",
                s.available, s.requested
            )
        })
        .collect();
    ApiError::Domain(Box::new(
        Problem::new(problem_types::INSUFFICIENT_STOCK, "Insufficient stock", 409)
            .with_detail(format!("Not enough stock for: {}.", names.join(", ")))
            .with_instance(format!("/api/v1/orders/{order_id}"))
            .with_insufficient_stock(short),
    ))
}

#[cfg(test)]
mod tests {
    use contracts::address::PostalAddress;
    use proptest::prelude::*;
    use time::macros::date;

    use super::*;

    fn request() -> CheckoutRequest {
        CheckoutRequest {
            shipping_address: PostalAddress {
                recipient: " Ada Lovelace ".to_owned(),
                line1: "1 Main St".to_owned(),
                line2: Some("  ".to_owned()),
                city: "Springfield".to_owned(),
                postal_code: "12345".to_owned(),
                region: None,
                country: "US".to_owned(),
                phone: Some("+1 (555) 010-0000".to_owned()),
            },
            card: CardDetails {
                number: "4242 4242 4242 4242".to_owned(),
                exp_month: 12,
                exp_year: 2030,
                cvc: "123".to_owned(),
            },
        }
    }

    const TODAY: time::Date = date!(2026 - 05 - 15);

    fn invalid_fields(request: CheckoutRequest) -> Vec<String> {
        match Checkout::parse(request, TODAY) {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_is_trimmed() {
        let checkout = Checkout::parse(request(), TODAY).expect("valid");
        assert_eq!(checkout.shipping_address.recipient(), "Ada Lovelace");
        assert_eq!(checkout.shipping_address.line2(), None);
    }

    #[test]
    fn each_bad_address_field_is_named() {
        let mut bad = request();
        bad.shipping_address.country = "usa".to_owned();
        bad.shipping_address.city = "   ".to_owned();
        bad.shipping_address.postal_code = "12#45".to_owned();
        bad.shipping_address.phone = Some("call me".to_owned());
        bad.shipping_address.recipient = "x".repeat(201);
        bad.card.cvc = "1".to_owned();
        assert_eq!(
            invalid_fields(bad),
            [
                "shipping_address.recipient",
                "shipping_address.city",
                "shipping_address.postal_code",
                "shipping_address.country",
                "shipping_address.phone",
                "card.cvc"
            ]
        );
        // One rule with the address book (issue #20 item 3): a country code is read in any
        // case and kept uppercase.
        let mut lowercase = request();
        lowercase.shipping_address.country = "us".to_owned();
        let checkout = Checkout::parse(lowercase, TODAY).expect("valid");
        assert_eq!(checkout.shipping_address.country(), "US");
    }

    #[test]
    fn the_fingerprinted_bytes_stay_those_of_earlier_releases() {
        let checkout = Checkout::parse(request(), TODAY).expect("valid");
        let canonical = String::from_utf8(checkout.canonical().expect("canonical")).expect("utf-8");
        assert_eq!(
            canonical,
            concat!(
                r#"{"shipping_address":{"recipient":"Ada Lovelace","line1":"1 Main St","#,
                r#""line2":null,"city":"Springfield","postal_code":"12345","region":null,"#,
                r#""country":"US","phone":"+1 (555) 010-0000"},"#,
                r#""card_number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}"#
            )
        );
    }

    #[test]
    fn the_fingerprint_covers_the_whole_card_under_the_key() {
        let key = FingerprintKey::new(b"0123456789abcdef0123456789abcdef");
        let fingerprint = |request: CheckoutRequest| {
            Checkout::parse(request, TODAY)
                .expect("valid")
                .fingerprint(&key)
                .expect("fingerprint")
        };
        let first = fingerprint(request());
        assert_eq!(first.len(), 64);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");

        // The same card written differently, or the address with other padding, is the same
        // request.
        let mut compact = request();
        compact.card.number = "4242424242424242".to_owned();
        compact.shipping_address.recipient = "Ada Lovelace".to_owned();
        assert_eq!(fingerprint(compact), first);

        // Any other card detail makes another request, the last four digits kept as well.
        let mut other_digits = request();
        other_digits.card.number = "4000 0000 0002 4242".to_owned();
        let mut other_cvc = request();
        other_cvc.card.cvc = "124".to_owned();
        let mut other_expiry = request();
        other_expiry.card.exp_month = 11;
        for other in [other_digits, other_cvc, other_expiry] {
            assert_ne!(fingerprint(other), first);
        }

        // Under another key the same request hashes differently: the value cannot be found
        // by hashing candidate cards without the key.
        let other_key = FingerprintKey::new(b"another secret, just as long as the first");
        let checkout = Checkout::parse(request(), TODAY).expect("valid");
        assert_ne!(
            checkout.fingerprint(&other_key).expect("fingerprint"),
            first
        );
    }

    #[test]
    fn a_declined_card_fails_the_payment_and_a_charge_is_refunded_or_kept() {
        let declined = Failure::Declined("card_declined".to_owned()).ending(None);
        assert_eq!(
            declined,
            Some(Ending {
                status: OrderStatus::PaymentFailed,
                payment: PaymentStatus::Declined,
                reason: "card_declined".to_owned(),
            })
        );
        let gone = |refunded| Failure::ReservationGone.ending(Some(refunded));
        assert_eq!(gone(true).map(|e| e.payment), Some(PaymentStatus::Refunded));
        assert_eq!(
            gone(false).map(|e| e.payment),
            Some(PaymentStatus::Succeeded)
        );
        assert_eq!(Failure::NotMarkedPaid.ending(Some(true)), None);
    }

    fn failure() -> impl Strategy<Value = Failure> {
        prop_oneof![
            Just(Failure::OutOfStock),
            Just(Failure::ProductUnreachable),
            "[a-z_]{1,20}".prop_map(Failure::Declined),
            Just(Failure::ProviderUnavailable),
            Just(Failure::ReservationGone),
            Just(Failure::StockNotCommitted),
            Just(Failure::NotMarkedPaid),
        ]
    }

    proptest! {
        #[test]
        fn an_ending_is_a_legal_move_and_records_what_became_of_the_money(
            failure in failure(),
            refunded in proptest::option::of(any::<bool>()),
        ) {
            if let Some(ending) = failure.ending(refunded) {
                prop_assert!(OrderStatus::Pending.can_transition_to(ending.status));
                prop_assert!(!ending.reason.is_empty());
                let charged = matches!(
                    ending.payment,
                    PaymentStatus::Refunded | PaymentStatus::Succeeded
                );
                prop_assert_eq!(charged, refunded.is_some());
                prop_assert_eq!(ending.payment == PaymentStatus::Refunded, refunded == Some(true));
            } else {
                prop_assert_eq!(failure, Failure::NotMarkedPaid);
            }
        }
    }
}
