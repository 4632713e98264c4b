//! The `login_attempts` table: exponential backoff after repeated failed logins.
//!
//! Failures are counted per normalised email whether or not an account has it, so a 429 tells
//! an attacker nothing about which emails are registered. After `max_failures` consecutive
//! failures each further one locks the email for `base × 2^(failures − max_failures)`, capped at
//! `max`; attempts during a lock are refused before any password is checked, which also spares
//! the CPU. A success clears the count. Counts live in Postgres so every replica enforces them,
//! and the clock is the database's, so replicas agree on when a lock ends.
//!
//! An attempt is counted as a failure *before* its password is checked ([`reserve_attempt`]),
//! in one statement that also refuses it while the email is locked and sets the lock its count
//! earns: checking the lock, then hashing, then counting would let every guess sent at once pass
//! the check before the first one was counted. A password that turns out right clears the count
//! again ([`clear`]).

use std::time::Duration;

use kit::ApiError;
use sqlx::PgPool;

use crate::config::BackoffConfig;
use crate::domain::Email;

/// How long failures are remembered: a failure more than this after the previous one starts
/// the count again.
const FAILURE_MEMORY: Duration = Duration::from_secs(24 * 3600);

/// How many counts past the threshold the lock table covers: doubling from the base, the lock
/// reaches any cap long before; later counts get the last (capped) entry.
const DOUBLINGS: u32 = 64;

/// Counts an attempt for `email` as a failure before its password is checked, atomically:
/// refused with 429 and `Retry-After` while the email is locked; otherwise counted, and locked
/// for as long as the new count earns ([`lock_after`]).
pub(crate) async fn reserve_attempt(
    db: &PgPool,
    email: &Email,
    policy: &BackoffConfig,
) -> Result<(), ApiError> {
    let locks = lock_table(policy);
    // The upsert locks the email's row, so attempts for one email are counted one at a time,
    // each seeing the lock the previous one set.
    let counted = sqlx::query_scalar!(
        "INSERT INTO login_attempts AS a (email, failures, last_failure_at, locked_until)
         VALUES ($1, 1, now(), now() + make_interval(secs => ($3::float8[])[
             GREATEST(LEAST(2 - $4::int8, cardinality($3::float8[])), 0)::int
         ]))
         ON CONFLICT (email) DO UPDATE SET
             failures = CASE
                 WHEN a.last_failure_at < now() - make_interval(secs => $2) THEN 1
                 ELSE a.failures + 1
             END,
             last_failure_at = now(),
             locked_until = now() + make_interval(secs => ($3::float8[])[GREATEST(LEAST(
                 CASE
                     WHEN a.last_failure_at < now() - make_interval(secs => $2) THEN 1
                     ELSE a.failures + 1
                 END - $4::int8 + 1,
                 cardinality($3::float8[])
             ), 0)::int])
         WHERE a.locked_until IS NULL OR a.locked_until <= now()
         RETURNING failures",
        email.as_str(),
        FAILURE_MEMORY.as_secs_f64(),
        &locks as _,
        i64::from(policy.max_failures),
    )
    .fetch_optional(db)
    .await?;
    if counted.is_some() {
        return Ok(());
    }
    let wait = sqlx::query_scalar!(
        "SELECT ceil(extract(epoch FROM locked_until - now()))::bigint
         FROM login_attempts WHERE email = $1",
        email.as_str()
    )
    .fetch_optional(db)
    .await?
    .flatten();
    Err(ApiError::TooManyRequests {
        // At least a second: a lock that ended between the two statements is still a refusal.
        retry_after: Some(wait.and_then(|s| u64::try_from(s).ok()).unwrap_or(1).max(1)),
    })
}

/// Forgets the failures of `email` after a successful login.
pub(crate) async fn clear(db: &PgPool, email: &Email) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "DELETE FROM login_attempts WHERE email = $1",
        email.as_str()
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes up to `batch` counts whose last failure is older than [`FAILURE_MEMORY`] and whose
/// lock has ended: they would start over anyway, and unknown emails must not pile up.
pub(crate) async fn delete_stale(db: &PgPool, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query!(
        "DELETE FROM login_attempts WHERE email IN (
             SELECT email FROM login_attempts
             WHERE last_failure_at < now() - make_interval(secs => $1)
               AND (locked_until IS NULL OR locked_until < now())
             LIMIT $2
         )",
        FAILURE_MEMORY.as_secs_f64(),
        batch
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The locks of the counts from the threshold on, in seconds: the entry at SQL index `i` (from 1)
/// is the lock of count `max_failures + i - 1`; an index below 1 reads NULL (no lock) and counts
/// past the end take the last, capped entry. Only these entries, whatever the threshold: a table
/// from count 1 would cost a vector and an SQL array of `max_failures` entries per login (ci/faults
/// allows a million failures).
fn lock_table(policy: &BackoffConfig) -> Vec<f64> {
    (policy.max_failures..=policy.max_failures.saturating_add(DOUBLINGS))
        .filter_map(|failures| lock_after(failures, policy))
        .map(|lock| lock.as_secs_f64())
        .collect()
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
    fn the_lock_table_starts_at_the_threshold_whatever_it_is() {
        let table = lock_table(&policy());
        assert_eq!(table.len(), DOUBLINGS as usize + 1);
        assert_eq!(&table[..4], &[1.0, 2.0, 4.0, 8.0]);
        assert_eq!(table.last(), Some(&900.0));
        let lenient = BackoffConfig {
            max_failures: 1_000_000,
            ..policy()
        };
        assert_eq!(lock_table(&lenient), table);
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
