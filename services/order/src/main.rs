//! The order service binary: `order [serve]` or `order migrate`.

use clap::Parser;
use kit::cli::Common;
use kit::db::DatabaseConfig;
use order::config::Config;
use order::startup::Application;

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
            let app = Application::build(&config, &service.platform).await?;
            app.serve(service).await
        }
    }
}
