//! The one assembly of the service, used by `main`, the tests, the benches and the gateway's
//! end-to-end suite alike, so that what they start is what ships.

use std::time::Duration;

use axum::Router;
use kit::bootstrap::{Platform, Service};
use kit::db::PostgresCheck;
use kit::health::Health;

use crate::config::Config;
use crate::{AppState, MIGRATOR, housekeeping};

/// How often expired refresh tokens and forgotten login failures are deleted.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);

/// The user service assembled: its state, routes and readiness, with its housekeeping already
/// running on the platform's shutdown signal.
#[derive(Debug)]
pub struct Application {
    /// What the request handlers share.
    pub state: AppState,
    /// The service's routes, without the kit's standard stack.
    pub routes: Router,
    /// Readiness: Postgres required.
    pub health: Health,
}

impl Application {
    /// Connects the pool lazily, applies migrations when the settings ask for it, loads the
    /// signing keys and starts the housekeeping.
    pub async fn build(config: &Config, platform: &Platform) -> anyhow::Result<Self> {
        let db = config.database.pool_for_serving(&MIGRATOR).await?;
        let state = AppState::new(config, db.clone()).await?;
        platform.metrics.watch_postgres(db.clone());
        housekeeping::spawn(db.clone(), &platform.shutdown, HOUSEKEEPING_EVERY);
        Ok(Self {
            routes: crate::app(state.clone()),
            state,
            health: platform.health().with(PostgresCheck(db)),
        })
    }

    /// Serves the application until SIGTERM, then drains.
    pub async fn serve(self, service: Service) -> anyhow::Result<()> {
        service.serve(self.routes, self.health).await
    }
}
