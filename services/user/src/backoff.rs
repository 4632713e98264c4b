//! The `login_attempts` table: exponential backoff after repeated failed logins.
//!
//! Failures are counted per normalised email whether or not an account has it, so a 429 tells
//! an attacker nothing about which emails are registered. After `max_failures` consecutive
//! failures each further one locks the email for `base × 2^(failures − max_failures)`, capped at
//! `max`; attempts during a lock are refused before any password is checked, which also spares
//! the CPU. A success clears the count. Counts live in Postgres so every replica enforces them,
//! and the clock is the database's, so replicas agree on when a lock ends.

use std::time::Duration;

use kit::ApiError;
use sqlx::PgPool;

use crate::config::BackoffConfig;
use crate::domain::Email;

/// How long failures are remembered: a failure more than this after the previous one starts
/// the count again.
const FAILURE_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// Refuses with 429 and `Retry-After` while `email` is locked.
pub(crate) async fn ensure_unlocked(db: &PgPool, email: &Email) -> Result<(), ApiError> {
    let wait: Option<i64> = sqlx::query_scalar(
        "SELECT ceil(extract(epoch FROM locked_until - now()))::bigint
         FROM login_attempts WHERE email = $1 AND locked_until > now()",
    )
    .bind(email.as_str())
    .fetch_optional(db)
    .await?;
    match wait {
        Some(seconds) => Err(ApiError::TooManyRequests {
            retry_after: Some(u64::try_from(seconds.max(1)).unwrap_or(1)),
        }),
        None => Ok(()),
    }
}

/// Counts a failure for `email` and locks it when the count passes the policy's threshold.
pub(crate) async fn record_failure(
    db: &PgPool,
    email: &Email,
    policy: &BackoffConfig,
) -> Result<(), sqlx::Error> {
    let failures: i32 = sqlx::query_scalar(
        "INSERT INTO login_attempts AS a (email, failures) VALUES ($1, 1)
         ON CONFLICT (email) DO UPDATE SET
             failures = CASE
                 WHEN a.last_failure_at < now() - make_interval(secs => $2) THEN 1
                 ELSE a.failures + 1
             END,
             last_failure_at = now()
         RETURNING failures",
    )
    .bind(email.as_str())
    .bind(FAILURE_MEMORY.as_secs_f64())
    .fetch_one(db)
    .await?;
    if let Some(lock) = lock_after(u32::try_from(failures).unwrap_or(u32::MAX), policy) {
        // GREATEST: a concurrent failure that computed a longer lock is never shortened.
        sqlx::query(
            "UPDATE login_attempts
             SET locked_until = GREATEST(locked_until, now() + make_interval(secs => $2))
             WHERE email = $1",
        )
        .bind(email.as_str())
        .bind(lock.as_secs_f64())
        .execute(db)
        .await?;
    }
    Ok(())
}

/// Forgets the failures of `email` after a successful login.
pub(crate) async fn clear(db: &PgPool, email: &Email) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_attempts WHERE email = $1")
        .bind(email.as_str())
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes up to `batch` counts whose last failure is older than [`FAILURE_MEMORY`] and whose
/// lock has ended: they would start over anyway, and unknown emails must not pile up.
pub(crate) async fn delete_stale(db: &PgPool, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM login_attempts WHERE email IN (
             SELECT email FROM login_attempts
             WHERE last_failure_at < now() - make_interval(secs => $1)
               AND (locked_until IS NULL OR locked_until < now())
             LIMIT $2
         )",
    )
    .bind(FAILURE_MEMORY.as_secs_f64())
    .bind(batch)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The lock that follows the `failures`-th consecutive failure, if any.
fn lock_after(failures: u32, policy: &BackoffConfig) -> Option<Duration> {
    let over = failures.checked_sub(policy.max_failures)?;
    let factor = 2u32.checked_pow(over).unwrap_or(u32::MAX);
    Some(
        policy
            .base
            .checked_mul(factor)
            .map_or(policy.max, |lock| lock.min(policy.max)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackoffConfig {
        BackoffConfig {
            max_failures: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(900),
        }
    }

    #[test]
    fn no_lock_before_the_threshold() {
        for failures in 0..5 {
            assert_eq!(lock_after(failures, &policy()), None);
        }
    }

    #[test]
    fn locks_double_from_the_threshold_up_to_the_cap() {
        let secs = |n| lock_after(n, &policy()).map(|d| d.as_secs());
        assert_eq!(secs(5), Some(1));
        assert_eq!(secs(6), Some(2));
        assert_eq!(secs(7), Some(4));
        assert_eq!(secs(14), Some(512));
        assert_eq!(secs(15), Some(900));
        assert_eq!(secs(40), Some(900), "no overflow");
        assert_eq!(secs(u32::MAX), Some(900));
    }
}
