//! The OpenAPI document of the service's public API, generated from the handlers and the
//! contracts types, served at `/openapi.json` for the gateway to merge into
//! `/api/v1/openapi.json`. The internal API is left out: it is not reachable from outside.

use std::sync::LazyLock;

use axum::Router;
use kit::openapi::BearerToken;
use utoipa::OpenApi;

use crate::{AppState, catalog, categories, images, inventory, search};

/// The public API of the product service.
#[derive(OpenApi)]
#[openapi(
    info(title = "product service"),
    paths(
        categories::routes::list_categories,
        categories::routes::create_category,
        categories::routes::update_category,
        categories::routes::delete_category,
        catalog::routes::get_product,
        catalog::routes::create_product,
        catalog::routes::update_product,
        catalog::routes::delete_product,
        search::routes::list_products,
        images::product_image,
        inventory::routes::set_stock,
    ),
    // Referenced by the search's query parameters only, which utoipa does not follow.
    components(schemas(contracts::catalog::ProductSort)),
    modifiers(&BearerToken),
    tags(
        (name = "catalog", description = "Categories, products and search"),
        (name = "catalog admin", description = "Editing the catalog and its stock (admins only)"),
    )
)]
struct ApiDoc;

/// Built once: the document only changes with the code.
static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// `GET /openapi.json`.
pub(crate) fn router() -> Router<AppState> {
    kit::openapi::route(&DOCUMENT)
}
