//! The gateway binary.

use gateway::AppState;
use gateway::config::GatewayConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = kit::bootstrap::Service::init("gateway")?;
    let config = GatewayConfig::from_env(&service.env)?;
    let state = AppState::new(&config, &service.metrics)?;
    let app = gateway::app(state, &config, &service.shutdown);
    let health = service.health();
    service.serve(app, health).await
}
