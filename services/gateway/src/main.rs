//! The gateway binary.

use gateway::AppState;
use gateway::config::GatewayConfig;
use kit::server::Ops;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = kit::bootstrap::Service::init("gateway")?;
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
