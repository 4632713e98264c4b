//! The cart: one per user, or per visitor (a guest cart), a line per product, priced at the
//! catalog's current prices.
//!
//! The cart stores products and quantities only. Every read prices it with the product
//! service, so it always shows today's price, and checkout prices it once more. A product the
//! catalog does not sell now (deleted, deactivated, or priced in another currency) is listed
//! apart, under `unavailable`, out of the subtotal, and checkout refuses the cart until the
//! customer removes it. Reading the cart never changes it: a product an admin deactivates for
//! a moment is back in `items` once it is for sale again.
//!
//! A visitor's first cart write creates a guest cart ([`crate::guest`]) and answers `201` with
//! its token in the `Guest-Cart-Token` header; with that header a visitor reads and changes the
//! cart as a customer does, under the same rules and limits. Checkout needs an account: after
//! signing in or registering, the client sends the token to `POST /api/v1/cart/merge`, which
//! moves the guest cart's lines into the account's cart, once, and spends the token. A
//! signed-in request is about the account's cart, whatever guest token it also carries.
//!
//! - `routes`: the HTTP handlers and whose cart a request is about;
//! - `store`: the SQL of `cart_items`, which this module owns (checkout empties the bought
//!   lines through it);
//! - `domain`: the line limit, and which guest lines a merge moves.

pub(crate) mod domain;
pub(crate) mod routes;
pub(crate) mod store;

use axum::Router;
use axum::routing::{get, post, put};

use crate::AppState;

pub use domain::MAX_LINES;

/// The cart endpoints.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cart", get(routes::show))
        .route(
            "/api/v1/cart/items/{product_id}",
            put(routes::set_quantity).delete(routes::remove),
        )
        .route("/api/v1/cart/merge", post(routes::merge))
}
