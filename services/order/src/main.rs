//! The order service binary: `order [serve]` or `order migrate`.

use clap::Parser;
use kit::amqp::{AmqpCheck, Broker};
use kit::cli::Common;
use kit::db::{DatabaseConfig, PostgresCheck};
use order::AppState;
use order::config::Config;

/// Carts, checkout, payments and the order lifecycle.
#[derive(Debug, Parser)]
#[command(name = "order", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Common>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let service = kit::bootstrap::Service::init("order")?;
    match cli.command.unwrap_or(Common::Serve) {
        // A migration Job needs the database and nothing else.
        Common::Migrate => {
            let pool = DatabaseConfig::from_env(&service.env)?.pool();
            kit::db::migrate(&pool, &order::MIGRATOR).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Common::Serve => {
            let config = Config::from_env(&service.env)?;
            let pool = config.database.pool();
            if config.migrate_on_start {
                kit::db::migrate(&pool, &order::MIGRATOR).await?;
            }
            let broker = Broker::new(config.amqp.clone(), "order");
            let state = AppState::new(&config, pool.clone())?;
            state.metrics.register(&service.metrics);
            state.catalog.metrics().register(&service.metrics);
            service.metrics.watch_postgres(pool.clone());
            order::spawn_background(&state, broker.clone(), config.background, &service.shutdown);
            // Events wait in the outbox while RabbitMQ is away, so the broker only degrades
            // readiness.
            let health = service
                .health()
                .with(PostgresCheck(pool))
                .with(AmqpCheck::optional(broker));
            service.serve(order::app(state), health).await
        }
    }
}
