use yew::prelude::*;
use yew_router::prelude::*;

use crate::hooks::use_title;
use crate::route::Route;

/// A URL the app has no page for.
#[component]
pub fn NotFound() -> Html {
    use_title("Page not found");
    html! {
        <section class="gate">
            <h1>{ "Page not found" }</h1>
            <p>{ "There is no page at this address." }</p>
            <p><Link<Route> to={Route::Home} classes="button">{ "Go to the shop" }</Link<Route>></p>
        </section>
    }
}
