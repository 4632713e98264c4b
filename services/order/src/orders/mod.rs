//! Orders: their tables, their lifecycle, and the customer's and admin's order endpoints.
//!
//! An order only moves along [`OrderStatus::can_transition_to`]. Every move is a conditional
//! update (`... WHERE status = <the status it was read in>`, under a row lock), in one
//! transaction with the event it causes, so two concurrent moves cannot both win and an event
//! exists exactly when its change does. An illegal move answers 409.
//!
//! Cancelling (the customer's own pending or paid order, or any such order by an admin)
//! refunds a paid order through the payment provider while the order's row is locked, then
//! releases its stock: over HTTP right away, and through the `order.cancelled` event, which
//! the product service also acts on (both are idempotent), so the stock comes back even if the
//! product service is down at that moment.
//!
//! - `routes`: the HTTP handlers;
//! - `lifecycle`: the moves (ship, deliver, cancel, expire) and the one refund path;
//! - `store`: the SQL of `orders`, `order_lines` and `payments`, and their stored statuses;
//! - `domain`: the new order checkout builds, the read filter, and the lifecycle's rule.
//!
//! [`OrderStatus::can_transition_to`]: contracts::orders::OrderStatus::can_transition_to

pub(crate) mod domain;
pub(crate) mod lifecycle;
pub(crate) mod routes;
pub(crate) mod store;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub use lifecycle::{cancel, expire_pending};

/// The order endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/orders", get(routes::list_own))
        .route("/api/v1/orders/{id}", get(routes::get_own))
        .route("/api/v1/orders/{id}/cancel", post(routes::cancel_own))
        .route("/api/v1/admin/orders", get(routes::list_all))
        .route(
            "/api/v1/admin/orders/{id}/status",
            post(routes::change_status),
        )
}
