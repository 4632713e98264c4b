//! Request extractors whose rejections are problems naming the field at fault.
//!
//! axum's own `Json`, `Query` and `Path` reject with plain text. These wrap the same parsing
//! with `serde_path_to_error`, so a client sent `422` with `errors[0].field = "card.number"`
//! rather than a sentence to parse. The messages never repeat the value that was sent: serde's
//! own ("invalid type: integer `4242424242424242`, expected a string") would put a card number,
//! sent as a number by mistake, into an answer and into every log and proxy that keeps it.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, field_error};

/// A JSON body (request) or a JSON response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime_type::Essence>().ok())
            .is_some_and(|essence| essence.is_json());
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection: BytesRejection| {
                    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::PayloadTooLarge
                    } else {
                        ApiError::bad_request(rejection.body_text())
                    }
                })?;
        parse_json(&bytes).map(Json)
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Parses a JSON document, naming the field at fault when it does not fit `T`.
///
/// Every request body of the API is a JSON object. serde reads a struct from an array as well
/// (its fields in order: `[null, null]` is a valid `UpdateProfile`), so an array is refused
/// here, before it can slip past the field names the schema promises.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.trim_ascii_start().starts_with(b"[") {
        return Err(ApiError::invalid(
            "body",
            "type",
            "must be a JSON object, not an array",
        ));
    }
    if let Some(field) = nul_in_json(bytes) {
        return Err(ApiError::invalid(&field, "invalid", NUL_MESSAGE));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = without_position(&inner.to_string());
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = field_path(&path, &message);
                ApiError::Validation(vec![field_error(
                    &field,
                    "invalid",
                    without_value(&message),
                )])
            }
            _ => ApiError::bad_request(format!("The body is not valid JSON: {message}")),
        }
    })
}

/// A query string parsed into `T`; a bad parameter is a 400 naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((name, _)) = form_urlencoded::parse(query.as_bytes())
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        {
            return Err(ApiError::BadRequest {
                detail: format!("The query parameter `{name}` is invalid: {NUL_MESSAGE}"),
                errors: vec![field_error(&name, "invalid", NUL_MESSAGE)],
            });
        }
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().to_string();
                let field = field_path(&path, &message);
                ApiError::BadRequest {
                    detail: format!("The query parameter `{field}` is invalid: {message}"),
                    errors: vec![field_error(&field, "invalid", message)],
                }
            })
    }
}

/// Path parameters; a malformed one (an id that is not a UUID) is a 400 naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection| match rejection {
                PathRejection::FailedToDeserializePathParams(error) => {
                    let kind = error.into_kind();
                    let field = match &kind {
                        axum::extract::path::ErrorKind::ParseErrorAtKey { key, .. }
                        | axum::extract::path::ErrorKind::InvalidUtf8InPathParam { key } => {
                            key.clone()
                        }
                        _ => "path".to_owned(),
                    };
                    ApiError::BadRequest {
                        detail: format!("The path parameter `{field}` is invalid."),
                        errors: vec![field_error(&field, "invalid", kind.to_string())],
                    }
                }
                other => ApiError::Internal(anyhow::anyhow!("path extraction: {other}")),
            })
    }
}

/// Text with a NUL character cannot be stored (PostgreSQL's text types refuse it) and no client has
/// a reason to send one: it is refused at the edge of every service instead of failing a query.
const NUL_MESSAGE: &str = "must not contain a NUL character";

/// The path of a string (or object key) holding a NUL character, if the document has one. JSON
/// can only spell NUL as the escape `\u0000`, so documents without that text (nearly every one)
/// are not parsed a second time.
fn nul_in_json(bytes: &[u8]) -> Option<String> {
    let spelled = bytes
        .windows(6)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && w[2..].iter().all(|&b| b == b'0'));
    if !spelled {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    nul_path(&value, "")
}

fn nul_path(value: &serde_json::Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(text) if text.contains('\0') => Some(if path.is_empty() {
            "body".to_owned()
        } else {
            path.to_owned()
        }),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &join(&i.to_string()))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(join(&key.replace('\0', "")))
            } else {
                nul_path(item, &join(key))
            }
        }),
        _ => None,
    }
}

/// Joins the deserializer's path with the field named in a missing/unknown field message.
fn field_path(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let base = if path == "." { "" } else { path };
    match (base, named) {
        ("", Some(name)) => name.to_owned(),
        (base, Some(name)) if !base.ends_with(name) => format!("{base}.{name}"),
        ("", None) => "body".to_owned(),
        (base, _) => base.to_owned(),
    }
}

/// serde's data errors name what they found, value included ("invalid type: string \"4242\",
/// expected u8", "unknown variant `visa`, expected one of ..."): only the kind of mismatch and
/// what was expected are kept. Messages without a found part (missing or unknown fields, which
/// name fields, not values) are kept whole.
fn without_value(message: &str) -> String {
    let Some((found, expected)) = message.split_once(", expected ") else {
        return message.to_owned();
    };
    let kind = found
        .split([':', '`', '"'])
        .next()
        .unwrap_or_default()
        .trim_end_matches(|c: char| c.is_ascii_digit() || c.is_whitespace());
    format!("{kind}: expected {expected}")
}

/// serde_json appends " at line L column C", which means nothing to an API client.
fn without_position(message: &str) -> String {
    message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at])
        .to_owned()
}

/// Media type parsing without a dependency for one comparison.
mod mime_type {
    /// The `type/subtype` of a `Content-Type`, lowercased, parameters dropped.
    pub(super) struct Essence(String);

    impl Essence {
        /// `application/json` or any `+json` type such as `application/merge-patch+json`.
        pub(super) fn is_json(&self) -> bool {
            self.0 == "application/json" || self.0.ends_with("+json")
        }
    }

    impl std::str::FromStr for Essence {
        type Err = ();

        fn from_str(value: &str) -> Result<Self, ()> {
            let essence = value.split(';').next().unwrap_or_default().trim();
            if essence.contains('/') {
                Ok(Self(essence.to_ascii_lowercase()))
            } else {
                Err(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Card {
        number: String,
        exp_month: u8,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Checkout {
        address_id: String,
        card: Card,
    }

    fn field_of(result: Result<Checkout, ApiError>) -> String {
        match result {
            Err(ApiError::Validation(errors)) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_nul_character_anywhere_in_a_body_is_refused_naming_its_field() {
        let result: Result<Checkout, _> =
            parse_json(br#"{"address_id":"a","card":{"number":"42\u00004","exp_month":1}}"#);
        assert_eq!(field_of(result), "card.number");
        let result: Result<Checkout, _> =
            parse_json(br#"{"address_id":"a\u0000","card":{"number":"4","exp_month":1}}"#);
        assert_eq!(field_of(result), "address_id");
        // An escaped backslash followed by the text u0000 is no NUL.
        let text: Result<Card, _> = parse_json(br#"{"number":"\\u0000","exp_month":1}"#);
        assert_eq!(text.expect("valid").number, "\\u0000");
    }

    #[tokio::test]
    async fn a_nul_character_in_a_query_parameter_is_refused_naming_it() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Search {
            q: Option<String>,
            category: Option<String>,
        }
        let (mut parts, ()) = axum::http::Request::get("/products?q=ok&category=a%00b")
            .body(())
            .expect("request")
            .into_parts();
        match Query::<Search>::from_request_parts(&mut parts, &()).await {
            Err(ApiError::BadRequest { errors, .. }) => assert_eq!(errors[0].field, "category"),
            other => panic!("expected a 400 naming category, got {other:?}"),
        }
    }

    #[test]
    fn missing_top_level_field_is_named() {
        assert_eq!(
            field_of(parse_json(br#"{"card":{"number":"4242","exp_month":1}}"#)),
            "address_id"
        );
    }

    #[test]
    fn missing_nested_field_is_named_with_its_path() {
        assert_eq!(
            field_of(parse_json(br#"{"address_id":"a","card":{"exp_month":1}}"#)),
            "card.number"
        );
    }

    #[test]
    fn wrong_type_is_named() {
        assert_eq!(
            field_of(parse_json(
                br#"{"address_id":"a","card":{"number":"4","exp_month":"May"}}"#
            )),
            "card.exp_month"
        );
    }

    #[test]
    fn unknown_field_is_named() {
        assert_eq!(
            field_of(parse_json(
                br#"{"address_id":"a","card":{"number":"4","exp_month":1},"coupon":1}"#
            )),
            "coupon"
        );
    }

    fn message_of(result: Result<Checkout, ApiError>) -> String {
        match result {
            Err(ApiError::Validation(errors)) => errors[0].message.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_card_number_sent_in_the_wrong_shape_is_never_echoed() {
        for (body, field, expected) in [
            (
                r#"{"address_id":"a","card":{"number":4242424242424242,"exp_month":1}}"#,
                "card.number",
                "invalid type: expected a string",
            ),
            (
                r#"{"address_id":"a","card":{"number":["4242424242424242"],"exp_month":1}}"#,
                "card.number",
                "invalid type: expected a string",
            ),
            (
                r#"{"address_id":"a","card":{"number":"4","exp_month":4242424242424242}}"#,
                "card.exp_month",
                "invalid value: expected u8",
            ),
            (
                r#"{"address_id":"a","card":{"number":"4","exp_month":"4242424242424242"}}"#,
                "card.exp_month",
                "invalid type: expected u8",
            ),
        ] {
            let result = parse_json::<Checkout>(body.as_bytes());
            let rendered = format!("{:?}", result.as_ref().err());
            assert!(!rendered.contains("4242424242424242"), "{rendered}");
            assert_eq!(field_of(parse_json(body.as_bytes())), field);
            assert_eq!(message_of(result), expected);
        }
    }

    #[test]
    fn messages_keep_what_was_expected_and_drop_what_was_found() {
        assert_eq!(
            without_value("unknown variant `visa`, expected `card` or `cash`"),
            "unknown variant: expected `card` or `cash`"
        );
        assert_eq!(
            without_value("invalid length 3, expected an array of 2"),
            "invalid length: expected an array of 2"
        );
        assert_eq!(
            without_value("missing field `number`"),
            "missing field `number`"
        );
    }

    #[test]
    fn a_body_sent_as_an_array_is_refused_not_read_field_by_field() {
        for body in [
            &br#"["a", {"number": "4", "exp_month": 1}]"#[..],
            b"  [null, null]",
            b"[]",
        ] {
            assert_eq!(field_of(parse_json(body)), "body", "{body:?}");
        }
    }

    #[test]
    fn malformed_json_is_a_bad_request_without_positions() {
        match parse_json::<Checkout>(b"{\"address_id\": ") {
            Err(ApiError::BadRequest { detail, .. }) => {
                assert!(!detail.contains("line"), "{detail}")
            }
            other => panic!("expected bad request, got {other:?}"),
        }
    }

    #[test]
    fn json_media_types() {
        let parse = |v: &str| v.parse::<mime_type::Essence>().map(|e| e.is_json());
        assert_eq!(parse("application/json; charset=utf-8"), Ok(true));
        assert_eq!(parse("Application/JSON"), Ok(true));
        assert_eq!(parse("application/merge-patch+json"), Ok(true));
        assert_eq!(parse("text/plain"), Ok(false));
        assert!(parse("json").is_err());
    }
}
