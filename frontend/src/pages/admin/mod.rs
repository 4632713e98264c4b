//! The admin portal: products and stock, orders and their status, users and their roles.
//! Every page here is drawn inside [`AdminGuard`](crate::components::AdminGuard).

mod orders;
mod product_editor;
mod products;
mod users;

pub use orders::Orders;
pub use product_editor::ProductEditor;
pub use products::Products;
pub use users::Users;

use yew::prelude::*;
use yew_router::prelude::*;

use crate::hooks::use_title;
use crate::route::Route;

/// The admin portal's start page.
#[component]
pub fn Dashboard() -> Html {
    use_title("Admin");
    html! {
        <section>
            <h1>{ "Admin" }</h1>
            <ul class="tiles">
                <li><Link<Route> to={Route::AdminProducts} classes="tile">
                    <strong>{ "Products" }</strong><span>{ "Create and edit products, set stock." }</span>
                </Link<Route>></li>
                <li><Link<Route> to={Route::AdminOrders} classes="tile">
                    <strong>{ "Orders" }</strong><span>{ "Find orders by status and move them along." }</span>
                </Link<Route>></li>
                <li><Link<Route> to={Route::AdminUsers} classes="tile">
                    <strong>{ "Users" }</strong><span>{ "Find users and set their roles." }</span>
                </Link<Route>></li>
            </ul>
        </section>
    }
}
