//! The `guest_carts` table: the carts of visitors who have not signed in, and their tokens.
//!
//! The first cart write of a visitor without a token creates a guest cart and answers its token
//! in the `Guest-Cart-Token` header; the visitor sends it back in the same header. A token is
//! 256 random bits, base64url-encoded (43 characters), as the user service's refresh tokens
//! are: nobody guesses one, and only its SHA-256 digest is stored, so a database leak yields no
//! usable token (the entropy makes a slow hash unnecessary).
//!
//! A header rather than a cookie: the API authenticates with bearer headers, and the one cookie
//! it sets (the refresh token) is scoped to `/api/v1/auth` and guarded by an `Origin` check
//! because a browser sends cookies on its own. A header is only sent by code that means to, so
//! the cart routes need no such guard against cross-site requests; and API clients keep it
//! as they keep an access token.
//!
//! A token names its cart while the cart was used (read or written) within
//! `GUEST_CART_IDLE_TTL_SECS`. After that, after the cart was merged into an account's cart,
//! and for a token never issued, the answer is the same, so it tells nothing about which tokens
//! once existed. The sweeper deletes idle carts with their lines.

use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use contracts::cart::GUEST_CART_TOKEN_HEADER;
use kit::{ApiError, ApiResult};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::cart;

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// The longest header value that can hold a token: anything longer is refused unread.
const MAX_TOKEN_LEN: usize = 64;

/// A guest cart token as a visitor presented it. `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct GuestToken(String);

impl std::fmt::Debug for GuestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuestToken([redacted])")
    }
}

impl GuestToken {
    /// The token of the `Guest-Cart-Token` header, if the request sends one (whatever its
    /// shape: a malformed token is refused like an unknown one, when it is used).
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(GUEST_CART_TOKEN_HEADER)?;
        Some(Self(
            value
                .to_str()
                .ok()
                .filter(|token| token.len() <= MAX_TOKEN_LEN)
                .unwrap_or_default()
                .trim()
                .to_owned(),
        ))
    }

    /// The digest the token is stored under; `None` when it cannot be one of ours.
    fn digest(&self) -> Option<[u8; 32]> {
        let bytes = URL_SAFE_NO_PAD.decode(&self.0).ok()?;
        (bytes.len() == TOKEN_BYTES).then(|| Sha256::digest(&bytes).into())
    }
}

/// The answer to a cart request whose token names no guest cart (now).
pub(crate) fn unusable() -> ApiError {
    ApiError::Unauthorized(
        "The guest cart token is invalid or has expired: the cart was left unused too long, was \
         merged into an account's cart, or never existed. Drop the token; the next cart write \
         without one starts a new cart."
            .to_owned(),
    )
}

/// Creates a guest cart; answers its id and the token to hand to the visitor.
pub(crate) async fn issue(db: &mut PgConnection) -> ApiResult<(Uuid, String)> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let hash: [u8; 32] = Sha256::digest(bytes).into();
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO guest_carts (id, token_hash) VALUES ($1, $2)",
        id,
        &hash[..],
    )
    .execute(db)
    .await?;
    Ok((id, URL_SAFE_NO_PAD.encode(bytes)))
}

/// The id of the live guest cart `token` names, marked used now; `None` when there is none.
/// Inside a transaction, the cart's row stays locked until it ends, so the sweeper and a
/// merge wait for the write rather than delete the cart under it.
pub(crate) async fn claim(
    db: impl PgExecutor<'_>,
    token: &GuestToken,
    idle_ttl: Duration,
) -> ApiResult<Option<Uuid>> {
    let Some(hash) = token.digest() else {
        return Ok(None);
    };
    let id = sqlx::query_scalar!(
        "UPDATE guest_carts SET used_at = now()
         WHERE token_hash = $1 AND used_at > now() - make_interval(secs => $2)
         RETURNING id",
        &hash[..],
        idle_ttl.as_secs_f64(),
    )
    .fetch_optional(db)
    .await?;
    Ok(id)
}

/// Deletes the live guest cart `token` names, for a merge, and answers its id; `None` when
/// there is none. Of two merges of one cart, the second waits for the first's transaction and
/// then finds nothing: a guest cart is merged once.
pub(crate) async fn take(
    db: &mut PgConnection,
    token: &GuestToken,
    idle_ttl: Duration,
) -> ApiResult<Option<Uuid>> {
    let Some(hash) = token.digest() else {
        return Ok(None);
    };
    let id = sqlx::query_scalar!(
        "DELETE FROM guest_carts
         WHERE token_hash = $1 AND used_at > now() - make_interval(secs => $2)
         RETURNING id",
        &hash[..],
        idle_ttl.as_secs_f64(),
    )
    .fetch_optional(db)
    .await?;
    Ok(id)
}

/// Deletes the guest carts idle for longer than `idle_ttl`, with their lines (through the
/// cart's store, which owns them), in one transaction; answers how many. A cart being written
/// is locked by its writer ([`claim`]) and so outlives this round: once the write commits, the
/// cart is no longer idle.
pub(crate) async fn purge_idle(pool: &PgPool, idle_ttl: Duration) -> ApiResult<usize> {
    let mut tx = pool.begin().await?;
    let idle = sqlx::query_scalar!(
        "DELETE FROM guest_carts WHERE used_at <= now() - make_interval(secs => $1) RETURNING id",
        idle_ttl.as_secs_f64(),
    )
    .fetch_all(&mut *tx)
    .await?;
    cart::store::remove_carts(&mut tx, &idle).await?;
    tx.commit().await?;
    Ok(idle.len())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn presented(value: &str) -> Option<GuestToken> {
        let mut headers = HeaderMap::new();
        headers.insert(
            GUEST_CART_TOKEN_HEADER,
            HeaderValue::from_str(value).expect("a header value"),
        );
        GuestToken::from_headers(&headers)
    }

    #[test]
    fn only_a_token_of_32_bytes_in_base64url_has_a_digest() {
        let token = URL_SAFE_NO_PAD.encode([7u8; TOKEN_BYTES]);
        let digest = presented(&token).and_then(|t| t.digest());
        assert_eq!(digest, Some(Sha256::digest([7u8; TOKEN_BYTES]).into()));
        for bad in [
            String::new(),
            URL_SAFE_NO_PAD.encode([7u8; TOKEN_BYTES - 1]),
            URL_SAFE_NO_PAD.encode([7u8; TOKEN_BYTES + 1]),
            format!("{token}="),
            format!("+{}", &token[1..]),
            "x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            let token = presented(&bad).expect("a header is a token, used or not");
            assert_eq!(token.digest(), None, "{bad}");
        }
        assert_eq!(GuestToken::from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn the_token_is_never_shown() {
        let token = presented("secret-token-value").expect("a token");
        assert!(!format!("{token:?}").contains("secret"));
    }

    proptest! {
        #[test]
        fn any_header_value_is_read_without_panicking(value in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                let mut headers = HeaderMap::new();
                headers.insert(GUEST_CART_TOKEN_HEADER, value);
                let token = GuestToken::from_headers(&headers).expect("a token");
                let _ = token.digest();
            }
        }
    }
}
