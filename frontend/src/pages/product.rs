use contracts::cart::Quantity;
use contracts::catalog::Product;
use uuid::Uuid;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api::{self, ApiError};
use crate::components::{ErrorNotice, Field, Loading, Notice, product_image};
use crate::format;
use crate::hooks::{Load, use_load, use_title};
use crate::route::Route;

/// Props of [`ProductPage`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ProductPageProps {
    /// The product's id.
    pub id: Uuid,
}

/// One product: picture, price, stock, description, attributes, and "Add to cart" (for
/// visitors too: their products go to a guest cart).
#[component]
pub fn ProductPage(props: &ProductPageProps) -> Html {
    let product = use_load(props.id, api::product);
    let title = match &*product.state {
        Load::Ready(product) => product.name.clone(),
        Load::Failed(_) => "Product not available".to_owned(),
        Load::Loading => "Product".to_owned(),
    };
    use_title(&title);
    match &*product.state {
        Load::Loading => html! { <Loading label="Loading the product…" /> },
        Load::Failed(error) if error.status() == Some(404) => html! {
            <section class="gate">
                <h1>{ "Product not found" }</h1>
                <p>{ "It may have been removed from the shop." }</p>
                <p><Link<Route> to={Route::Catalog} classes="button">{ "Browse products" }</Link<Route>></p>
            </section>
        },
        Load::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} retry={product.reload.clone()} /> }
        }
        Load::Ready(product) => html! { <ProductDetails product={product.clone()} /> },
    }
}

#[derive(Debug, Clone, PartialEq, Properties)]
struct ProductDetailsProps {
    product: Product,
}

#[component]
fn ProductDetails(props: &ProductDetailsProps) -> Html {
    let product = &props.product;
    let quantity = use_state(|| "1".to_owned());
    let quantity_error = use_state(|| None::<AttrValue>);
    let busy = use_state(|| false);
    let outcome = use_state(|| None::<Result<u32, ApiError>>);

    let on_add = {
        let (quantity, quantity_error, busy, outcome) = (
            quantity.clone(),
            quantity_error.clone(),
            busy.clone(),
            outcome.clone(),
        );
        let id = product.id;
        let stock = product.stock;
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            // A cart line holds at most Quantity::MAX units, and no more than are in stock.
            let most = stock.min(Quantity::MAX);
            let wanted = match quantity.trim().parse::<u32>().map(Quantity::parse) {
                Ok(Ok(n)) if n.get() <= stock => n.get(),
                _ => {
                    quantity_error.set(Some(format!("Enter a number from 1 to {most}.").into()));
                    return;
                }
            };
            quantity_error.set(None);
            busy.set(true);
            outcome.set(None);
            let (busy, outcome) = (busy.clone(), outcome.clone());
            spawn_local(async move {
                let result = api::add_to_cart(id, wanted)
                    .await
                    .map(|cart| cart.items.iter().map(|line| line.quantity).sum());
                busy.set(false);
                outcome.set(Some(result));
            });
        })
    };

    let buy = if !product.active || product.stock == 0 {
        html! { <p class="product__stock product__stock--out">{ "Sold out" }</p> }
    } else {
        html! {
            <form class="buy" onsubmit={on_add} novalidate=true>
                <p class="product__stock">{ format!("In stock: {} available", product.stock) }</p>
                <Field id="quantity" label="Quantity" kind="number" inputmode="numeric"
                    value={(*quantity).clone()} error={(*quantity_error).clone()}
                    oninput={{ let quantity = quantity.clone(); Callback::from(move |v| quantity.set(v)) }} />
                <button type="submit" class="button button--primary" disabled={*busy}>
                    { if *busy { "Adding…" } else { "Add to cart" } }
                </button>
            </form>
        }
    };
    let outcome_view = match &*outcome {
        None => Html::default(),
        Some(Ok(units)) => html! {
            <Notice>
                { format!("Added to your cart ({units} {} in it). ", if *units == 1 { "item" } else { "items" }) }
                <Link<Route> to={Route::Cart}>{ "View cart" }</Link<Route>>
            </Notice>
        },
        Some(Err(error)) => html! { <ErrorNotice error={error.clone()} /> },
    };
    html! {
        <article class="product">
            <div class="product__media">
                { product_image(product.image_url.as_deref(), "product__image") }
            </div>
            <div class="product__info">
                <p class="breadcrumbs"><Link<Route> to={Route::Catalog}>{ "← All products" }</Link<Route>></p>
                <h1>{ product.name.clone() }</h1>
                <p class="product__price" data-testid="price">{ format::money(product.price) }</p>
                { buy }
                { outcome_view }
                if !product.description.is_empty() {
                    <h2 class="h3">{ "Description" }</h2>
                    <p class="product__description">{ product.description.clone() }</p>
                }
                if !product.attributes.is_empty() {
                    <h2 class="h3">{ "Details" }</h2>
                    <dl class="attributes">
                        { for product.attributes.iter().map(|(name, value)| html! {
                            <><dt>{ name.clone() }</dt><dd>{ value.clone() }</dd></>
                        }) }
                    </dl>
                }
                <p class="product__sku">{ format!("SKU {}", product.sku) }</p>
            </div>
        </article>
    }
}
