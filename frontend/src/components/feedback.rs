//! Loading, empty and error states, and notices.

use yew::prelude::*;
use yew_router::prelude::*;

use crate::api::{ApiError, FieldErrors};
use crate::components::field::field_id;
use crate::route::{NextQuery, Route};

/// Props of [`Loading`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct LoadingProps {
    /// What is loading, for screen readers: "Loading products…".
    #[prop_or(AttrValue::Static("Loading…"))]
    pub label: AttrValue,
}

/// A polite live region saying something is on its way.
#[component]
pub fn Loading(props: &LoadingProps) -> Html {
    html! {
        <p class="loading" role="status" aria-live="polite">
            <span class="loading__spinner" aria-hidden="true"></span>
            { props.label.clone() }
        </p>
    }
}

/// Props of [`Empty`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct EmptyProps {
    /// What there is none of.
    pub message: AttrValue,
    /// What to do next (a link).
    #[prop_or_default]
    pub children: Html,
}

/// An empty list, with a way forward.
#[component]
pub fn Empty(props: &EmptyProps) -> Html {
    html! {
        <div class="empty">
            <p>{ props.message.clone() }</p>
            { props.children.clone() }
        </div>
    }
}

/// Props of [`ErrorNotice`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ErrorNoticeProps {
    /// What failed.
    pub error: ApiError,
    /// Offered as "Try again" when given.
    #[prop_or_default]
    pub retry: Option<Callback<()>>,
}

/// A failed fetch: the API's message, a retry, and a way to sign in when that is the problem.
#[component]
pub fn ErrorNotice(props: &ErrorNoticeProps) -> Html {
    let location = use_location();
    let sign_in = props.error.needs_sign_in().then(|| {
        let next = location.map(|l| l.path().to_owned());
        html! {
            <Link<Route, NextQuery> to={Route::Login} query={Some(NextQuery { next })}
                classes="button button--primary">
                { "Sign in" }
            </Link<Route, NextQuery>>
        }
    });
    let retry = props.retry.clone().map(|retry| {
        html! {
            <button type="button" class="button" onclick={move |_| retry.emit(())}>
                { "Try again" }
            </button>
        }
    });
    html! {
        <div class="notice notice--error" role="alert">
            <p>{ props.error.message() }</p>
            if sign_in.is_some() || retry.is_some() {
                <p class="notice__actions">{ for sign_in }{ for retry }</p>
            }
        </div>
    }
}

/// Props of [`Notice`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct NoticeProps {
    /// The message and any links.
    pub children: Html,
    /// `success` or `info`.
    #[prop_or(AttrValue::Static("success"))]
    pub kind: AttrValue,
}

/// A polite status message ("Saved.", "Added to your cart.").
#[component]
pub fn Notice(props: &NoticeProps) -> Html {
    html! {
        <div class={classes!("notice", format!("notice--{}", props.kind))} role="status">
            { props.children.clone() }
        </div>
    }
}

/// Props of [`ErrorSummary`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ErrorSummaryProps {
    /// The form's id prefix (see [`field_id`]).
    pub prefix: AttrValue,
    /// The fields the form shows: API name and label. Each error links to the field that
    /// covers it and is introduced by its label.
    pub fields: &'static [(&'static str, &'static str)],
    /// The failure, as a sentence.
    pub message: AttrValue,
    /// The per-field messages; each is also shown next to its field.
    #[prop_or_default]
    pub errors: FieldErrors,
}

/// The top of a form that failed: the message and a link to each invalid field. It takes the
/// focus when it appears, so keyboard and screen reader users land on it.
#[component]
pub fn ErrorSummary(props: &ErrorSummaryProps) -> Html {
    let node = use_node_ref();
    {
        let node = node.clone();
        use_effect_with(props.clone(), move |_| {
            if let Some(element) = node.cast::<web_sys::HtmlElement>() {
                let _ = element.focus();
            }
        });
    }
    let items = props.errors.iter().map(|(field, message)| {
        let covering = props
            .fields
            .iter()
            .filter(|(known, _)| {
                field == *known
                    || field
                        .strip_prefix(*known)
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
            .max_by_key(|(known, _)| known.len());
        match covering {
            Some((known, label)) => html! {
                <li><a href={format!("#{}", field_id(&props.prefix, known))}>
                    { format!("{label}: {message}") }
                </a></li>
            },
            None => html! { <li>{ format!("{}: {message}", field.replace(['_', '.'], " ")) }</li> },
        }
    });
    html! {
        <div class="notice notice--error error-summary" role="alert" tabindex="-1" ref={node}>
            <p class="error-summary__title">{ props.message.clone() }</p>
            if !props.errors.is_empty() {
                <ul>{ for items }</ul>
            }
        </div>
    }
}
