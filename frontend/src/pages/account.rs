use contracts::users::UpdateProfile;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api::{self, ApiError, FieldErrors};
use crate::components::{
    AddressCard, AddressDraft, AddressForm, Empty, ErrorNotice, ErrorSummary, Field, Loading,
    Notice, field_id,
};
use crate::format;
use crate::hooks::{Load, use_load, use_title};
use crate::route::Route;
use crate::session::{SessionAction, use_session};

/// Where a form is: idle, saving, saved, or refused.
#[derive(Debug, Clone, Default, PartialEq)]
enum Save {
    #[default]
    Idle,
    Busy,
    Done,
    Failed(ApiError),
}

impl Save {
    fn errors(&self) -> FieldErrors {
        match self {
            Self::Failed(error) => error.field_errors(),
            _ => FieldErrors::default(),
        }
    }
}

/// The profile, password, address book, and signing out.
#[component]
pub fn Account() -> Html {
    use_title("Your account");
    let session = use_session();
    let navigator = use_navigator();
    let user = session.user.clone();
    let name = use_state(|| {
        user.as_ref()
            .map(|u| u.display_name.clone())
            .unwrap_or_default()
    });
    let profile = use_state(Save::default);
    let current_password = use_state(String::new);
    let new_password = use_state(String::new);
    let password = use_state(Save::default);
    let addresses = use_load((), |()| api::addresses());
    let draft = use_state(AddressDraft::default);
    let address = use_state(Save::default);
    let address_errors = use_state(FieldErrors::default);
    let Some(user) = user else {
        return Html::default();
    };

    let save_profile = {
        let (name, profile, session) = (name.clone(), profile.clone(), session.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            profile.set(Save::Busy);
            let change = UpdateProfile {
                display_name: Some(name.trim().to_owned()),
                ..UpdateProfile::default()
            };
            let (profile, session) = (profile.clone(), session.clone());
            spawn_local(async move {
                match api::update_me(&change).await {
                    Ok(user) => {
                        session.dispatch(SessionAction::SignedIn(user));
                        profile.set(Save::Done);
                    }
                    Err(error) => profile.set(Save::Failed(error)),
                }
            });
        })
    };
    let change_password = {
        let (current_password, new_password, password) = (
            current_password.clone(),
            new_password.clone(),
            password.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            password.set(Save::Busy);
            let change = UpdateProfile {
                current_password: Some((*current_password).clone()),
                new_password: Some((*new_password).clone()),
                ..UpdateProfile::default()
            };
            let (current_password, new_password, password) = (
                current_password.clone(),
                new_password.clone(),
                password.clone(),
            );
            spawn_local(async move {
                match api::update_me(&change).await {
                    Ok(_) => {
                        current_password.set(String::new());
                        new_password.set(String::new());
                        password.set(Save::Done);
                    }
                    Err(error) => password.set(Save::Failed(error)),
                }
            });
        })
    };
    let add_address = {
        let (draft, address, address_errors, list) = (
            draft.clone(),
            address.clone(),
            address_errors.clone(),
            addresses.state.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let new = match draft.check() {
                Ok(new) => new,
                Err(errors) => {
                    address_errors.set(errors);
                    address.set(Save::Idle);
                    return;
                }
            };
            address_errors.set(FieldErrors::default());
            address.set(Save::Busy);
            let (draft, address, address_errors, list) = (
                draft.clone(),
                address.clone(),
                address_errors.clone(),
                list.clone(),
            );
            spawn_local(async move {
                match api::add_address(&new).await {
                    Ok(saved) => {
                        if let Load::Ready(existing) = &*list {
                            let mut all = existing.clone();
                            all.push(saved);
                            list.set(Load::Ready(all));
                        }
                        draft.set(AddressDraft::default());
                        address.set(Save::Done);
                    }
                    Err(error) => {
                        address_errors.set(error.field_errors());
                        address.set(Save::Failed(error));
                    }
                }
            });
        })
    };
    let sign_out = Callback::from(move |_: MouseEvent| {
        let (session, navigator) = (session.clone(), navigator.clone());
        spawn_local(async move {
            api::logout().await;
            session.dispatch(SessionAction::SignedOut);
            if let Some(navigator) = navigator {
                navigator.push(&Route::Home);
            }
        });
    });
    let status = |save: &Save,
                  done: &'static str,
                  prefix: &'static str,
                  fields: &'static [(&'static str, &'static str)]| match save {
        Save::Done => html! { <Notice>{ done }</Notice> },
        Save::Failed(error) => html! {
            <ErrorSummary prefix={prefix} fields={fields} message={error.message()} errors={error.field_errors()} />
        },
        _ => Html::default(),
    };
    let setter = |state: &UseStateHandle<String>| {
        let state = state.clone();
        Callback::from(move |value| state.set(value))
    };

    let address_list = match &*addresses.state {
        Load::Loading => html! { <Loading label="Loading your addresses…" /> },
        Load::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} retry={addresses.reload.clone()} /> }
        }
        Load::Ready(list) if list.is_empty() => {
            html! { <Empty message="No saved addresses yet." /> }
        }
        Load::Ready(list) => html! {
            <ul class="address-list">
                { for list.iter().map(|a| html! { <li key={a.id.to_string()}><AddressCard address={a.address.clone()} /></li> }) }
            </ul>
        },
    };
    let profile_errors = profile.errors();
    let password_errors = password.errors();

    html! {
        <section class="account">
            <h1>{ "Your account" }</h1>
            <p>{ format!("Signed in as {} · member since {}", user.email, format::date_time(user.created_at)) }</p>

            <section class="panel" aria-labelledby="profile-heading">
                <h2 id="profile-heading">{ "Profile" }</h2>
                { status(&profile, "Your profile is saved.", "profile", &[("display_name", "Your name")]) }
                <form class="form" onsubmit={save_profile} novalidate=true>
                    <Field id={field_id("profile", "display_name")} label="Your name" autocomplete="name"
                        value={(*name).clone()} oninput={setter(&name)} error={profile_errors.get("display_name")} />
                    <p class="form__actions">
                        <button type="submit" class="button button--primary" disabled={*profile == Save::Busy}>{ "Save profile" }</button>
                    </p>
                </form>
            </section>

            <section class="panel" aria-labelledby="password-heading">
                <h2 id="password-heading">{ "Password" }</h2>
                { status(&password, "Your password is changed.", "password",
                    &[("current_password", "Current password"), ("new_password", "New password")]) }
                <form class="form" onsubmit={change_password} novalidate=true>
                    <Field id={field_id("password", "current_password")} label="Current password" kind="password"
                        autocomplete="current-password" value={(*current_password).clone()}
                        oninput={setter(&current_password)} error={password_errors.get("current_password")} />
                    <Field id={field_id("password", "new_password")} label="New password" kind="password"
                        autocomplete="new-password" value={(*new_password).clone()}
                        oninput={setter(&new_password)} error={password_errors.get("new_password")} />
                    <p class="form__actions">
                        <button type="submit" class="button" disabled={*password == Save::Busy}>{ "Change password" }</button>
                    </p>
                </form>
            </section>

            <section class="panel" aria-labelledby="addresses-heading">
                <h2 id="addresses-heading">{ "Addresses" }</h2>
                { address_list }
                <h3>{ "Add an address" }</h3>
                { status(&address, "The address is saved.", "address", AddressDraft::FIELDS) }
                <form class="form" onsubmit={add_address} novalidate=true>
                    <AddressForm prefix="address" draft={(*draft).clone()} errors={(*address_errors).clone()}
                        on_change={{ let draft = draft.clone(); Callback::from(move |d| draft.set(d)) }} />
                    <p class="form__actions">
                        <button type="submit" class="button" disabled={*address == Save::Busy}>{ "Save address" }</button>
                    </p>
                </form>
            </section>

            <p class="form__actions">
                <Link<Route> to={Route::Orders} classes="button">{ "Your orders" }</Link<Route>>
                <button type="button" class="button button--danger" onclick={sign_out}>{ "Sign out" }</button>
            </p>
        </section>
    }
}
