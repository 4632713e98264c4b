//! Errors on the wire: RFC 9457 problem details (`application/problem+json`).
//!
//! Every 4xx/5xx answer of every service is a [`Problem`] whose `type` is one of the stable
//! [`problem_types`], so clients branch on the type and show the `title`/`detail` to people.

use serde::{Deserialize, Serialize};

use crate::inventory::InsufficientStock;

/// The media type of a [`Problem`] body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The stable problem `type` URIs, as relative references resolved against the API's origin.
///
/// They are part of the public API: clients match on them, so they never change meaning.
pub mod problem_types {
    /// 400: the body or query could not be read at all (malformed JSON, unknown field).
    pub const BAD_REQUEST: &str = "/problems/bad-request";
    /// 422: the request was read but some fields are invalid; `errors` names them.
    pub const VALIDATION: &str = "/problems/validation";
    /// 401: no valid access token, or wrong credentials.
    pub const UNAUTHORIZED: &str = "/problems/unauthorized";
    /// 403: authenticated, but not allowed (e.g. not an admin).
    pub const FORBIDDEN: &str = "/problems/forbidden";
    /// 404: the resource does not exist (or is not visible to the caller).
    pub const NOT_FOUND: &str = "/problems/not-found";
    /// 409: the request conflicts with the current state (duplicate email, illegal status change).
    pub const CONFLICT: &str = "/problems/conflict";
    /// 412: an optimistic-concurrency check failed: the resource changed since it was read.
    pub const PRECONDITION_FAILED: &str = "/problems/precondition-failed";
    /// 405: the route exists but not for this method; `Allow` lists the ones it takes.
    pub const METHOD_NOT_ALLOWED: &str = "/problems/method-not-allowed";
    /// 413: the request body is larger than the service accepts.
    pub const PAYLOAD_TOO_LARGE: &str = "/problems/payload-too-large";
    /// 415: the body is not in a media type the endpoint reads (JSON endpoints want `application/json`).
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "/problems/unsupported-media-type";
    /// 429: too many requests; retry after the `Retry-After` header.
    pub const RATE_LIMITED: &str = "/problems/rate-limited";
    /// 503: a dependency is unavailable or the service is shutting down; safe to retry.
    pub const UNAVAILABLE: &str = "/problems/unavailable";
    /// 500: a bug or an unexpected failure; the detail is logged, not leaked.
    pub const INTERNAL: &str = "/problems/internal";
    /// 402: the payment provider declined the card.
    pub const PAYMENT_DECLINED: &str = "/problems/payment-declined";
    /// 409: not enough stock for some lines; `insufficient_stock` lists them.
    pub const INSUFFICIENT_STOCK: &str = "/problems/insufficient-stock";

    /// Every problem type above, for documentation and tests.
    pub const ALL: &[&str] = &[
        BAD_REQUEST,
        VALIDATION,
        UNAUTHORIZED,
        FORBIDDEN,
        NOT_FOUND,
        CONFLICT,
        PRECONDITION_FAILED,
        METHOD_NOT_ALLOWED,
        PAYLOAD_TOO_LARGE,
        UNSUPPORTED_MEDIA_TYPE,
        RATE_LIMITED,
        UNAVAILABLE,
        INTERNAL,
        PAYMENT_DECLINED,
        INSUFFICIENT_STOCK,
    ];
}

/// An RFC 9457 problem details object.
///
/// Readers ignore members they do not know, as the RFC asks, so services may add extension
/// members later without breaking clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{status} {title}")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A stable URI reference from [`problem_types`] that identifies the kind of problem.
    #[serde(rename = "type")]
    pub type_: String,
    /// A short, human-readable summary of the kind of problem; the same for every occurrence.
    pub title: String,
    /// The HTTP status code, repeated so the body stands on its own.
    pub status: u16,
    /// A human-readable explanation of this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A URI reference to this occurrence (e.g. the request path or a request id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The invalid fields of a validation problem, one entry per field and rule broken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension member of [`problem_types::INSUFFICIENT_STOCK`]: the lines that could not be
    /// reserved, so the client can tell the person what is left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insufficient_stock: Vec<InsufficientStock>,
}

impl Problem {
    /// A problem with just a type, a title and a status; add the rest with the `with_*` methods.
    pub fn new(type_: impl Into<String>, title: impl Into<String>, status: u16) -> Self {
        Self {
            type_: type_.into(),
            title: title.into(),
            status,
            detail: None,
            instance: None,
            errors: Vec::new(),
            insufficient_stock: Vec::new(),
        }
    }

    /// Sets the explanation of this occurrence.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the URI reference of this occurrence.
    #[must_use]
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Sets the invalid fields of a validation problem.
    #[must_use]
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Sets the lines that lacked stock, for an insufficient-stock problem.
    #[must_use]
    pub fn with_insufficient_stock(mut self, lines: Vec<InsufficientStock>) -> Self {
        self.insufficient_stock = lines;
        self
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field, as a JSON path from the body's root (`email`, `lines[2].quantity`) or a query
    /// parameter name.
    pub field: String,
    /// A stable, machine-readable code for the rule broken (`required`, `too_long`, `invalid`).
    pub code: String,
    /// A human-readable message for this field.
    pub message: String,
}

impl FieldError {
    /// An error on `field` with a stable `code` and a human `message`.
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn minimal_problem_has_only_type_title_status() {
        let problem = Problem::new(problem_types::NOT_FOUND, "Not Found", 404);
        assert_eq!(
            serde_json::to_value(&problem).expect("serialize"),
            json!({"type": "/problems/not-found", "title": "Not Found", "status": 404})
        );
        assert_eq!(problem.to_string(), "404 Not Found");
    }

    #[test]
    fn validation_problem_lists_fields() {
        let problem = Problem::new(problem_types::VALIDATION, "Invalid request", 422)
            .with_detail("2 fields are invalid")
            .with_instance("/api/v1/auth/register")
            .with_errors(vec![
                FieldError::new("email", "invalid", "is not an email address"),
                FieldError::new("password", "too_short", "needs at least 12 characters"),
            ]);
        let value = serde_json::to_value(&problem).expect("serialize");
        assert_eq!(
            value,
            json!({
                "type": "/problems/validation",
                "title": "Invalid request",
                "status": 422,
                "detail": "2 fields are invalid",
                "instance": "/api/v1/auth/register",
                "errors": [
                    {"field": "email", "code": "invalid", "message": "is not an email address"},
                    {"field": "password", "code": "too_short", "message": "needs at least 12 characters"}
                ]
            })
        );
        assert_eq!(
            serde_json::from_value::<Problem>(value).expect("deserialize"),
            problem
        );
    }

    #[test]
    fn insufficient_stock_problem_carries_the_short_lines() {
        let product_id = Uuid::from_u128(7);
        let problem = Problem::new(problem_types::INSUFFICIENT_STOCK, "Insufficient stock", 409)
            .with_insufficient_stock(vec![InsufficientStock {
                product_id,
                requested: 3,
                available: 1,
            }]);
        let value = serde_json::to_value(&problem).expect("serialize");
        assert_eq!(
            value["insufficient_stock"],
            json!([{"product_id": product_id, "requested": 3, "available": 1}])
        );
        assert_eq!(
            serde_json::from_value::<Problem>(value).expect("deserialize"),
            problem
        );
    }

    #[test]
    fn readers_ignore_unknown_extension_members() {
        let problem: Problem = serde_json::from_value(json!({
            "type": "/problems/rate-limited",
            "title": "Too Many Requests",
            "status": 429,
            "retry_after": 3
        }))
        .expect("extensions are allowed");
        assert_eq!(problem.type_, problem_types::RATE_LIMITED);
        assert!(problem.errors.is_empty());
    }

    #[test]
    fn problem_types_are_unique_relative_refs() {
        let unique: BTreeSet<_> = problem_types::ALL.iter().collect();
        assert_eq!(unique.len(), problem_types::ALL.len());
        for type_ in problem_types::ALL {
            let slug = type_.strip_prefix("/problems/").expect("under /problems/");
            assert!(
                !slug.is_empty() && slug.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{type_}"
            );
        }
        assert_eq!(PROBLEM_JSON, "application/problem+json");
    }
}
