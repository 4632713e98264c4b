//! `/openapi.json`: the service's public API, generated from the handlers' annotations and the
//! contracts types.
//!
//! The gateway fetches it (the path is not routed publicly) and merges it with the other
//! services' documents into `/api/v1/openapi.json`.

use std::sync::LazyLock;

use axum::Router;
use axum::routing::get;
use kit::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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

/// Declares the `bearer` scheme the protected paths name: the access token from sign-in.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Built once: the document only changes with the code.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// `GET /openapi.json`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

async fn document() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}
