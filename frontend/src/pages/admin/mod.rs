//! The admin portal: products and stock, orders and their status, users and their roles.
//! Every page here is drawn inside [`AdminGuard`]; the portal is its own bundle
//! (`bin/admin.rs`), drawn by [`switch`].

mod orders;
mod product_editor;
mod products;
mod users;

pub use orders::Orders;
pub use product_editor::ProductEditor;
pub use products::Products;
pub use users::Users;

use uuid::Uuid;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::components::AdminGuard;
use crate::hooks::use_title;
use crate::route::{OtherApp, Route};

/// Draws the admin portal's page of a route; the shoppers' routes load their app.
pub fn switch(route: Route) -> Html {
    let admin = |page: Html| html! { <AdminGuard>{ page }</AdminGuard> };
    match route {
        Route::Admin => admin(html! { <Dashboard /> }),
        Route::AdminProducts => admin(html! { <Products /> }),
        Route::AdminNewProduct => admin(html! { <ProductEditor id={None::<Uuid>} /> }),
        Route::AdminProduct { id } => admin(html! { <ProductEditor id={Some(id)} /> }),
        Route::AdminOrders => admin(html! { <Orders /> }),
        Route::AdminUsers => admin(html! { <Users /> }),
        Route::Home
        | Route::Catalog
        | Route::Product { .. }
        | Route::Cart
        | Route::Checkout
        | Route::Confirmation { .. }
        | Route::Orders
        | Route::Order { .. }
        | Route::Login
        | Route::Register
        | Route::Account
        | Route::NotFound => html! { <OtherApp /> },
    }
}

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
