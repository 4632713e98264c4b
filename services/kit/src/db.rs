//! Postgres: the connection pool, embedded migrations and the readiness check.
//!
//! The pool connects lazily, so a service starts while Postgres is still coming up and reports
//! not-ready until it can reach it, instead of crash-looping. Each service embeds its migrations
//! (`sqlx::migrate!()`) and runs them through [`migrate`], from its `migrate` subcommand (a
//! Kubernetes Job) or at start in development. sqlx takes an advisory lock, so concurrent
//! runners are safe, and applied migrations are skipped, so a second run is a no-op.

use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::{self, ConfigError, Env};
use crate::health::Check;

/// Connection settings for the service's database.
#[derive(Clone, clap::Args)]
pub struct DatabaseConfig {
    /// Parsed from `DATABASE_URL`; kept parsed so the password never appears in logs.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        value_name = "a postgres:// URL",
        hide_env_values = true,
        value_parser = PgConnectOptions::from_str
    )]
    pub options: PgConnectOptions,
    /// `DATABASE_MAX_CONNECTIONS` (default 10).
    #[arg(
        id = "database_max_connections",
        long = "database-max-connections",
        env = "DATABASE_MAX_CONNECTIONS",
        value_name = "a positive number",
        default_value = "10"
    )]
    pub max_connections: u32,
    /// How long a query waits for a free connection before the request fails with 503
    /// (`DATABASE_ACQUIRE_TIMEOUT_SECS`, default 3).
    #[arg(
        long,
        env = "DATABASE_ACQUIRE_TIMEOUT_SECS",
        value_name = "a whole number of seconds",
        default_value = "3",
        value_parser = config::seconds
    )]
    pub acquire_timeout: Duration,
    /// Whether `serve` applies the migrations before it starts (`MIGRATE_ON_START`, default
    /// false: in a cluster a Job runs `migrate` first; on a laptop this saves that step).
    #[arg(
        long,
        env = "MIGRATE_ON_START",
        value_name = "true or false",
        default_value = "false",
        action = clap::ArgAction::Set
    )]
    pub migrate_on_start: bool,
}

// Where, never who: the connect options' own Debug would show the password.
impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("host", &self.options.get_host())
            .field("port", &self.options.get_port())
            .field("database", &self.options.get_database())
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

impl DatabaseConfig {
    /// Reads the database settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        config::parse(env)
    }

    /// Settings for a database URL, with the defaults.
    pub fn from_url(url: &str) -> Result<Self, sqlx::Error> {
        Ok(Self {
            options: PgConnectOptions::from_str(url)?,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            migrate_on_start: false,
        })
    }

    /// A pool that connects on first use.
    pub fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .connect_lazy_with(self.options.clone())
    }

    /// The pool of [`DatabaseConfig::pool`], with `migrator`'s migrations applied first when
    /// the settings ask for it (`MIGRATE_ON_START`).
    pub async fn pool_for_serving(&self, migrator: &Migrator) -> anyhow::Result<PgPool> {
        let pool = self.pool();
        if self.migrate_on_start {
            migrate(&pool, migrator).await?;
        }
        Ok(pool)
    }
}

/// Applies the migrations that are not applied yet.
pub async fn migrate(pool: &PgPool, migrator: &Migrator) -> anyhow::Result<()> {
    migrator.run(pool).await?;
    Ok(())
}

/// Readiness: Postgres answers a query.
#[derive(Debug, Clone)]
pub struct PostgresCheck(pub PgPool);

impl Check for PostgresCheck {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            sqlx::query("SELECT 1")
                .execute(&self.0)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}
