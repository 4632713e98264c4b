//! `/openapi.json`: the service's public API, generated from the handlers' annotations and the
//! contracts types.
//!
//! The gateway fetches it (the path is not routed publicly) and merges it with the other
//! services' documents into `/api/v1/openapi.json`.

use std::sync::LazyLock;

use axum::Router;
use kit::openapi::BearerToken;
use utoipa::OpenApi;

use crate::{AppState, cart, checkout, orders};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ecommerce order service",
        description = "Carts, idempotent checkout, and the order lifecycle."
    ),
    paths(
        cart::show,
        cart::set_quantity,
        cart::remove,
        checkout::checkout,
        orders::list_own,
        orders::get_own,
        orders::cancel_own,
        orders::list_all,
        orders::change_status,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "cart", description = "One's own cart, at the catalog's current prices"),
        (name = "checkout", description = "Turning the cart into a paid order, once per Idempotency-Key"),
        (name = "orders", description = "One's own orders"),
        (name = "orders admin", description = "Every order and its lifecycle (admins only)"),
    )
)]
struct ApiDoc;

/// Built once: the document only changes with the code.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// `GET /openapi.json`.
pub(crate) fn routes() -> Router<AppState> {
    kit::openapi::route(&DOCUMENT)
}
