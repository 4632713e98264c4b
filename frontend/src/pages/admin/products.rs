use contracts::catalog::{ProductQuery, ProductSort};
use web_sys::HtmlInputElement;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api;
use crate::components::{Empty, ErrorNotice, Loading};
use crate::format;
use crate::hooks::{Load, use_pages, use_title};
use crate::route::Route;

/// Products per page.
const PAGE_SIZE: u32 = 25;

/// Every product (admins also see hidden ones), searchable, newest first.
#[component]
pub fn Products() -> Html {
    use_title("Admin · Products");
    let search = use_state(String::new);
    let typed = use_node_ref();
    let pages = use_pages((*search).clone(), |q: String, cursor| async move {
        api::products(&ProductQuery {
            q: Some(q).filter(|q| !q.is_empty()),
            sort: Some(ProductSort::Newest),
            limit: Some(PAGE_SIZE),
            cursor,
            ..ProductQuery::default()
        })
        .await
    });
    let onsubmit = {
        let (search, typed) = (search.clone(), typed.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(input) = typed.cast::<HtmlInputElement>() {
                search.set(input.value().trim().to_owned());
            }
        })
    };
    let body = match &*pages.state {
        Load::Loading => html! { <Loading label="Loading products…" /> },
        Load::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} retry={pages.reload.clone()} /> }
        }
        Load::Ready(listing) if listing.items.is_empty() => {
            html! { <Empty message="No products found." /> }
        }
        Load::Ready(listing) => html! {
            <>
                <table class="data-table">
                    <caption class="visually-hidden">{ "Products" }</caption>
                    <thead>
                        <tr>
                            <th scope="col">{ "Name" }</th>
                            <th scope="col">{ "SKU" }</th>
                            <th scope="col" class="num">{ "Price" }</th>
                            <th scope="col" class="num">{ "Stock" }</th>
                            <th scope="col">{ "Shown" }</th>
                        </tr>
                    </thead>
                    <tbody>
                        { for listing.items.iter().map(|p| html! {
                            <tr key={p.id.to_string()}>
                                <th scope="row" data-label="Name">
                                    <Link<Route> to={Route::AdminProduct { id: p.id }}>{ p.name.clone() }</Link<Route>>
                                </th>
                                <td data-label="SKU">{ p.sku.clone() }</td>
                                <td class="num" data-label="Price">{ format::money(p.price) }</td>
                                <td class="num" data-label="Stock">{ p.stock }</td>
                                <td data-label="Shown">{ if p.active { "Yes" } else { "Hidden" } }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
                if let Some(error) = &listing.more_error { <ErrorNotice error={error.clone()} /> }
                if listing.next.is_some() {
                    <p class="pager">
                        <button type="button" class="button" disabled={listing.loading_more}
                            onclick={pages.load_more.reform(|_| ())}>{ "Show more" }</button>
                    </p>
                }
            </>
        },
    };
    html! {
        <section>
            <div class="page-heading">
                <h1>{ "Products" }</h1>
                <Link<Route> to={Route::AdminNewProduct} classes="button button--primary">{ "New product" }</Link<Route>>
            </div>
            <form class="inline-form" role="search" {onsubmit}>
                <label for="admin-product-search">{ "Find products" }</label>
                <input id="admin-product-search" type="search" ref={typed} class="field__input" />
                <button type="submit" class="button">{ "Search" }</button>
            </form>
            { body }
        </section>
    }
}
