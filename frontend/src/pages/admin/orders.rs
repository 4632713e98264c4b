use std::collections::HashMap;

use contracts::orders::{AdminOrderQuery, Order, OrderStatus, StatusChange};
use uuid::Uuid;
use web_sys::HtmlSelectElement;
use yew::platform::spawn_local;
use yew::prelude::*;

use crate::api::{self, ApiError};
use crate::components::{Empty, ErrorNotice, Loading, StatusBadge};
use crate::format;
use crate::hooks::{Load, use_pages, use_title};

/// Orders per page.
const PAGE_SIZE: u32 = 25;

fn parse_status(value: &str) -> Option<OrderStatus> {
    OrderStatus::ALL.into_iter().find(|s| s.as_str() == value)
}

/// Every order, newest first, filtered by status; each can be moved to a status that may follow.
#[component]
pub fn Orders() -> Html {
    use_title("Admin · Orders");
    let filter = use_state(|| None::<OrderStatus>);
    let pages = use_pages(*filter, |status, cursor| async move {
        api::admin_orders(&AdminOrderQuery {
            status,
            limit: Some(PAGE_SIZE),
            cursor,
        })
        .await
    });
    // The status chosen in each row's select, until it is applied.
    let chosen = use_state(HashMap::<Uuid, OrderStatus>::new);
    let busy = use_state(|| None::<Uuid>);
    let error = use_state(|| None::<(Uuid, ApiError)>);

    let on_filter = {
        let filter = filter.clone();
        Callback::from(move |e: Event| {
            filter.set(parse_status(
                &e.target_unchecked_into::<HtmlSelectElement>().value(),
            ));
        })
    };
    let apply = {
        let (state, chosen, busy, error) = (
            pages.state.clone(),
            chosen.clone(),
            busy.clone(),
            error.clone(),
        );
        Callback::from(move |(id, status): (Uuid, OrderStatus)| {
            busy.set(Some(id));
            error.set(None);
            let (state, chosen, busy, error) =
                (state.clone(), chosen.clone(), busy.clone(), error.clone());
            spawn_local(async move {
                let result = api::set_order_status(id, StatusChange { status }).await;
                busy.set(None);
                match result {
                    Ok(updated) => {
                        if let Load::Ready(listing) = &*state {
                            let mut listing = listing.clone();
                            for order in &mut listing.items {
                                if order.id == updated.id {
                                    *order = updated.clone();
                                }
                            }
                            state.set(Load::Ready(listing));
                        }
                        let mut next = (*chosen).clone();
                        next.remove(&id);
                        chosen.set(next);
                    }
                    Err(failure) => error.set(Some((id, failure))),
                }
            });
        })
    };

    let row = |order: &Order| {
        let id = order.id;
        let allowed: Vec<OrderStatus> = OrderStatus::ALL
            .into_iter()
            .filter(|next| order.status.can_transition_to(*next))
            .collect();
        let selected = chosen
            .get(&id)
            .copied()
            .or_else(|| allowed.first().copied());
        let mover = match selected {
            None => html! { <span class="muted">{ "Final" }</span> },
            Some(selected) => {
                let select_id = format!("move-{id}");
                let on_choose = {
                    let chosen = chosen.clone();
                    Callback::from(move |e: Event| {
                        if let Some(status) =
                            parse_status(&e.target_unchecked_into::<HtmlSelectElement>().value())
                        {
                            let mut next = (*chosen).clone();
                            next.insert(id, status);
                            chosen.set(next);
                        }
                    })
                };
                let apply = apply.clone();
                html! {
                    <span class="inline-form">
                        <label class="visually-hidden" for={select_id.clone()}>
                            { format!("New status of order {}", format::short_id(id)) }
                        </label>
                        <select id={select_id} onchange={on_choose}>
                            { for allowed.iter().map(|s| html! {
                                <option value={s.as_str()} selected={*s == selected}>{ format::status(*s) }</option>
                            }) }
                        </select>
                        <button type="button" class="button button--small" disabled={*busy == Some(id)}
                            onclick={move |_| apply.emit((id, selected))}>{ "Move" }</button>
                    </span>
                }
            }
        };
        html! {
            <tr key={id.to_string()}>
                <th scope="row" data-label="Order">{ format::short_id(id) }</th>
                <td data-label="Placed">{ format::date_time(order.created_at) }</td>
                <td data-label="Customer">{ format::short_id(order.user_id) }</td>
                <td class="num" data-label="Total">{ format::money(order.totals.total) }</td>
                <td data-label="Status"><StatusBadge status={order.status} /></td>
                <td data-label="Move to">
                    { mover }
                    if let Some((failed, failure)) = &*error {
                        if *failed == id { <ErrorNotice error={failure.clone()} /> }
                    }
                </td>
            </tr>
        }
    };

    let body = match &*pages.state {
        Load::Loading => html! { <Loading label="Loading orders…" /> },
        Load::Failed(failure) => {
            html! { <ErrorNotice error={failure.clone()} retry={pages.reload.clone()} /> }
        }
        Load::Ready(listing) if listing.items.is_empty() => {
            html! { <Empty message="No orders with this status." /> }
        }
        Load::Ready(listing) => html! {
            <>
                <table class="data-table">
                    <caption class="visually-hidden">{ "Orders" }</caption>
                    <thead>
                        <tr>
                            <th scope="col">{ "Order" }</th>
                            <th scope="col">{ "Placed" }</th>
                            <th scope="col">{ "Customer" }</th>
                            <th scope="col" class="num">{ "Total" }</th>
                            <th scope="col">{ "Status" }</th>
                            <th scope="col">{ "Move to" }</th>
                        </tr>
                    </thead>
                    <tbody>{ for listing.items.iter().map(row) }</tbody>
                </table>
                if let Some(failure) = &listing.more_error { <ErrorNotice error={failure.clone()} /> }
                if listing.next.is_some() {
                    <p class="pager">
                        <button type="button" class="button" disabled={listing.loading_more}
                            onclick={pages.load_more.reform(|_| ())}>{ "Show more" }</button>
                    </p>
                }
            </>
        },
    };
    html! {
        <section>
            <h1>{ "Orders" }</h1>
            <div class="inline-form">
                <label for="order-status-filter">{ "Status" }</label>
                <select id="order-status-filter" onchange={on_filter}>
                    <option value="" selected={filter.is_none()}>{ "All" }</option>
                    { for OrderStatus::ALL.iter().map(|s| html! {
                        <option value={s.as_str()} selected={*filter == Some(*s)}>{ format::status(*s) }</option>
                    }) }
                </select>
            </div>
            { body }
        </section>
    }
}
