//! The gateway binary.

use clap::Parser;
use gateway::config::GatewayConfig;
use gateway::startup::Application;

#[derive(Debug, Parser)]
#[command(version, about = "The public API edge of the shop")]
struct Cli {
    #[command(subcommand)]
    command: Option<kit::cli::Common>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Parsed so that `gateway migrate` (every image has that subcommand) does not start serving,
    // and an unknown subcommand is an error rather than ignored.
    let cli = Cli::parse();
    let service = kit::bootstrap::Service::init("gateway")?;
    if cli.command == Some(kit::cli::Common::Migrate) {
        tracing::info!("the gateway has no database: nothing to migrate");
        return Ok(());
    }
    let config = GatewayConfig::from_env(&service.env)?;
    let app = Application::build(&config, &service.http, &service.platform)?;
    app.serve(service, &config).await
}
