//! The catalog: categories, products, search, and the admin's product and stock edits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::money::Money;

/// A category of products; categories form a tree through `parent_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Category {
    /// The category's id.
    pub id: Uuid,
    /// The URL name, unique, used as the `category` filter of [`ProductQuery`].
    pub slug: String,
    /// The name shown in the shop.
    pub name: String,
    /// The parent category; `null` for a top-level one.
    pub parent_id: Option<Uuid>,
    /// Incremented on every admin write to the category (its fields, its place in the tree,
    /// its deletion), not when products come or go; send it back in
    /// [`UpdateCategory::version`].
    pub version: i64,
}

/// `POST /api/v1/admin/categories`: create a category. Answered by `201` and the [`Category`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCategory {
    /// The URL name, unique.
    pub slug: String,
    /// The name shown in the shop.
    pub name: String,
    /// The parent category; a top-level category when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
}

/// `PATCH /api/v1/admin/categories/{id}`: change a category. Absent fields stay as they are;
/// `"parent_id": null` makes it a top-level category.
///
/// `version` is the [`Category::version`] the change was based on; if the category changed
/// since, the service answers `412` (`/problems/precondition-failed`) instead of overwriting,
/// as for [`UpdateProduct`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateCategory {
    /// The version this change is based on (optimistic concurrency).
    pub version: i64,
    /// The new URL name, unique.
    #[serde(
        default,
        deserialize_with = "crate::patch::required",
        skip_serializing_if = "Option::is_none"
    )]
    pub slug: Option<String>,
    /// The new name shown in the shop.
    #[serde(
        default,
        deserialize_with = "crate::patch::required",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// The new parent; `Some(None)` (`null`) makes it a top-level category.
    #[serde(
        default,
        deserialize_with = "crate::patch::nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    pub parent_id: Option<Option<Uuid>>,
}

/// A product as the shop shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    /// The product's id.
    pub id: Uuid,
    /// The stock-keeping unit, unique.
    pub sku: String,
    /// The URL name, unique.
    pub slug: String,
    /// The name shown in the shop.
    pub name: String,
    /// The description shown on the product page (plain text).
    pub description: String,
    /// The current unit price.
    pub price: Money,
    /// The product image; `null` when there is none.
    pub image_url: Option<String>,
    /// Free-form attributes shown as a table (`"color": "red"`), sorted by name.
    pub attributes: BTreeMap<String, String>,
    /// The category the product is listed under.
    pub category_id: Uuid,
    /// Whether the product can be bought; inactive products are hidden from customers.
    pub active: bool,
    /// Whether admins picked it for the home page's featured list (`featured=true` lists them).
    pub featured: bool,
    /// Units available to buy now: on hand minus units reserved by open orders.
    pub stock: u32,
    /// Incremented on every admin write (fields, stock level, deletion), not when orders
    /// reserve or release units; send it back in [`UpdateProduct::version`].
    pub version: i64,
    /// When the product was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the product last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /api/v1/admin/products`: create a product. Answered by `201` and the [`Product`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewProduct {
    /// The stock-keeping unit, unique.
    pub sku: String,
    /// The URL name, unique.
    pub slug: String,
    /// The name shown in the shop.
    pub name: String,
    /// The description (plain text); empty when absent.
    #[serde(default)]
    pub description: String,
    /// The unit price.
    pub price: Money,
    /// The product image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Free-form attributes; none when absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The category to list it under.
    pub category_id: Uuid,
    /// Whether it can be bought right away; `true` when absent.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// Whether the home page features it; `false` when absent.
    #[serde(default)]
    pub featured: bool,
    /// Units on hand; `0` when absent.
    #[serde(default)]
    pub stock: u32,
}

const fn active_by_default() -> bool {
    true
}

/// `PATCH /api/v1/admin/products/{id}`: change a product. Absent fields stay as they are.
///
/// `version` is the [`Product::version`] the change was based on; if the product changed
/// since, the service answers `412` (`/problems/precondition-failed`) instead of overwriting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateProduct {
    /// The version this change is based on (optimistic concurrency).
    pub version: i64,
    /// A new SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// A new URL name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A new unit price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    /// A new image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// A new, complete set of attributes (not merged with the old one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    /// A new category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_id: Option<Uuid>,
    /// Show or hide the product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Feature the product on the home page, or stop featuring it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub featured: Option<bool>,
}

/// The order of a product list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ProductSort {
    /// Best text match first when there is a `q`, otherwise newest first.
    #[default]
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Most expensive first.
    PriceDesc,
    /// Most recently created first.
    Newest,
}

/// `GET /api/v1/products?q=&category=&min_price=&max_price=&in_stock=&featured=&sort=&limit=&cursor=`,
/// answered by a [`Page`](crate::pagination::Page) of [`Product`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema, utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct ProductQuery {
    /// Full-text search over name, description, SKU and attributes (the name weighs most);
    /// corrected for typos when nothing matches as typed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Only products of the category with this slug (and its subcategories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Only products costing at least this many minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_price: Option<i64>,
    /// Only products costing at most this many minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price: Option<i64>,
    /// `true`: only products with stock; `false`: only sold-out ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_stock: Option<bool>,
    /// `true`: only the products admins feature; `false`: only the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub featured: Option<bool>,
    /// The order; [`ProductSort::Relevance`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<ProductSort>,
    /// The page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `PUT /api/v1/admin/products/{id}/stock`: set the units available to sell (after a stock
/// count or a delivery). Units already reserved by open orders are not part of this number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StockUpdate {
    /// The new number of units available to sell.
    pub available: u32,
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::money::Currency;

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").expect("valid"))
    }

    #[test]
    fn category_patch_tells_absent_from_null() {
        let parse = |v: serde_json::Value| serde_json::from_value::<UpdateCategory>(v);
        assert_eq!(
            parse(json!({"version": 2})).expect("no change"),
            UpdateCategory {
                version: 2,
                slug: None,
                name: None,
                parent_id: None,
            }
        );
        let top = parse(json!({"version": 2, "parent_id": null})).expect("null parent");
        assert_eq!(top.parent_id, Some(None));
        assert_eq!(
            serde_json::to_value(&top).expect("json"),
            json!({"version": 2, "parent_id": null})
        );
        assert!(
            parse(json!({"version": 2, "name": null})).is_err(),
            "a name cannot be cleared"
        );
        assert!(
            parse(json!({"version": 2, "colour": "red"})).is_err(),
            "unknown fields are refused"
        );
        assert!(
            parse(json!({"name": "Audio"})).is_err(),
            "a change names the version it is based on"
        );
    }

    #[test]
    fn product_wire_shape() {
        let product = Product {
            id: Uuid::from_u128(10),
            sku: "TEE-RED-M".to_owned(),
            slug: "red-tee".to_owned(),
            name: "Red tee".to_owned(),
            description: "Cotton.".to_owned(),
            price: usd(1999),
            image_url: None,
            attributes: BTreeMap::from([
                ("size".to_owned(), "M".to_owned()),
                ("color".to_owned(), "red".to_owned()),
            ]),
            category_id: Uuid::from_u128(1),
            active: true,
            featured: true,
            stock: 12,
            version: 3,
            created_at: datetime!(2024-01-02 03:04:05 UTC),
            updated_at: datetime!(2024-02-03 04:05:06 UTC),
        };
        let value = serde_json::to_value(&product).expect("serialize");
        assert_eq!(
            value,
            json!({
                "id": "00000000-0000-0000-0000-00000000000a",
                "sku": "TEE-RED-M",
                "slug": "red-tee",
                "name": "Red tee",
                "description": "Cotton.",
                "price": {"amount": 1999, "currency": "USD"},
                "image_url": null,
                "attributes": {"color": "red", "size": "M"},
                "category_id": "00000000-0000-0000-0000-000000000001",
                "active": true,
                "featured": true,
                "stock": 12,
                "version": 3,
                "created_at": "2024-01-02T03:04:05Z",
                "updated_at": "2024-02-03T04:05:06Z"
            })
        );
        assert_eq!(
            serde_json::from_value::<Product>(value).expect("deserialize"),
            product
        );
    }

    #[test]
    fn new_product_fills_defaults() {
        let product: NewProduct = serde_json::from_value(json!({
            "sku": "MUG-1",
            "slug": "mug",
            "name": "Mug",
            "price": {"amount": 899, "currency": "USD"},
            "category_id": "00000000-0000-0000-0000-000000000001"
        }))
        .expect("deserialize");
        assert!(product.active);
        assert!(!product.featured);
        assert_eq!(product.stock, 0);
        assert_eq!(product.description, "");
        assert!(product.attributes.is_empty());
        assert_eq!(product.price, usd(899));
    }

    #[test]
    fn new_product_rejects_typos_and_negative_stock() {
        let base = json!({
            "sku": "MUG-1",
            "slug": "mug",
            "name": "Mug",
            "price": {"amount": 899, "currency": "USD"},
            "category_id": "00000000-0000-0000-0000-000000000001"
        });
        let mut typo = base.clone();
        typo["prise"] = json!(1);
        assert!(serde_json::from_value::<NewProduct>(typo).is_err());
        let mut negative = base;
        negative["stock"] = json!(-1);
        assert!(serde_json::from_value::<NewProduct>(negative).is_err());
    }

    #[test]
    fn update_product_needs_a_version() {
        let update: UpdateProduct = serde_json::from_value(
            json!({"version": 3, "price": {"amount": 1499, "currency": "USD"}}),
        )
        .expect("deserialize");
        assert_eq!(update.price, Some(usd(1499)));
        assert_eq!(update.name, None);
        assert_eq!(
            serde_json::to_value(&update).expect("serialize"),
            json!({"version": 3, "price": {"amount": 1499, "currency": "USD"}})
        );
        assert!(serde_json::from_value::<UpdateProduct>(json!({"name": "Mug"})).is_err());
        assert!(
            serde_json::from_value::<UpdateProduct>(json!({"version": 3, "stock": 5})).is_err()
        );
        let featured: UpdateProduct =
            serde_json::from_value(json!({"version": 3, "featured": false})).expect("deserialize");
        assert_eq!(featured.featured, Some(false));
        assert!(
            serde_json::from_value::<UpdateProduct>(json!({"version": 3, "featured": "yes"}))
                .is_err()
        );
    }

    #[test]
    fn sort_names_are_snake_case() {
        let all = [
            ProductSort::Relevance,
            ProductSort::PriceAsc,
            ProductSort::PriceDesc,
            ProductSort::Newest,
        ];
        assert_eq!(
            serde_json::to_value(all).expect("serialize"),
            json!(["relevance", "price_asc", "price_desc", "newest"])
        );
        assert_eq!(ProductSort::default(), ProductSort::Relevance);
    }

    #[test]
    fn product_query_reads_filters() {
        let query: ProductQuery = serde_json::from_value(json!({
            "q": "tee",
            "category": "shirts",
            "min_price": 500,
            "max_price": 2500,
            "in_stock": true,
            "featured": true,
            "sort": "price_desc",
            "limit": 24,
            "utm_source": "mail"
        }))
        .expect("deserialize");
        assert_eq!(query.sort, Some(ProductSort::PriceDesc));
        assert_eq!(query.in_stock, Some(true));
        assert_eq!(query.featured, Some(true));
        assert_eq!(query.min_price, Some(500));
        assert_eq!(query.cursor, None);
        assert_eq!(
            serde_json::to_value(ProductQuery::default()).expect("serialize"),
            json!({})
        );
    }

    #[test]
    fn category_and_stock_update() {
        let category = Category {
            id: Uuid::from_u128(2),
            slug: "shirts".to_owned(),
            name: "Shirts".to_owned(),
            parent_id: Some(Uuid::from_u128(1)),
            version: 4,
        };
        let value = serde_json::to_value(&category).expect("serialize");
        assert_eq!(
            value["parent_id"],
            json!("00000000-0000-0000-0000-000000000001")
        );
        assert_eq!(value["version"], json!(4));
        assert_eq!(
            serde_json::from_value::<Category>(value).expect("deserialize"),
            category
        );
        let stock: StockUpdate =
            serde_json::from_value(json!({"available": 40})).expect("deserialize");
        assert_eq!(stock.available, 40);
        assert!(serde_json::from_value::<StockUpdate>(json!({"quantity": 40})).is_err());
    }

    #[test]
    fn new_category_parent_is_optional_and_typos_are_refused() {
        let top: NewCategory =
            serde_json::from_value(json!({"slug": "audio", "name": "Audio"})).expect("deserialize");
        assert_eq!(top.parent_id, None);
        assert_eq!(
            serde_json::to_value(&top).expect("serialize"),
            json!({"slug": "audio", "name": "Audio"})
        );
        let child: NewCategory = serde_json::from_value(json!({
            "slug": "headphones",
            "name": "Headphones",
            "parent_id": "00000000-0000-0000-0000-000000000001"
        }))
        .expect("deserialize");
        assert_eq!(child.parent_id, Some(Uuid::from_u128(1)));
        assert!(
            serde_json::from_value::<NewCategory>(json!({"slug": "a", "name": "A", "parent": 1}))
                .is_err()
        );
    }
}
