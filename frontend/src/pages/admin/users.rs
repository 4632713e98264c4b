use std::collections::HashMap;

use contracts::auth::Role;
use contracts::users::{AdminUpdateUser, User, UserQuery};
use uuid::Uuid;
use web_sys::HtmlInputElement;
use yew::platform::spawn_local;
use yew::prelude::*;

use crate::api::{self, ApiError};
use crate::components::{Empty, ErrorNotice, Loading, Notice};
use crate::format;
use crate::hooks::{Load, use_pages, use_title};

/// Users per page.
const PAGE_SIZE: u32 = 25;

const ROLES: [Role; 2] = [Role::Customer, Role::Admin];

/// Users found by email, with their roles.
#[component]
pub fn Users() -> Html {
    use_title("Admin · Users");
    let search = use_state(String::new);
    let typed = use_node_ref();
    let pages = use_pages((*search).clone(), |email: String, cursor| async move {
        api::admin_users(&UserQuery {
            email: Some(email).filter(|e| !e.is_empty()),
            limit: Some(PAGE_SIZE),
            cursor,
        })
        .await
    });
    // Roles being edited, by user, until saved.
    let edits = use_state(HashMap::<Uuid, Vec<Role>>::new);
    let busy = use_state(|| None::<Uuid>);
    let outcome = use_state(|| None::<(Uuid, Result<(), ApiError>)>);

    let onsubmit = {
        let (search, typed) = (search.clone(), typed.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(input) = typed.cast::<HtmlInputElement>() {
                search.set(input.value().trim().to_owned());
            }
        })
    };
    let save = {
        let (state, edits, busy, outcome) = (
            pages.state.clone(),
            edits.clone(),
            busy.clone(),
            outcome.clone(),
        );
        Callback::from(move |(id, roles): (Uuid, Vec<Role>)| {
            busy.set(Some(id));
            outcome.set(None);
            let (state, edits, busy, outcome) =
                (state.clone(), edits.clone(), busy.clone(), outcome.clone());
            spawn_local(async move {
                let result = api::set_roles(id, &AdminUpdateUser { roles }).await;
                busy.set(None);
                match result {
                    Ok(updated) => {
                        if let Load::Ready(listing) = &*state {
                            let mut listing = listing.clone();
                            for user in &mut listing.items {
                                if user.id == updated.id {
                                    *user = updated.clone();
                                }
                            }
                            state.set(Load::Ready(listing));
                        }
                        let mut next = (*edits).clone();
                        next.remove(&id);
                        edits.set(next);
                        outcome.set(Some((id, Ok(()))));
                    }
                    Err(failure) => outcome.set(Some((id, Err(failure)))),
                }
            });
        })
    };

    let row = |user: &User| {
        let id = user.id;
        let roles = edits
            .get(&id)
            .cloned()
            .unwrap_or_else(|| user.roles.clone());
        let changed = edits.contains_key(&id) && roles != user.roles;
        let toggles = ROLES.iter().map(|role| {
            let role = *role;
            let input_id = format!("role-{id}-{role}");
            let onchange = {
                let (edits, roles) = (edits.clone(), roles.clone());
                Callback::from(move |e: Event| {
                    let on = e.target_unchecked_into::<HtmlInputElement>().checked();
                    let mut next_roles: Vec<Role> = roles.iter().copied().filter(|r| *r != role).collect();
                    if on {
                        next_roles.push(role);
                        next_roles.sort();
                    }
                    let mut next = (*edits).clone();
                    next.insert(id, next_roles);
                    edits.set(next);
                })
            };
            html! {
                <span class="role-toggle">
                    <input type="checkbox" id={input_id.clone()} checked={roles.contains(&role)} {onchange} />
                    <label for={input_id}>{ role.as_str() }</label>
                </span>
            }
        });
        let save = save.clone();
        let message = match &*outcome {
            Some((who, Ok(()))) if *who == id => html! { <Notice>{ "Saved." }</Notice> },
            Some((who, Err(failure))) if *who == id => {
                html! { <ErrorNotice error={failure.clone()} /> }
            }
            _ => Html::default(),
        };
        html! {
            <tr key={id.to_string()}>
                <th scope="row" data-label="Email">{ user.email.clone() }</th>
                <td data-label="Name">{ user.display_name.clone() }</td>
                <td data-label="Since">{ format::date_time(user.created_at) }</td>
                <td data-label="Roles">
                    <fieldset class="role-set">
                        <legend class="visually-hidden">{ format!("Roles of {}", user.email) }</legend>
                        { for toggles }
                    </fieldset>
                </td>
                <td>
                    <button type="button" class="button button--small" disabled={!changed || *busy == Some(id)}
                        onclick={move |_| save.emit((id, roles.clone()))}>{ "Save roles" }</button>
                    { message }
                </td>
            </tr>
        }
    };

    let body = match &*pages.state {
        Load::Loading => html! { <Loading label="Loading users…" /> },
        Load::Failed(failure) => {
            html! { <ErrorNotice error={failure.clone()} retry={pages.reload.clone()} /> }
        }
        Load::Ready(listing) if listing.items.is_empty() => {
            html! { <Empty message="No users found." /> }
        }
        Load::Ready(listing) => html! {
            <>
                <table class="data-table">
                    <caption class="visually-hidden">{ "Users" }</caption>
                    <thead>
                        <tr>
                            <th scope="col">{ "Email" }</th>
                            <th scope="col">{ "Name" }</th>
                            <th scope="col">{ "Since" }</th>
                            <th scope="col">{ "Roles" }</th>
                            <th scope="col"><span class="visually-hidden">{ "Actions" }</span></th>
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
            <h1>{ "Users" }</h1>
            <form class="inline-form" role="search" {onsubmit}>
                <label for="admin-user-search">{ "Find by email" }</label>
                <input id="admin-user-search" type="search" ref={typed} class="field__input" />
                <button type="submit" class="button">{ "Search" }</button>
            </form>
            { body }
        </section>
    }
}
