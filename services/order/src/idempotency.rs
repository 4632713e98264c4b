//! Idempotent POSTs: the same `Idempotency-Key` with the same request gets the same response.
//!
//! Keys belong to a user: `(user_id, key)` is the primary key of `idempotency_keys`. The first
//! request inserts the row (`INSERT ... ON CONFLICT DO NOTHING`) and so becomes the one that
//! does the work; the row then holds the request's fingerprint (a keyed hash,
//! [`FingerprintKey`]) and, once it finishes, its response (status, content type and body
//! bytes). A request that finds the row:
//!
//! - with another fingerprint: 422 naming `Idempotency-Key` (a key is for one request only);
//! - with a response: gets that response again, byte for byte;
//! - still without one (the first request is running): polls until the response is stored,
//!   at most `IDEMPOTENCY_WAIT_MS`, then answers 409 (retry later).
//!
//! Responses that say "try again" (5xx: a dependency was down) are not stored: the row is
//! deleted, so a retry with the same key does the work again. Keys expire 24 hours after they
//! were first used: after that the same key starts afresh. The sweeper deletes expired rows,
//! and rows whose request never finished (its process died) once they are older than
//! `PENDING_ORDER_TTL_SECS`.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use kit::error::field_error;
use kit::{ApiError, ApiResult};
use sha2::Sha256;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// The request header carrying the key.
pub const HEADER: &str = "Idempotency-Key";

/// How long a key is remembered.
pub const KEY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest key accepted.
const MAX_KEY_LEN: usize = 255;

/// Reads the key: 1 to 255 visible ASCII characters. Missing or malformed is a 400 naming it.
pub fn key_from(headers: &HeaderMap) -> ApiResult<String> {
    let bad = |detail: &str| ApiError::BadRequest {
        detail: detail.to_owned(),
        errors: vec![field_error(HEADER, "invalid", detail)],
    };
    let value = headers
        .get(HEADER)
        .ok_or_else(|| bad("The Idempotency-Key header is required: send a unique value (such as a UUID) per checkout, and the same value when you retry it."))?;
    let key = value
        .to_str()
        .map_err(|_| bad("The Idempotency-Key header must be visible ASCII."))?;
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            "The Idempotency-Key header must be 1 to 255 visible ASCII characters.",
        ));
    }
    Ok(key.to_owned())
}

/// The key request fingerprints are computed with: `IDEMPOTENCY_SECRET`.
///
/// A fingerprint covers the whole request, card number and CVC included, so that a retry that
/// changes any of them is refused rather than answered with another request's outcome. A plain
/// digest of that would give the card away: a card number has little entropy (a known prefix,
/// a check digit, and the last four are stored in the clear), and a CVC has at most four
/// digits, so trying every candidate against a SHA-256 is cheap. An HMAC-SHA256 under a
/// secret that only the service holds can only be recomputed with that secret, so the
/// stored value tells nothing about the card.
///
/// Every replica needs the same secret and it must survive restarts, or a retry that reaches
/// another process than the first request would no longer match its own fingerprint.
#[derive(Clone)]
pub struct FingerprintKey(Hmac<Sha256>);

impl FingerprintKey {
    /// The key `secret`; [`crate::config`] checks that it is long enough.
    pub fn new(secret: &[u8]) -> Self {
        Self(
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
                .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length")),
        )
    }

    /// The fingerprint of a request: HMAC-SHA256 of its canonical form, hex-encoded.
    pub fn fingerprint(&self, canonical: &[u8]) -> String {
        // The keyed state is cloned rather than rebuilt, so the key is not hashed again for
        // every request.
        let mut mac = self.0.clone();
        mac.update(canonical);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(<redacted>)")
    }
}

/// A response as stored and replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The status code.
    pub status: StatusCode,
    /// The `Content-Type`.
    pub content_type: String,
    /// The body, byte for byte.
    pub body: Vec<u8>,
}

impl StoredResponse {
    /// `value` as JSON under `content_type` (`application/json`, or a problem's type).
    pub fn json(
        status: StatusCode,
        content_type: &str,
        value: &impl serde::Serialize,
    ) -> ApiResult<Self> {
        Ok(Self {
            status,
            content_type: content_type.to_owned(),
            body: serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.into()))?,
        })
    }
}

impl IntoResponse for StoredResponse {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        if let Ok(value) = HeaderValue::from_str(&self.content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        response
    }
}

/// What a request holding a key does.
#[derive(Debug)]
pub enum Claim {
    /// It is the first: do the work, then [`complete`] or [`abandon`].
    First,
    /// The work was done: answer this.
    Replay(StoredResponse),
}

/// A key's row: the request it was claimed for and, once done, its response.
#[derive(Debug)]
struct KeyRow {
    request_hash: String,
    status_code: Option<i16>,
    content_type: Option<String>,
    response_body: Option<Vec<u8>>,
}

/// Claims `key` for a request with fingerprint `hash`, waiting at most `wait` for a request
/// with the same key that is still running.
pub async fn claim(
    pool: &PgPool,
    user_id: Uuid,
    key: &str,
    hash: &str,
    wait: Duration,
) -> ApiResult<Claim> {
    let deadline = Instant::now() + wait;
    let mut delay = Duration::from_millis(10);
    loop {
        // A key older than its TTL is taken over as if it were new.
        let claimed = sqlx::query!(
            "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, key) DO UPDATE
                 SET request_hash = EXCLUDED.request_hash, status_code = NULL,
                     content_type = NULL, response_body = NULL, created_at = now()
                 WHERE idempotency_keys.created_at < now() - make_interval(secs => $4)",
            user_id,
            key,
            hash,
            KEY_TTL.as_secs_f64(),
        )
        .execute(pool)
        .await?
        .rows_affected();
        if claimed == 1 {
            return Ok(Claim::First);
        }
        let row = sqlx::query_as!(
            KeyRow,
            "SELECT request_hash, status_code, content_type, response_body
             FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            user_id,
            key,
        )
        .fetch_optional(pool)
        .await?;
        match row {
            // The first request gave the key up (it failed with a 5xx): try to take it.
            None => continue,
            Some(row) if row.request_hash != hash => {
                return Err(ApiError::invalid(
                    HEADER,
                    "reused",
                    "this Idempotency-Key was already used for a different request; use a new key",
                ));
            }
            Some(KeyRow {
                status_code: Some(status),
                content_type,
                response_body: Some(body),
                ..
            }) => {
                let status = u16::try_from(status)
                    .ok()
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .ok_or_else(|| anyhow::anyhow!("stored status {status} is not HTTP"))?;
                return Ok(Claim::Replay(StoredResponse {
                    status,
                    content_type: content_type.unwrap_or_default(),
                    body,
                }));
            }
            Some(_) if Instant::now() >= deadline => {
                return Err(ApiError::Conflict {
                    detail:
                        "A request with this Idempotency-Key is still being processed; retry later."
                            .to_owned(),
                    errors: vec![field_error(HEADER, "in_progress", "still being processed")],
                });
            }
            Some(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(200));
            }
        }
    }
}

/// Stores the response of the request that claimed `key`, on the pool or in the transaction
/// whose work it answers (so that the work and its answer are kept together or not at all).
pub async fn complete<'e>(
    db: impl PgExecutor<'e>,
    user_id: Uuid,
    key: &str,
    response: &StoredResponse,
) -> anyhow::Result<()> {
    // Every HTTP status (100 to 999) fits the smallint column.
    let status = i16::try_from(response.status.as_u16())?;
    sqlx::query!(
        "UPDATE idempotency_keys SET status_code = $3, content_type = $4, response_body = $5
         WHERE user_id = $1 AND key = $2",
        user_id,
        key,
        status,
        &response.content_type,
        &response.body,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Gives `key` up without a response, so a retry with it does the work again.
pub async fn abandon(pool: &PgPool, user_id: Uuid, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status_code IS NULL",
        user_id,
        key,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes expired keys, and keys whose request did not finish within `stale`. Returns how
/// many rows went.
pub async fn purge(pool: &PgPool, stale: Duration) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query!(
        "DELETE FROM idempotency_keys
         WHERE created_at < now() - make_interval(secs => $1)
            OR (status_code IS NULL AND created_at < now() - make_interval(secs => $2))",
        KEY_TTL.as_secs_f64(),
        stale.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(value).expect("header value"));
        headers
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert_eq!(
            key_from(&headers("3f1c-abc_DEF.9")).expect("valid"),
            "3f1c-abc_DEF.9"
        );
        for bad in ["", "has space", &"k".repeat(256)] {
            let error = key_from(&headers(bad)).expect_err(bad);
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        }
        match key_from(&HeaderMap::new()) {
            Err(ApiError::BadRequest { errors, .. }) => assert_eq!(errors[0].field, HEADER),
            other => panic!("expected a 400 naming the header, got {other:?}"),
        }
    }

    #[test]
    fn fingerprints_are_hmac_sha256_under_the_key() {
        // RFC 4231, test case 2.
        let key = FingerprintKey::new(b"Jefe");
        assert_eq!(
            key.fingerprint(b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let a = key.fingerprint(b"{\"a\":1}");
        assert_eq!(a, key.fingerprint(b"{\"a\":1}"), "stable");
        assert_ne!(a, key.fingerprint(b"{\"a\":2}"));
        assert_ne!(a, FingerprintKey::new(b"another").fingerprint(b"{\"a\":1}"));
        assert_eq!(format!("{key:?}"), "FingerprintKey(<redacted>)");
    }

    proptest::proptest! {
        #[test]
        fn any_idempotency_key_header_is_read_without_panicking(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)
        ) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut headers = HeaderMap::new();
                headers.insert(HEADER, value);
                if let Ok(key) = key_from(&headers) {
                    proptest::prop_assert!((1..=MAX_KEY_LEN).contains(&key.len()));
                    proptest::prop_assert!(key.bytes().all(|b| b.is_ascii_graphic()));
                    proptest::prop_assert_eq!(key.as_bytes(), &bytes[..]);
                }
            }
        }

        #[test]
        fn every_visible_ascii_key_up_to_the_limit_is_kept_verbatim(key in "[!-~]{1,255}") {
            proptest::prop_assert_eq!(key_from(&headers(&key)).expect("valid"), key);
        }

        #[test]
        fn a_key_too_long_or_with_spaces_is_a_400_naming_the_header(
            key in "[!-~]{256,400}|[!-~]{0,10} [!-~]{1,10}"
        ) {
            let error = key_from(&headers(&key)).expect_err("invalid");
            proptest::prop_assert_eq!(error.status(), 400);
            let rendered = format!("{error:?}");
            proptest::prop_assert!(rendered.contains(HEADER));
        }
    }
}
