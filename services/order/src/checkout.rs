//! `POST /api/v1/checkout`: the cart becomes a paid order, exactly once per `Idempotency-Key`.
//!
//! The steps, each one's failure and what it leaves behind:
//!
//! 1. The request is validated (address, card): 422 naming the field; nothing is written.
//! 2. The key is claimed ([`idempotency`]); a repeated request replays the first's response.
//! 3. The cart is read (empty: 422 naming `cart`) and priced by the product service; products
//!    it does not sell now (the cart's `unavailable` lines) are a 409 naming them, and the
//!    cart is kept as it is. Totals follow [`crate::pricing`].
//! 4. The order is created `pending`, with its lines, a pending payment (last four digits and
//!    brand of the card only) and `order.placed`, in one transaction.
//! 5. Stock is reserved (idempotent by order id). Too little: the order is `cancelled` and the
//!    answer is 409 `/problems/insufficient-stock` listing the products. The product service
//!    unreachable: the order is `cancelled` right away and the answer is 503; should even that
//!    write fail, the sweeper cancels the order once it is older than `PENDING_ORDER_TTL_SECS`.
//!    Cancelling writes `order.cancelled`, on which the product service releases whatever it
//!    may have reserved before the connection broke.
//! 6. The card is charged, waiting at most `PAYMENT_TIMEOUT_MS`. Declined: the stock is
//!    released, the order is `payment_failed`, and the answer is 402
//!    `/problems/payment-declined`. The provider down or too slow: the same, answered 503. (The
//!    provider is asked with the order id as its idempotency key, so a charge it made after
//!    the deadline all the same is tied to an order that can no longer be paid, for
//!    reconciliation with the provider's records.)
//! 7. Charged: the reservation is committed, and only once the product service confirmed it
//!    is the order `paid` with `order.paid`, and the bought products leave the cart, in one
//!    transaction. Answer: 201 with the order. So a paid order always has its stock sold.
//!    Should the commit not be confirmed — the reservation is gone (it expired, or was
//!    released, while the card was being charged) or the product service cannot be reached
//!    even after retries — the payment is refunded, the order is `cancelled` with the payment
//!    `refunded` (still `succeeded` if the refund failed too, for an operator), whatever is
//!    still held is released, the cart is kept, and the answer is 409 `/problems/conflict`
//!    (gone; checking out again reserves afresh) or 503 (unreachable).
//!
//! Why not mark the order paid first and let `order.paid` commit the stock later, as the
//! event does anyway: the product service cannot commit a reservation that expired, and
//! dead-letters that event; and after an outage of the product service its expiry sweeper
//! may well run before the event arrives. The order would stay paid with nothing sold, and
//! the units sold to someone else. Committing first costs no extra call: the commit was always
//! made during checkout. For the same reason the settings demand that a reservation outlive
//! every order that may still be paid: `RESERVATION_TTL_SECS` is at least
//! `PENDING_ORDER_TTL_SECS` + `PAYMENT_TIMEOUT_MS` + a minute ([`crate::config`]), so the
//! refund of step 7 is for the unusual case (a reservation released by hand, clocks far
//! apart), not for a slow payment.
//!
//! The work runs in its own task, so a client that disconnects half-way does not leave the
//! order (or its key) half-done.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use contracts::inventory::{InsufficientStock, ProductPrice, ReserveLine, ReserveRequest};
use contracts::money::Money;
use contracts::orders::{
    CardDetails, CheckoutRequest, Order, OrderStatus, PaymentStatus, ShippingAddress,
};
use contracts::problem::{FieldError, PROBLEM_JSON, Problem, problem_types};
use kit::error::field_error;
use kit::identity::Identity;
use kit::{ApiError, ApiResult, Json};
use serde::Serialize;
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use crate::AppState;
use crate::cart;
use crate::catalog_client::{Commit, ReserveOutcome};
use crate::idempotency::{self, Claim, FingerprintKey, StoredResponse};
use crate::orders::{self, NewOrder};
use crate::payments::{self, Authorisation, PaymentRequest};
use crate::pricing::{PricedLine, Unsellable};

/// The checkout endpoint.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/checkout", post(checkout))
}

/// Turn the cart into a paid order, exactly once per `Idempotency-Key`.
///
/// A retry with the same key and request gets the first answer again; 5xx answers are not
/// remembered, so a retry after one does the work again. The steps are in the module docs.
#[utoipa::path(
    post,
    path = "/api/v1/checkout",
    tag = "checkout",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = String, Header,
            description = "1 to 255 visible ASCII characters, unique per checkout and the same when retrying it"),
    ),
    request_body = CheckoutRequest,
    responses(
        (status = 201, description = "The order, paid", body = Order),
        (status = 400, description = "The Idempotency-Key header is missing or malformed", body = Problem, content_type = PROBLEM_JSON),
        (status = 401, description = "Not signed in", body = Problem, content_type = PROBLEM_JSON),
        (status = 402, description = "The card was declined", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "Stock is short (`insufficient_stock` lists the products), a product in the cart is not for sale now (`errors` names each as `cart.{product_id}`), the stock held for the order was released before its payment completed (the payment is refunded), or the same key is still being processed", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is invalid or the cart is empty; `errors` names it", body = Problem, content_type = PROBLEM_JSON),
        (status = 503, description = "The product service or the payment provider is unavailable; retry with the same key", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn checkout(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    Json(request): Json<CheckoutRequest>,
) -> ApiResult<Response> {
    let key = idempotency::key_from(&headers)?;
    let checkout = Checkout::parse(request, OffsetDateTime::now_utc().date())?;
    let hash = checkout.fingerprint(&state.fingerprint_key)?;
    let user_id = identity.user_id;
    match idempotency::claim(
        &state.pool,
        user_id,
        &key,
        &hash,
        state.checkout.idempotency_wait,
    )
    .await?
    {
        Claim::Replay(response) => Ok(response.into_response()),
        Claim::First => {
            let task = tokio::spawn(
                async move {
                    let outcome = place_order(&state, user_id, &checkout).await;
                    finish(&state, user_id, &key, outcome).await
                }
                .instrument(tracing::Span::current()),
            );
            task.await
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("checkout task failed: {e}")))
        }
    }
}

/// Stores the outcome under the key (or gives the key up for a 5xx) and renders it.
async fn finish(state: &AppState, user_id: Uuid, key: &str, outcome: ApiResult<Order>) -> Response {
    state.metrics.checkout(&outcome);
    let stored = match outcome {
        Ok(order) => serde_json::to_vec(&order)
            .map(|body| StoredResponse {
                status: StatusCode::CREATED,
                content_type: "application/json".to_owned(),
                body,
            })
            .map_err(|e| ApiError::Internal(e.into())),
        Err(error) if error.status().is_server_error() => Err(error),
        Err(error) => serde_json::to_vec(&error.to_problem())
            .map(|body| StoredResponse {
                status: error.status(),
                content_type: PROBLEM_JSON.to_owned(),
                body,
            })
            .map_err(|e| ApiError::Internal(e.into())),
    };
    match stored {
        Ok(response) => {
            if let Err(error) = idempotency::complete(&state.pool, user_id, key, &response).await {
                // The order is settled either way; a retry will wait for the key, then redo
                // the checkout after the sweeper frees it.
                tracing::error!(%error, "could not store a checkout response");
            }
            response.into_response()
        }
        Err(error) => {
            if let Err(cause) = idempotency::abandon(&state.pool, user_id, key).await {
                tracing::error!(error = %cause, "could not release an idempotency key");
            }
            error.into_response()
        }
    }
}

/// A checkout request whose fields are valid.
#[derive(Debug, Clone)]
struct Checkout {
    shipping_address: ShippingAddress,
    card: CardDetails,
}

/// What makes two checkout requests "the same": all of it, the address as validated (trimmed)
/// and the card number without its spaces and dashes. It holds the card number and the CVC,
/// so it only ever exists to be hashed under the service's key ([`FingerprintKey`]): never
/// stored, logged or hashed without it.
#[derive(Serialize)]
struct Fingerprint<'a> {
    shipping_address: &'a ShippingAddress,
    card_number: String,
    exp_month: u8,
    exp_year: u16,
    cvc: &'a str,
}

impl Checkout {
    /// Validates the request: every invalid field is named, under `shipping_address.` or
    /// `card.`.
    fn parse(request: CheckoutRequest, today: time::Date) -> ApiResult<Self> {
        let shipping_address = ShippingAddress::from(request.shipping_address);
        let (shipping_address, mut errors) = validate_address(shipping_address);
        errors.extend(payments::validate_card(&request.card, today));
        if errors.is_empty() {
            Ok(Self {
                shipping_address,
                card: request.card,
            })
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    /// The request's fingerprint under `key`, as stored with its `Idempotency-Key`.
    fn fingerprint(&self, key: &FingerprintKey) -> ApiResult<String> {
        let canonical = serde_json::to_vec(&Fingerprint {
            shipping_address: &self.shipping_address,
            card_number: payments::digits(&self.card.number),
            exp_month: self.card.exp_month,
            exp_year: self.card.exp_year,
            cvc: &self.card.cvc,
        })
        .map_err(|e| ApiError::Internal(e.into()))?;
        Ok(key.fingerprint(&canonical))
    }
}

/// Trims the address and checks each field; an empty optional field becomes absent.
fn validate_address(address: ShippingAddress) -> (ShippingAddress, Vec<FieldError>) {
    let mut errors = Vec::new();
    let mut required = |field: &str, value: String, max: usize| {
        let value = value.trim().to_owned();
        if value.is_empty() {
            errors.push(field_error(
                &format!("shipping_address.{field}"),
                "required",
                "must not be empty",
            ));
        } else if value.chars().count() > max || value.chars().any(char::is_control) {
            errors.push(field_error(
                &format!("shipping_address.{field}"),
                "format",
                format!("must be at most {max} characters, without control characters"),
            ));
        }
        value
    };
    let recipient = required("recipient", address.recipient, 200);
    let line1 = required("line1", address.line1, 200);
    let city = required("city", address.city, 100);
    let postal_code = required("postal_code", address.postal_code, 20);
    let country = required("country", address.country, 2);
    let mut optional = |field: &str, value: Option<String>, max: usize| {
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > max || v.chars().any(char::is_control))
        {
            errors.push(field_error(
                &format!("shipping_address.{field}"),
                "format",
                format!("must be at most {max} characters, without control characters"),
            ));
        }
        value
    };
    let line2 = optional("line2", address.line2, 200);
    let region = optional("region", address.region, 100);
    let phone = optional("phone", address.phone, 30);
    if !postal_code.is_empty()
        && !postal_code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
    {
        errors.push(field_error(
            "shipping_address.postal_code",
            "format",
            "must be letters, digits, spaces and dashes",
        ));
    }
    // A longer value was reported above already.
    if !country.is_empty()
        && country.chars().count() <= 2
        && !(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()))
    {
        errors.push(field_error(
            "shipping_address.country",
            "format",
            "must be an ISO 3166-1 alpha-2 code such as US or DE",
        ));
    }
    if let Some(phone) = &phone {
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        let allowed = phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if !allowed || !(5..=15).contains(&digits) {
            errors.push(field_error(
                "shipping_address.phone",
                "format",
                "must be 5 to 15 digits, optionally with + - ( ) . and spaces",
            ));
        }
    }
    let address = ShippingAddress {
        recipient,
        line1,
        line2,
        city,
        postal_code,
        region,
        country,
        phone,
    };
    (address, errors)
}

/// Steps 3 to 7 of the module documentation.
async fn place_order(state: &AppState, user_id: Uuid, checkout: &Checkout) -> ApiResult<Order> {
    let items = cart::items(&state.pool, user_id).await?;
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
    orders::insert_pending(state, &order).await?;
    let order_id = order.id;
    tracing::info!(%order_id, total = %totals.total, "order placed");

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
        ttl_seconds: Some(
            u32::try_from(state.checkout.reservation_ttl.as_secs()).unwrap_or(u32::MAX),
        ),
    };
    match state.catalog.reserve(&reserve).await {
        Ok(ReserveOutcome::Reserved(_)) => {}
        Ok(ReserveOutcome::InsufficientStock(short)) => {
            orders::end_unpaid(
                state,
                order_id,
                OrderStatus::Cancelled,
                PaymentStatus::Voided,
                None,
                "insufficient_stock",
            )
            .await?;
            return Err(insufficient_stock(order_id, &order.lines, short));
        }
        Err(error) => {
            // The reservation may or may not exist: cancelling publishes order.cancelled, on
            // which the product service releases it once it is reachable.
            if let Err(cause) = orders::end_unpaid(
                state,
                order_id,
                OrderStatus::Cancelled,
                PaymentStatus::Voided,
                None,
                "product_service_unavailable",
            )
            .await
            {
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
            settle_charge(state, order_id, user_id, &payment_id, totals.total).await
        }
        Ok(Authorisation::Declined { reason }) => {
            orders::release_stock(state, order_id).await;
            orders::end_unpaid(
                state,
                order_id,
                OrderStatus::PaymentFailed,
                PaymentStatus::Declined,
                None,
                &reason,
            )
            .await?;
            tracing::info!(%order_id, %reason, "payment declined");
            Err(ApiError::Domain(Box::new(
                Problem::new(problem_types::PAYMENT_DECLINED, "Payment declined", 402)
                    .with_detail(format!(
                        "The card was declined ({reason}); try another card."
                    ))
                    .with_instance(format!("/api/v1/orders/{order_id}")),
            )))
        }
        Err(error) => {
            tracing::warn!(%error, %order_id, "payment provider unavailable");
            orders::release_stock(state, order_id).await;
            orders::end_unpaid(
                state,
                order_id,
                OrderStatus::PaymentFailed,
                PaymentStatus::Voided,
                None,
                "provider_unavailable",
            )
            .await?;
            Err(ApiError::unavailable("payment provider"))
        }
    }
}

/// Step 7: the card is charged. Commits the stock, then marks the order paid; when either
/// fails, gives the money back.
async fn settle_charge(
    state: &AppState,
    order_id: Uuid,
    user_id: Uuid,
    payment_id: &str,
    amount: Money,
) -> ApiResult<Order> {
    let (reason, error) = match state.catalog.commit(order_id).await {
        Ok(Commit::Committed(_)) => {
            return match orders::mark_paid(state, order_id, user_id, payment_id).await {
                Ok(order) => {
                    tracing::info!(%order_id, "order paid");
                    Ok(order)
                }
                Err(error) => {
                    // Charged and sold, but the order could not be marked paid (it was
                    // cancelled meanwhile, or the database failed): give the money back and
                    // the units too (releasing a committed reservation restocks it).
                    refund(state, order_id, payment_id, amount).await;
                    orders::release_stock(state, order_id).await;
                    Err(error)
                }
            };
        }
        Ok(Commit::Gone) => ("reservation_gone", stock_gone(order_id)),
        Err(error) => ("stock_not_committed", error),
    };
    tracing::warn!(%error, %order_id, "charged but the stock is not sold; refunding");
    let payment = if refund(state, order_id, payment_id, amount).await {
        PaymentStatus::Refunded
    } else {
        PaymentStatus::Succeeded
    };
    orders::end_unpaid(
        state,
        order_id,
        OrderStatus::Cancelled,
        payment,
        Some(payment_id),
        reason,
    )
    .await?;
    orders::release_stock(state, order_id).await;
    Err(error)
}

/// Gives a charge back; answers whether the provider confirmed it. A failure is logged for an
/// operator: the order records the payment id.
async fn refund(state: &AppState, order_id: Uuid, payment_id: &str, amount: Money) -> bool {
    match payments::within(
        state.checkout.payment_timeout,
        state.payments.refund(payment_id, amount),
    )
    .await
    {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, %order_id, %payment_id,
                "refund after a failed checkout did not go through");
            false
        }
    }
}

/// 409: the product service let the order's stock go before it was paid.
fn stock_gone(order_id: Uuid) -> ApiError {
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
fn too_large(error: contracts::money::MoneyError) -> ApiError {
    ApiError::invalid(
        "cart",
        "too_large",
        format!("the cart total is out of range: {error}"),
    )
}

/// 409 naming the products the catalog does not sell now, by name when it still has them;
/// `errors` has one entry per product, under `cart.{product_id}`.
fn not_for_sale(unsellable: &[Unsellable], prices: &[ProductPrice]) -> ApiError {
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
fn insufficient_stock(
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
    use contracts::users::NewAddress;
    use time::macros::date;

    use super::*;

    fn request() -> CheckoutRequest {
        CheckoutRequest {
            shipping_address: NewAddress {
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
        assert_eq!(checkout.shipping_address.recipient, "Ada Lovelace");
        assert_eq!(checkout.shipping_address.line2, None);
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
                "shipping_address.country",
                "shipping_address.postal_code",
                "shipping_address.phone",
                "card.cvc"
            ]
        );
        let mut lowercase = request();
        lowercase.shipping_address.country = "us".to_owned();
        assert_eq!(invalid_fields(lowercase), ["shipping_address.country"]);
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
}
