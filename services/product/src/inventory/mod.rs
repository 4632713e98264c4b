//! Stock and reservations. Owns the `inventory`, `reservations` and `reservation_lines` tables.
//!
//! Each product has `on_hand` units of which `reserved` are held by open reservations; the
//! units anyone can still buy are `on_hand - reserved` (shown as `Product.stock`). CHECK
//! constraints keep `0 <= reserved <= on_hand`, so even a bug cannot oversell.
//!
//! An admin setting the stock counts a new product version; reservations, settlements and
//! expiries move `reserved` (and `Product.stock` with it) without one, so orders never make
//! an admin's `If-Match` stale.
//!
//! - reserve: all lines or none, idempotent by order id;
//! - commit (the order is paid): the units leave `on_hand` and `reserved`;
//! - release (cancelled) and expiry (nobody paid in time): the units leave `reserved` only.
//!
//! The parts:
//! - `routes`: the HTTP handlers (the admin's stock, the order service's reservations);
//! - `store`: the SQL of the three tables, in one lock order;
//! - `domain`: request rules, shortfalls, and the moves a settlement may make;
//! - `sweeper`: the expiry of reservations past their deadline.

mod domain;
pub(crate) mod routes;
pub(crate) mod store;
mod sweeper;

use axum::Router;
use axum::routing::{post, put};
use kit::internal::InternalToken;

use crate::AppState;

pub(crate) use domain::{Settle, SettleError, Status};
pub(crate) use store::settle;
pub use sweeper::{run_sweeper, sweep_expired};

/// The admin's stock endpoint.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/admin/products/{id}/stock", put(routes::set_stock))
}

/// The reservations the order service makes, behind the internal token.
pub fn internal_router(token: &InternalToken) -> Router<AppState> {
    Router::new()
        .route("/internal/reservations", post(routes::reserve))
        .route(
            "/internal/reservations/{order_id}/commit",
            post(routes::commit),
        )
        .route(
            "/internal/reservations/{order_id}/release",
            post(routes::release),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            token.clone(),
            kit::internal::require,
        ))
}
