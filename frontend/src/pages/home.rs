use contracts::catalog::{Category, Product, ProductQuery, ProductSort};
use contracts::pagination::Page;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api;
use crate::components::{Empty, ErrorNotice, Loading, ProductGrid};
use crate::hooks::{Load, Loader, use_load, use_title};
use crate::route::Route;

/// How many featured products the home page shows.
const FEATURED: u32 = 8;

/// How many new products the home page shows.
const NEW_ARRIVALS: u32 = 4;

/// The start page: categories, the products admins feature, and the newest products in stock.
#[component]
pub fn Home() -> Html {
    use_title("Home");
    let categories = use_load((), |()| api::categories());
    // Every product admins feature, sold out or not: the list is theirs to curate, and one
    // that vanished from it whenever it sold out would look like a bug to them.
    let featured = use_load((), |()| async {
        api::products(&ProductQuery {
            featured: Some(true),
            sort: Some(ProductSort::Newest),
            limit: Some(FEATURED),
            ..ProductQuery::default()
        })
        .await
    });
    let arrivals = use_load((), |()| async {
        api::products(&ProductQuery {
            sort: Some(ProductSort::Newest),
            in_stock: Some(true),
            limit: Some(NEW_ARRIVALS),
            ..ProductQuery::default()
        })
        .await
    });

    let categories_view = match &*categories.state {
        Load::Loading => html! { <Loading label="Loading categories…" /> },
        Load::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} retry={categories.reload.clone()} /> }
        }
        Load::Ready(list) if list.is_empty() => html! { <Empty message="No categories yet." /> },
        Load::Ready(list) => category_list(list),
    };
    let featured_view = product_list(
        &featured,
        "Loading featured products…",
        "Nothing is featured right now.",
    );
    let arrivals_view = product_list(
        &arrivals,
        "Loading new arrivals…",
        "Nothing in stock right now. Please come back soon.",
    );

    html! {
        <>
            <section class="hero">
                <h1>{ "Welcome to the shop" }</h1>
                <p>{ "Good things, fairly priced, shipped fast." }</p>
                <p><Link<Route> to={Route::Catalog} classes="button button--primary">{ "Browse all products" }</Link<Route>></p>
            </section>
            <section aria-labelledby="categories-heading" class="section">
                <h2 id="categories-heading">{ "Categories" }</h2>
                { categories_view }
            </section>
            <section aria-labelledby="featured-heading" class="section">
                <h2 id="featured-heading">{ "Featured" }</h2>
                { featured_view }
            </section>
            <section aria-labelledby="arrivals-heading" class="section">
                <h2 id="arrivals-heading">{ "New arrivals" }</h2>
                { arrivals_view }
            </section>
        </>
    }
}

/// A section's products in each state of their fetch.
fn product_list(
    loader: &Loader<Page<Product>>,
    loading: &'static str,
    empty: &'static str,
) -> Html {
    match &*loader.state {
        Load::Loading => html! { <Loading label={loading} /> },
        Load::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} retry={loader.reload.clone()} /> }
        }
        Load::Ready(page) if page.items.is_empty() => html! { <Empty message={empty} /> },
        Load::Ready(page) => html! { <ProductGrid products={page.items.clone()} level={3} /> },
    }
}

/// The top-level categories (or all, when none is top-level) as links into the catalog.
fn category_list(categories: &[Category]) -> Html {
    let top: Vec<&Category> = categories
        .iter()
        .filter(|c| c.parent_id.is_none())
        .collect();
    let shown = if top.is_empty() {
        categories.iter().collect()
    } else {
        top
    };
    html! {
        <ul class="category-list">
            { for shown.into_iter().map(|category| {
                let query = ProductQuery {
                    category: Some(category.slug.clone()),
                    ..ProductQuery::default()
                };
                html! {
                    <li key={category.id.to_string()}>
                        <Link<Route, ProductQuery> to={Route::Catalog} query={Some(query)} classes="category-list__link">
                            { category.name.clone() }
                        </Link<Route, ProductQuery>>
                    </li>
                }
            }) }
        </ul>
    }
}
