//! The one assembly of the service, used by `main`, the tests, the benches and the gateway's
//! end-to-end suite alike, so that what they start is what ships.

use std::time::Duration;

use axum::Router;
use kit::amqp::{AmqpCheck, Broker};
use kit::bootstrap::{Platform, Service};
use kit::cache::{RedisCheck, RedisConfig};
use kit::db::PostgresCheck;
use kit::health::Health;

use crate::cache::Cache;
use crate::config::Config;
use crate::{AppState, MIGRATOR, events, inventory};

/// The product service assembled: its state, routes and readiness, with its background work
/// (the order-event consumer, the reservation sweeper, the cache's invalidation follower and
/// the metrics sampler) already running on the platform's shutdown signal.
#[derive(Debug)]
pub struct Application {
    /// What the request handlers share (tests use it to run background work on demand).
    pub state: AppState,
    /// The service's routes, without the kit's standard stack.
    pub routes: Router,
    /// Readiness: Postgres required; RabbitMQ, and Redis when caching, reported but optional.
    pub health: Health,
}

impl Application {
    /// Connects the pools lazily, applies migrations when the settings ask for it, and starts
    /// the background work.
    pub async fn build(config: &Config, platform: &Platform) -> anyhow::Result<Self> {
        let db = config.database.pool_for_serving(&MIGRATOR).await?;
        let cache = cache(&config.redis, config.cache_ttl)?.in_process(config.cache_local_entries);
        let redis = cache.pool().cloned();
        if let Some(pool) = &redis {
            platform.metrics.watch_redis(pool.clone());
        }
        let state = AppState::new(db.clone(), cache, config.catalog.clone());
        let broker = Broker::new(config.amqp.clone(), "product");
        state.metrics().register(&platform.metrics);
        platform.metrics.watch_postgres(db.clone());
        let shutdown = &platform.shutdown;
        shutdown.spawn(state.cache().clone().follow_invalidations(shutdown.clone()));
        state.metrics().spawn_sampler(
            db.clone(),
            broker.clone(),
            config.order_events_queue.clone(),
            shutdown,
        );
        let mut health = platform
            .health()
            .with(PostgresCheck(db))
            .with(AmqpCheck::optional(broker.clone()));
        if let Some(pool) = redis {
            health = health.with(RedisCheck::optional(pool));
        }
        shutdown.spawn(events::consume(
            state.clone(),
            broker,
            config.order_events_queue.clone(),
            shutdown.clone(),
        ));
        shutdown.spawn(inventory::run_sweeper(
            state.clone(),
            config.sweep_interval,
            shutdown.clone(),
        ));
        Ok(Self {
            routes: crate::app(state.clone()),
            state,
            health,
        })
    }

    /// Serves the application until SIGTERM, then drains.
    pub async fn serve(self, service: Service) -> anyhow::Result<()> {
        service.serve(self.routes, self.health).await
    }
}

/// The cache on `redis` with entries living `ttl`, or none when there is no TTL (`0`).
pub fn cache(redis: &RedisConfig, ttl: Option<Duration>) -> anyhow::Result<Cache> {
    Ok(match ttl {
        Some(ttl) => Cache::new(redis.pool()?, redis.clone(), ttl),
        None => Cache::disabled(),
    })
}
