//! The product service binary: `serve` (the default), `migrate` and `seed`.

use clap::Parser;
use kit::bootstrap::Service;
use kit::cache::RedisConfig;
use kit::cli::Common;
use kit::db::DatabaseConfig;
use product::config::{self, Config};
use product::startup::{self, Application};
use product::{MIGRATOR, seed};

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
            let cache = startup::cache(
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

async fn serve(service: Service) -> anyhow::Result<()> {
    let config = Config::from_env(&service.env)?;
    let app = Application::build(&config, &service.platform).await?;
    app.serve(service).await
}
