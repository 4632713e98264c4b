//! Periodic clean-up of rows that no longer mean anything: expired refresh tokens and
//! forgotten failed-login counts (which, counted for unknown emails too, would otherwise grow
//! with every address an attacker tries).

use std::time::Duration;

use kit::shutdown::Shutdown;
use sqlx::PgPool;

use crate::{backoff, refresh};

/// Rows deleted per statement, so a large backlog never holds long locks.
const BATCH: i64 = 1000;

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Expired refresh tokens.
    pub refresh_tokens: u64,
    /// Failed-login counts past their memory.
    pub login_attempts: u64,
}

/// Deletes everything that has expired, in batches.
pub async fn sweep(db: &PgPool) -> Result<Swept, sqlx::Error> {
    let mut swept = Swept::default();
    loop {
        let deleted = refresh::delete_expired(db, BATCH).await?;
        swept.refresh_tokens += deleted;
        if deleted < BATCH.unsigned_abs() {
            break;
        }
    }
    loop {
        let deleted = backoff::delete_stale(db, BATCH).await?;
        swept.login_attempts += deleted;
        if deleted < BATCH.unsigned_abs() {
            break;
        }
    }
    Ok(swept)
}

/// Sweeps every `every` until shutdown. Every replica runs it; the deletes are idempotent, so
/// overlapping sweeps only repeat work.
pub fn spawn(db: PgPool, shutdown: &Shutdown, every: Duration) {
    let stop = shutdown.clone();
    shutdown.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            match sweep(&db).await {
                Ok(swept) if swept != Swept::default() => tracing::info!(?swept, "housekeeping"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "housekeeping failed; retrying next time"),
            }
        }
    });
}
