//! The frame around every page: the header with search and navigation, and the footer.

use contracts::catalog::ProductQuery;
use web_sys::HtmlInputElement;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api;
use crate::route::Route;
use crate::session::{SessionAction, use_session};

/// The site header: brand, product search, the cart with the units in it, and links for who
/// is signed in.
#[component]
pub fn Header() -> Html {
    let session = use_session();
    let navigator = use_navigator();
    let search = use_node_ref();
    let cart_units = use_state(|| 0_u32);
    {
        // Every answer that shows the cart updates the badge; signing in (which merges a guest
        // cart) or out changes whose cart it is, so it is read again then.
        let units = cart_units.setter();
        use_effect_with(session.user.as_ref().map(|user| user.id), move |_| {
            api::on_cart_changed(Callback::from(move |count| units.set(count)));
            spawn_local(async {
                // The badge is a hint: a cart that cannot be read now keeps its last count.
                let _ = api::cart().await;
            });
        });
    }

    let onsubmit = {
        let search = search.clone();
        let navigator = navigator.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let text = search
                .cast::<HtmlInputElement>()
                .map(|input| input.value().trim().to_owned())
                .unwrap_or_default();
            let query = ProductQuery {
                q: (!text.is_empty()).then_some(text),
                ..ProductQuery::default()
            };
            if let Some(navigator) = &navigator {
                let _ = navigator.push_with_query(&Route::Catalog, &query);
            }
        })
    };

    let sign_out = {
        let session = session.clone();
        Callback::from(move |_: MouseEvent| {
            let session = session.clone();
            let navigator = navigator.clone();
            spawn_local(async move {
                api::logout().await;
                session.dispatch(SessionAction::SignedOut);
                if let Some(navigator) = navigator {
                    navigator.push(&Route::Home);
                }
            });
        })
    };

    let account = match &session.user {
        Some(user) => html! {
            <>
                <li><Link<Route> to={Route::Orders}>{ "Orders" }</Link<Route>></li>
                if session.is_admin() {
                    <li><Link<Route> to={Route::Admin}>{ "Admin" }</Link<Route>></li>
                }
                <li><Link<Route> to={Route::Account}>
                    <span class="visually-hidden">{ "Account of " }</span>{ user.display_name.clone() }
                </Link<Route>></li>
                <li><button type="button" class="link-button" onclick={sign_out}>{ "Sign out" }</button></li>
            </>
        },
        None => html! {
            <>
                <li><Link<Route> to={Route::Login}>{ "Sign in" }</Link<Route>></li>
                <li><Link<Route> to={Route::Register}>{ "Register" }</Link<Route>></li>
            </>
        },
    };

    html! {
        <header class="site-header">
            <div class="site-header__inner">
                <Link<Route> to={Route::Home} classes="brand">{ "Shop" }</Link<Route>>
                <form class="search" role="search" {onsubmit}>
                    <label class="visually-hidden" for="site-search">{ "Search products" }</label>
                    <input id="site-search" ref={search} type="search" name="q"
                        placeholder="Search products" autocomplete="off" />
                    <button type="submit" class="button">{ "Search" }</button>
                </form>
                <nav class="site-nav" aria-label="Main">
                    <ul>
                        <li><Link<Route> to={Route::Catalog}>{ "Catalog" }</Link<Route>></li>
                        <li><Link<Route> to={Route::Cart}>
                            { "Cart" }
                            if *cart_units > 0 {
                                { " " }
                                <span class="badge" data-testid="cart-count">{ *cart_units }</span>
                                <span class="visually-hidden">{ if *cart_units == 1 { " item" } else { " items" } }</span>
                            }
                        </Link<Route>></li>
                        { account }
                    </ul>
                </nav>
            </div>
        </header>
    }
}

/// The site footer.
#[component]
pub fn Footer() -> Html {
    html! {
        <footer class="site-footer">
            <p>{ "Tax and shipping are added at checkout. Payments in this shop are test payments." }</p>
        </footer>
    }
}
