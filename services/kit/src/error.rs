//! The one error model: every failure a handler returns becomes an RFC 9457 problem.
//!
//! Handlers return `Result<_, ApiError>`. Client errors carry a stable problem `type` and, for
//! validation, the fields at fault. Internal errors are logged with their cause and answered with
//! a body that says nothing about it, so stack details never leak to clients.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use contracts::problem::{FieldError, PROBLEM_JSON, Problem, problem_types};

/// The `Retry-After` of a 503: a dependency that went away is usually back (a restarted pod, a
/// failed-over database) or known to be down (an open circuit breaker) within seconds, and a
/// client that waits this long before retrying, with the same `Idempotency-Key` for a
/// checkout, neither hammers the shop while it recovers nor waits long once it has.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// An error a request handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is well-formed but some fields are invalid (422).
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// The request cannot be understood: malformed JSON, bad query or path (400).
    #[error("bad request: {detail}")]
    BadRequest {
        /// What is wrong.
        detail: String,
        /// The fields at fault, when known.
        errors: Vec<FieldError>,
    },
    /// No or invalid credentials (401).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Authenticated but not allowed (403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The resource does not exist (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request conflicts with the current state (409).
    #[error("conflict: {detail}")]
    Conflict {
        /// What conflicts.
        detail: String,
        /// The fields at fault, when known.
        errors: Vec<FieldError>,
    },
    /// A conditional write lost a race: `If-Match` or version no longer current (412).
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// The body is larger than the configured limit (413).
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body is not `application/json` (415).
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The client exceeded its rate limit (429).
    #[error("rate limited")]
    TooManyRequests {
        /// Seconds until a retry may succeed.
        retry_after: Option<u64>,
    },
    /// A dependency (database, cache, broker, upstream service) is unreachable (503).
    #[error("{dependency} is unavailable")]
    Unavailable {
        /// The dependency, named for operators and clients alike.
        dependency: String,
    },
    /// The request took longer than the server allows (503: a retry may be luckier).
    #[error("request timed out after {0:?}")]
    TimedOut(std::time::Duration),
    /// A domain outcome with its own problem type, such as a declined payment (402).
    #[error("{}: {}", .0.status, .0.title)]
    Domain(Box<Problem>),
    /// Anything unexpected (500). The cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 422 naming one field.
    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![field_error(field, code, message)])
    }

    /// A 400 with a detail.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest {
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A 409 with a detail.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// A 503 naming the dependency that is down.
    pub fn unavailable(dependency: impl Into<String>) -> Self {
        Self::Unavailable {
            dependency: dependency.into(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } | Self::TimedOut(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Domain(problem) => {
                StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document sent to the client.
    pub fn to_problem(&self) -> Problem {
        let status = self.status().as_u16();
        let (type_, title, detail, errors) = match self {
            Self::Validation(errors) => (
                problem_types::VALIDATION,
                "Validation failed",
                Some("One or more fields are invalid.".to_owned()),
                errors.clone(),
            ),
            Self::BadRequest { detail, errors } => (
                problem_types::BAD_REQUEST,
                "Bad request",
                Some(detail.clone()),
                errors.clone(),
            ),
            Self::Unauthorized(detail) => (
                problem_types::UNAUTHORIZED,
                "Unauthorized",
                Some(detail.clone()),
                Vec::new(),
            ),
            Self::Forbidden(detail) => (
                problem_types::FORBIDDEN,
                "Forbidden",
                Some(detail.clone()),
                Vec::new(),
            ),
            Self::NotFound(detail) => (
                problem_types::NOT_FOUND,
                "Not found",
                Some(detail.clone()),
                Vec::new(),
            ),
            Self::Conflict { detail, errors } => (
                problem_types::CONFLICT,
                "Conflict",
                Some(detail.clone()),
                errors.clone(),
            ),
            Self::PreconditionFailed(detail) => (
                problem_types::PRECONDITION_FAILED,
                "Precondition failed",
                Some(detail.clone()),
                Vec::new(),
            ),
            Self::PayloadTooLarge => (
                problem_types::PAYLOAD_TOO_LARGE,
                "Payload too large",
                Some("The request body exceeds the size limit.".to_owned()),
                Vec::new(),
            ),
            Self::UnsupportedMediaType => (
                problem_types::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                Some("Send the body as application/json.".to_owned()),
                Vec::new(),
            ),
            Self::TooManyRequests { .. } => (
                problem_types::RATE_LIMITED,
                "Too many requests",
                Some("Slow down and retry later.".to_owned()),
                Vec::new(),
            ),
            Self::Unavailable { dependency } => (
                problem_types::UNAVAILABLE,
                "Service unavailable",
                Some(format!("{dependency} is unavailable; retry later.")),
                Vec::new(),
            ),
            Self::TimedOut(after) => (
                problem_types::UNAVAILABLE,
                "Request timed out",
                Some(format!(
                    "The request did not finish within {} s; retry later.",
                    after.as_secs_f64()
                )),
                Vec::new(),
            ),
            Self::Domain(problem) => return (**problem).clone(),
            Self::Internal(_) => (
                problem_types::INTERNAL,
                "Internal server error",
                None,
                Vec::new(),
            ),
        };
        let problem = Problem::new(type_, title, status).with_errors(errors);
        match detail {
            Some(detail) => problem.with_detail(detail),
            None => problem,
        }
    }
}

/// Builds a [`FieldError`].
pub fn field_error(field: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        code: code.to_owned(),
        message: message.into(),
    }
}

/// Renders a problem document with its media type.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(problem)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            Self::Unavailable { dependency } => {
                tracing::warn!(%dependency, "dependency unavailable");
            }
            Self::TimedOut(after) => tracing::warn!(?after, "request timed out"),
            _ => {}
        }
        let mut response = problem_response(&self.to_problem());
        let retry_after = match self {
            Self::TooManyRequests { retry_after } => retry_after,
            Self::Unavailable { .. } | Self::TimedOut(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    /// Connection-level failures mean Postgres is down (503); a missing row is a 404; the rest is
    /// internal. Constraint violations the caller expects are mapped at the query with
    /// [`ResultExt::on_constraint`].
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::RowNotFound => Self::NotFound("The resource does not exist.".to_owned()),
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => Self::unavailable("postgres"),
            other => Self::Internal(other.into()),
        }
    }
}

/// Maps a database constraint violation to a client error right at the query.
pub trait ResultExt<T> {
    /// When the error is a violation of `constraint`, replaces it with `map(..)`.
    fn on_constraint(
        self,
        constraint: &str,
        map: impl FnOnce(&dyn sqlx::error::DatabaseError) -> ApiError,
    ) -> Result<T, ApiError>;
}

impl<T, E: Into<ApiError>> ResultExt<T> for Result<T, E> {
    fn on_constraint(
        self,
        constraint: &str,
        map: impl FnOnce(&dyn sqlx::error::DatabaseError) -> ApiError,
    ) -> Result<T, ApiError> {
        self.map_err(|e| match e.into() {
            ApiError::Internal(cause) => match cause.downcast_ref::<sqlx::Error>() {
                Some(sqlx::Error::Database(db)) if db.constraint() == Some(constraint) => {
                    map(db.as_ref())
                }
                _ => ApiError::Internal(cause),
            },
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn problem_of(error: ApiError) -> (StatusCode, String, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            content_type,
            serde_json::from_slice(&body).expect("json body"),
        )
    }

    #[tokio::test]
    async fn each_kind_renders_its_status_and_type() {
        let cases = [
            (
                ApiError::invalid("email", "format", "not an email"),
                422,
                problem_types::VALIDATION,
            ),
            (
                ApiError::bad_request("bad json"),
                400,
                problem_types::BAD_REQUEST,
            ),
            (
                ApiError::Unauthorized("no token".into()),
                401,
                problem_types::UNAUTHORIZED,
            ),
            (
                ApiError::Forbidden("admins only".into()),
                403,
                problem_types::FORBIDDEN,
            ),
            (
                ApiError::NotFound("no such product".into()),
                404,
                problem_types::NOT_FOUND,
            ),
            (ApiError::conflict("taken"), 409, problem_types::CONFLICT),
            (
                ApiError::PreconditionFailed("stale".into()),
                412,
                problem_types::PRECONDITION_FAILED,
            ),
            (
                ApiError::PayloadTooLarge,
                413,
                problem_types::PAYLOAD_TOO_LARGE,
            ),
            (
                ApiError::UnsupportedMediaType,
                415,
                problem_types::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                ApiError::TooManyRequests {
                    retry_after: Some(3),
                },
                429,
                problem_types::RATE_LIMITED,
            ),
            (
                ApiError::unavailable("postgres"),
                503,
                problem_types::UNAVAILABLE,
            ),
            (
                ApiError::TimedOut(std::time::Duration::from_secs(2)),
                503,
                problem_types::UNAVAILABLE,
            ),
            (
                ApiError::Internal(anyhow::anyhow!("boom")),
                500,
                problem_types::INTERNAL,
            ),
        ];
        for (error, status, type_) in cases {
            let (got_status, content_type, body) = problem_of(error).await;
            assert_eq!(got_status.as_u16(), status);
            assert_eq!(content_type, PROBLEM_JSON);
            assert_eq!(body["type"], type_);
            assert_eq!(body["status"], status);
            assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
        }
    }

    #[tokio::test]
    async fn validation_names_the_fields() {
        let error = ApiError::Validation(vec![
            field_error("email", "format", "must be an email address"),
            field_error("password", "too_short", "must be at least 10 characters"),
        ]);
        let (_, _, body) = problem_of(error).await;
        assert_eq!(body["errors"][0]["field"], "email");
        assert_eq!(body["errors"][1]["field"], "password");
        assert_eq!(body["errors"][1]["code"], "too_short");
    }

    #[tokio::test]
    async fn unavailable_names_the_dependency() {
        let (_, _, body) = problem_of(ApiError::unavailable("postgres")).await;
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("postgres"))
        );
    }

    /// Found by ci/faults: every 503 a dependency outage caused came without `Retry-After`, so
    /// clients had nothing to pace their retries by.
    #[tokio::test]
    async fn unavailable_and_timed_out_say_when_to_retry() {
        for error in [
            ApiError::unavailable("product service"),
            ApiError::TimedOut(std::time::Duration::from_secs(10)),
        ] {
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                response.headers()[header::RETRY_AFTER],
                UNAVAILABLE_RETRY_AFTER_SECS.to_string().as_str()
            );
        }
        let response = ApiError::conflict("taken").into_response();
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }

    #[tokio::test]
    async fn rate_limited_sets_retry_after() {
        let response = ApiError::TooManyRequests {
            retry_after: Some(7),
        }
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }

    #[tokio::test]
    async fn internal_cause_is_logged_not_sent() {
        let logs = crate::testing::CapturedLogs::default();
        let error = ApiError::Internal(anyhow::anyhow!("secret table users_pkey exploded"));
        let (status, _, body) = {
            let _guard = tracing::subscriber::set_default(logs.subscriber());
            problem_of(error).await
        };
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("secret"), "{body}");
        assert!(logs.contents().contains("secret table users_pkey exploded"));
    }

    #[test]
    fn pool_timeouts_are_unavailable_and_missing_rows_not_found() {
        assert_eq!(
            ApiError::from(sqlx::Error::PoolTimedOut).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from(sqlx::Error::RowNotFound).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn domain_problems_keep_their_own_type_and_status() {
        let problem = Problem::new(problem_types::PAYMENT_DECLINED, "Payment declined", 402)
            .with_detail("The card was declined.");
        let error = ApiError::Domain(Box::new(problem.clone()));
        assert_eq!(error.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(error.to_problem(), problem);
    }
}
