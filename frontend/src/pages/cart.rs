use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api::{self, ApiError};
use crate::components::{CartView, Empty, ErrorNotice, Loading, UnavailableLines};
use crate::hooks::{Load, use_load, use_title};
use crate::route::Route;
use crate::session::use_session;

/// The cart: change quantities, remove lines, go to checkout (once nothing in it is
/// unavailable). Visitors have one too (a guest cart); checkout asks them to sign in or create
/// an account, and the cart comes along.
#[component]
pub fn CartPage() -> Html {
    use_title("Cart");
    let signed_in = use_session().user.is_some();
    let cart = use_load((), |()| api::cart());
    let busy = use_state(|| false);
    let error = use_state(|| None::<ApiError>);

    let run = {
        let (state, busy, error) = (cart.state.clone(), busy.clone(), error.clone());
        move |change: std::pin::Pin<
            Box<dyn std::future::Future<Output = api::ApiResult<Option<contracts::cart::Cart>>>>,
        >| {
            busy.set(true);
            error.set(None);
            let (state, busy, error) = (state.clone(), busy.clone(), error.clone());
            spawn_local(async move {
                match change.await {
                    Ok(updated) => state.set(Load::Ready(updated)),
                    Err(failure) => error.set(Some(failure)),
                }
                busy.set(false);
            });
        }
    };
    let on_quantity = {
        let run = run.clone();
        Callback::from(move |(id, quantity)| {
            run(Box::pin(async move {
                api::set_quantity(id, quantity).await.map(Some)
            }))
        })
    };
    let on_remove = Callback::from(move |id| run(Box::pin(api::remove_from_cart(id))));

    let body = match &*cart.state {
        Load::Loading => html! { <Loading label="Loading your cart…" /> },
        Load::Failed(failure) => {
            html! { <ErrorNotice error={failure.clone()} retry={cart.reload.clone()} /> }
        }
        Load::Ready(Some(cart)) if !cart.items.is_empty() || !cart.unavailable.is_empty() => {
            html! {
                <>
                    if let Some(failure) = &*error { <ErrorNotice error={failure.clone()} /> }
                    if !cart.items.is_empty() {
                        <CartView cart={cart.clone()} editable=true busy={*busy} on_quantity={on_quantity.clone()} on_remove={on_remove.clone()} />
                    }
                    if !cart.unavailable.is_empty() {
                        <UnavailableLines lines={cart.unavailable.clone()} busy={*busy} {on_remove} />
                    }
                    <p class="form__actions">
                        <Link<Route> to={Route::Catalog} classes="button">{ "Continue shopping" }</Link<Route>>
                        if cart.unavailable.is_empty() {
                            <Link<Route> to={Route::Checkout} classes="button button--primary">{ "Checkout" }</Link<Route>>
                        } else {
                            <span data-testid="checkout-blocked">
                                { "To check out, remove the products that are no longer available." }
                            </span>
                        }
                    </p>
                    if !signed_in {
                        <p class="muted" data-testid="guest-cart-note">
                            { "You will sign in or create an account at checkout; your cart comes with you." }
                        </p>
                    }
                </>
            }
        }
        Load::Ready(_) => html! {
            <Empty message="Your cart is empty.">
                <p><Link<Route> to={Route::Catalog} classes="button button--primary">{ "Browse products" }</Link<Route>></p>
            </Empty>
        },
    };
    html! {
        <section class="cart">
            <h1>{ "Your cart" }</h1>
            { body }
        </section>
    }
}
