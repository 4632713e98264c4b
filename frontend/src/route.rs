//! The routes of the storefront, the account app and the admin portal, and which page of the
//! first two draws each (the portal's: [`crate::pages::admin::switch`]).

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::components::RequireSignIn;
use crate::pages;

/// Every page of the storefront and of the admin portal, by URL.
#[derive(Debug, Clone, PartialEq, Eq, Routable)]
pub enum Route {
    /// Categories and new arrivals.
    #[at("/")]
    Home,
    /// Search, filters, sort and paging; the filters live in the query string.
    #[at("/products")]
    Catalog,
    /// One product.
    #[at("/products/:id")]
    Product {
        /// The product's id.
        id: Uuid,
    },
    /// The cart.
    #[at("/cart")]
    Cart,
    /// Address, card, place the order.
    #[at("/checkout")]
    Checkout,
    /// The thank-you page of a placed order.
    #[at("/checkout/complete/:id")]
    Confirmation {
        /// The order's id.
        id: Uuid,
    },
    /// The customer's orders.
    #[at("/orders")]
    Orders,
    /// One of the customer's orders.
    #[at("/orders/:id")]
    Order {
        /// The order's id.
        id: Uuid,
    },
    /// Sign in; `?next=` is where to go afterwards.
    #[at("/login")]
    Login,
    /// Create an account.
    #[at("/register")]
    Register,
    /// Profile, password, addresses, sign out.
    #[at("/account")]
    Account,
    /// The admin portal's start.
    #[at("/admin")]
    Admin,
    /// The admin's product list.
    #[at("/admin/products")]
    AdminProducts,
    /// Create a product.
    #[at("/admin/products/new")]
    AdminNewProduct,
    /// Edit a product and its stock.
    #[at("/admin/products/:id")]
    AdminProduct {
        /// The product's id.
        id: Uuid,
    },
    /// Every order, by status.
    #[at("/admin/orders")]
    AdminOrders,
    /// Users and their roles.
    #[at("/admin/users")]
    AdminUsers,
    /// Anything else.
    #[not_found]
    #[at("/404")]
    NotFound,
}

/// `?next=/path`: where the sign-in page sends people afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextQuery {
    /// A path of this app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl NextQuery {
    /// The route to go to: `next` when it is a route of this app (never another site), or home.
    pub fn route(&self) -> Route {
        self.next
            .as_deref()
            .filter(|path| path.starts_with('/') && !path.starts_with("//"))
            .and_then(Route::recognize)
            .filter(|route| *route != Route::NotFound)
            .unwrap_or(Route::Home)
    }
}

/// Draws the storefront's page of a route: browsing and the cart, the pages a visitor loads
/// first, so the bundle holds nothing else. Signing in and the signed-in pages load the account
/// app ([`account`]), the portal's pages load the portal.
pub fn storefront(route: Route) -> Html {
    match route {
        Route::Home => html! { <pages::Home /> },
        Route::Catalog => html! { <pages::Catalog /> },
        Route::Product { id } => html! { <pages::ProductPage {id} /> },
        Route::Cart => html! { <pages::CartPage /> },
        Route::NotFound => html! { <pages::NotFound /> },
        Route::Login
        | Route::Register
        | Route::Checkout
        | Route::Confirmation { .. }
        | Route::Orders
        | Route::Order { .. }
        | Route::Account
        | Route::Admin
        | Route::AdminProducts
        | Route::AdminNewProduct
        | Route::AdminProduct { .. }
        | Route::AdminOrders
        | Route::AdminUsers => html! { <OtherApp /> },
    }
}

/// Draws the account app's page of a route: signing in, registering, the signed-in pages
/// (checkout, orders, account) and every page of the storefront, so that once a shopper is in,
/// going back to the catalog stays in this app. The portal's pages load the portal.
pub fn account(route: Route) -> Html {
    let signed_in = |page: Html| html! { <RequireSignIn>{ page }</RequireSignIn> };
    match route {
        Route::Checkout => signed_in(html! { <pages::Checkout /> }),
        Route::Confirmation { id } => signed_in(html! { <pages::Confirmation {id} /> }),
        Route::Orders => signed_in(html! { <pages::Orders /> }),
        Route::Order { id } => signed_in(html! { <pages::OrderPage {id} /> }),
        Route::Account => signed_in(html! { <pages::Account /> }),
        Route::Login => html! { <pages::Login /> },
        Route::Register => html! { <pages::Register /> },
        other => storefront(other),
    }
}

thread_local! {
    static LOADED_PATH: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Notes the path this document was loaded at; the apps call it before they start.
pub fn remember_loaded_path() {
    let path = web_sys::window().and_then(|window| window.location().pathname().ok());
    LOADED_PATH.with(|loaded| *loaded.borrow_mut() = path);
}

/// A page of another app (the storefront, the account app and the admin portal are separate
/// bundles), reached through a link of this one: the router has already put its URL in the
/// address bar, so loading the document again from the server brings that app. A document that
/// was loaded at this very path, though, is what the server answers for it (a server that does
/// not know that app): loading it again would loop, so it says the page is not here instead.
#[component]
pub fn OtherApp() -> Html {
    let path = use_location().map(|location| location.path().to_owned());
    let loaded_here = LOADED_PATH.with(|loaded| *loaded.borrow() == path);
    use_effect_with(loaded_here, |loaded_here| {
        if !*loaded_here && let Some(window) = web_sys::window() {
            let _ = window.location().reload();
        }
    });
    if loaded_here {
        html! { <pages::NotFound /> }
    } else {
        html! {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_only_leads_within_the_app() {
        let next = |path: &str| {
            NextQuery {
                next: Some(path.to_owned()),
            }
            .route()
        };
        assert_eq!(next("/cart"), Route::Cart);
        assert_eq!(next("/admin/products/new"), Route::AdminNewProduct);
        let id = Uuid::from_u128(7);
        assert_eq!(next(&format!("/products/{id}")), Route::Product { id });
        assert_eq!(next("//evil.example/cart"), Route::Home);
        assert_eq!(next("https://evil.example/"), Route::Home);
        assert_eq!(next("/no/such/page"), Route::Home);
        assert_eq!(NextQuery::default().route(), Route::Home);
    }

    #[test]
    fn static_segments_win_over_ids() {
        assert_eq!(
            Route::recognize("/admin/products/new"),
            Some(Route::AdminNewProduct)
        );
        assert_eq!(
            Route::recognize("/products/not-a-uuid"),
            Some(Route::NotFound)
        );
        assert_eq!(Route::Catalog.to_path(), "/products");
    }
}
