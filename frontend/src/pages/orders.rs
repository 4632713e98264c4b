use contracts::orders::{Order, OrderStatus};
use contracts::pagination::PageQuery;
use uuid::Uuid;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api::{self, ApiError};
use crate::components::{Empty, ErrorNotice, Loading, OrderSummary, StatusBadge};
use crate::format;
use crate::hooks::{Load, use_load, use_pages, use_title};
use crate::route::Route;

/// Orders per page.
const PAGE_SIZE: u32 = 10;

/// Props of [`CancelButton`].
#[derive(Debug, Clone, PartialEq, Properties)]
struct CancelButtonProps {
    order: Order,
    /// Called with the cancelled order.
    on_cancelled: Callback<Order>,
}

/// "Cancel order", then "Yes, cancel it" / "Keep it": a cancellation cannot be undone, so it
/// takes a second, deliberate click (without a modal dialog that traps the focus).
#[component]
fn CancelButton(props: &CancelButtonProps) -> Html {
    let confirming = use_state(|| false);
    let busy = use_state(|| false);
    let error = use_state(|| None::<ApiError>);
    if !props.order.status.can_transition_to(OrderStatus::Cancelled) {
        return Html::default();
    }
    let id = props.order.id;
    let short = format::short_id(id);
    if !*confirming {
        let confirming = confirming.clone();
        return html! {
            <button type="button" class="button button--small"
                aria-label={format!("Cancel order {short}")}
                onclick={move |_| confirming.set(true)}>{ "Cancel order" }</button>
        };
    }
    let confirm = {
        let (busy, error, on_cancelled) = (busy.clone(), error.clone(), props.on_cancelled.clone());
        Callback::from(move |_: MouseEvent| {
            busy.set(true);
            let (busy, error, on_cancelled) = (busy.clone(), error.clone(), on_cancelled.clone());
            spawn_local(async move {
                let result = api::cancel_order(id).await;
                busy.set(false);
                match result {
                    Ok(order) => on_cancelled.emit(order),
                    Err(failure) => error.set(Some(failure)),
                }
            });
        })
    };
    let keep = {
        let confirming = confirming.clone();
        Callback::from(move |_: MouseEvent| confirming.set(false))
    };
    html! {
        <span class="confirm" role="group" aria-label={format!("Cancel order {short}?")}>
            <button type="button" class="button button--small button--danger" disabled={*busy}
                onclick={confirm}>{ if *busy { "Cancelling…" } else { "Yes, cancel it" } }</button>
            <button type="button" class="button button--small" disabled={*busy} onclick={keep}>{ "Keep it" }</button>
            if let Some(failure) = &*error { <ErrorNotice error={failure.clone()} /> }
        </span>
    }
}

/// The customer's orders, newest first, with cancel for those not shipped yet.
#[component]
pub fn Orders() -> Html {
    use_title("Your orders");
    let pages = use_pages((), |(), cursor| async move {
        api::orders(&PageQuery {
            limit: Some(PAGE_SIZE),
            cursor,
        })
        .await
    });
    let on_cancelled = {
        let state = pages.state.clone();
        Callback::from(move |updated: Order| {
            if let Load::Ready(listing) = &*state {
                let mut listing = listing.clone();
                for order in &mut listing.items {
                    if order.id == updated.id {
                        *order = updated.clone();
                    }
                }
                state.set(Load::Ready(listing));
            }
        })
    };
    let body = match &*pages.state {
        Load::Loading => html! { <Loading label="Loading your orders…" /> },
        Load::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} retry={pages.reload.clone()} /> }
        }
        Load::Ready(listing) if listing.items.is_empty() => html! {
            <Empty message="You have not ordered anything yet.">
                <p><Link<Route> to={Route::Catalog} classes="button button--primary">{ "Browse products" }</Link<Route>></p>
            </Empty>
        },
        Load::Ready(listing) => html! {
            <>
                <table class="data-table" data-testid="order-history">
                    <caption class="visually-hidden">{ "Your orders" }</caption>
                    <thead>
                        <tr>
                            <th scope="col">{ "Order" }</th>
                            <th scope="col">{ "Placed" }</th>
                            <th scope="col">{ "Status" }</th>
                            <th scope="col" class="num">{ "Total" }</th>
                            <th scope="col"><span class="visually-hidden">{ "Actions" }</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        { for listing.items.iter().map(|order| html! {
                            <tr key={order.id.to_string()} data-testid="order-row">
                                <th scope="row" data-label="Order">
                                    <Link<Route> to={Route::Order { id: order.id }}>{ format::short_id(order.id) }</Link<Route>>
                                </th>
                                <td data-label="Placed">{ format::date_time(order.created_at) }</td>
                                <td data-label="Status"><StatusBadge status={order.status} /></td>
                                <td class="num" data-label="Total">{ format::money(order.totals.total) }</td>
                                <td><CancelButton order={order.clone()} on_cancelled={on_cancelled.clone()} /></td>
                            </tr>
                        }) }
                    </tbody>
                </table>
                if let Some(error) = &listing.more_error { <ErrorNotice error={error.clone()} /> }
                if listing.next.is_some() {
                    <p class="pager">
                        <button type="button" class="button" disabled={listing.loading_more}
                            onclick={pages.load_more.reform(|_| ())}>
                            { if listing.loading_more { "Loading…" } else { "Show older orders" } }
                        </button>
                    </p>
                }
            </>
        },
    };
    html! {
        <section>
            <h1>{ "Your orders" }</h1>
            { body }
        </section>
    }
}

/// Props of [`OrderPage`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct OrderPageProps {
    /// The order's id.
    pub id: Uuid,
}

/// One of the customer's orders.
#[component]
pub fn OrderPage(props: &OrderPageProps) -> Html {
    let order = use_load(props.id, api::order);
    use_title(&format!("Order {}", format::short_id(props.id)));
    let on_cancelled = {
        let state = order.state.clone();
        Callback::from(move |updated: Order| state.set(Load::Ready(updated)))
    };
    let body = match &*order.state {
        Load::Loading => html! { <Loading label="Loading the order…" /> },
        Load::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} retry={order.reload.clone()} /> }
        }
        Load::Ready(order) => html! {
            <>
                <OrderSummary order={order.clone()} />
                <p class="form__actions"><CancelButton order={order.clone()} {on_cancelled} /></p>
            </>
        },
    };
    html! {
        <section>
            <p class="breadcrumbs"><Link<Route> to={Route::Orders}>{ "← Your orders" }</Link<Route>></p>
            <h1>{ format!("Order {}", format::short_id(props.id)) }</h1>
            { body }
        </section>
    }
}
