//! The product service binary: `serve` (the default), `migrate` and `seed`.

use clap::Parser;
use kit::amqp::{AmqpCheck, Broker};
use kit::bootstrap::Service;
use kit::cache::{RedisCheck, RedisConfig};
use kit::cli::Common;
use kit::db::{DatabaseConfig, PostgresCheck};
use product::cache::Cache;
use product::config::{self, Config};
use product::{AppState, MIGRATOR, events, inventory, seed};

/// The product service: catalog, search, inventory and reservations.
#[derive(Debug, Parser)]
#[command(name = "product", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    #[command(flatten)]
    Common(Common),
    /// Add what is missing of the demo catalog, never changing existing rows, then exit.
    Seed,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let service = Service::init("product")?;
    match cli.command.unwrap_or(Command::Common(Common::Serve)) {
        Command::Common(Common::Serve) => serve(service).await,
        Command::Common(Common::Migrate) => {
            let db = DatabaseConfig::from_env(&service.env)?.pool();
            kit::db::migrate(&db, &MIGRATOR).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Seed => {
            let db = DatabaseConfig::from_env(&service.env)?.pool();
            let cache = cache(
                &RedisConfig::from_env(&service.env, "product")?,
                config::cache_ttl(&service.env)?,
            )?;
            let currency = config::catalog_currency(&service.env)?;
            let report = seed::run(&db, &cache, currency).await?;
            tracing::info!(
                categories = report.categories,
                products = report.products,
                categories_added = report.categories_added,
                products_added = report.products_added,
                products_featured = report.products_featured,
                "demo catalog loaded"
            );
            Ok(())
        }
    }
}

fn cache(redis: &RedisConfig, ttl: Option<std::time::Duration>) -> anyhow::Result<Cache> {
    Ok(match ttl {
        Some(ttl) => Cache::new(redis.pool()?, redis.clone(), ttl),
        None => Cache::disabled(),
    })
}

async fn serve(service: Service) -> anyhow::Result<()> {
    let config = Config::from_env(&service.env)?;
    let db = config.database.pool();
    if config.migrate_on_start {
        kit::db::migrate(&db, &MIGRATOR).await?;
    }
    let cache = cache(&config.redis, config.cache_ttl)?;
    if let Some(pool) = cache.pool() {
        service.metrics.watch_redis(pool.clone());
    }
    let state = AppState::new(db.clone(), cache, config.catalog.clone());
    let broker = Broker::new(config.amqp.clone(), "product");
    state.metrics().register(&service.metrics);
    service.metrics.watch_postgres(db.clone());
    state.metrics().spawn_sampler(
        db.clone(),
        broker.clone(),
        config.order_events_queue.clone(),
        &service.shutdown,
    );
    let mut health = service
        .health()
        .with(PostgresCheck(db))
        .with(AmqpCheck::optional(broker.clone()));
    if config.cache_ttl.is_some() {
        health = health.with(RedisCheck::optional(config.redis.pool()?));
    }
    let shutdown = service.shutdown.clone();
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
    service.serve(product::app(state), health).await
}
