//! The gateway service. Its routes arrive with its own issue; today it runs the platform stack.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = kit::bootstrap::Service::init("gateway")?;
    let health = service.health();
    service.serve(axum::Router::new(), health).await
}
