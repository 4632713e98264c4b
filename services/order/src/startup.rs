//! The one assembly of the service, used by `main`, the tests, the benches and the gateway's
//! end-to-end suite alike, so that what they start is what ships.

use axum::Router;
use kit::amqp::{AmqpCheck, Broker};
use kit::bootstrap::{Platform, Service};
use kit::db::PostgresCheck;
use kit::health::Health;

use crate::config::Config;
use crate::{AppState, MIGRATOR};

/// The order service assembled: its state, routes and readiness, with its background work (the
/// outbox relay, its backlog sampler and the sweeper) already running on the platform's
/// shutdown signal.
#[derive(Debug)]
pub struct Application {
    /// What the request handlers share (tests use it to run background work on demand).
    pub state: AppState,
    /// The service's routes, without the kit's standard stack.
    pub routes: Router,
    /// Readiness: Postgres required, RabbitMQ reported but optional (the outbox holds events).
    pub health: Health,
}

impl Application {
    /// Connects the pool lazily, applies migrations when the settings ask for it, and starts the
    /// background work, with the payment provider the settings name.
    pub async fn build(config: &Config, platform: &Platform) -> anyhow::Result<Self> {
        let pool = config.database.pool_for_serving(&MIGRATOR).await?;
        let state = AppState::new(config, pool)?;
        Ok(Self::with_state(config, state, platform))
    }

    /// Assembles the service around `state`, made by [`AppState::new`] and possibly changed
    /// (the tests put a slow or failing payment provider in).
    pub fn with_state(config: &Config, state: AppState, platform: &Platform) -> Self {
        let broker = Broker::new(config.amqp.clone(), "order");
        state.metrics.register(&platform.metrics);
        state.catalog.metrics().register(&platform.metrics);
        platform.metrics.watch_postgres(state.pool.clone());
        crate::spawn_background(
            &state,
            broker.clone(),
            config.background,
            &platform.shutdown,
        );
        let health = platform
            .health()
            .with(PostgresCheck(state.pool.clone()))
            .with(AmqpCheck::optional(broker));
        Self {
            routes: crate::app(state.clone()),
            state,
            health,
        }
    }

    /// Serves the application until SIGTERM, then drains.
    pub async fn serve(self, service: Service) -> anyhow::Result<()> {
        service.serve(self.routes, self.health).await
    }
}
