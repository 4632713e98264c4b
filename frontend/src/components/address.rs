//! Postal addresses: the form to add one and the card that shows one.

use contracts::address::PostalAddress;
use yew::prelude::*;

use crate::api::FieldErrors;
use crate::components::field::{Field, field_id};

/// An address as typed, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressDraft {
    /// Who receives the parcel.
    pub recipient: String,
    /// Street and number.
    pub line1: String,
    /// Apartment, floor, company.
    pub line2: String,
    /// City or town.
    pub city: String,
    /// Postal or ZIP code.
    pub postal_code: String,
    /// State, province or region.
    pub region: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// A phone number for the carrier.
    pub phone: String,
}

impl AddressDraft {
    /// The fields the form shows: API name and label.
    pub const FIELDS: &'static [(&'static str, &'static str)] = &[
        ("recipient", "Full name"),
        ("line1", "Street and number"),
        ("line2", "Apartment, floor, company"),
        ("city", "City"),
        ("postal_code", "Postal code"),
        ("region", "State or region"),
        ("country", "Country code"),
        ("phone", "Phone"),
    ];

    /// The address to send, normalised, or the fields that are missing or malformed: the
    /// shop's one address rule ([`Address::parse`](contracts::address::Address::parse)), the
    /// one the API applies, so a draft that passes here is not refused there.
    pub fn check(&self) -> Result<PostalAddress, FieldErrors> {
        let optional = |value: &str| Some(value.to_owned());
        let typed = PostalAddress {
            recipient: self.recipient.clone(),
            line1: self.line1.clone(),
            line2: optional(&self.line2),
            city: self.city.clone(),
            postal_code: self.postal_code.clone(),
            region: optional(&self.region),
            country: self.country.clone(),
            phone: optional(&self.phone),
        };
        let error = match contracts::address::Address::parse(typed) {
            Ok(address) => return Ok(address.into()),
            Err(error) => error,
        };
        let mut errors = FieldErrors::default();
        for error in error.field_errors("") {
            let what = match error.field.as_str() {
                "recipient" => "the recipient's name",
                "line1" => "the street and number",
                "city" => "the city",
                "postal_code" => "the postal code",
                "country" => "a two-letter country code, like DE or US",
                _ => "",
            };
            if error.code == "required" && !what.is_empty() {
                errors.add(&error.field, &format!("Enter {what}."));
            } else {
                errors.add(&error.field, &error.message);
            }
        }
        Err(errors)
    }
}

/// Props of [`AddressForm`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct AddressFormProps {
    /// The element id prefix of the fields.
    pub prefix: AttrValue,
    /// The address as typed.
    pub draft: AddressDraft,
    /// Messages by field, from the form's own check or the API.
    pub errors: FieldErrors,
    /// Called with the draft after every keystroke.
    pub on_change: Callback<AddressDraft>,
}

/// The fields of a postal address (the surrounding `<form>` is the page's).
#[component]
pub fn AddressForm(props: &AddressFormProps) -> Html {
    let field = |name: &'static str,
                 label: &'static str,
                 value: &str,
                 autocomplete: &'static str,
                 required: bool,
                 set: fn(&mut AddressDraft, String)| {
        let draft = props.draft.clone();
        let on_change = props.on_change.clone();
        let oninput = Callback::from(move |text: String| {
            let mut draft = draft.clone();
            set(&mut draft, text);
            on_change.emit(draft);
        });
        html! {
            <Field id={field_id(&props.prefix, name)} label={label} value={value.to_owned()}
                {oninput} error={props.errors.get(name)} autocomplete={autocomplete} {required} />
        }
    };
    let draft = &props.draft;
    html! {
        <fieldset class="fieldset">
            <legend>{ "Address" }</legend>
            { field("recipient", "Full name", &draft.recipient, "name", true, |d, v| d.recipient = v) }
            { field("line1", "Street and number", &draft.line1, "address-line1", true, |d, v| d.line1 = v) }
            { field("line2", "Apartment, floor, company", &draft.line2, "address-line2", false, |d, v| d.line2 = v) }
            <div class="field-row">
                { field("postal_code", "Postal code", &draft.postal_code, "postal-code", true, |d, v| d.postal_code = v) }
                { field("city", "City", &draft.city, "address-level2", true, |d, v| d.city = v) }
            </div>
            <div class="field-row">
                { field("region", "State or region", &draft.region, "address-level1", false, |d, v| d.region = v) }
                { field("country", "Country code", &draft.country, "country", true, |d, v| d.country = v) }
            </div>
            { field("phone", "Phone", &draft.phone, "tel", false, |d, v| d.phone = v) }
        </fieldset>
    }
}

/// Props of [`AddressCard`].
#[derive(Debug, Clone, PartialEq, Properties)]
pub struct AddressCardProps {
    /// The address.
    pub address: PostalAddress,
}

/// An address, as lines.
#[component]
pub fn AddressCard(props: &AddressCardProps) -> Html {
    let a = &props.address;
    html! {
        <address class="address-card">
            <strong>{ a.recipient.clone() }</strong><br />
            { a.line1.clone() }<br />
            if let Some(line2) = &a.line2 { { line2.clone() }<br /> }
            { format!("{} {}", a.postal_code, a.city) }<br />
            if let Some(region) = &a.region { { region.clone() }<br /> }
            { a.country.clone() }
            if let Some(phone) = &a.phone { <br />{ phone.clone() } }
        </address>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_draft_becomes_a_new_address() {
        let draft = AddressDraft {
            recipient: " Ada Lovelace ".to_owned(),
            line1: "1 Analytical Way".to_owned(),
            city: "London".to_owned(),
            postal_code: "N1 9GU".to_owned(),
            country: "gb".to_owned(),
            ..AddressDraft::default()
        };
        let address = draft.check().expect("complete");
        assert_eq!(address.recipient, "Ada Lovelace");
        assert_eq!(address.country, "GB");
        assert_eq!(address.line2, None);
        assert_eq!(address.phone, None);
    }

    #[test]
    fn missing_fields_are_named() {
        let errors = AddressDraft {
            country: "Germany".to_owned(),
            ..AddressDraft::default()
        }
        .check()
        .expect_err("incomplete");
        for field in ["recipient", "line1", "city", "postal_code", "country"] {
            assert!(errors.get(field).is_some(), "{field}");
        }
        assert!(errors.get("phone").is_none());
    }

    #[test]
    fn the_draft_is_held_to_the_api_rule() {
        let complete = AddressDraft {
            recipient: "Ada".to_owned(),
            line1: "1 Analytical Way".to_owned(),
            city: "London".to_owned(),
            postal_code: "N1 9GU".to_owned(),
            country: " de ".to_owned(),
            ..AddressDraft::default()
        };
        assert_eq!(complete.check().expect("valid").country, "DE");
        let long = AddressDraft {
            recipient: "a".repeat(101),
            phone: "1234".to_owned(),
            ..complete
        };
        let errors = long.check().expect_err("too long");
        assert!(errors.get("recipient").is_some());
        assert!(errors.get("phone").is_some());
    }
}
