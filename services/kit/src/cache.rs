//! Redis: the connection pool, key namespacing and the readiness check.
//!
//! Every key a service writes goes through [`RedisConfig::key`], which prepends the configured
//! prefix, so services (and parallel tests) can share one Redis without colliding.

use std::time::Duration;

use deadpool_redis::{Pool, Runtime};
use futures::future::BoxFuture;

use crate::config::{ConfigError, Env};
use crate::health::Check;

/// Redis settings.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `REDIS_URL`, such as `redis://127.0.0.1:6379`.
    pub url: String,
    /// Prefix of every key (`REDIS_KEY_PREFIX`, default the service name and a colon).
    pub prefix: String,
    /// How long a command waits for a connection (`REDIS_TIMEOUT_MS`, default 250): a cache must
    /// fail fast so callers can fall back to the database.
    pub timeout: Duration,
}

impl RedisConfig {
    /// Reads the Redis settings for `service`.
    pub fn from_env(env: &Env, service: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            url: env.required("REDIS_URL", "a redis:// URL")?,
            prefix: env.or("REDIS_KEY_PREFIX", format!("{service}:"), "a key prefix")?,
            timeout: env.millis("REDIS_TIMEOUT_MS", Duration::from_millis(250))?,
        })
    }

    /// The namespaced key.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A pool that connects on first use.
    pub fn pool(&self) -> Result<Pool, ConfigError> {
        let mut config = deadpool_redis::Config::from_url(self.url.clone());
        let mut pool_config = deadpool_redis::PoolConfig::default();
        pool_config.timeouts.wait = Some(self.timeout);
        pool_config.timeouts.create = Some(self.timeout);
        pool_config.timeouts.recycle = Some(self.timeout);
        config.pool = Some(pool_config);
        config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| ConfigError::Invalid {
                name: "REDIS_URL".into(),
                value: self.url.clone(),
                expected: "a redis:// URL".into(),
                reason: e.to_string(),
            })
    }
}

/// Readiness: Redis answers `PING`.
#[derive(Clone)]
pub struct RedisCheck {
    pool: Pool,
    required: bool,
}

impl std::fmt::Debug for RedisCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCheck")
            .field("required", &self.required)
            .finish()
    }
}

impl RedisCheck {
    /// A check that fails readiness when Redis is down.
    pub fn required(pool: Pool) -> Self {
        Self {
            pool,
            required: true,
        }
    }

    /// A check that only reports `degraded`, for a cache the service can work without.
    pub fn optional(pool: Pool) -> Self {
        Self {
            pool,
            required: false,
        }
    }
}

impl Check for RedisCheck {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn required(&self) -> bool {
        self.required
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let mut connection = self.pool.get().await.map_err(|e| e.to_string())?;
            deadpool_redis::redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}
