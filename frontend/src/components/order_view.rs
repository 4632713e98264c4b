//! An order: its status, lines, totals, address and payment.

use contracts::orders::{Order, OrderStatus, PaymentStatus};
use yew::prelude::*;

use crate::format;

/// Props of [`StatusBadge`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct StatusBadgeProps {
    /// The status.
    pub status: OrderStatus,
}

/// An order status as a coloured label (the text says it too, colour is only a hint).
#[component]
pub fn StatusBadge(props: &StatusBadgeProps) -> Html {
    html! {
        <span class={classes!("badge", format!("badge--{}", props.status.as_str()))}
            data-testid="order-status">
            { format::status(props.status) }
        </span>
    }
}

/// Props of [`OrderSummary`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct OrderSummaryProps {
    /// The order.
    pub order: Order,
}

/// Everything about an order that its owner needs to see.
#[component]
pub fn OrderSummary(props: &OrderSummaryProps) -> Html {
    let order = &props.order;
    let address = &order.shipping_address;
    let payment = match order.payment.status {
        PaymentStatus::Pending => "pending",
        PaymentStatus::Succeeded => "paid",
        PaymentStatus::Declined => "declined",
        PaymentStatus::Refunded => "refunded",
        PaymentStatus::Voided => "not charged",
    };
    let brand = order
        .payment
        .brand
        .clone()
        .unwrap_or_else(|| "Card".to_owned());
    html! {
        <div class="order-summary">
            <p class="order-summary__meta">
                { format!("Order {} · placed {} · ", format::short_id(order.id), format::date_time(order.created_at)) }
                <StatusBadge status={order.status} />
            </p>
            <table class="cart-table">
                <caption class="visually-hidden">{ "Items in this order" }</caption>
                <thead>
                    <tr>
                        <th scope="col">{ "Product" }</th>
                        <th scope="col" class="num">{ "Price" }</th>
                        <th scope="col" class="num">{ "Quantity" }</th>
                        <th scope="col" class="num">{ "Total" }</th>
                    </tr>
                </thead>
                <tbody>
                    { for order.lines.iter().map(|line| html! {
                        <tr key={line.product_id.to_string()}>
                            <th scope="row">{ line.name.clone() }</th>
                            <td class="num" data-label="Price">{ format::money(line.unit_price) }</td>
                            <td class="num" data-label="Quantity">{ line.quantity }</td>
                            <td class="num" data-label="Total">{ format::money(line.line_total) }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
            <div class="order-summary__columns">
                <dl class="totals">
                    <dt>{ "Subtotal" }</dt><dd>{ format::money(order.totals.subtotal) }</dd>
                    <dt>{ "Tax" }</dt><dd>{ format::money(order.totals.tax) }</dd>
                    <dt>{ "Shipping" }</dt><dd>{ format::money(order.totals.shipping) }</dd>
                    <dt class="totals__total">{ "Total" }</dt>
                    <dd class="totals__total" data-testid="order-total">{ format::money(order.totals.total) }</dd>
                </dl>
                <section aria-label="Shipping address">
                    <h2 class="h3">{ "Ships to" }</h2>
                    <address>
                        { address.recipient.clone() }<br />
                        { address.line1.clone() }<br />
                        if let Some(line2) = &address.line2 { { line2.clone() }<br /> }
                        { format!("{} {}", address.postal_code, address.city) }<br />
                        if let Some(region) = &address.region { { region.clone() }<br /> }
                        { address.country.clone() }
                    </address>
                </section>
                <section aria-label="Payment">
                    <h2 class="h3">{ "Payment" }</h2>
                    <p>{ format!("{brand} ending in {} · {payment}", order.payment.card_last4) }</p>
                </section>
            </div>
        </div>
    }
}
