//! `POST /api/v1/checkout`: the cart becomes a paid order, exactly once per `Idempotency-Key`.
//!
//! The steps, each one's failure and what it leaves behind:
//!
//! 1. The request is validated (address, card): 422 naming the field; nothing is written.
//! 2. The key is claimed ([`crate::idempotency`]); a repeated request replays the first's response.
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
//!
//! - `routes`: the handler, and how an outcome is stored under its key;
//! - `saga`: steps 3 to 7, and the one place that undoes them (`Saga`);
//! - `domain`: the request's validation and fingerprint, how each failure ends the order,
//!   and the problems it answers.

pub(crate) mod domain;
pub(crate) mod routes;
pub(crate) mod saga;

use axum::Router;
use axum::routing::post;

use crate::AppState;

/// The checkout endpoint.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/checkout", post(routes::checkout))
}
