//! The shop's browser app: a storefront and an admin portal, written with Yew.
//!
//! - [`api`]: the one client of the API, speaking `contracts` types, with transparent token
//!   refresh and problem+json errors mapped to per-field messages;
//! - [`session`]: who is signed in (tokens in `localStorage`, the user in a context);
//! - [`route`]: the URLs, as an enum, and which page draws each;
//! - [`pages`]: one component per page; [`components`]: the small pieces they are made of;
//! - [`hooks`]: fetching with loading and error states; [`format`]: money and dates as text.
//!
//! The crate builds natively too (without Yew's `csr` feature), so its components are tested
//! with Yew's server renderer on the normal toolchain; `main.rs` mounts [`App`] in the browser.

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
use crate::route::{Route, switch};
use crate::session::{Session, SessionAction, SessionHandle};

/// The whole app: the session, the router, and the page frame.
#[component]
pub fn App() -> Html {
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
                <Frame />
            </BrowserRouter>
        </ContextProvider<SessionHandle>>
    }
}

/// The header, the page of the current route, and the footer. After a navigation the focus
/// moves to the page, as it does when a browser loads a new document, so keyboard and screen
/// reader users start reading at the new content.
#[component]
fn Frame() -> Html {
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
                <Switch<Route> render={switch} />
            </main>
            <Footer />
        </>
    }
}
