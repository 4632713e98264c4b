use contracts::auth::{LoginRequest, RegisterRequest};
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api::{self, ApiError, FieldErrors};
use crate::components::{ErrorSummary, Field, field_id};
use crate::hooks::use_title;
use crate::route::{NextQuery, Route};
use crate::session::{SessionAction, use_session};

/// The state of a sign-in or sign-up form.
#[derive(Debug, Clone, Default, PartialEq)]
struct FormState {
    busy: bool,
    failure: Option<ApiError>,
}

/// `?next=` of the current URL.
#[hook]
fn use_next() -> NextQuery {
    use_location()
        .and_then(|location| location.query::<NextQuery>().ok())
        .unwrap_or_default()
}

fn setter(state: &UseStateHandle<String>) -> Callback<String> {
    let state = state.clone();
    Callback::from(move |value| state.set(value))
}

/// The fields of the sign-in form: API name and label.
const LOGIN_FIELDS: &[(&str, &str)] = &[("email", "Email"), ("password", "Password")];

/// Sign in with email and password.
#[component]
pub fn Login() -> Html {
    use_title("Sign in");
    let session = use_session();
    let navigator = use_navigator();
    let next = use_next();
    let email = use_state(String::new);
    let password = use_state(String::new);
    let form = use_state(FormState::default);

    let onsubmit = {
        let (email, password, form, next) =
            (email.clone(), password.clone(), form.clone(), next.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            form.set(FormState {
                busy: true,
                failure: None,
            });
            let request = LoginRequest {
                email: email.trim().to_owned(),
                password: (*password).clone(),
            };
            let (form, session, navigator, next) = (
                form.clone(),
                session.clone(),
                navigator.clone(),
                next.clone(),
            );
            spawn_local(async move {
                match api::login(&request).await {
                    Ok(user) => {
                        session.dispatch(SessionAction::SignedIn(user));
                        if let Some(navigator) = navigator {
                            navigator.push(&next.route());
                        }
                    }
                    Err(failure) => form.set(FormState {
                        busy: false,
                        failure: Some(failure),
                    }),
                }
            });
        })
    };
    let errors = form
        .failure
        .as_ref()
        .map(ApiError::field_errors)
        .unwrap_or_default();
    let register_query = Some(next.clone());
    html! {
        <section class="auth">
            <h1>{ "Sign in" }</h1>
            if let Some(failure) = &form.failure {
                <ErrorSummary prefix="login" fields={LOGIN_FIELDS}
                    message={failure.message()} errors={errors.clone()} />
            }
            <form class="form" {onsubmit} novalidate=true aria-busy={form.busy.to_string()}>
                <Field id={field_id("login", "email")} label="Email" kind="email" autocomplete="email"
                    value={(*email).clone()} oninput={setter(&email)} error={errors.get("email")} required=true />
                <Field id={field_id("login", "password")} label="Password" kind="password"
                    autocomplete="current-password" value={(*password).clone()} oninput={setter(&password)}
                    error={errors.get("password")} required=true />
                <p class="form__actions">
                    <button type="submit" class="button button--primary" disabled={form.busy}>
                        { if form.busy { "Signing in…" } else { "Sign in" } }
                    </button>
                </p>
            </form>
            <p>
                { "New here? " }
                <Link<Route, NextQuery> to={Route::Register} query={register_query}>{ "Create an account" }</Link<Route, NextQuery>>
            </p>
        </section>
    }
}

/// The fields of the sign-up form: API name and label.
const REGISTER_FIELDS: &[(&str, &str)] = &[
    ("display_name", "Your name"),
    ("email", "Email"),
    ("password", "Password"),
];

/// Create an account (and sign in).
#[component]
pub fn Register() -> Html {
    use_title("Create an account");
    let session = use_session();
    let navigator = use_navigator();
    let next = use_next();
    let name = use_state(String::new);
    let email = use_state(String::new);
    let password = use_state(String::new);
    let form = use_state(FormState::default);
    let local_errors = use_state(FieldErrors::default);

    let onsubmit = {
        let (name, email, password, form, local_errors, next) = (
            name.clone(),
            email.clone(),
            password.clone(),
            form.clone(),
            local_errors.clone(),
            next.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let mut missing = FieldErrors::default();
            if name.trim().is_empty() {
                missing.add("display_name", "Enter the name to show in the shop.");
            }
            if !email.contains('@') {
                missing.add("email", "Enter an email address, like ada@example.com.");
            }
            if password.is_empty() {
                missing.add("password", "Choose a password.");
            }
            if !missing.is_empty() {
                local_errors.set(missing);
                form.set(FormState::default());
                return;
            }
            local_errors.set(FieldErrors::default());
            form.set(FormState {
                busy: true,
                failure: None,
            });
            let request = RegisterRequest {
                email: email.trim().to_owned(),
                password: (*password).clone(),
                display_name: name.trim().to_owned(),
            };
            let (form, session, navigator, next) = (
                form.clone(),
                session.clone(),
                navigator.clone(),
                next.clone(),
            );
            spawn_local(async move {
                match api::register(&request).await {
                    Ok(user) => {
                        session.dispatch(SessionAction::SignedIn(user));
                        if let Some(navigator) = navigator {
                            navigator.push(&next.route());
                        }
                    }
                    Err(failure) => form.set(FormState {
                        busy: false,
                        failure: Some(failure),
                    }),
                }
            });
        })
    };
    let (message, errors) = match &form.failure {
        Some(failure) => (Some(failure.message()), failure.field_errors()),
        None if !local_errors.is_empty() => (
            Some("Please correct the marked fields.".to_owned()),
            (*local_errors).clone(),
        ),
        None => (None, FieldErrors::default()),
    };
    html! {
        <section class="auth">
            <h1>{ "Create an account" }</h1>
            if let Some(message) = message {
                <ErrorSummary prefix="register" fields={REGISTER_FIELDS} {message} errors={errors.clone()} />
            }
            <form class="form" {onsubmit} novalidate=true aria-busy={form.busy.to_string()}>
                <Field id={field_id("register", "display_name")} label="Your name" autocomplete="name"
                    value={(*name).clone()} oninput={setter(&name)} error={errors.get("display_name")} required=true />
                <Field id={field_id("register", "email")} label="Email" kind="email" autocomplete="email"
                    value={(*email).clone()} oninput={setter(&email)} error={errors.get("email")} required=true />
                <Field id={field_id("register", "password")} label="Password" kind="password"
                    autocomplete="new-password" hint="Use a long password you do not use elsewhere."
                    value={(*password).clone()} oninput={setter(&password)}
                    error={errors.get("password")} required=true />
                <p class="form__actions">
                    <button type="submit" class="button button--primary" disabled={form.busy}>
                        { if form.busy { "Creating your account…" } else { "Create account" } }
                    </button>
                </p>
            </form>
            <p>
                { "Already have an account? " }
                <Link<Route, NextQuery> to={Route::Login} query={Some(next.clone())}>{ "Sign in" }</Link<Route, NextQuery>>
            </p>
        </section>
    }
}
