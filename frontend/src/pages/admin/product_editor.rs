use contracts::catalog::{Category, Product, StockUpdate};
use contracts::problem::problem_types;
use uuid::Uuid;
use yew::platform::spawn_local;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::api::{self, ApiError, FieldErrors};
use crate::components::{
    ErrorNotice, ErrorSummary, Field, Loading, Notice, ProductDraft, ProductForm,
};
use crate::hooks::{Load, use_load, use_title};
use crate::route::Route;

/// Props of [`ProductEditor`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ProductEditorProps {
    /// The product to edit; `None` creates one.
    pub id: Option<Uuid>,
}

/// Creates a product, or edits one: its fields, its stock, or removes it.
#[component]
pub fn ProductEditor(props: &ProductEditorProps) -> Html {
    use_title(if props.id.is_some() {
        "Admin · Edit product"
    } else {
        "Admin · New product"
    });
    let data = use_load(props.id, |id| async move {
        let categories = api::categories().await?;
        let product = match id {
            Some(id) => Some(api::product(id).await?),
            None => None,
        };
        Ok((categories, product))
    });
    match &*data.state {
        Load::Loading => html! { <Loading label="Loading the product…" /> },
        Load::Failed(error) => {
            html! { <ErrorNotice error={error.clone()} retry={data.reload.clone()} /> }
        }
        Load::Ready((categories, product)) => html! {
            <Editor key={product.as_ref().map_or(0, |p| p.version)}
                categories={categories.clone()} product={product.clone()} reload={data.reload.clone()} />
        },
    }
}

#[derive(Debug, Clone, PartialEq, Properties)]
struct EditorProps {
    categories: Vec<Category>,
    product: Option<Product>,
    reload: Callback<()>,
}

/// What the last save did.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Saved(&'static str),
    Failed(String, FieldErrors),
    /// Someone else changed the product since this page loaded it (412).
    Stale,
}

#[component]
fn Editor(props: &EditorProps) -> Html {
    let navigator = use_navigator();
    let product = use_state(|| props.product.clone());
    let draft = use_state(|| {
        props
            .product
            .as_ref()
            .map(ProductDraft::from)
            .unwrap_or_default()
    });
    let errors = use_state(FieldErrors::default);
    let outcome = use_state(|| None::<Outcome>);
    let busy = use_state(|| false);
    let stock = use_state(|| {
        props
            .product
            .as_ref()
            .map(|p| p.stock.to_string())
            .unwrap_or_default()
    });
    let stock_error = use_state(|| None::<AttrValue>);
    let confirm_delete = use_state(|| false);

    let fail = {
        let (errors, outcome) = (errors.clone(), outcome.clone());
        move |error: ApiError| {
            if error.is(problem_types::PRECONDITION_FAILED) {
                outcome.set(Some(Outcome::Stale));
                errors.set(FieldErrors::default());
            } else {
                let fields = error.field_errors();
                outcome.set(Some(Outcome::Failed(error.message(), fields.clone())));
                errors.set(fields);
            }
        }
    };

    let on_submit = {
        let (product, draft, errors, outcome, busy, navigator, fail) = (
            product.clone(),
            draft.clone(),
            errors.clone(),
            outcome.clone(),
            busy.clone(),
            navigator.clone(),
            fail.clone(),
        );
        Callback::from(move |()| {
            let checked = match &*product {
                Some(existing) => draft
                    .to_update(existing)
                    .map(|change| (Some((existing.id, change)), None)),
                None => draft.to_new().map(|new| (None, Some(new))),
            };
            let (update, create) = match checked {
                Ok(request) => request,
                Err(found) => {
                    outcome.set(Some(Outcome::Failed(
                        "Please correct the marked fields.".to_owned(),
                        found.clone(),
                    )));
                    errors.set(found);
                    return;
                }
            };
            // The messages of an earlier attempt no longer apply to what is being sent.
            errors.set(FieldErrors::default());
            outcome.set(None);
            busy.set(true);
            let (product, draft, errors, outcome, busy, navigator, fail) = (
                product.clone(),
                draft.clone(),
                errors.clone(),
                outcome.clone(),
                busy.clone(),
                navigator.clone(),
                fail.clone(),
            );
            spawn_local(async move {
                let result = match (update, create) {
                    (Some((id, change)), _) => api::update_product(id, &change).await,
                    (None, Some(new)) => api::create_product(&new).await,
                    (None, None) => return,
                };
                busy.set(false);
                match result {
                    Ok(saved) if product.is_none() => {
                        if let Some(navigator) = navigator {
                            navigator.push(&Route::AdminProduct { id: saved.id });
                        }
                    }
                    Ok(saved) => {
                        draft.set(ProductDraft::from(&saved));
                        product.set(Some(saved));
                        errors.set(FieldErrors::default());
                        outcome.set(Some(Outcome::Saved("The product is saved.")));
                    }
                    Err(error) => fail(error),
                }
            });
        })
    };

    let set_stock = {
        let (product, stock, stock_error, outcome, busy, fail) = (
            product.clone(),
            stock.clone(),
            stock_error.clone(),
            outcome.clone(),
            busy.clone(),
            fail.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(existing) = (*product).clone() else {
                return;
            };
            let Ok(available) = stock.trim().parse::<u32>() else {
                stock_error.set(Some("Enter a whole number of units, 0 or more.".into()));
                return;
            };
            stock_error.set(None);
            busy.set(true);
            let (product, outcome, busy, fail) =
                (product.clone(), outcome.clone(), busy.clone(), fail.clone());
            spawn_local(async move {
                let result = match api::set_stock(existing.id, StockUpdate { available }).await {
                    Ok(()) => api::product(existing.id).await,
                    Err(error) => Err(error),
                };
                busy.set(false);
                match result {
                    Ok(fresh) => {
                        product.set(Some(fresh));
                        outcome.set(Some(Outcome::Saved("The stock is set.")));
                    }
                    Err(error) => fail(error),
                }
            });
        })
    };

    let delete = {
        let (product, busy, navigator, fail) = (
            product.clone(),
            busy.clone(),
            navigator.clone(),
            fail.clone(),
        );
        Callback::from(move |_: MouseEvent| {
            let Some(existing) = (*product).clone() else {
                return;
            };
            busy.set(true);
            let (busy, navigator, fail) = (busy.clone(), navigator.clone(), fail.clone());
            spawn_local(async move {
                let result = api::delete_product(existing.id).await;
                busy.set(false);
                match result {
                    Ok(()) => {
                        if let Some(navigator) = navigator {
                            navigator.push(&Route::AdminProducts);
                        }
                    }
                    Err(error) => fail(error),
                }
            });
        })
    };

    let outcome_view = match &*outcome {
        None => Html::default(),
        Some(Outcome::Saved(message)) => html! { <Notice>{ *message }</Notice> },
        Some(Outcome::Failed(message, fields)) => html! {
            <ErrorSummary prefix="product" fields={ProductDraft::FIELDS} message={message.clone()} errors={fields.clone()} />
        },
        Some(Outcome::Stale) => {
            let reload = props.reload.clone();
            html! {
                <div class="notice notice--error" role="alert">
                    <p>{ "Someone else changed this product since you opened it. Load their version, then make your change again." }</p>
                    <p class="notice__actions">
                        <button type="button" class="button" onclick={move |_| reload.emit(())}>{ "Load the latest version" }</button>
                    </p>
                </div>
            }
        }
    };

    let heading = match &*product {
        Some(existing) => format!("Edit {}", existing.name),
        None => "New product".to_owned(),
    };
    html! {
        <section class="editor">
            <p class="breadcrumbs"><Link<Route> to={Route::AdminProducts}>{ "← Products" }</Link<Route>></p>
            <h1>{ heading }</h1>
            { outcome_view }
            <ProductForm draft={(*draft).clone()} errors={(*errors).clone()} categories={props.categories.clone()}
                is_new={product.is_none()} busy={*busy}
                on_change={{ let draft = draft.clone(); Callback::from(move |d| draft.set(d)) }}
                {on_submit} />
            if let Some(existing) = &*product {
                <section class="panel" aria-labelledby="stock-heading">
                    <h2 id="stock-heading">{ "Stock" }</h2>
                    <p>{ format!("{} units available to sell now.", existing.stock) }</p>
                    <form class="inline-form" onsubmit={set_stock} novalidate=true>
                        <Field id="product-stock-available" label="Units available" kind="number" inputmode="numeric"
                            value={(*stock).clone()} error={(*stock_error).clone()}
                            oninput={{ let stock = stock.clone(); Callback::from(move |v| stock.set(v)) }} />
                        <button type="submit" class="button" disabled={*busy}>{ "Set stock" }</button>
                    </form>
                </section>
                <section class="panel panel--danger" aria-labelledby="delete-heading">
                    <h2 id="delete-heading">{ "Remove product" }</h2>
                    if *confirm_delete {
                        <p>{ "Remove it from the shop? Past orders keep their copy." }</p>
                        <p class="notice__actions">
                            <button type="button" class="button button--danger" disabled={*busy} onclick={delete}>{ "Yes, remove it" }</button>
                            <button type="button" class="button" onclick={{ let c = confirm_delete.clone(); move |_| c.set(false) }}>{ "Keep it" }</button>
                        </p>
                    } else {
                        <button type="button" class="button button--danger"
                            onclick={{ let c = confirm_delete.clone(); move |_| c.set(true) }}>{ "Remove product" }</button>
                    }
                </section>
            }
        </section>
    }
}
