//! The rules catalog fields follow, checked before anything is written.
//!
//! [`Slug`] and [`Sku`] can only be built through `parse`, so code holding one holds a valid
//! value. The `check_*` functions collect every broken rule of a request as field errors named
//! by their JSON path, so a client learns about all its mistakes in one answer.

use std::collections::BTreeMap;

use contracts::catalog::{NewCategory, NewProduct, UpdateCategory, UpdateProduct};
use contracts::money::{Currency, Money};
use contracts::problem::FieldError;
use kit::error::field_error;

/// Longest name a product or category may have.
const MAX_NAME: usize = 200;
/// Longest product description.
const MAX_DESCRIPTION: usize = 10_000;
/// Longest image URL.
const MAX_IMAGE_URL: usize = 2048;
/// Most attributes a product may have.
const MAX_ATTRIBUTES: usize = 50;
/// Longest attribute name.
const MAX_ATTRIBUTE_NAME: usize = 64;
/// Longest attribute value.
const MAX_ATTRIBUTE_VALUE: usize = 500;

/// A URL name: 1 to 120 lowercase ASCII letters, digits and single inner hyphens, and not a
/// UUID (product URLs accept an id or a slug in the same place).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// The longest slug.
    pub const MAX_LEN: usize = 120;

    /// Parses a slug; the error says which rule it breaks.
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(format!("must be 1 to {} characters", Self::MAX_LEN));
        }
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
        if !value.bytes().all(allowed) {
            return Err("may only hold lowercase letters, digits and hyphens".to_owned());
        }
        if value.starts_with('-') || value.ends_with('-') || value.contains("--") {
            return Err("may not start or end with a hyphen or repeat one".to_owned());
        }
        if uuid::Uuid::parse_str(value).is_ok() {
            return Err("may not be a UUID".to_owned());
        }
        Ok(Self(value.to_owned()))
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stock-keeping unit: 1 to 64 characters among ASCII letters, digits, `-`, `_` and `.`,
/// starting with a letter or digit. Case is kept: `ab-1` and `AB-1` are different SKUs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sku(String);

impl Sku {
    /// The longest SKU.
    pub const MAX_LEN: usize = 64;

    /// Parses a SKU; the error says which rule it breaks.
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(format!("must be 1 to {} characters", Self::MAX_LEN));
        }
        if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("must start with a letter or digit".to_owned());
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err("may only hold letters, digits, '-', '_' and '.'".to_owned());
        }
        Ok(Self(value.to_owned()))
    }

    /// The SKU.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The broken rules of a new product.
pub(crate) fn check_new_product(product: &NewProduct, currency: Currency) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_sku(&mut errors, &product.sku);
    check_slug(&mut errors, "slug", &product.slug);
    check_name(&mut errors, "name", &product.name);
    check_description(&mut errors, &product.description);
    check_price(&mut errors, &product.price, currency);
    if let Some(url) = &product.image_url {
        check_image_url(&mut errors, url);
    }
    check_attributes(&mut errors, &product.attributes);
    errors
}

/// The broken rules of a product change; absent fields are not checked. An empty
/// `image_url` removes the image.
pub(crate) fn check_update(update: &UpdateProduct, currency: Currency) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_version(&mut errors, update.version, "product");
    if let Some(sku) = &update.sku {
        check_sku(&mut errors, sku);
    }
    if let Some(slug) = &update.slug {
        check_slug(&mut errors, "slug", slug);
    }
    if let Some(name) = &update.name {
        check_name(&mut errors, "name", name);
    }
    if let Some(description) = &update.description {
        check_description(&mut errors, description);
    }
    if let Some(price) = &update.price {
        check_price(&mut errors, price, currency);
    }
    if let Some(url) = update.image_url.as_deref().filter(|url| !url.is_empty()) {
        check_image_url(&mut errors, url);
    }
    if let Some(attributes) = &update.attributes {
        check_attributes(&mut errors, attributes);
    }
    errors
}

/// The broken rules of a new category.
pub(crate) fn check_new_category(category: &NewCategory) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_slug(&mut errors, "slug", &category.slug);
    check_name(&mut errors, "name", &category.name);
    errors
}

/// The broken rules of a category change; absent fields are not checked. Where the parent
/// may go depends on the tree, so the database checks it.
pub(crate) fn check_category_update(update: &UpdateCategory) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_version(&mut errors, update.version, "category");
    if let Some(slug) = &update.slug {
        check_slug(&mut errors, "slug", slug);
    }
    if let Some(name) = &update.name {
        check_name(&mut errors, "name", name);
    }
    errors
}

/// Versions start at 1, so a lower one cannot have been read from the `what` it changes.
fn check_version(errors: &mut Vec<FieldError>, version: i64, what: &str) {
    if version < 1 {
        errors.push(field_error(
            "version",
            "invalid",
            format!("must be a version read from the {what}"),
        ));
    }
}

fn check_sku(errors: &mut Vec<FieldError>, sku: &str) {
    if let Err(message) = Sku::parse(sku) {
        errors.push(field_error("sku", "invalid", message));
    }
}

fn check_slug(errors: &mut Vec<FieldError>, field: &str, slug: &str) {
    if let Err(message) = Slug::parse(slug) {
        errors.push(field_error(field, "invalid", message));
    }
}

fn check_name(errors: &mut Vec<FieldError>, field: &str, name: &str) {
    if name.trim().is_empty() {
        errors.push(field_error(field, "required", "must not be empty"));
    } else if name.chars().count() > MAX_NAME {
        errors.push(field_error(
            field,
            "too_long",
            format!("must be at most {MAX_NAME} characters"),
        ));
    } else if name != name.trim() || name.chars().any(char::is_control) {
        errors.push(field_error(
            field,
            "invalid",
            "must not start or end with spaces or hold control characters",
        ));
    }
}

fn check_description(errors: &mut Vec<FieldError>, description: &str) {
    if description.chars().count() > MAX_DESCRIPTION {
        errors.push(field_error(
            "description",
            "too_long",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
}

fn check_price(errors: &mut Vec<FieldError>, price: &Money, currency: Currency) {
    if price.amount < 0 {
        errors.push(field_error(
            "price.amount",
            "negative",
            "must be zero or more minor units",
        ));
    }
    if price.currency != currency {
        errors.push(field_error(
            "price.currency",
            "unsupported",
            format!("the catalog sells in {currency}"),
        ));
    }
}

/// Images are shown in the shop's pages, so only web URLs and paths on the shop's own origin
/// are accepted: never `javascript:` or other schemes a browser would run.
fn check_image_url(errors: &mut Vec<FieldError>, url: &str) {
    let web = url.starts_with("https://") || url.starts_with("http://");
    let local = url.starts_with('/') && !url.starts_with("//");
    if url.len() > MAX_IMAGE_URL {
        errors.push(field_error(
            "image_url",
            "too_long",
            format!("must be at most {MAX_IMAGE_URL} characters"),
        ));
    } else if !(web || local) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(field_error(
            "image_url",
            "invalid",
            "must be an http(s) URL or a path starting with /",
        ));
    }
}

fn check_attributes(errors: &mut Vec<FieldError>, attributes: &BTreeMap<String, String>) {
    if attributes.len() > MAX_ATTRIBUTES {
        errors.push(field_error(
            "attributes",
            "too_many",
            format!("at most {MAX_ATTRIBUTES} attributes"),
        ));
        return;
    }
    for (name, value) in attributes {
        let field = format!("attributes.{name}");
        if name.trim().is_empty() || name.chars().count() > MAX_ATTRIBUTE_NAME {
            errors.push(field_error(
                &field,
                "invalid_name",
                format!("names must be 1 to {MAX_ATTRIBUTE_NAME} characters"),
            ));
        }
        if value.chars().count() > MAX_ATTRIBUTE_VALUE {
            errors.push(field_error(
                &field,
                "too_long",
                format!("values must be at most {MAX_ATTRIBUTE_VALUE} characters"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").expect("valid")
    }

    fn new_product() -> NewProduct {
        NewProduct {
            sku: "KB-1".to_owned(),
            slug: "keyboard-one".to_owned(),
            name: "Keyboard One".to_owned(),
            description: String::new(),
            price: Money::new(4999, usd()),
            image_url: None,
            attributes: BTreeMap::new(),
            category_id: uuid::Uuid::from_u128(1),
            active: true,
            featured: false,
            stock: 3,
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn slug_edge_cases() {
        for good in ["a", "mug", "red-tee-2", &"a".repeat(Slug::MAX_LEN)] {
            assert!(Slug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Mug",
            "red tee",
            "-mug",
            "mug-",
            "red--tee",
            "tee_1",
            "café",
            "00000000-0000-0000-0000-000000000001",
            &"a".repeat(Slug::MAX_LEN + 1),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sku_edge_cases() {
        for good in ["A", "KB-ARC-K2", "sku_1.2", &"9".repeat(Sku::MAX_LEN)] {
            assert!(Sku::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-KB",
            ".x",
            "KB 1",
            "KB/1",
            "ä",
            &"9".repeat(Sku::MAX_LEN + 1),
        ] {
            assert!(Sku::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_broken_rule_is_named() {
        let mut product = new_product();
        product.name = "  ".to_owned();
        product.price = Money::new(-1, Currency::parse("EUR").expect("valid"));
        product.slug = "Bad Slug".to_owned();
        product.image_url = Some("javascript:alert(1)".to_owned());
        product
            .attributes
            .insert("color".to_owned(), "x".repeat(MAX_ATTRIBUTE_VALUE + 1));
        let errors = check_new_product(&product, usd());
        assert_eq!(
            fields(&errors),
            [
                "slug",
                "name",
                "price.amount",
                "price.currency",
                "image_url",
                "attributes.color"
            ]
        );
        assert!(check_new_product(&new_product(), usd()).is_empty());
    }

    #[test]
    fn image_urls_are_web_urls_or_local_paths() {
        for good in [
            "/api/v1/products/1/image.svg",
            "https://cdn.example.com/a.png",
        ] {
            let mut errors = Vec::new();
            check_image_url(&mut errors, good);
            assert!(errors.is_empty(), "{good}");
        }
        for bad in [
            "//evil.example/a.png",
            "data:text/html,x",
            "ftp://x/a",
            "/a b",
        ] {
            let mut errors = Vec::new();
            check_image_url(&mut errors, bad);
            assert_eq!(fields(&errors), ["image_url"], "{bad}");
        }
    }

    #[test]
    fn an_update_checks_only_what_it_changes() {
        let update = UpdateProduct {
            version: 1,
            sku: None,
            slug: None,
            name: Some(String::new()),
            description: None,
            price: None,
            image_url: Some(String::new()),
            attributes: None,
            category_id: None,
            active: None,
            featured: Some(true),
        };
        assert_eq!(fields(&check_update(&update, usd())), ["name"]);
        let update = UpdateCategory {
            version: 0,
            slug: None,
            name: Some(String::new()),
            parent_id: Some(None),
        };
        assert_eq!(fields(&check_category_update(&update)), ["version", "name"]);
    }

    proptest! {
        #[test]
        fn parsed_slugs_keep_their_value_and_rules(value in "[a-z0-9-]{0,130}") {
            match Slug::parse(&value) {
                Ok(slug) => {
                    prop_assert_eq!(slug.as_str(), value.as_str());
                    prop_assert!(!value.starts_with('-') && !value.ends_with('-'));
                    prop_assert!(!value.contains("--") && value.len() <= Slug::MAX_LEN);
                }
                Err(_) => prop_assert!(
                    value.is_empty()
                        || value.len() > Slug::MAX_LEN
                        || value.starts_with('-')
                        || value.ends_with('-')
                        || value.contains("--")
                        || uuid::Uuid::parse_str(&value).is_ok()
                ),
            }
        }

        #[test]
        fn slugs_never_accept_other_characters(value in "\\PC{1,40}") {
            let foreign = value.bytes().any(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            if foreign {
                prop_assert!(Slug::parse(&value).is_err());
            }
        }

        #[test]
        fn skus_accept_exactly_their_alphabet(value in "\\PC{0,70}") {
            let valid = !value.is_empty()
                && value.len() <= Sku::MAX_LEN
                && value.starts_with(|c: char| c.is_ascii_alphanumeric())
                && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            prop_assert_eq!(Sku::parse(&value).is_ok(), valid);
        }
    }
}
