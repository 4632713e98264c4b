//! The HTTP handlers of products, and the reads other modules share (through the cache).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use contracts::catalog::{NewProduct, Product, UpdateProduct};
use contracts::inventory::{ProductPrice, ProductsByIds};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::identity::Admin;
use kit::{ApiError, ApiResult, Json, Path};
use uuid::Uuid;

use super::store::{self, product_not_found};
use crate::AppState;
use crate::cache;
use crate::categories;
use crate::fields;
use crate::inventory;
use crate::versions::{Versioned, with_etag};

/// Most ids `POST /internal/products/prices` accepts at once.
const MAX_PRICE_IDS: usize = 1000;

/// Who is looking: admins also see products that are hidden from the shop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Viewer {
    /// Whether the caller holds the admin role.
    pub(crate) admin: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            admin: Admin::from_request_parts(parts, state).await.is_ok(),
        })
    }
}

/// What a product's version (so its `ETag`) validates is the product as admins write it: its
/// catalog fields, its stock level as last set and its deletion, each of which counts a new
/// version. `stock` also moves whenever an order reserves or gives back units, without a new
/// version: the version is there to stop admins overwriting each other's edits, and a
/// shopper's checkout must not turn an admin's edit into a 412. No conditional GET is answered
/// with it.
impl Versioned for Product {
    fn version(&self) -> i64 {
        self.version
    }
}

/// A product by id or slug
///
/// Products hidden from the shop are only shown to admins. The `ETag` is the product's
/// version, for `If-Match` on the next write: it changes with every admin write (fields, stock
/// level, deletion), not when orders reserve or give back units, which moves `stock` too.
#[utoipa::path(
    get,
    path = "/api/v1/products/{id}",
    tag = "catalog",
    params(("id" = String, Path, description = "The product's id or slug")),
    responses(
        (status = 200, description = "The product", body = Product,
            headers(("ETag" = String, description = "The version, quoted: it changes with admin writes, not with the units orders hold"))),
        (status = 404, description = "No such product", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn get_product(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    let product = match Uuid::parse_str(&key) {
        Ok(id) => product_by_id(&state, id).await?,
        Err(_) => product_by_slug(&state, &key).await?,
    };
    let product = visible(product, viewer)?;
    Ok(with_etag(StatusCode::OK, product))
}

/// The product if the viewer may see it, else a 404.
pub(crate) fn visible(product: Option<Product>, viewer: Viewer) -> ApiResult<Product> {
    product
        .filter(|product| product.active || viewer.admin)
        .ok_or_else(product_not_found)
}

/// A product through the cache.
pub(crate) async fn product_by_id(state: &AppState, id: Uuid) -> ApiResult<Option<Product>> {
    let key = cache::product_key(id);
    if let Some(product) = state.cache.get::<Product>(&key).await {
        return Ok(Some(product));
    }
    let product = store::load_product(&state.db, id).await?;
    if let Some(product) = &product {
        state.cache.put(&key, product).await;
    }
    Ok(product)
}

/// A product by slug: the cache maps the slug to the id, checked against the product found,
/// so a mapping left over from a renamed product is never believed.
async fn product_by_slug(state: &AppState, slug: &str) -> ApiResult<Option<Product>> {
    let key = cache::slug_key(slug);
    if let Some(id) = state.cache.get::<Uuid>(&key).await
        && let Some(product) = product_by_id(state, id).await?
        && product.slug == slug
    {
        return Ok(Some(product));
    }
    let Some(id) = store::id_by_slug(&state.db, slug).await? else {
        return Ok(None);
    };
    state.cache.put(&key, &id).await;
    product_by_id(state, id).await
}

/// Create a product
///
/// Answered with the product, its `Location` and its `ETag`.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products",
    tag = "catalog admin",
    request_body = NewProduct,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Product),
        (status = 409, description = "The SKU or slug is taken", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is invalid", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn create_product(
    State(state): State<AppState>,
    _admin: Admin,
    Json(new): Json<NewProduct>,
) -> ApiResult<Response> {
    let errors = fields::check_new_product(&new, state.settings.currency);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = Uuid::now_v7();
    let mut tx = state.db.begin().await?;
    if !categories::lock_live(&mut tx, new.category_id).await? {
        return Err(unknown_category());
    }
    store::insert(&mut tx, id, &new).await?;
    inventory::store::create(&mut tx, id, new.stock).await?;
    let product = store::load_product(&mut *tx, id)
        .await?
        .ok_or_else(product_not_found)?;
    tx.commit().await?;
    let mut response = with_etag(StatusCode::CREATED, product);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/products/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn unknown_category() -> ApiError {
    ApiError::invalid("category_id", "unknown", "there is no such category")
}

/// Change a product
///
/// Optimistic concurrency: `version` in the body, and `If-Match` when sent, must name the
/// current version, or the write answers 412 and changes nothing. An empty `image_url`
/// removes the image.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/products/{id}",
    tag = "catalog admin",
    request_body = UpdateProduct,
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The product's id"),
        ("If-Match" = Option<String>, Header, description = "The version read, quoted: \"3\""),
    ),
    responses(
        (status = 200, description = "The changed product", body = Product),
        (status = 404, description = "No such product", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The SKU or slug is taken", body = Problem, content_type = PROBLEM_JSON),
        (status = 412, description = "The product changed since it was read", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is invalid", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn update_product(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(update): Json<UpdateProduct>,
) -> ApiResult<Response> {
    let errors = fields::check_update(&update, state.settings.currency);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = state.db.begin().await?;
    let old_slug = store::lock_for_write(&mut tx, id, Some(update.version), &headers).await?;
    if let Some(category) = update.category_id
        && !categories::lock_live(&mut tx, category).await?
    {
        return Err(unknown_category());
    }
    store::update(&mut tx, id, &update).await?;
    let product = store::load_product(&mut *tx, id)
        .await?
        .ok_or_else(product_not_found)?;
    tx.commit().await?;
    state
        .cache
        .invalidate(&[cache::product_key(id), cache::slug_key(&old_slug)])
        .await;
    Ok(with_etag(StatusCode::OK, product))
}

/// Delete a product
///
/// The product disappears from the shop for good; its SKU and slug are free for new products.
/// The row stays, because reservations and orders still refer to it.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/products/{id}",
    tag = "catalog admin",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "The product's id"),
        ("If-Match" = Option<String>, Header, description = "The version read, quoted: \"3\""),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such product", body = Problem, content_type = PROBLEM_JSON),
        (status = 412, description = "The product changed since it was read", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn delete_product(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin().await?;
    let slug = store::lock_for_write(&mut tx, id, None, &headers).await?;
    store::delete(&mut tx, id).await?;
    tx.commit().await?;
    state
        .cache
        .invalidate(&[cache::product_key(id), cache::slug_key(&slug)])
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /internal/products/prices`: the current price of each known product; deleted and
/// unknown ids are left out, hidden products are listed with `active: false`.
pub(crate) async fn prices(
    State(state): State<AppState>,
    Json(request): Json<ProductsByIds>,
) -> ApiResult<Json<Vec<ProductPrice>>> {
    if request.ids.len() > MAX_PRICE_IDS {
        return Err(ApiError::invalid(
            "ids",
            "too_many",
            format!("at most {MAX_PRICE_IDS} ids at once"),
        ));
    }
    store::prices(&state.db, &request.ids).await.map(Json)
}
