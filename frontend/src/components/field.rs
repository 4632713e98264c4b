//! Labelled form fields that show their error next to them.
//!
//! Each input has a `<label>`, `aria-invalid` when its value was refused, and
//! `aria-describedby` pointing at its hint and error, so screen readers read the message with
//! the field.

use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

/// The element id of a form's field: `field_id("product", "price.amount")` is
/// `product-price-amount`.
pub fn field_id(prefix: &str, field: &str) -> String {
    let field: String = field
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{prefix}-{field}")
}

fn described_by(id: &str, hint: bool, error: bool) -> Option<String> {
    let ids: Vec<String> = [
        hint.then(|| format!("{id}-hint")),
        error.then(|| format!("{id}-error")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!ids.is_empty()).then(|| ids.join(" "))
}

fn label(id: &AttrValue, text: &AttrValue, required: bool) -> Html {
    html! {
        <label class="field__label" for={id.clone()}>
            { text.clone() }
            if required { <span class="field__required" aria-hidden="true">{ " *" }</span> }
        </label>
    }
}

fn hint_and_error(id: &str, hint: Option<&AttrValue>, error: Option<&AttrValue>) -> (Html, Html) {
    (
        hint.map(|hint| html! { <p class="field__hint" id={format!("{id}-hint")}>{ hint.clone() }</p> })
            .unwrap_or_default(),
        error
            .map(|error| html! { <p class="field__error" id={format!("{id}-error")}>{ error.clone() }</p> })
            .unwrap_or_default(),
    )
}

/// Props of [`Field`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct FieldProps {
    /// The element id (see [`field_id`]).
    pub id: AttrValue,
    /// The visible label.
    pub label: AttrValue,
    /// The current value.
    pub value: AttrValue,
    /// Called with the new value on every keystroke.
    pub oninput: Callback<String>,
    /// The message when the value was refused.
    #[prop_or_default]
    pub error: Option<AttrValue>,
    /// A hint shown under the label.
    #[prop_or_default]
    pub hint: Option<AttrValue>,
    /// The input type.
    #[prop_or(AttrValue::Static("text"))]
    pub kind: AttrValue,
    /// The autofill hint (`email`, `current-password`, `cc-number`, ...).
    #[prop_or_default]
    pub autocomplete: Option<AttrValue>,
    /// The virtual keyboard to offer (`numeric`, `decimal`).
    #[prop_or_default]
    pub inputmode: Option<AttrValue>,
    /// Whether a value is needed.
    #[prop_or_default]
    pub required: bool,
    /// Whether the field is read-only.
    #[prop_or_default]
    pub disabled: bool,
}

/// A labelled `<input>`.
#[component]
pub fn Field(props: &FieldProps) -> Html {
    let oninput = props
        .oninput
        .reform(|e: InputEvent| e.target_unchecked_into::<HtmlInputElement>().value());
    let (hint, error) = hint_and_error(&props.id, props.hint.as_ref(), props.error.as_ref());
    html! {
        <div class={classes!("field", props.error.is_some().then_some("field--invalid"))}>
            { label(&props.id, &props.label, props.required) }
            { hint }
            <input
                id={props.id.clone()}
                name={props.id.clone()}
                class="field__input"
                type={props.kind.clone()}
                value={props.value.clone()}
                {oninput}
                required={props.required}
                disabled={props.disabled}
                autocomplete={props.autocomplete.clone()}
                inputmode={props.inputmode.clone()}
                aria-invalid={if props.error.is_some() { "true" } else { "false" }}
                aria-describedby={described_by(&props.id, props.hint.is_some(), props.error.is_some())}
            />
            { error }
        </div>
    }
}

/// Props of [`TextArea`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct TextAreaProps {
    /// The element id.
    pub id: AttrValue,
    /// The visible label.
    pub label: AttrValue,
    /// The current value.
    pub value: AttrValue,
    /// Called with the new value on every keystroke.
    pub oninput: Callback<String>,
    /// The message when the value was refused.
    #[prop_or_default]
    pub error: Option<AttrValue>,
}

/// A labelled `<textarea>`.
#[component]
pub fn TextArea(props: &TextAreaProps) -> Html {
    let oninput = props
        .oninput
        .reform(|e: InputEvent| e.target_unchecked_into::<HtmlTextAreaElement>().value());
    let (_, error) = hint_and_error(&props.id, None, props.error.as_ref());
    html! {
        <div class={classes!("field", props.error.is_some().then_some("field--invalid"))}>
            { label(&props.id, &props.label, false) }
            <textarea
                id={props.id.clone()}
                name={props.id.clone()}
                class="field__input field__input--area"
                rows="5"
                value={props.value.clone()}
                {oninput}
                aria-invalid={if props.error.is_some() { "true" } else { "false" }}
                aria-describedby={described_by(&props.id, false, props.error.is_some())}
            />
            { error }
        </div>
    }
}

/// Props of [`Select`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct SelectProps {
    /// The element id.
    pub id: AttrValue,
    /// The visible label.
    pub label: AttrValue,
    /// The selected option's value.
    pub value: AttrValue,
    /// `(value, text)` of each option.
    pub options: Vec<(AttrValue, AttrValue)>,
    /// Called with the chosen value.
    pub onchange: Callback<String>,
    /// The message when the value was refused.
    #[prop_or_default]
    pub error: Option<AttrValue>,
    /// Whether a value is needed.
    #[prop_or_default]
    pub required: bool,
}

/// A labelled `<select>`.
#[component]
pub fn Select(props: &SelectProps) -> Html {
    let onchange = props
        .onchange
        .reform(|e: Event| e.target_unchecked_into::<HtmlSelectElement>().value());
    let (_, error) = hint_and_error(&props.id, None, props.error.as_ref());
    html! {
        <div class={classes!("field", props.error.is_some().then_some("field--invalid"))}>
            { label(&props.id, &props.label, props.required) }
            <select
                id={props.id.clone()}
                name={props.id.clone()}
                class="field__input"
                {onchange}
                required={props.required}
                aria-invalid={if props.error.is_some() { "true" } else { "false" }}
                aria-describedby={described_by(&props.id, false, props.error.is_some())}
            >
                { for props.options.iter().map(|(value, text)| html! {
                    <option value={value.clone()} selected={*value == props.value}>{ text.clone() }</option>
                }) }
            </select>
            { error }
        </div>
    }
}

/// Props of [`Checkbox`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct CheckboxProps {
    /// The element id.
    pub id: AttrValue,
    /// The visible label.
    pub label: AttrValue,
    /// Whether it is ticked.
    pub checked: bool,
    /// Called with the new state.
    pub onchange: Callback<bool>,
    /// The message when the value was refused.
    #[prop_or_default]
    pub error: Option<AttrValue>,
}

/// A labelled checkbox.
#[component]
pub fn Checkbox(props: &CheckboxProps) -> Html {
    let onchange = props
        .onchange
        .reform(|e: Event| e.target_unchecked_into::<HtmlInputElement>().checked());
    let (_, error) = hint_and_error(&props.id, None, props.error.as_ref());
    html! {
        <div class={classes!("field", "field--checkbox", props.error.is_some().then_some("field--invalid"))}>
            <input
                id={props.id.clone()}
                name={props.id.clone()}
                type="checkbox"
                checked={props.checked}
                {onchange}
                aria-invalid={if props.error.is_some() { "true" } else { "false" }}
                aria-describedby={described_by(&props.id, false, props.error.is_some())}
            />
            <label for={props.id.clone()}>{ props.label.clone() }</label>
            { error }
        </div>
    }
}
