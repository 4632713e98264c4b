//! `/openapi.json`: the service's public API, generated from the handlers' annotations and the
//! contracts types.
//!
//! The gateway fetches it (the path is not routed publicly) and merges it with the other
//! services' documents into `/api/v1/openapi.json`.

use std::sync::LazyLock;

use axum::Router;
use kit::openapi::BearerToken;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{AppState, cart, checkout, orders};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ecommerce order service",
        description = "Carts, idempotent checkout, and the order lifecycle."
    ),
    paths(
        cart::routes::show,
        cart::routes::set_quantity,
        cart::routes::remove,
        cart::routes::merge,
        checkout::routes::checkout,
        orders::routes::list_own,
        orders::routes::get_own,
        orders::routes::cancel_own,
        orders::routes::list_all,
        orders::routes::change_status,
    ),
    modifiers(&BearerToken, &GuestCartToken),
    tags(
        (name = "cart", description = "One's own cart, at the catalog's current prices. \
            Visitors have one too, before they sign in: the first `PUT /api/v1/cart/items/{product_id}` \
            sent without credentials creates a guest cart and answers `201` with its token in the \
            `Guest-Cart-Token` header; every later cart request sends that header instead of an \
            access token. Checkout needs an account: after signing in or registering, \
            `POST /api/v1/cart/merge` with both the access token and the guest cart's token moves \
            the guest cart into the account's cart, once, and the token stops working. A guest cart \
            left unused for a week (`GUEST_CART_IDLE_TTL_SECS`) expires."),
        (name = "checkout", description = "Turning the cart into a paid order, once per Idempotency-Key"),
        (name = "orders", description = "One's own orders"),
        (name = "orders admin", description = "Every order and its lifecycle (admins only)"),
    )
)]
struct ApiDoc;

/// Declares the `guest_cart` security scheme: the token a visitor's first cart write answers.
struct GuestCartToken;

impl Modify for GuestCartToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "guest_cart",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Guest-Cart-Token",
                "A guest cart's token, as the first cart write of a visitor answered it in the \
                 Guest-Cart-Token header. Opaque; it names the cart until the cart is left \
                 unused too long or is merged into an account's cart.",
            ))),
        );
    }
}

/// Built once: the document only changes with the code.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// `GET /openapi.json`.
pub(crate) fn router() -> Router<AppState> {
    kit::openapi::route(&DOCUMENT)
}
