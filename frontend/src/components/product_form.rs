//! The admin's product form.

use std::collections::BTreeMap;

use contracts::catalog::{Category, NewProduct, Product, UpdateProduct};
use contracts::money::{Currency, Money};
use uuid::Uuid;
use yew::prelude::*;

use crate::api::FieldErrors;
use crate::components::field::{Checkbox, Field, Select, TextArea, field_id};
use crate::format;

/// A product as typed in the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDraft {
    /// The SKU.
    pub sku: String,
    /// The URL name.
    pub slug: String,
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// The price as typed (`19.99`).
    pub price: String,
    /// The price's currency code.
    pub currency: String,
    /// The image URL; empty for none.
    pub image_url: String,
    /// The category's id.
    pub category_id: String,
    /// Whether it is for sale.
    pub active: bool,
    /// Whether the home page features it.
    pub featured: bool,
    /// Units on hand, for a new product (existing ones change stock separately).
    pub stock: String,
}

impl Default for ProductDraft {
    fn default() -> Self {
        Self {
            sku: String::new(),
            slug: String::new(),
            name: String::new(),
            description: String::new(),
            price: String::new(),
            currency: "USD".to_owned(),
            image_url: String::new(),
            category_id: String::new(),
            active: true,
            featured: false,
            stock: "0".to_owned(),
        }
    }
}

impl From<&Product> for ProductDraft {
    fn from(product: &Product) -> Self {
        Self {
            sku: product.sku.clone(),
            slug: product.slug.clone(),
            name: product.name.clone(),
            description: product.description.clone(),
            price: format::amount_input(product.price),
            currency: product.price.currency.to_string(),
            image_url: product.image_url.clone().unwrap_or_default(),
            category_id: product.category_id.to_string(),
            active: product.active,
            featured: product.featured,
            stock: product.stock.to_string(),
        }
    }
}

/// The draft's values, checked.
struct Checked {
    price: Money,
    category_id: Uuid,
    image_url: Option<String>,
    stock: u32,
}

impl ProductDraft {
    /// The fields the form shows: API name and label.
    pub const FIELDS: &'static [(&'static str, &'static str)] = &[
        ("name", "Name"),
        ("sku", "SKU"),
        ("slug", "URL name"),
        ("price", "Price"),
        ("price.currency", "Currency"),
        ("category_id", "Category"),
        ("description", "Description"),
        ("image_url", "Image URL"),
        ("stock", "Units in stock"),
        ("active", "For sale"),
        ("featured", "Featured"),
    ];

    fn check(&self, with_stock: bool) -> Result<Checked, FieldErrors> {
        let mut errors = FieldErrors::default();
        for (field, value) in [
            ("sku", &self.sku),
            ("slug", &self.slug),
            ("name", &self.name),
        ] {
            if value.trim().is_empty() {
                errors.add(field, "Required.");
            }
        }
        let currency = Currency::parse(self.currency.trim());
        if currency.is_err() {
            errors.add("price.currency", "Enter a currency code like USD.");
        }
        let price = currency.as_ref().ok().and_then(|currency| {
            format::parse_amount(&self.price, *currency)
                .map_err(|message| errors.add("price.amount", &message))
                .ok()
                .map(|amount| Money::new(amount, *currency))
        });
        let category_id = Uuid::parse_str(&self.category_id).ok();
        if category_id.is_none() {
            errors.add("category_id", "Choose a category.");
        }
        let stock = if with_stock {
            self.stock.trim().parse::<u32>().ok()
        } else {
            Some(0)
        };
        if stock.is_none() {
            errors.add("stock", "Enter a whole number of units, 0 or more.");
        }
        match (price, category_id, stock) {
            (Some(price), Some(category_id), Some(stock)) if errors.is_empty() => Ok(Checked {
                price,
                category_id,
                image_url: Some(self.image_url.trim().to_owned()).filter(|url| !url.is_empty()),
                stock,
            }),
            _ => Err(errors),
        }
    }

    /// The product to create, or what is wrong with the draft.
    pub fn to_new(&self) -> Result<NewProduct, FieldErrors> {
        let checked = self.check(true)?;
        Ok(NewProduct {
            sku: self.sku.trim().to_owned(),
            slug: self.slug.trim().to_owned(),
            name: self.name.trim().to_owned(),
            description: self.description.trim().to_owned(),
            price: checked.price,
            image_url: checked.image_url,
            attributes: BTreeMap::new(),
            category_id: checked.category_id,
            active: self.active,
            featured: self.featured,
            stock: checked.stock,
        })
    }

    /// The change to `product` (based on its `version`): only the fields that differ.
    pub fn to_update(&self, product: &Product) -> Result<UpdateProduct, FieldErrors> {
        let checked = self.check(false)?;
        let changed = |new: &str, old: &str| (new.trim() != old).then(|| new.trim().to_owned());
        Ok(UpdateProduct {
            version: product.version,
            sku: changed(&self.sku, &product.sku),
            slug: changed(&self.slug, &product.slug),
            name: changed(&self.name, &product.name),
            description: changed(&self.description, &product.description),
            price: (checked.price != product.price).then_some(checked.price),
            image_url: (checked.image_url != product.image_url)
                .then(|| checked.image_url.unwrap_or_default()),
            attributes: None,
            category_id: (checked.category_id != product.category_id)
                .then_some(checked.category_id),
            active: (self.active != product.active).then_some(self.active),
            featured: (self.featured != product.featured).then_some(self.featured),
        })
    }
}

/// Props of [`ProductForm`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ProductFormProps {
    /// The product as typed.
    pub draft: ProductDraft,
    /// Messages by field, from the form's own check or the API.
    pub errors: FieldErrors,
    /// The categories to choose from.
    pub categories: Vec<Category>,
    /// Whether this creates a product (and so sets its first stock).
    pub is_new: bool,
    /// Whether a save is running.
    pub busy: bool,
    /// Called with the draft after every change.
    pub on_change: Callback<ProductDraft>,
    /// Called to save.
    pub on_submit: Callback<()>,
}

/// The product form; each API error appears under the field it names.
#[component]
pub fn ProductForm(props: &ProductFormProps) -> Html {
    let setter = |set: fn(&mut ProductDraft, String)| {
        let draft = props.draft.clone();
        let on_change = props.on_change.clone();
        Callback::from(move |value: String| {
            let mut draft = draft.clone();
            set(&mut draft, value);
            on_change.emit(draft);
        })
    };
    let toggle = |set: fn(&mut ProductDraft, bool)| {
        let draft = props.draft.clone();
        let on_change = props.on_change.clone();
        Callback::from(move |on: bool| {
            let mut draft = draft.clone();
            set(&mut draft, on);
            on_change.emit(draft);
        })
    };
    let onsubmit = props.on_submit.reform(|e: SubmitEvent| e.prevent_default());
    let id = |field: &str| field_id("product", field);
    let errors = &props.errors;
    let draft = &props.draft;
    let mut categories: Vec<(AttrValue, AttrValue)> =
        vec![(AttrValue::Static(""), AttrValue::Static("Choose…"))];
    categories.extend(props.categories.iter().map(|c| {
        (
            AttrValue::from(c.id.to_string()),
            AttrValue::from(c.name.clone()),
        )
    }));
    html! {
        <form class="form" {onsubmit} novalidate=true aria-busy={props.busy.to_string()}>
            <Field id={id("name")} label="Name" value={draft.name.clone()} required=true
                oninput={setter(|d, v| d.name = v)} error={errors.get("name")} />
            <div class="field-row">
                <Field id={id("sku")} label="SKU" value={draft.sku.clone()} required=true
                    oninput={setter(|d, v| d.sku = v)} error={errors.get("sku")} />
                <Field id={id("slug")} label="URL name" value={draft.slug.clone()} required=true
                    hint="Lowercase letters, digits and dashes."
                    oninput={setter(|d, v| d.slug = v)} error={errors.get("slug")} />
            </div>
            <div class="field-row">
                <Field id={id("price")} label="Price" value={draft.price.clone()} required=true
                    inputmode="decimal" oninput={setter(|d, v| d.price = v)}
                    error={errors.get("price.amount").or_else(|| errors.get_exact("price"))} />
                <Field id={id("price.currency")} label="Currency" value={draft.currency.clone()}
                    required=true oninput={setter(|d, v| d.currency = v.to_ascii_uppercase())}
                    error={errors.get("price.currency")} />
            </div>
            <Select id={id("category_id")} label="Category" value={draft.category_id.clone()}
                options={categories} required=true onchange={setter(|d, v| d.category_id = v)}
                error={errors.get("category_id")} />
            <TextArea id={id("description")} label="Description" value={draft.description.clone()}
                oninput={setter(|d, v| d.description = v)} error={errors.get("description")} />
            <Field id={id("image_url")} label="Image URL" value={draft.image_url.clone()}
                hint="A path on this site, like /images/mug.jpg." kind="text"
                oninput={setter(|d, v| d.image_url = v)} error={errors.get("image_url")} />
            if props.is_new {
                <Field id={id("stock")} label="Units in stock" value={draft.stock.clone()} kind="number"
                    inputmode="numeric" oninput={setter(|d, v| d.stock = v)} error={errors.get("stock")} />
            }
            <Checkbox id={id("active")} label="For sale (shown in the shop)" checked={draft.active}
                onchange={toggle(|d, on| d.active = on)} error={errors.get("active")} />
            <Checkbox id={id("featured")} label="Featured (shown on the home page)" checked={draft.featured}
                onchange={toggle(|d, on| d.featured = on)} error={errors.get("featured")} />
            <p class="form__actions">
                <button type="submit" class="button button--primary" disabled={props.busy}>
                    { if props.is_new { "Create product" } else { "Save changes" } }
                </button>
            </p>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn product() -> Product {
        Product {
            id: Uuid::from_u128(1),
            sku: "MUG-1".to_owned(),
            slug: "mug".to_owned(),
            name: "Mug".to_owned(),
            description: "A mug.".to_owned(),
            price: Money::new(1250, Currency::parse("USD").expect("valid")),
            image_url: None,
            attributes: BTreeMap::new(),
            category_id: Uuid::from_u128(2),
            active: true,
            featured: false,
            stock: 4,
            version: 7,
            created_at: datetime!(2024-05-01 12:00 UTC),
            updated_at: datetime!(2024-05-01 12:00 UTC),
        }
    }

    #[test]
    fn an_edit_sends_only_what_changed_with_the_version() {
        let product = product();
        let mut draft = ProductDraft::from(&product);
        assert_eq!(draft.price, "12.50");
        draft.price = "13".to_owned();
        let update = draft.to_update(&product).expect("valid");
        assert_eq!(update.version, 7);
        assert_eq!(update.price.map(|p| p.amount), Some(1300));
        assert_eq!(update.name, None);
        assert_eq!(update.active, None);
        assert_eq!(update.featured, None);
        assert_eq!(update.image_url, None);

        draft.featured = true;
        let update = draft.to_update(&product).expect("valid");
        assert_eq!(update.featured, Some(true));
    }

    #[test]
    fn a_bad_draft_names_each_field() {
        let draft = ProductDraft {
            price: "12,5.0.1".to_owned(),
            currency: "usd1".to_owned(),
            stock: "-3".to_owned(),
            ..ProductDraft::default()
        };
        let errors = draft.to_new().expect_err("invalid");
        for field in [
            "sku",
            "slug",
            "name",
            "price.currency",
            "category_id",
            "stock",
        ] {
            assert!(errors.get(field).is_some(), "{field}");
        }
        let draft = ProductDraft {
            price: "abc".to_owned(),
            ..ProductDraft::default()
        };
        assert!(
            draft
                .to_new()
                .expect_err("invalid")
                .get("price.amount")
                .is_some()
        );
    }

    #[test]
    fn a_complete_draft_becomes_a_new_product() {
        let draft = ProductDraft {
            sku: "TEA-1".to_owned(),
            slug: "tea".to_owned(),
            name: " Tea ".to_owned(),
            price: "4.5".to_owned(),
            category_id: Uuid::from_u128(2).to_string(),
            stock: "12".to_owned(),
            ..ProductDraft::default()
        };
        let new = draft.to_new().expect("valid");
        assert_eq!(new.name, "Tea");
        assert_eq!(new.price.amount, 450);
        assert_eq!(new.stock, 12);
        assert!(new.active);
        assert!(!new.featured, "a new product is not featured unless ticked");
        assert_eq!(new.image_url, None);
    }
}
