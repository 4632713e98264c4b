//! The postal address: one type and one rule per field, for the address book and checkout.
//!
//! [`PostalAddress`] is the address as it travels in JSON, unchecked: what a client writes,
//! what the address book answers beside an id, what an order keeps as its shipping address.
//! [`Address`] is one that passed [`Address::parse`], trimmed and normalised, and nothing
//! else builds one. The user service parses what its address book saves and the order
//! service what checkout ships to, so an address one accepts the other accepts too.
//!
//! Where the two services used to disagree the stricter sensible rule won: a recipient of at
//! most 100 characters (a label line, and what the address book always stored), a postal
//! code of at most 16 (the longest in use has 10), a phone number of 5 to 15 digits (E.164
//! allows at most 15) with `+` only in front. The country code is read the way people type
//! it, `" de "` or `"de"`, and kept as `DE`: case and surrounding spaces carry no meaning
//! there, so refusing them would only turn away valid input.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::problem::FieldError;

/// The most characters of the recipient, the city and the region.
pub const MAX_NAME_CHARS: usize = 100;
/// The most characters of `line1` and `line2`.
pub const MAX_LINE_CHARS: usize = 200;
/// The most characters of a postal code.
pub const MAX_POSTAL_CODE_CHARS: usize = 16;
/// The most characters of a phone number, separators included.
pub const MAX_PHONE_CHARS: usize = 32;
/// The fewest and the most digits of a phone number.
pub const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 5..=15;

/// A postal address as it travels in JSON: the fields, unchecked ([`Address::parse`] checks
/// them). Absent optional fields are left out of the JSON, and an unknown field is refused, so
/// a typo such as `zip` is an error instead of a silently missing postal code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostalAddress {
    /// Who receives the parcel.
    pub recipient: String,
    /// Street and number.
    pub line1: String,
    /// Apartment, floor, company; optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// City or town.
    pub city: String,
    /// Postal or ZIP code.
    pub postal_code: String,
    /// State, province or region, where the country uses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. `"DE"`.
    pub country: String,
    /// A phone number for the carrier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[cfg(feature = "openapi")]
impl PostalAddress {
    /// The schema of the fields inside a larger object (a saved address has its id beside
    /// them): the same properties without `additionalProperties: false`, which would make
    /// the larger object's other properties invalid.
    pub fn embedded_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{RefOr, schema::Schema};
        let mut schema = <Self as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.additional_properties = None;
        }
        schema
    }
}

/// A valid postal address: every text trimmed, empty optional fields absent, the country an
/// uppercase ISO 3166-1 alpha-2 code.
///
/// Its JSON is a [`PostalAddress`]'s; reading one runs [`Address::parse`], so a body that holds
/// an `Address` holds a valid one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PostalAddress", into = "PostalAddress")]
pub struct Address(PostalAddress);

impl Address {
    /// Checks and normalises every field of `input`; the error names each field at fault.
    pub fn parse(input: PostalAddress) -> Result<Self, AddressError> {
        let mut address = input;
        let mut errors = AddressError(Vec::new());
        errors.check(
            "recipient",
            required(&mut address.recipient, MAX_NAME_CHARS),
        );
        errors.check("line1", required(&mut address.line1, MAX_LINE_CHARS));
        errors.check("line2", optional(&mut address.line2, MAX_LINE_CHARS));
        errors.check("city", required(&mut address.city, MAX_NAME_CHARS));
        errors.check("postal_code", postal_code(&mut address.postal_code));
        errors.check("region", optional(&mut address.region, MAX_NAME_CHARS));
        errors.check("country", country(&mut address.country));
        errors.check("phone", phone(&mut address.phone));
        if errors.0.is_empty() {
            Ok(Self(address))
        } else {
            Err(errors)
        }
    }

    /// Who receives the parcel.
    pub fn recipient(&self) -> &str {
        &self.0.recipient
    }

    /// Street and number.
    pub fn line1(&self) -> &str {
        &self.0.line1
    }

    /// Apartment, floor, company.
    pub fn line2(&self) -> Option<&str> {
        self.0.line2.as_deref()
    }

    /// City or town.
    pub fn city(&self) -> &str {
        &self.0.city
    }

    /// Postal or ZIP code.
    pub fn postal_code(&self) -> &str {
        &self.0.postal_code
    }

    /// State, province or region.
    pub fn region(&self) -> Option<&str> {
        self.0.region.as_deref()
    }

    /// The uppercase ISO 3166-1 alpha-2 country code.
    pub fn country(&self) -> &str {
        &self.0.country
    }

    /// A phone number for the carrier.
    pub fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
}

impl TryFrom<PostalAddress> for Address {
    type Error = AddressError;

    fn try_from(input: PostalAddress) -> Result<Self, Self::Error> {
        Self::parse(input)
    }
}

impl From<Address> for PostalAddress {
    fn from(address: Address) -> Self {
        address.0
    }
}

/// Why an address was refused: one entry per field at fault, in the order of the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressError(Vec<FieldError>);

impl AddressError {
    /// Keeps the value, or records its error against `field`.
    fn check<T>(&mut self, field: &str, parsed: Result<T, Invalid>) -> Option<T> {
        parsed
            .map_err(|invalid| self.0.push(invalid.on(field)))
            .ok()
    }

    /// The entries of a problem's `errors`, each field under `prefix` (such as
    /// `shipping_address.`; empty for an address that is the whole body).
    pub fn field_errors(&self, prefix: &str) -> Vec<FieldError> {
        self.0
            .iter()
            .map(|error| FieldError {
                field: format!("{prefix}{}", error.field),
                ..error.clone()
            })
            .collect()
    }
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut separator = "";
        for error in &self.0 {
            write!(f, "{separator}{}: {}", error.field, error.message)?;
            separator = "; ";
        }
        Ok(())
    }
}

impl std::error::Error for AddressError {}

/// One field's broken rule.
struct Invalid {
    code: &'static str,
    message: String,
}

impl Invalid {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn on(self, field: &str) -> FieldError {
        FieldError::new(field, self.code, self.message)
    }
}

/// Trims `text`, which must then hold 1 to `max` characters and no control character.
fn required(text: &mut String, max: usize) -> Result<(), Invalid> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Invalid::new("required", "This field is required."));
    }
    if trimmed.chars().count() > max {
        return Err(Invalid::new(
            "too_long",
            format!("Use at most {max} characters."),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Invalid::new(
            "invalid",
            "Control characters are not allowed.",
        ));
    }
    *text = trimmed.to_owned();
    Ok(())
}

/// Like [`required`], but blank means absent.
fn optional(text: &mut Option<String>, max: usize) -> Result<(), Invalid> {
    if text.as_deref().is_some_and(|text| text.trim().is_empty()) {
        *text = None;
    }
    text.as_mut().map_or(Ok(()), |text| required(text, max))
}

/// Letters, digits, spaces and hyphens, as postal codes are written worldwide.
fn postal_code(code: &mut String) -> Result<(), Invalid> {
    required(code, MAX_POSTAL_CODE_CHARS)?;
    if code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
    {
        Ok(())
    } else {
        Err(Invalid::new(
            "invalid",
            "Use letters, digits, spaces and hyphens only.",
        ))
    }
}

/// An ISO 3166-1 alpha-2 code: two letters, kept uppercase.
fn country(code: &mut String) -> Result<(), Invalid> {
    let upper = code.trim().to_ascii_uppercase();
    if upper.len() == 2 && upper.bytes().all(|b| b.is_ascii_uppercase()) {
        *code = upper;
        Ok(())
    } else {
        Err(Invalid::new(
            "invalid",
            "Use the two-letter country code, such as DE or US.",
        ))
    }
}

/// Digits with the usual separators and an optional leading `+`.
fn phone(number: &mut Option<String>) -> Result<(), Invalid> {
    optional(number, MAX_PHONE_CHARS)?;
    let Some(number) = number else {
        return Ok(());
    };
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let allowed = number.char_indices().all(|(i, c)| {
        c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.') || (c == '+' && i == 0)
    });
    if allowed && PHONE_DIGITS.contains(&digits) {
        Ok(())
    } else {
        Err(Invalid::new(
            "invalid",
            "Use a phone number such as +49 30 1234567.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn input() -> PostalAddress {
        PostalAddress {
            recipient: " Ada Lovelace ".to_owned(),
            line1: "12 St James's Square".to_owned(),
            line2: Some("  ".to_owned()),
            city: "London".to_owned(),
            postal_code: "SW1Y 4JH".to_owned(),
            region: None,
            country: "gb".to_owned(),
            phone: Some("+44 20 7946 0958".to_owned()),
        }
    }

    fn fields(error: &AddressError) -> Vec<String> {
        error
            .field_errors("")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn normalises_a_valid_address() {
        let address = Address::parse(input()).expect("valid");
        assert_eq!(address.recipient(), "Ada Lovelace");
        assert_eq!(address.line2(), None, "blank means absent");
        assert_eq!(address.country(), "GB");
        assert_eq!(address.phone(), Some("+44 20 7946 0958"));
        assert_eq!(
            (address.line1(), address.city(), address.postal_code()),
            ("12 St James's Square", "London", "SW1Y 4JH")
        );
        assert_eq!(address.region(), None);
    }

    #[test]
    fn round_trips_and_rejects_unknown_fields() {
        let body = json!({
            "recipient": "Ada Lovelace",
            "line1": "12 St James's Square",
            "city": "London",
            "postal_code": "SW1Y 4JH",
            "country": "GB"
        });
        let address: PostalAddress = serde_json::from_value(body.clone()).expect("deserialize");
        assert_eq!(address.line2, None);
        assert_eq!(serde_json::to_value(&address).expect("serialize"), body);
        let mut typo = body;
        typo["zip"] = json!("SW1Y");
        assert!(serde_json::from_value::<PostalAddress>(typo).is_err());
    }

    #[test]
    fn names_every_invalid_field_in_order() {
        let bad = PostalAddress {
            recipient: " ".to_owned(),
            line1: "x".repeat(201),
            line2: Some("\u{7}".to_owned()),
            city: "Berlin".to_owned(),
            postal_code: "10115; DROP".to_owned(),
            region: Some("r".repeat(101)),
            country: "Germany".to_owned(),
            phone: Some("call me".to_owned()),
        };
        let error = Address::parse(bad).expect_err("invalid");
        assert_eq!(
            fields(&error),
            [
                "recipient",
                "line1",
                "line2",
                "postal_code",
                "region",
                "country",
                "phone"
            ]
        );
        let codes: Vec<_> = error.field_errors("").into_iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [
                "required", "too_long", "invalid", "invalid", "too_long", "invalid", "invalid"
            ]
        );
        let nested = error.field_errors("shipping_address.");
        assert_eq!(nested[0].field, "shipping_address.recipient");
        assert!(
            error
                .to_string()
                .starts_with("recipient: This field is required.; line1: "),
            "{error}"
        );
    }

    #[test]
    fn country_codes_are_two_letters_in_any_case() {
        let country_of = |raw: &str| {
            let mut code = raw.to_owned();
            country(&mut code).map(|()| code).ok()
        };
        for (raw, code) in [(" de ", "DE"), ("de", "DE"), ("DE", "DE"), ("uS", "US")] {
            assert_eq!(country_of(raw).as_deref(), Some(code), "{raw:?}");
        }
        for bad in ["D", "DEU", "D1", "ÄÖ", "", "d e"] {
            assert_eq!(country_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn recipients_have_at_most_100_characters() {
        for (chars, valid) in [
            (1, true),
            (100, true),
            (101, false),
            (200, false),
            (201, false),
        ] {
            let mut address = input();
            address.recipient = "é".repeat(chars);
            assert_eq!(Address::parse(address).is_ok(), valid, "{chars}");
        }
    }

    #[test]
    fn field_lengths_are_counted_in_characters() {
        type Set = fn(&mut PostalAddress, String);
        let cases: [(Set, usize); 5] = [
            (|a, v| a.line1 = v, MAX_LINE_CHARS),
            (|a, v| a.line2 = Some(v), MAX_LINE_CHARS),
            (|a, v| a.city = v, MAX_NAME_CHARS),
            (|a, v| a.region = Some(v), MAX_NAME_CHARS),
            (|a, v| a.postal_code = v, MAX_POSTAL_CODE_CHARS),
        ];
        for (set, max) in cases {
            let mut at_most = input();
            set(&mut at_most, "1".repeat(max));
            assert!(Address::parse(at_most).is_ok(), "{max}");
            let mut over = input();
            set(&mut over, "1".repeat(max + 1));
            assert!(Address::parse(over).is_err(), "{max}");
        }
    }

    #[test]
    fn phone_numbers_are_5_to_15_digits_with_separators() {
        let phone_of = |raw: Option<&str>| {
            let mut number = raw.map(str::to_owned);
            phone(&mut number).map(|()| number).ok()
        };
        assert_eq!(phone_of(None), Some(None));
        assert_eq!(phone_of(Some(" ")), Some(None));
        assert_eq!(phone_of(Some(" 12345 ")), Some(Some("12345".to_owned())));
        for good in ["(030) 123-4567", "12345", "+123456789012345", "030.123 45"] {
            assert!(phone_of(Some(good)).is_some(), "{good:?}");
        }
        for bad in [
            "12",
            "1234",
            "+",
            "1+234567",
            "555-CALL-NOW",
            "1234567890123456",
            &"1".repeat(21),
            &format!("1{}2345", " ".repeat(MAX_PHONE_CHARS)),
        ] {
            assert_eq!(phone_of(Some(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn json_is_a_new_address_and_reading_it_parses() {
        let body = json!({
            "recipient": " Ada ", "line1": "1 Main St", "line2": "", "city": "Springfield",
            "postal_code": "12345", "country": "us"
        });
        let address: Address = serde_json::from_value(body).expect("valid");
        assert_eq!(
            serde_json::to_value(&address).expect("serialize"),
            json!({
                "recipient": "Ada", "line1": "1 Main St", "city": "Springfield",
                "postal_code": "12345", "country": "US"
            })
        );
        let bad = json!({
            "recipient": "Ada", "line1": "1 Main St", "city": "Springfield",
            "postal_code": "12345", "country": "USA"
        });
        let error = serde_json::from_value::<Address>(bad).expect_err("invalid");
        assert!(error.to_string().starts_with("country: "), "{error}");
        let typo = json!({
            "recipient": "Ada", "line1": "1 Main St", "city": "Springfield",
            "postal_code": "12345", "country": "US", "zip": "1"
        });
        assert!(serde_json::from_value::<Address>(typo).is_err());
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ a-zA-Z0-9'-]{0,12}",
            ".{0,8}",
            (0usize..=210).prop_map(|n| "a".repeat(n)),
        ]
    }

    fn new_address() -> impl Strategy<Value = PostalAddress> {
        (
            (text(), text(), proptest::option::of(text()), text()),
            (
                prop_oneof![text(), "[A-Z0-9 -]{1,18}"],
                proptest::option::of(text()),
                prop_oneof![text(), " ?[a-zA-Z]{2} ?"],
                proptest::option::of(prop_oneof![text(), "\\+?[0-9 ().-]{3,20}"]),
            ),
        )
            .prop_map(
                |((recipient, line1, line2, city), (postal_code, region, country, phone))| {
                    PostalAddress {
                        recipient,
                        line1,
                        line2,
                        city,
                        postal_code,
                        region,
                        country,
                        phone,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_a_parsed_address_parses_to_itself(input in new_address()) {
            if let Ok(address) = Address::parse(input.clone()) {
                let again = Address::parse(PostalAddress::from(address.clone()));
                prop_assert_eq!(again.as_ref(), Ok(&address));
                prop_assert_eq!(address.recipient(), address.recipient().trim());
                prop_assert!(address.recipient().chars().count() <= MAX_NAME_CHARS);
                prop_assert!(address.country().bytes().all(|b| b.is_ascii_uppercase()));
                prop_assert!(address.line2().is_none_or(|line| !line.trim().is_empty()));
            }
        }

        #[test]
        fn reading_json_is_parsing(input in new_address()) {
            let json = serde_json::to_value(&input).expect("serialize");
            let read = serde_json::from_value::<Address>(json).map_err(|e| e.to_string());
            let parsed = Address::parse(input).map_err(|e| e.to_string());
            prop_assert_eq!(read, parsed);
        }

        #[test]
        fn an_error_names_exactly_the_fields_that_fail_alone(input in new_address()) {
            let valid = PostalAddress::from(Address::parse(self::input()).expect("valid"));
            let named = Address::parse(input.clone()).err().map(|e| fields(&e)).unwrap_or_default();
            let alone = |set: &dyn Fn(&mut PostalAddress)| {
                let mut one = valid.clone();
                set(&mut one);
                Address::parse(one).is_err()
            };
            let failing: Vec<&str> = [
                ("recipient", alone(&|a| a.recipient.clone_from(&input.recipient))),
                ("line1", alone(&|a| a.line1.clone_from(&input.line1))),
                ("line2", alone(&|a| a.line2.clone_from(&input.line2))),
                ("city", alone(&|a| a.city.clone_from(&input.city))),
                ("postal_code", alone(&|a| a.postal_code.clone_from(&input.postal_code))),
                ("region", alone(&|a| a.region.clone_from(&input.region))),
                ("country", alone(&|a| a.country.clone_from(&input.country))),
                ("phone", alone(&|a| a.phone.clone_from(&input.phone))),
            ]
            .into_iter()
            .filter_map(|(field, fails)| fails.then_some(field))
            .collect();
            prop_assert_eq!(named, failing);
        }
    }
}
