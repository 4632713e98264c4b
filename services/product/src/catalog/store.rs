//! The SQL of the `products` table.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use contracts::catalog::{NewProduct, Product, UpdateProduct};
use contracts::inventory::ProductPrice;
use contracts::money::{Currency, Money};
use kit::error::field_error;
use kit::{ApiError, ApiResult, ResultExt};
use sqlx::types::Json as SqlJson;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::versions;

/// The columns a [`ProductRow`] reads, from `products p` joined with `inventory i`, for the
/// search's queries, which are composed at run time; [`load_product`] spells them out for
/// the checked macro.
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
        // `available` is `GREATEST(on_hand - reserved, 0)`, and an admin sets it as a `u32`:
        // a value outside `u32` is a broken row, not a number to round.
        let stock = u32::try_from(self.available).map_err(|_| {
            ApiError::Internal(anyhow::anyhow!(
                "product {} has {} units available, outside a stock level's range",
                self.id,
                self.available
            ))
        })?;
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
            stock,
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

pub(crate) fn product_not_found() -> ApiError {
    ApiError::NotFound("There is no such product.".to_owned())
}

/// The 409 of a unique `field` another `what` already has.
pub(crate) fn taken(field: &str, what: &str) -> ApiError {
    ApiError::Conflict {
        detail: format!("Another {what} already has this {field}."),
        errors: vec![field_error(field, "taken", "is already in use")],
    }
}

/// The id of the live product with `slug`.
pub(crate) async fn id_by_slug(db: &PgPool, slug: &str) -> ApiResult<Option<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM products WHERE slug = $1 AND deleted_at IS NULL",
        slug,
    )
    .fetch_optional(db)
    .await?)
}

/// A product from Postgres; deleted ones do not exist.
pub(crate) async fn load_product<'c, E>(db: E, id: Uuid) -> ApiResult<Option<Product>>
where
    E: sqlx::PgExecutor<'c>,
{
    sqlx::query_as!(
        ProductRow,
        r#"SELECT p.id, p.sku, p.slug, p.name, p.description, p.price_amount, p.price_currency,
             p.image_url, p.attributes AS "attributes: SqlJson<BTreeMap<String, String>>",
             p.category_id, p.active, p.featured, p.version, p.created_at, p.updated_at,
             GREATEST(i.on_hand - i.reserved, 0) AS "available!"
           FROM products p JOIN inventory i ON i.product_id = p.id
           WHERE p.id = $1 AND p.deleted_at IS NULL"#,
        id,
    )
    .fetch_optional(db)
    .await?
    .map(ProductRow::into_product)
    .transpose()
}

/// Adds `new` as product `id` (its stock row is the inventory's).
pub(crate) async fn insert(tx: &mut PgConnection, id: Uuid, new: &NewProduct) -> ApiResult<()> {
    sqlx::query!(
        "INSERT INTO products (id, sku, slug, name, description, price_amount, price_currency, \
         image_url, attributes, category_id, active, featured) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        id,
        new.sku,
        new.slug,
        new.name,
        new.description,
        new.price.amount,
        new.price.currency.as_str(),
        new.image_url,
        SqlJson(&new.attributes) as _,
        new.category_id,
        new.active,
        new.featured,
    )
    .execute(&mut *tx)
    .await
    .on_constraint("products_sku_key", |_| taken("sku", "product"))
    .on_constraint("products_slug_key", |_| taken("slug", "product"))?;
    Ok(())
}

/// Adds `new` as product `id` unless a product with its id (even deleted), SKU or slug exists
/// or its category is not live (the demo catalog's re-runs); returns whether it did.
pub(crate) async fn insert_if_absent(
    tx: &mut PgConnection,
    id: Uuid,
    new: &NewProduct,
) -> Result<bool, sqlx::Error> {
    let added = sqlx::query_scalar!(
        "INSERT INTO products (id, sku, slug, name, description, price_amount, price_currency, \
           image_url, attributes, category_id, active, featured) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
         WHERE EXISTS (SELECT 1 FROM categories WHERE id = $10 AND deleted_at IS NULL) \
         ON CONFLICT DO NOTHING \
         RETURNING id",
        id,
        new.sku,
        new.slug,
        new.name,
        new.description,
        new.price.amount,
        new.price.currency.as_str(),
        new.image_url,
        SqlJson(&new.attributes) as _,
        new.category_id,
        new.active,
        new.featured,
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(added.is_some())
}

/// Features the products among `ids` that exist, are not featured and are still at version 1,
/// which no admin write leaves them at, without counting a version; returns their ids.
pub(crate) async fn feature_unwritten(
    tx: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        "UPDATE products SET featured = true, updated_at = now() \
         WHERE id = ANY($1) AND version = 1 AND NOT featured AND deleted_at IS NULL \
         RETURNING id",
        ids,
    )
    .fetch_all(&mut *tx)
    .await
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
    let current = sqlx::query!(
        "SELECT version, slug FROM products WHERE id = $1 AND deleted_at IS NULL \
         FOR NO KEY UPDATE",
        id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(product_not_found)?;
    versions::check_current("product", current.version, expected, matching.as_deref())?;
    Ok(current.slug)
}

/// Applies the fields `update` holds to product `id` (locked by [`lock_for_write`]) and counts
/// a new version. An empty `image_url` removes the image.
pub(crate) async fn update(
    tx: &mut PgConnection,
    id: Uuid,
    update: &UpdateProduct,
) -> ApiResult<()> {
    sqlx::query!(
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
        id,
        update.sku,
        update.slug,
        update.name,
        update.description,
        update.price.map(|p| p.amount),
        update.price.as_ref().map(|p| p.currency.as_str()),
        update.image_url,
        update.attributes.as_ref().map(SqlJson) as _,
        update.category_id,
        update.active,
        update.featured,
    )
    .execute(&mut *tx)
    .await
    .on_constraint("products_sku_key", |_| taken("sku", "product"))
    .on_constraint("products_slug_key", |_| taken("slug", "product"))?;
    Ok(())
}

/// Counts a new version of product `id`, for a write to what it shows beyond its own row
/// (its stock level).
pub(crate) async fn count_version(tx: &mut PgConnection, id: Uuid) -> ApiResult<()> {
    sqlx::query!(
        "UPDATE products SET version = version + 1, updated_at = now() WHERE id = $1",
        id,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks product `id` deleted, which frees its SKU and slug; the row stays for the
/// reservations and orders that refer to it.
pub(crate) async fn delete(tx: &mut PgConnection, id: Uuid) -> ApiResult<()> {
    sqlx::query!(
        "UPDATE products SET deleted_at = now(), active = false, version = version + 1, \
         updated_at = now() WHERE id = $1",
        id,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// How many live products are listed under `category`.
pub(crate) async fn count_in_category(tx: &mut PgConnection, category: Uuid) -> ApiResult<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM products WHERE category_id = $1 AND deleted_at IS NULL"#,
        category,
    )
    .fetch_one(&mut *tx)
    .await?)
}

/// A product's price as stored.
#[derive(Debug)]
struct PriceRow {
    id: Uuid,
    sku: String,
    name: String,
    price_amount: i64,
    price_currency: String,
    active: bool,
}

/// The prices of the live products among `ids`, by id.
pub(crate) async fn prices(db: &PgPool, ids: &[Uuid]) -> ApiResult<Vec<ProductPrice>> {
    sqlx::query_as!(
        PriceRow,
        "SELECT id, sku, name, price_amount, price_currency, active FROM products \
         WHERE id = ANY($1) AND deleted_at IS NULL ORDER BY id",
        ids,
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|row| {
        Ok(ProductPrice {
            product_id: row.id,
            sku: row.sku,
            name: row.name,
            price: Money::new(row.price_amount, stored_currency(&row.price_currency)?),
            active: row.active,
        })
    })
    .collect()
}
