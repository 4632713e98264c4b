//! The lines of a cart and its subtotal, and the lines that cannot be bought now.

use contracts::cart::{Cart, Quantity, UnavailableLine, UnavailableReason};
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
                // A line holds 1 to Quantity::MAX units; anything else is left for the
                // input's own range to show rather than sent to be refused.
                if let Ok(quantity) = input.value().trim().parse::<u32>()
                    && let Ok(quantity) = Quantity::parse(quantity)
                {
                    on_quantity.emit((id, quantity.get()));
                }
            });
            html! {
                <>
                    <label class="visually-hidden" for={input_id.clone()}>
                        { format!("Quantity of {}", line.name) }
                    </label>
                    <input id={input_id} class="quantity-input" type="number" min="1" max={Quantity::MAX.to_string()} step="1"
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

/// Props of [`UnavailableLines`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct UnavailableLinesProps {
    /// The cart's lines the catalog does not sell now.
    pub lines: Vec<UnavailableLine>,
    /// Whether a change is being saved (the buttons are disabled meanwhile).
    #[prop_or_default]
    pub busy: bool,
    /// Called with a product to remove.
    #[prop_or_default]
    pub on_remove: Callback<Uuid>,
}

/// What a shopper is told about a product the catalog does not sell now.
fn reason_text(reason: UnavailableReason) -> &'static str {
    match reason {
        UnavailableReason::Inactive => "Not for sale at the moment",
        UnavailableReason::Unknown => "No longer sold",
        UnavailableReason::Currency => "Not sold in this shop's currency",
    }
}

/// The products in the cart that cannot be bought now, each with a Remove button. They are
/// out of the subtotal, and checkout waits until they are gone.
#[component]
pub fn UnavailableLines(props: &UnavailableLinesProps) -> Html {
    let rows = props.lines.iter().map(|line| {
        let id = line.product_id;
        // A deleted product has no name any more.
        let name = line
            .name
            .clone()
            .unwrap_or_else(|| "A product no longer in the catalog".to_owned());
        let on_remove = props.on_remove.clone();
        html! {
            <tr key={id.to_string()} data-testid="unavailable-line">
                <th scope="row" class="cart-table__name">{ name.clone() }</th>
                <td data-label="Status">{ reason_text(line.reason) }</td>
                <td class="num" data-label="Quantity">{ line.quantity }</td>
                <td>
                    <button type="button" class="link-button" disabled={props.busy}
                        aria-label={format!("Remove {name} from the cart")}
                        onclick={move |_| on_remove.emit(id)}>{ "Remove" }</button>
                </td>
            </tr>
        }
    });
    html! {
        <section class="cart-unavailable" aria-labelledby="unavailable-heading">
            <h2 id="unavailable-heading">{ "No longer available" }</h2>
            <p class="field__hint">
                { "These products cannot be bought right now and are not in the subtotal. Remove them to check out." }
            </p>
            <table class="cart-table">
                <caption class="visually-hidden">{ "Products in your cart that are no longer available" }</caption>
                <thead>
                    <tr>
                        <th scope="col">{ "Product" }</th>
                        <th scope="col">{ "Status" }</th>
                        <th scope="col" class="num">{ "Quantity" }</th>
                        <th scope="col"><span class="visually-hidden">{ "Actions" }</span></th>
                    </tr>
                </thead>
                <tbody>{ for rows }</tbody>
            </table>
        </section>
    }
}
