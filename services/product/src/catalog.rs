//! Products: the public reads, the admin's edits and the prices the order service asks for.
//! Owns the `products` table.
//!
//! Product details are read through the [`Cache`](crate::cache::Cache); every write deletes
//! what it made stale once its transaction has committed.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use contracts::catalog::{NewProduct, Product, UpdateProduct};
use contracts::inventory::{ProductPrice, ProductsByIds};
use contracts::money::{Currency, Money};
use contracts::problem::{PROBLEM_JSON, Problem};
use kit::error::field_error;
use kit::identity::Admin;
use kit::{ApiError, ApiResult, Json, Path, ResultExt};
use sqlx::PgConnection;
use sqlx::types::Json as SqlJson;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::AppState;
use crate::cache;
use crate::categories;
use crate::fields;
use crate::versions::{self, Versioned, with_etag};

/// Most ids `POST /internal/products/prices` accepts at once.
const MAX_PRICE_IDS: usize = 1000;

/// The columns a [`ProductRow`] reads, from `products p` joined with `inventory i`.
pub(crate) const PRODUCT_COLUMNS: &str = "p.id, p.sku, p.slug, p.name, p.description, \
     p.price_amount, p.price_currency, p.image_url, p.attributes, p.category_id, p.active, \
     p.featured, p.version, p.created_at, p.updated_at, \
     GREATEST(i.on_hand - i.reserved, 0) AS available";

/// A product as stored, with its available stock.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ProductRow {
    id: Uuid,
    sku: String,
    slug: String,
    name: String,
    description: String,
    price_amount: i64,
    price_currency: String,
    image_url: Option<String>,
    attributes: SqlJson<BTreeMap<String, String>>,
    category_id: Uuid,
    active: bool,
    featured: bool,
    version: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    available: i64,
}

impl ProductRow {
    /// The product as the API shows it.
    pub(crate) fn into_product(self) -> ApiResult<Product> {
        Ok(Product {
            id: self.id,
            price: Money::new(self.price_amount, stored_currency(&self.price_currency)?),
            sku: self.sku,
            slug: self.slug,
            name: self.name,
            description: self.description,
            image_url: self.image_url,
            attributes: self.attributes.0,
            category_id: self.category_id,
            active: self.active,
            featured: self.featured,
            stock: u32::try_from(self.available.max(0)).unwrap_or(u32::MAX),
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A currency read back from the database, where a CHECK constraint keeps it well-formed.
fn stored_currency(code: &str) -> ApiResult<Currency> {
    Currency::parse(code).map_err(|e| ApiError::Internal(e.into()))
}

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

fn product_not_found() -> ApiError {
    ApiError::NotFound("There is no such product.".to_owned())
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

/// The 409 of a unique `field` another `what` already has.
pub(crate) fn taken(field: &str, what: &str) -> ApiError {
    ApiError::Conflict {
        detail: format!("Another {what} already has this {field}."),
        errors: vec![field_error(field, "taken", "is already in use")],
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
    let product = load_product(&state.db, id).await?;
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
    let id: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM products WHERE slug = $1 AND deleted_at IS NULL")
            .bind(slug)
            .fetch_optional(&state.db)
            .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    state.cache.put(&key, &id).await;
    product_by_id(state, id).await
}

/// A product from Postgres; deleted ones do not exist.
pub(crate) async fn load_product<'c, E>(db: E, id: Uuid) -> ApiResult<Option<Product>>
where
    E: sqlx::PgExecutor<'c>,
{
    let row: Option<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p JOIN inventory i ON i.product_id = p.id \
         WHERE p.id = $1 AND p.deleted_at IS NULL"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(ProductRow::into_product).transpose()
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
    sqlx::query(
        "INSERT INTO products (id, sku, slug, name, description, price_amount, price_currency, \
         image_url, attributes, category_id, active, featured) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id)
    .bind(&new.sku)
    .bind(&new.slug)
    .bind(&new.name)
    .bind(&new.description)
    .bind(new.price.amount)
    .bind(new.price.currency.as_str())
    .bind(&new.image_url)
    .bind(SqlJson(&new.attributes))
    .bind(new.category_id)
    .bind(new.active)
    .bind(new.featured)
    .execute(&mut *tx)
    .await
    .on_constraint("products_sku_key", |_| taken("sku", "product"))
    .on_constraint("products_slug_key", |_| taken("slug", "product"))?;
    sqlx::query("INSERT INTO inventory (product_id, on_hand) VALUES ($1, $2)")
        .bind(id)
        .bind(i64::from(new.stock))
        .execute(&mut *tx)
        .await?;
    let product = load_product(&mut *tx, id)
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

/// Locks a live product for a write and checks the caller's version against it: the body's
/// `version` (for a PATCH) and any `If-Match` must both name the current one, or the write
/// answers 412 without changing anything. Returns the current slug.
///
/// `FOR NO KEY UPDATE` is enough, since no write changes the id, and unlike `FOR UPDATE` it
/// lets reservations take the key-share lock their foreign keys need meanwhile: a stock write
/// locks this row and then the inventory row, a reservation the other way round.
pub(crate) async fn lock_for_write(
    tx: &mut PgConnection,
    id: Uuid,
    expected: Option<i64>,
    headers: &HeaderMap,
) -> ApiResult<String> {
    let matching = versions::if_match(headers)?;
    let current: Option<(i64, String)> = sqlx::query_as(
        "SELECT version, slug FROM products WHERE id = $1 AND deleted_at IS NULL \
         FOR NO KEY UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (version, slug) = current.ok_or_else(product_not_found)?;
    versions::check_current("product", version, expected, matching.as_deref())?;
    Ok(slug)
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
    let old_slug = lock_for_write(&mut tx, id, Some(update.version), &headers).await?;
    if let Some(category) = update.category_id
        && !categories::lock_live(&mut tx, category).await?
    {
        return Err(unknown_category());
    }
    sqlx::query(
        "UPDATE products SET \
           sku = COALESCE($2, sku), \
           slug = COALESCE($3, slug), \
           name = COALESCE($4, name), \
           description = COALESCE($5, description), \
           price_amount = COALESCE($6, price_amount), \
           price_currency = COALESCE($7, price_currency), \
           image_url = CASE WHEN $8::text IS NULL THEN image_url ELSE NULLIF($8, '') END, \
           attributes = COALESCE($9, attributes), \
           category_id = COALESCE($10, category_id), \
           active = COALESCE($11, active), \
           featured = COALESCE($12, featured), \
           version = version + 1, \
           updated_at = now() \
         WHERE id = $1",
    )
    .bind(id)
    .bind(&update.sku)
    .bind(&update.slug)
    .bind(&update.name)
    .bind(&update.description)
    .bind(update.price.map(|p| p.amount))
    .bind(update.price.map(|p| p.currency.as_str().to_owned()))
    .bind(&update.image_url)
    .bind(update.attributes.as_ref().map(SqlJson))
    .bind(update.category_id)
    .bind(update.active)
    .bind(update.featured)
    .execute(&mut *tx)
    .await
    .on_constraint("products_sku_key", |_| taken("sku", "product"))
    .on_constraint("products_slug_key", |_| taken("slug", "product"))?;
    let product = load_product(&mut *tx, id)
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
    let slug = lock_for_write(&mut tx, id, None, &headers).await?;
    sqlx::query(
        "UPDATE products SET deleted_at = now(), active = false, version = version + 1, \
         updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
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
    let rows: Vec<(Uuid, String, String, i64, String, bool)> = sqlx::query_as(
        "SELECT id, sku, name, price_amount, price_currency, active FROM products \
         WHERE id = ANY($1) AND deleted_at IS NULL ORDER BY id",
    )
    .bind(&request.ids)
    .fetch_all(&state.db)
    .await?;
    rows.into_iter()
        .map(|(product_id, sku, name, amount, currency, active)| {
            Ok(ProductPrice {
                product_id,
                sku,
                name,
                price: Money::new(amount, stored_currency(&currency)?),
                active,
            })
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Json)
}
