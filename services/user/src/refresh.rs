//! The `refresh_tokens` table: opaque, single-use refresh tokens in rotating families.
//!
//! A token is 256 random bits, base64url-encoded; only its SHA-256 digest is stored, so a
//! database leak yields no usable token (the entropy makes a slow hash unnecessary). Signing in
//! starts a family; every refresh spends the presented token and issues its successor in the
//! same family. A spent token presented again means two parties hold it (a thief and the
//! owner), so the whole family is revoked and both must sign in again (OAuth 2.0 Security BCP,
//! refresh token rotation).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kit::{ApiError, ApiResult};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// The one answer to every unusable refresh token, so none tells why.
fn unusable() -> ApiError {
    ApiError::Unauthorized("The refresh token is invalid or has expired; sign in again.".to_owned())
}

/// A new token and its digest.
fn generate() -> anyhow::Result<(String, [u8; 32])> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok((URL_SAFE_NO_PAD.encode(bytes), Sha256::digest(bytes).into()))
}

/// The digest a presented token is stored under; `None` when it cannot be one of ours.
fn digest(token: &str) -> Option<[u8; 32]> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    (bytes.len() == TOKEN_BYTES).then(|| Sha256::digest(&bytes).into())
}

/// Issues a token for `user_id`: in `family` when rotating, in a new family when signing in.
/// Returns its id and the token to hand to the client.
pub(crate) async fn issue(
    db: &mut PgConnection,
    user_id: Uuid,
    family: Option<Uuid>,
    ttl: Duration,
) -> ApiResult<(Uuid, String)> {
    let (token, hash) = generate()?;
    let id = Uuid::now_v7();
    sqlx::query!(
        "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))",
        id,
        user_id,
        family.unwrap_or_else(Uuid::now_v7),
        &hash[..],
        ttl.as_secs_f64()
    )
    .execute(db)
    .await?;
    Ok((id, token))
}

struct Presented {
    id: Uuid,
    user_id: Uuid,
    family_id: Uuid,
    spent: bool,
    usable: bool,
}

/// A successful rotation.
#[derive(Debug)]
pub(crate) struct Rotated {
    /// Whose token it was.
    pub(crate) user_id: Uuid,
    /// The successor to hand to the client.
    pub(crate) token: String,
}

/// Spends `presented` and issues its successor, or answers 401. A spent token revokes its
/// family. The row lock makes two concurrent refreshes of one token take turns, so the second
/// sees it spent: at most one of them gets a successor, and then that family is revoked too.
pub(crate) async fn rotate(db: &PgPool, presented: &str, ttl: Duration) -> ApiResult<Rotated> {
    let hash = digest(presented).ok_or_else(unusable)?;
    let mut tx = db.begin().await?;
    let found = sqlx::query_as!(
        Presented,
        r#"SELECT id, user_id, family_id,
                  replaced_by IS NOT NULL AS "spent!",
                  revoked_at IS NULL AND expires_at > now() AS "usable!"
           FROM refresh_tokens WHERE token_hash = $1
           FOR UPDATE"#,
        &hash[..]
    )
    .fetch_optional(&mut *tx)
    .await?;
    let presented = found.ok_or_else(unusable)?;
    if presented.spent {
        let revoked = revoke_family(&mut *tx, presented.family_id).await?;
        tx.commit().await?;
        tracing::warn!(
            user_id = %presented.user_id,
            family_id = %presented.family_id,
            revoked,
            "a spent refresh token was presented again; its family is revoked"
        );
        return Err(unusable());
    }
    if !presented.usable {
        return Err(unusable());
    }
    let (successor, token) =
        issue(&mut tx, presented.user_id, Some(presented.family_id), ttl).await?;
    sqlx::query!(
        "UPDATE refresh_tokens SET replaced_by = $2 WHERE id = $1",
        presented.id,
        successor
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Rotated {
        user_id: presented.user_id,
        token,
    })
}

/// Revokes the family of `presented` (signing out that session); unknown tokens are ignored.
pub(crate) async fn revoke(db: &PgPool, presented: &str) -> ApiResult<()> {
    let Some(hash) = digest(presented) else {
        return Ok(());
    };
    sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = now()
         WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)
           AND revoked_at IS NULL",
        &hash[..]
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Revokes every live token of `user_id` (signing out everywhere).
pub(crate) async fn revoke_all(db: impl PgExecutor<'_>, user_id: Uuid) -> ApiResult<u64> {
    let done = sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

async fn revoke_family(db: impl PgExecutor<'_>, family_id: Uuid) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
        family_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Deletes up to `batch` expired tokens; an expired token is refused whether or not its row
/// exists, so nothing is lost.
pub(crate) async fn delete_expired(db: &PgPool, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM refresh_tokens WHERE id IN (
             SELECT id FROM refresh_tokens WHERE expires_at < now() LIMIT $1
         )",
        batch
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_random_bits_stored_by_digest() {
        let (token, hash) = generate().expect("generate");
        assert_eq!(token.len(), 43, "32 bytes of unpadded base64url");
        assert_eq!(digest(&token), Some(hash));
        let (other, other_hash) = generate().expect("generate");
        assert_ne!(token, other);
        assert_ne!(hash, other_hash);
    }

    #[test]
    fn strings_that_cannot_be_tokens_have_no_digest() {
        let (token, _) = generate().expect("generate");
        for bad in [
            "",
            "short",
            &token[..42],
            &format!("{token}A"),
            &token.replace(|c: char| c.is_ascii_alphanumeric(), "!"),
        ] {
            assert_eq!(digest(bad), None, "{bad:?}");
        }
    }
}
