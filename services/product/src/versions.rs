//! Optimistic concurrency for what admins edit, products and categories alike: every write
//! counts a new version, answers carry it as the `ETag`, and a write based on an older one
//! answers 412 instead of overwriting a change its author never saw.
//!
//! A PATCH names the version it is based on in its body, so a client that forgets `If-Match`
//! still cannot overwrite blindly; `If-Match` is optional and checked when sent, which is what
//! a DELETE (no body) relies on.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kit::error::field_error;
use kit::{ApiError, ApiResult, Json};
use serde::Serialize;

/// Something admins edit under a version.
pub(crate) trait Versioned: Serialize {
    /// The current version.
    fn version(&self) -> i64;
}

/// The answer `body` with its version as the `ETag`, for `If-Match` on the next write.
pub(crate) fn with_etag<T: Versioned>(status: StatusCode, body: T) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", body.version()));
    let mut response = (status, Json(body)).into_response();
    if let Ok(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// The versions an `If-Match` header accepts: `None` for `*` (any), else the listed ones.
/// A malformed header is a 400 naming it, never silently ignored.
pub(crate) fn if_match(headers: &HeaderMap) -> ApiResult<Option<Vec<i64>>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let malformed = || ApiError::BadRequest {
        detail: "If-Match must list versions as quoted ETags, such as \"3\".".to_owned(),
        errors: vec![field_error(
            "If-Match",
            "invalid",
            "expected a quoted version such as \"3\"",
        )],
    };
    let value = value.to_str().map_err(|_| malformed())?.trim();
    if value == "*" {
        return Ok(None);
    }
    value
        .split(',')
        .map(|tag| {
            tag.trim()
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(malformed)
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

/// Refuses the write with a 412 unless the body's version (`expected`, for a PATCH) and the
/// `If-Match` versions (`matching`, when sent) both name `current`, the version of the `what`
/// as locked for the write.
pub(crate) fn check_current(
    what: &str,
    current: i64,
    expected: Option<i64>,
    matching: Option<&[i64]>,
) -> ApiResult<()> {
    let stale = expected.is_some_and(|expected| expected != current)
        || matching.is_some_and(|tags| !tags.contains(&current));
    if stale {
        return Err(ApiError::PreconditionFailed(format!(
            "The {what} changed since you read it: it is at version {current}. \
             Reload it and apply your change again."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(if_match: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_MATCH,
            HeaderValue::from_str(if_match).expect("header"),
        );
        headers
    }

    #[test]
    fn if_match_reads_quoted_versions_and_star() {
        assert_eq!(if_match(&HeaderMap::new()).expect("absent"), None);
        assert_eq!(if_match(&headers("*")).expect("star"), None);
        assert_eq!(if_match(&headers("\"3\"")).expect("one"), Some(vec![3]));
        assert_eq!(
            if_match(&headers("\"3\", \"4\"")).expect("two"),
            Some(vec![3, 4])
        );
        for bad in ["3", "W/\"3\"", "\"three\"", "\"3\",", ""] {
            match if_match(&headers(bad)) {
                Err(ApiError::BadRequest { errors, .. }) => assert_eq!(errors[0].field, "If-Match"),
                other => panic!("{bad:?}: expected a 400, got {other:?}"),
            }
        }
    }

    #[test]
    fn only_the_current_version_passes() {
        assert!(check_current("category", 3, Some(3), None).is_ok());
        assert!(check_current("category", 3, None, Some(&[2, 3])).is_ok());
        assert!(check_current("category", 3, None, None).is_ok());
        for (expected, matching) in [
            (Some(2), None),
            (Some(3), Some(&[2][..])),
            (None, Some(&[4][..])),
        ] {
            match check_current("category", 3, expected, matching) {
                Err(ApiError::PreconditionFailed(detail)) => {
                    assert!(
                        detail.contains("category") && detail.contains('3'),
                        "{detail}"
                    );
                }
                other => panic!("{expected:?} {matching:?}: expected a 412, got {other:?}"),
            }
        }
    }
}
