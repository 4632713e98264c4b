//! Redis: the connection pool, key namespacing and the readiness check.
//!
//! Every key a service writes goes through [`RedisConfig::key`], which prepends the configured
//! prefix, so services (and parallel tests) can share one Redis without colliding.
//!
//! The pool hands out multiplexed connections and takes them back without a check: deadpool-redis's
//! own manager sends `UNWATCH` and `PING` before every checkout, which made each cached read three
//! round trips instead of one. Nothing here uses `WATCH`, so there is no transaction state to
//! clear, and a connection that broke shows it by failing its next command: the caller then
//! drops it ([`deadpool::managed::Object::take`]) instead of returning it, and the pool opens a
//! new one on the next checkout.
//!
//! [`follow`] keeps a subscription to a channel across Redis outages, for the messages one
//! replica publishes to the others (such as which cache entries a write made stale).

use std::time::Duration;

use backon::BackoffBuilder;
use deadpool::managed::{self, Metrics, RecycleResult};
use deadpool_redis::Runtime;
use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{self, RedisError};
use futures::StreamExt;
use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};

use crate::amqp::reconnect_delays;
use crate::config::{self, ConfigError, Env};
use crate::health::Check;
use crate::shutdown::Shutdown;

/// How often a subscription checks that Redis still answers on its connection: a peer that
/// vanished without closing the connection would otherwise leave the subscriber waiting for
/// messages that can no longer come.
const SUBSCRIPTION_PING: Duration = Duration::from_secs(5);

/// Redis settings. Read them with [`RedisConfig::from_env`], or flatten them into a service's
/// settings read from [`RedisConfig::defaults`] of the environment: the key prefix's default
/// depends on the service.
#[derive(Clone, Debug, clap::Args)]
pub struct RedisConfig {
    /// `REDIS_URL`, such as `redis://127.0.0.1:6379`; secret, since it may hold a password.
    #[arg(
        id = "redis_url",
        long = "redis-url",
        env = "REDIS_URL",
        value_name = "a redis:// URL",
        hide_env_values = true
    )]
    pub url: SecretString,
    /// Prefix of every key (`REDIS_KEY_PREFIX`, default the service name and a colon).
    #[arg(
        long = "redis-key-prefix",
        env = "REDIS_KEY_PREFIX",
        value_name = "a key prefix"
    )]
    pub prefix: String,
    /// How long a command waits for a connection (`REDIS_TIMEOUT_MS`, default 250): a cache must
    /// fail fast so callers can fall back to the database.
    #[arg(
        long = "redis-timeout-ms",
        env = "REDIS_TIMEOUT_MS",
        value_name = "a whole number of milliseconds",
        default_value = "250",
        value_parser = config::millis
    )]
    pub timeout: Duration,
}

impl RedisConfig {
    /// Reads the Redis settings for `service`.
    pub fn from_env(env: &Env, service: &str) -> Result<Self, ConfigError> {
        config::parse(&Self::defaults(env, service))
    }

    /// `env` with the defaults for `service` that depend on it: `REDIS_KEY_PREFIX`.
    pub fn defaults(env: &Env, service: &str) -> Env {
        env.with_default("REDIS_KEY_PREFIX", format!("{service}:"))
    }

    /// The namespaced key.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A pool that connects on first use.
    pub fn pool(&self) -> Result<Pool, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: "REDIS_URL".into(),
            value: "<redacted>".into(),
            expected: "a redis:// URL".into(),
            reason,
        };
        let manager = deadpool_redis::Manager::new(self.url.expose_secret())
            .map_err(|e| invalid(e.to_string()))?;
        Pool::builder(Manager(manager))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(self.timeout))
            .create_timeout(Some(self.timeout))
            .recycle_timeout(Some(self.timeout))
            .build()
            .map_err(|e| invalid(e.to_string()))
    }
}

/// Opens multiplexed connections (through deadpool-redis's manager) and recycles them without
/// a round trip (see the module's docs).
#[derive(Debug)]
pub struct Manager(deadpool_redis::Manager);

impl managed::Manager for Manager {
    type Type = MultiplexedConnection;
    type Error = RedisError;

    async fn create(&self) -> Result<MultiplexedConnection, RedisError> {
        self.0.create().await
    }

    async fn recycle(
        &self,
        _: &mut MultiplexedConnection,
        _: &Metrics,
    ) -> RecycleResult<RedisError> {
        Ok(())
    }
}

/// The Redis connection pool.
pub type Pool = managed::Pool<Manager>;

/// A connection checked out of the [`Pool`]; use it as `&mut *connection`.
pub type Connection = managed::Object<Manager>;

/// What [`follow`] hands its handler.
#[derive(Debug)]
pub enum Feed<'a> {
    /// Subscribed: every message published on the channel from now on arrives.
    Subscribed,
    /// One message's payload.
    Message(&'a [u8]),
    /// The subscription broke: messages published from now until the next `Subscribed` are
    /// missed.
    Lost,
}

/// Follows `channel` (a key relative to the prefix, see [`RedisConfig::key`]) until shutdown,
/// subscribing again with backoff whenever the connection breaks or stops answering.
pub async fn follow(
    config: RedisConfig,
    channel: &str,
    shutdown: Shutdown,
    mut handler: impl FnMut(Feed<'_>) + Send,
) {
    let client = match redis::Client::open(config.url.expose_secret()) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot follow a redis channel: invalid REDIS_URL");
            return;
        }
    };
    let channel = config.key(channel);
    let mut delays = reconnect_delays().build();
    loop {
        let error = match subscribe(&client, &config, &channel).await {
            Err(error) => error,
            Ok(pubsub) => {
                handler(Feed::Subscribed);
                delays = reconnect_delays().build();
                let Err(error) = listen(pubsub, &config, &shutdown, &mut handler).await else {
                    return;
                };
                handler(Feed::Lost);
                error
            }
        };
        tracing::warn!(%channel, %error, "redis subscription lost; subscribing again");
        let delay = delays.next().unwrap_or(Duration::from_secs(1));
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// A connection subscribed to `channel`, within the Redis timeout.
async fn subscribe(
    client: &redis::Client,
    config: &RedisConfig,
    channel: &str,
) -> Result<redis::aio::PubSub, String> {
    let mut pubsub = tokio::time::timeout(config.timeout, client.get_async_pubsub())
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|error| error.to_string())?;
    tokio::time::timeout(config.timeout, pubsub.subscribe(channel))
        .await
        .map_err(|_| "subscribing timed out".to_owned())?
        .map_err(|error| error.to_string())?;
    Ok(pubsub)
}

/// Hands `pubsub`'s messages to `handler` until shutdown (`Ok`) or until the connection breaks
/// or stops answering its pings (the error).
async fn listen(
    pubsub: redis::aio::PubSub,
    config: &RedisConfig,
    shutdown: &Shutdown,
    handler: &mut (impl FnMut(Feed<'_>) + Send),
) -> Result<(), String> {
    let (mut sink, mut stream) = pubsub.split();
    let mut ping = tokio::time::interval_at(
        tokio::time::Instant::now() + SUBSCRIPTION_PING,
        SUBSCRIPTION_PING,
    );
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            message = stream.next() => match message {
                Some(message) => handler(Feed::Message(message.get_payload_bytes())),
                None => return Err("connection closed".to_owned()),
            },
            _ = ping.tick() => {
                tokio::time::timeout(config.timeout, sink.ping::<redis::Value>())
                    .await
                    .map_err(|_| "ping timed out".to_owned())?
                    .map_err(|error| error.to_string())?;
            }
        }
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
            match deadpool_redis::redis::cmd("PING")
                .query_async::<String>(&mut *connection)
                .await
            {
                Ok(_) => Ok(()),
                Err(error) => {
                    // Broken: never hand it out again.
                    drop(Connection::take(connection));
                    Err(error.to_string())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_read_but_never_shown() {
        let env = Env::from_pairs([("REDIS_URL", "redis://:hunter2-password@cache:6379")]);
        let config = RedisConfig::from_env(&env, "product").expect("valid");
        assert_eq!(
            config.url.expose_secret(),
            "redis://:hunter2-password@cache:6379"
        );
        assert_eq!(config.prefix, "product:");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
