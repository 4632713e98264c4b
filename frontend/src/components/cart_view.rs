//! The lines of a cart and its subtotal.

use contracts::cart::Cart;
use uuid::Uuid;
use web_sys::HtmlInputElement;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::format;
use crate::route::Route;

/// Props of [`CartView`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct CartViewProps {
    /// The cart, priced by the API.
    pub cart: Cart,
    /// Whether quantities can be changed here (the cart page) or only shown (checkout).
    #[prop_or_default]
    pub editable: bool,
    /// Whether a change is being saved (controls are disabled meanwhile).
    #[prop_or_default]
    pub busy: bool,
    /// Called with a product and its new quantity.
    #[prop_or_default]
    pub on_quantity: Callback<(Uuid, u32)>,
    /// Called with a product to remove.
    #[prop_or_default]
    pub on_remove: Callback<Uuid>,
}

/// A table of the cart's lines with the subtotal the API computed (never summed here).
#[component]
pub fn CartView(props: &CartViewProps) -> Html {
    let units: u32 = props.cart.items.iter().map(|line| line.quantity).sum();
    let rows = props.cart.items.iter().map(|line| {
        let id = line.product_id;
        let quantity = if props.editable {
            let input_id = format!("quantity-{id}");
            let on_quantity = props.on_quantity.clone();
            let onchange = Callback::from(move |e: Event| {
                let input = e.target_unchecked_into::<HtmlInputElement>();
                if let Ok(quantity) = input.value().trim().parse::<u32>()
                    && quantity > 0
                {
                    on_quantity.emit((id, quantity));
                }
            });
            html! {
                <>
                    <label class="visually-hidden" for={input_id.clone()}>
                        { format!("Quantity of {}", line.name) }
                    </label>
                    <input id={input_id} class="quantity-input" type="number" min="1" step="1"
                        inputmode="numeric" value={line.quantity.to_string()} {onchange}
                        disabled={props.busy} />
                </>
            }
        } else {
            html! { { line.quantity } }
        };
        let remove = props.editable.then(|| {
            let on_remove = props.on_remove.clone();
            html! {
                <button type="button" class="link-button" disabled={props.busy}
                    aria-label={format!("Remove {} from the cart", line.name)}
                    onclick={move |_| on_remove.emit(id)}>{ "Remove" }</button>
            }
        });
        html! {
            <tr key={id.to_string()} data-testid="cart-line">
                <th scope="row" class="cart-table__name">
                    <Link<Route> to={Route::Product { id }}>{ line.name.clone() }</Link<Route>>
                </th>
                <td class="num" data-label="Price">{ format::money(line.unit_price) }</td>
                <td class="num" data-label="Quantity">{ quantity }</td>
                <td class="num" data-label="Total">{ format::money(line.line_total) }</td>
                if props.editable { <td>{ for remove }</td> }
            </tr>
        }
    });
    html! {
        <table class="cart-table">
            <caption class="visually-hidden">{ "Items in your cart" }</caption>
            <thead>
                <tr>
                    <th scope="col">{ "Product" }</th>
                    <th scope="col" class="num">{ "Price" }</th>
                    <th scope="col" class="num">{ "Quantity" }</th>
                    <th scope="col" class="num">{ "Total" }</th>
                    if props.editable { <th scope="col"><span class="visually-hidden">{ "Actions" }</span></th> }
                </tr>
            </thead>
            <tbody>{ for rows }</tbody>
            <tfoot>
                <tr>
                    <th scope="row" colspan="3">
                        { format!("Subtotal ({units} {})", if units == 1 { "item" } else { "items" }) }
                    </th>
                    <td class="num" data-testid="cart-subtotal">{ format::money(props.cart.subtotal) }</td>
                    if props.editable { <td></td> }
                </tr>
            </tfoot>
        </table>
    }
}
