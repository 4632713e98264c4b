//! The expiry sweeper: reservations nobody committed in time give their units back.

use std::time::Duration;

use kit::shutdown::Shutdown;

use super::store;
use crate::AppState;

/// Reservations the sweeper expires per transaction, so one pass never holds many locks long.
const SWEEP_BATCH: i64 = 100;

/// Expires every open reservation past its deadline, returning their units to sale; returns
/// how many it expired. Safe to run from every replica at once: rows another replica is
/// working on are skipped, not waited for.
pub async fn sweep_expired(state: &AppState) -> Result<u64, sqlx::Error> {
    let mut expired = 0;
    loop {
        let mut tx = state.db.begin().await?;
        let (orders, products) = store::expire_due(&mut tx, SWEEP_BATCH).await?;
        if orders.is_empty() {
            return Ok(expired);
        }
        tx.commit().await?;
        state.cache.invalidate_products(products).await;
        expired += orders.len() as u64;
        if (orders.len() as i64) < SWEEP_BATCH {
            return Ok(expired);
        }
    }
}

/// Runs [`sweep_expired`] every `interval` until shutdown.
pub async fn run_sweeper(state: AppState, interval: Duration, shutdown: Shutdown) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match sweep_expired(&state).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "expired stale reservations"),
            Err(error) => tracing::warn!(%error, "reservation sweep failed; retrying next tick"),
        }
    }
}
