//! The OpenAPI document of the service's public API, generated from the handlers and the
//! contracts types, served at `/openapi.json` for the gateway to merge into
//! `/api/v1/openapi.json`. The internal API is left out: it is not reachable from outside.

use utoipa::OpenApi;

use crate::{catalog, categories, images, inventory, search};

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
    tags(
        (name = "catalog", description = "Categories, products and search"),
        (name = "catalog admin", description = "Editing the catalog and its stock (admins only)"),
    )
)]
pub(crate) struct ApiDoc;

/// `GET /openapi.json`.
pub(crate) async fn document() -> kit::Json<utoipa::openapi::OpenApi> {
    kit::Json(ApiDoc::openapi())
}
