//! A product in a list.

use contracts::catalog::Product;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::format;
use crate::route::Route;

/// Props of [`ProductCard`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ProductCardProps {
    /// The product.
    pub product: Product,
    /// The level of its heading (2 on a page of products, 3 inside a section).
    #[prop_or(2)]
    pub level: u8,
}

/// A product's picture, name, price and availability, linking to its page.
#[component]
pub fn ProductCard(props: &ProductCardProps) -> Html {
    let product = &props.product;
    let heading = format!("h{}", props.level.clamp(2, 6));
    let availability = if product.stock == 0 {
        html! { <p class="product-card__stock product-card__stock--out">{ "Sold out" }</p> }
    } else {
        html! { <p class="product-card__stock">{ "In stock" }</p> }
    };
    html! {
        <article class="product-card" data-testid="product-card">
            <Link<Route> to={Route::Product { id: product.id }} classes="product-card__link">
                { image(product.image_url.as_deref(), "product-card__image") }
                <@{heading} class="product-card__name">{ product.name.clone() }</@>
            </Link<Route>>
            <p class="product-card__price" data-testid="price">{ format::money(product.price) }</p>
            { availability }
        </article>
    }
}

/// A product image, or a neutral placeholder. Decorative (empty `alt`): the product's name is
/// always next to it.
pub fn image(url: Option<&str>, class: &'static str) -> Html {
    match url {
        Some(url) => html! {
            <img class={class} src={url.to_owned()} alt="" loading="lazy" width="400" height="400" />
        },
        None => {
            html! { <div class={classes!(class, "image-placeholder")} aria-hidden="true"></div> }
        }
    }
}

/// Props of [`ProductGrid`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ProductGridProps {
    /// The products, in order.
    pub products: Vec<Product>,
    /// The level of each card's heading.
    #[prop_or(2)]
    pub level: u8,
}

/// Products as a responsive grid.
#[component]
pub fn ProductGrid(props: &ProductGridProps) -> Html {
    html! {
        <ul class="product-grid">
            { for props.products.iter().map(|product| html! {
                <li key={product.id.to_string()}>
                    <ProductCard product={product.clone()} level={props.level} />
                </li>
            }) }
        </ul>
    }
}
