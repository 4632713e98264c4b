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
        categories::list_categories,
        categories::create_category,
        categories::update_category,
        categories::delete_category,
        catalog::get_product,
        catalog::create_product,
        catalog::update_product,
        catalog::delete_product,
        search::list_products,
        images::product_image,
        inventory::set_stock,
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
pub(crate) fn routes() -> Router<AppState> {
    kit::openapi::route(&DOCUMENT)
}
