//! The user service. Its routes arrive with its own issue; today it runs the platform stack
//! against its database.

use kit::db::{DatabaseConfig, PostgresCheck};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = kit::bootstrap::Service::init("user")?;
    let database = DatabaseConfig::from_env(&service.env)?;
    let health = service.health().with(PostgresCheck(database.pool()));
    service.serve(axum::Router::new(), health).await
}
