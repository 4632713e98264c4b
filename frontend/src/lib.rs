//! The shop's browser apps: the storefront, the account app and the admin portal, written with
//! Yew.
//!
//! - [`api`]: the one client of the API, speaking `contracts` types, with transparent token
//!   refresh and problem+json errors mapped to per-field messages;
//! - [`session`]: who is signed in (tokens in `localStorage`, the user in a context);
//! - [`route`]: the URLs, as an enum, and which page of the storefront and of the account app
//!   draws each;
//! - [`pages`]: one component per page, the portal's under [`pages::admin`] with its own
//!   [`pages::admin::switch`]; [`components`]: the small pieces they are made of;
//! - [`hooks`]: fetching with loading and error states; [`format`]: money and dates as text.
//!
//! The apps are three binaries, three Trunk builds, so that each page loads as little code as it
//! needs: `main.rs`, the storefront (browsing and the cart: every path but the two others');
//! `bin/account.rs`, the account app (signing in and the signed-in pages, `/login`, `/register`,
//! `/checkout`, `/orders` and `/account`, and the storefront's, so a signed-in shopper's
//! navigation stays in it); and `bin/admin.rs`, the portal (under `/admin`), which shoppers
//! never download. The web service answers each app's paths with that app's page. All share
//! every route and component of this library; a link to a page of another app loads that app
//! ([`route::OtherApp`]).
//!
//! The crate builds natively too (without Yew's `csr` feature), so its components are tested
//! with Yew's server renderer on the normal toolchain.

pub mod api;
pub mod components;
pub mod format;
pub mod hooks;
pub mod pages;
pub mod route;
pub mod session;

use yew::prelude::*;
use yew_router::prelude::*;

use crate::components::{Footer, Header};
use crate::route::Route;
use crate::session::{Session, SessionAction, SessionHandle};

/// Props of [`App`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct AppProps {
    /// Draws the page of a route: [`route::storefront`], [`route::account`] or
    /// [`pages::admin::switch`].
    pub pages: Callback<Route, Html>,
}

/// Mounts an app in the browser's `<body>`, drawing its pages with `pages`.
#[cfg(target_arch = "wasm32")]
pub fn start(pages: fn(Route) -> Html) {
    route::remember_loaded_path();
    yew::Renderer::<App>::with_props(AppProps {
        pages: Callback::from(pages),
    })
    .render();
}

/// A whole app: the session, the router, and the page frame.
#[component]
pub fn App(props: &AppProps) -> Html {
    let session = use_reducer(|| Session {
        user: session::stored().map(|stored| stored.user),
    });
    {
        let session = session.clone();
        use_effect_with((), move |()| {
            api::on_session_expired(Callback::from(move |()| {
                session.dispatch(SessionAction::SignedOut);
            }));
            hooks::mark_once("app-rendered");
        });
    }
    html! {
        <ContextProvider<SessionHandle> context={session}>
            <BrowserRouter>
                <Frame pages={props.pages.clone()} />
            </BrowserRouter>
        </ContextProvider<SessionHandle>>
    }
}

/// The header, the page of the current route, and the footer. After a navigation the focus
/// moves to the page, as it does when a browser loads a new document, so keyboard and screen
/// reader users start reading at the new content.
#[component]
fn Frame(props: &AppProps) -> Html {
    let path = use_location().map(|location| location.path().to_owned());
    let main = use_node_ref();
    let first = use_mut_ref(|| true);
    {
        let main = main.clone();
        use_effect_with(path, move |_| {
            if std::mem::replace(&mut *first.borrow_mut(), false) {
                return;
            }
            if let Some(element) = main.cast::<web_sys::HtmlElement>() {
                let _ = element.focus();
            }
            if let Some(window) = web_sys::window() {
                window.scroll_to_with_x_and_y(0.0, 0.0);
            }
        });
    }
    html! {
        <>
            <a class="skip-link" href="#main">{ "Skip to content" }</a>
            <Header />
            <main id="main" class="site-main" tabindex="-1" ref={main}>
                <Switch<Route> render={props.pages.clone()} />
            </main>
            <Footer />
        </>
    }
}
