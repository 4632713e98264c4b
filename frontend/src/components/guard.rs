//! Pages only some people may see.

use yew::prelude::*;
use yew_router::prelude::*;

use crate::hooks::use_title;
use crate::route::{NextQuery, Route};
use crate::session::use_session;

/// Props of the guards.
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct GuardProps {
    /// The page behind the guard.
    pub children: Html,
}

/// Asks a visitor to sign in or create an account, coming back to this page afterwards (with
/// the guest cart merged into the account's cart: [`crate::api::login`]).
#[component]
pub fn SignInPrompt() -> Html {
    use_title("Please sign in");
    let next = use_location().map(|location| location.path().to_owned());
    html! {
        <section class="notice notice--info gate">
            <h1>{ "Please sign in" }</h1>
            <p>{ "You need an account for this page. Anything in your cart stays in it." }</p>
            <p class="notice__actions">
                <Link<Route, NextQuery> to={Route::Login} query={Some(NextQuery { next: next.clone() })}
                    classes="button button--primary">{ "Sign in" }</Link<Route, NextQuery>>
                <Link<Route, NextQuery> to={Route::Register} query={Some(NextQuery { next })}
                    classes="button">{ "Create an account" }</Link<Route, NextQuery>>
            </p>
        </section>
    }
}

/// Shows the page to signed-in people, and a sign-in prompt to visitors.
#[component]
pub fn RequireSignIn(props: &GuardProps) -> Html {
    if use_session().user.is_some() {
        props.children.clone()
    } else {
        html! { <SignInPrompt /> }
    }
}

#[derive(Debug, Clone, PartialEq, Properties)]
struct ForbiddenProps {
    email: AttrValue,
}

/// What a signed-in customer sees instead of the admin portal.
#[component]
fn Forbidden(props: &ForbiddenProps) -> Html {
    use_title("Not allowed");
    html! {
        <section class="notice notice--error gate" data-testid="admin-forbidden">
            <h1>{ "Not allowed" }</h1>
            <p>{ format!("The admin portal is for shop administrators; {} is a customer account.", props.email) }</p>
            <p class="notice__actions">
                <Link<Route> to={Route::Home} classes="button">{ "Back to the shop" }</Link<Route>>
            </p>
        </section>
    }
}

/// Shows the admin portal to admins only. The API checks the role on every admin request
/// anyway; this keeps customers from a portal whose every action would fail.
#[component]
pub fn AdminGuard(props: &GuardProps) -> Html {
    let session = use_session();
    match &session.user {
        None => html! { <SignInPrompt /> },
        Some(user) if !session.is_admin() => html! { <Forbidden email={user.email.clone()} /> },
        Some(_) => html! {
            <div class="admin">
                <nav class="admin__nav" aria-label="Admin">
                    <ul>
                        <li><Link<Route> to={Route::AdminProducts}>{ "Products" }</Link<Route>></li>
                        <li><Link<Route> to={Route::AdminOrders}>{ "Orders" }</Link<Route>></li>
                        <li><Link<Route> to={Route::AdminUsers}>{ "Users" }</Link<Route>></li>
                    </ul>
                </nav>
                <div class="admin__page">{ props.children.clone() }</div>
            </div>
        },
    }
}
