//! The gateway binary.

use clap::Parser;
use gateway::AppState;
use gateway::config::GatewayConfig;
use kit::server::Ops;

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
    let state = AppState::new(&config, &service.metrics)?;
    let ops = Ops {
        metrics: service.metrics.clone(),
        health: service.health(),
    };
    let routers = gateway::routers(state, &config, &service.http, &ops, &service.shutdown);
    let public = kit::server::bind(service.http.bind).await?;
    let ops_listener = kit::server::bind(config.ops_bind).await?;
    service.shutdown.on_signals();
    gateway::serve(
        routers,
        public,
        ops_listener,
        service.shutdown.clone(),
        service.http.drain_deadline,
    )
    .await
}
