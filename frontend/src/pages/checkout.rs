use contracts::cart::Cart;
use contracts::orders::{CardDetails, CheckoutRequest};
use contracts::problem::problem_types;
use uuid::Uuid;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api::{self, ApiError, FieldErrors};
use crate::components::{
    AddressCard, AddressDraft, AddressForm, CartView, Checkbox, Empty, ErrorNotice, ErrorSummary,
    Field, Loading, Notice, OrderSummary, field_id,
};
use crate::hooks::{Load, use_load, use_title};
use crate::route::Route;

/// The fields of the checkout form: API name and label.
const FIELDS: &[(&str, &str)] = &[
    ("shipping_address.recipient", "Full name"),
    ("shipping_address.line1", "Street and number"),
    ("shipping_address.line2", "Apartment, floor, company"),
    ("shipping_address.city", "City"),
    ("shipping_address.postal_code", "Postal code"),
    ("shipping_address.region", "State or region"),
    ("shipping_address.country", "Country code"),
    ("shipping_address.phone", "Phone"),
    ("card.number", "Card number"),
    ("card.exp_month", "Expiry month"),
    ("card.exp_year", "Expiry year"),
    ("card.cvc", "Security code"),
];

/// The card as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CardDraft {
    number: String,
    exp_month: String,
    exp_year: String,
    cvc: String,
}

impl CardDraft {
    /// The card to send, or messages under `card.*`. The order service checks the card for
    /// real (length, checksum, expiry); this catches what cannot possibly be a card.
    fn check(&self) -> Result<CardDetails, FieldErrors> {
        let mut errors = FieldErrors::default();
        let digits = self.number.chars().filter(char::is_ascii_digit).count();
        let only_card_chars = self
            .number
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-');
        if !only_card_chars || !(12..=19).contains(&digits) {
            errors.add(
                "card.number",
                "Enter the 12 to 19 digits of the card number.",
            );
        }
        let exp_month = self
            .exp_month
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|m| (1..=12).contains(m));
        if exp_month.is_none() {
            errors.add(
                "card.exp_month",
                "Enter the month as a number from 1 to 12.",
            );
        }
        let exp_year = self
            .exp_year
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|y| (2000..=2999).contains(y));
        if exp_year.is_none() {
            errors.add(
                "card.exp_year",
                "Enter the year with four digits, like 2030.",
            );
        }
        let cvc = self.cvc.trim();
        if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
            errors.add(
                "card.cvc",
                "Enter the 3 or 4 digits on the back of the card.",
            );
        }
        match (exp_month, exp_year) {
            (Some(exp_month), Some(exp_year)) if errors.is_empty() => Ok(CardDetails {
                number: self.number.trim().to_owned(),
                exp_month,
                exp_year,
                cvc: cvc.to_owned(),
            }),
            _ => Err(errors),
        }
    }
}

/// Where the order ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    Saved(Uuid),
    New,
}

/// Why the order was refused, as a sentence naming the products when stock is short.
fn failure_message(error: &ApiError, cart: &Cart) -> String {
    match error {
        ApiError::Problem(problem) if !problem.insufficient_stock.is_empty() => {
            let lines: Vec<String> = problem
                .insufficient_stock
                .iter()
                .map(|short| {
                    let name = cart
                        .items
                        .iter()
                        .find(|line| line.product_id == short.product_id)
                        .map_or("a product", |line| line.name.as_str());
                    format!(
                        "{} left of {name} (you asked for {})",
                        short.available, short.requested
                    )
                })
                .collect();
            format!(
                "Not enough stock: {}. Please change your cart.",
                lines.join("; ")
            )
        }
        _ => error.message(),
    }
}

/// Why the cart cannot be checked out yet, naming the products that are no longer available.
fn blocked_message(cart: &Cart) -> String {
    let names: Vec<&str> = cart
        .unavailable
        .iter()
        .map(|line| {
            line.name
                .as_deref()
                .unwrap_or("a product no longer in the catalog")
        })
        .collect();
    format!(
        "Some products in your cart are no longer available: {}. Remove them from your cart to check out.",
        names.join(", ")
    )
}

/// Checkout: a saved or new address, the card, and the order. A cart with products that are
/// no longer available is not offered for checkout until they are removed.
#[component]
pub fn Checkout() -> Html {
    use_title("Checkout");
    let data = use_load((), |()| async {
        let (cart, addresses) = futures::join!(api::cart(), api::addresses());
        Ok((cart?, addresses?))
    });
    let destination = use_state(|| None::<Destination>);
    let draft = use_state(AddressDraft::default);
    let save_address = use_state(|| true);
    let card = use_state(CardDraft::default);
    let errors = use_state(FieldErrors::default);
    let failure = use_state(|| None::<(String, bool)>);
    let busy = use_state(|| false);
    // One key per attempt to place this order: kept when the answer is lost (so a retry cannot
    // charge twice), replaced once the API has answered.
    let idempotency_key = use_mut_ref(Uuid::new_v4);
    let navigator = use_navigator();

    let (cart, addresses) = match &*data.state {
        Load::Loading => return html! { <Loading label="Loading checkout…" /> },
        Load::Failed(error) => {
            return html! { <ErrorNotice error={error.clone()} retry={data.reload.clone()} /> };
        }
        Load::Ready((Some(cart), _)) if !cart.unavailable.is_empty() => {
            return html! {
                <section>
                    <h1>{ "Checkout" }</h1>
                    <Notice kind="info">
                        <p data-testid="checkout-blocked">{ blocked_message(cart) }</p>
                        <p><Link<Route> to={Route::Cart} classes="button button--primary">{ "Back to the cart" }</Link<Route>></p>
                    </Notice>
                </section>
            };
        }
        Load::Ready((Some(cart), addresses)) if !cart.items.is_empty() => {
            (cart.clone(), addresses.clone())
        }
        Load::Ready(_) => {
            return html! {
                <section>
                    <h1>{ "Checkout" }</h1>
                    <Empty message="Your cart is empty.">
                        <p><Link<Route> to={Route::Catalog} classes="button button--primary">{ "Browse products" }</Link<Route>></p>
                    </Empty>
                </section>
            };
        }
    };
    let chosen = (*destination).unwrap_or_else(|| {
        addresses
            .first()
            .map_or(Destination::New, |address| Destination::Saved(address.id))
    });

    let onsubmit = {
        let (draft, save_address, card, errors, failure, busy) = (
            draft.clone(),
            save_address.clone(),
            card.clone(),
            errors.clone(),
            failure.clone(),
            busy.clone(),
        );
        let (state, reload, destination, addresses, cart) = (
            data.state.clone(),
            data.reload.clone(),
            destination.clone(),
            addresses.clone(),
            cart.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if *busy {
                return;
            }
            let mut found = FieldErrors::default();
            let address = match chosen {
                Destination::Saved(id) => addresses
                    .iter()
                    .find(|a| a.id == id)
                    .map(|saved| saved.address.clone()),
                Destination::New => match draft.check() {
                    Ok(address) => Some(address),
                    Err(bad) => {
                        for (field, message) in bad.iter() {
                            found.add(&format!("shipping_address.{field}"), message);
                        }
                        None
                    }
                },
            };
            let card_details = card.check().map_err(|bad| {
                for (field, message) in bad.iter() {
                    found.add(field, message);
                }
            });
            let (Some(address), Ok(card_details)) = (address, card_details) else {
                errors.set(found);
                failure.set(Some((
                    "Please correct the marked fields.".to_owned(),
                    false,
                )));
                return;
            };
            errors.set(FieldErrors::default());
            failure.set(None);
            busy.set(true);
            let save = chosen == Destination::New && *save_address;
            let key = *idempotency_key.borrow();
            let (errors, failure, busy, state, destination, addresses, cart, navigator) = (
                errors.clone(),
                failure.clone(),
                busy.clone(),
                state.clone(),
                destination.clone(),
                addresses.clone(),
                cart.clone(),
                navigator.clone(),
            );
            let (idempotency_key, reload) = (idempotency_key.clone(), reload.clone());
            spawn_local(async move {
                if save {
                    match api::add_address(&address).await {
                        Ok(saved) => {
                            // From now on it is a saved address: a retry does not save it twice.
                            destination.set(Some(Destination::Saved(saved.id)));
                            let mut addresses = addresses.clone();
                            addresses.push(saved);
                            state.set(Load::Ready((Some(cart.clone()), addresses)));
                        }
                        Err(error) => {
                            let mut found = FieldErrors::default();
                            for (field, message) in error.field_errors().iter() {
                                found.add(&format!("shipping_address.{field}"), message);
                            }
                            errors.set(found);
                            failure.set(Some((error.message(), false)));
                            busy.set(false);
                            return;
                        }
                    }
                }
                let request = CheckoutRequest {
                    shipping_address: address,
                    card: card_details,
                };
                let result = api::checkout(&request, key).await;
                if result
                    .as_ref()
                    .err()
                    .and_then(ApiError::status)
                    .is_none_or(|s| s < 500)
                {
                    *idempotency_key.borrow_mut() = Uuid::new_v4();
                }
                busy.set(false);
                match result {
                    Ok(order) => {
                        if let Some(navigator) = &navigator {
                            navigator.push(&Route::Confirmation { id: order.id });
                        }
                    }
                    Err(error) => {
                        let field_errors = error.field_errors();
                        if field_errors
                            .iter()
                            .any(|(field, _)| field.starts_with("cart."))
                        {
                            // A product was withdrawn while the form was open: the cart, read
                            // again, shows which, as a cart with unavailable lines always does.
                            reload.emit(());
                        }
                        errors.set(field_errors);
                        let declined = error.is(problem_types::PAYMENT_DECLINED);
                        failure.set(Some((failure_message(&error, &cart), declined)));
                    }
                }
            });
        })
    };

    let destinations = {
        let choose = |value: Destination| {
            let destination = destination.clone();
            Callback::from(move |_: Event| destination.set(Some(value)))
        };
        html! {
            <fieldset class="fieldset">
                <legend>{ "Shipping address" }</legend>
                <ul class="choices">
                    { for addresses.iter().map(|address| {
                        let id = format!("address-{}", address.id);
                        html! {
                            <li key={address.id.to_string()} class="choice">
                                <input type="radio" name="destination" id={id.clone()}
                                    checked={chosen == Destination::Saved(address.id)}
                                    onchange={choose(Destination::Saved(address.id))} />
                                <label for={id}><AddressCard address={address.address.clone()} /></label>
                            </li>
                        }
                    }) }
                    <li class="choice">
                        <input type="radio" name="destination" id="address-new"
                            checked={chosen == Destination::New} onchange={choose(Destination::New)} />
                        <label for="address-new">{ "A new address" }</label>
                    </li>
                </ul>
                if chosen == Destination::New {
                    <AddressForm prefix="checkout-shipping-address" draft={(*draft).clone()}
                        errors={errors.nested("shipping_address")}
                        on_change={{ let draft = draft.clone(); Callback::from(move |d| draft.set(d)) }} />
                    <Checkbox id="checkout-save-address" label="Save this address to my account"
                        checked={*save_address}
                        onchange={{ let save_address = save_address.clone(); Callback::from(move |v| save_address.set(v)) }} />
                }
            </fieldset>
        }
    };

    let card_field = |field: &'static str,
                      label: &'static str,
                      value: &str,
                      autocomplete: &'static str,
                      set: fn(&mut CardDraft, String)| {
        let card = card.clone();
        let oninput = Callback::from(move |text: String| {
            let mut next = (*card).clone();
            set(&mut next, text);
            card.set(next);
        });
        html! {
            <Field id={field_id("checkout", field)} label={label} value={value.to_owned()}
                {oninput} error={errors.get(field)} autocomplete={autocomplete}
                inputmode="numeric" required=true />
        }
    };
    let declined = failure.as_ref().is_some_and(|(_, declined)| *declined);
    let payment = html! {
        <fieldset class="fieldset">
            <legend>{ "Payment card" }</legend>
            <p class="field__hint" id="card-hint">
                { "This shop takes test payments: 4242 4242 4242 4242 is accepted, 4000 0000 0000 0002 is declined. Any future expiry date and any 3-digit code will do." }
            </p>
            if declined {
                <p class="field__error" data-testid="payment-error">
                    { failure.as_ref().map(|(message, _)| message.clone()).unwrap_or_default() }
                </p>
            }
            { card_field("card.number", "Card number", &card.number, "cc-number", |c, v| c.number = v) }
            <div class="field-row">
                { card_field("card.exp_month", "Expiry month", &card.exp_month, "cc-exp-month", |c, v| c.exp_month = v) }
                { card_field("card.exp_year", "Expiry year", &card.exp_year, "cc-exp-year", |c, v| c.exp_year = v) }
                { card_field("card.cvc", "Security code", &card.cvc, "cc-csc", |c, v| c.cvc = v) }
            </div>
        </fieldset>
    };

    html! {
        <section class="checkout">
            <h1>{ "Checkout" }</h1>
            if let Some((message, _)) = &*failure {
                <ErrorSummary prefix="checkout" fields={FIELDS} message={message.clone()} errors={(*errors).clone()} />
            }
            <form class="form checkout__form" {onsubmit} novalidate=true aria-busy={busy.to_string()}>
                { destinations }
                { payment }
                <section class="checkout__review" aria-labelledby="review-heading">
                    <h2 id="review-heading">{ "Your order" }</h2>
                    <CartView cart={cart.clone()} />
                    <p class="field__hint">{ "Tax and shipping are added to the subtotal when the order is placed." }</p>
                    <p><Link<Route> to={Route::Cart}>{ "Change the cart" }</Link<Route>></p>
                </section>
                <p class="form__actions">
                    <button type="submit" class="button button--primary button--large" disabled={*busy}>
                        { if *busy { "Placing your order…" } else { "Place order" } }
                    </button>
                </p>
            </form>
        </section>
    }
}

/// Props of [`Confirmation`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ConfirmationProps {
    /// The placed order's id.
    pub id: Uuid,
}

/// The thank-you page of a placed order.
#[component]
pub fn Confirmation(props: &ConfirmationProps) -> Html {
    use_title("Order placed");
    let order = use_load(props.id, api::order);
    let body = match &*order.state {
        Load::Loading => html! { <Loading label="Loading your order…" /> },
        Load::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} retry={order.reload.clone()} /> }
        }
        Load::Ready(order) => html! {
            <>
                <Notice>{ "Your order is placed. A confirmation is on its way." }</Notice>
                <OrderSummary order={order.clone()} />
                <p class="form__actions">
                    <Link<Route> to={Route::Orders} classes="button">{ "Your orders" }</Link<Route>>
                    <Link<Route> to={Route::Catalog} classes="button button--primary">{ "Continue shopping" }</Link<Route>>
                </p>
            </>
        },
    };
    html! {
        <section class="confirmation">
            <h1>{ "Thank you for your order" }</h1>
            { body }
        </section>
    }
}

#[cfg(test)]
mod tests {
    use contracts::cart::{UnavailableLine, UnavailableReason};
    use contracts::money::{Currency, Money};

    use super::*;

    #[test]
    fn a_test_card_passes_the_quick_check() {
        let card = CardDraft {
            number: "4242 4242 4242 4242".to_owned(),
            exp_month: "12".to_owned(),
            exp_year: "2030".to_owned(),
            cvc: "123".to_owned(),
        }
        .check()
        .expect("valid");
        assert_eq!((card.exp_month, card.exp_year), (12, 2030));
    }

    #[test]
    fn a_blocked_checkout_names_the_unavailable_products() {
        let line = |id, name: Option<&str>| UnavailableLine {
            product_id: Uuid::from_u128(id),
            name: name.map(str::to_owned),
            quantity: 1,
            reason: UnavailableReason::Inactive,
        };
        let cart = Cart {
            items: Vec::new(),
            subtotal: Money::zero(Currency::parse("USD").expect("valid")),
            unavailable: vec![line(1, Some("Desk lamp")), line(2, None)],
        };
        assert_eq!(
            blocked_message(&cart),
            "Some products in your cart are no longer available: Desk lamp, a product no longer \
             in the catalog. Remove them from your cart to check out."
        );
    }

    #[test]
    fn each_bad_card_field_is_named() {
        let errors = CardDraft {
            number: "4242".to_owned(),
            exp_month: "13".to_owned(),
            exp_year: "30".to_owned(),
            cvc: "12a".to_owned(),
        }
        .check()
        .expect_err("invalid");
        for field in ["card.number", "card.exp_month", "card.exp_year", "card.cvc"] {
            assert!(errors.get(field).is_some(), "{field}");
        }
    }
}
