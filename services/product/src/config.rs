//! The product service's settings, read once at start from environment variables.
//!
//! Common variables are read by the kit: `BIND_ADDR` and the other server settings,
//! `DATABASE_URL` (+ `DATABASE_MAX_CONNECTIONS`, `DATABASE_ACQUIRE_TIMEOUT_SECS`), `REDIS_URL`
//! (+ `REDIS_KEY_PREFIX`, `REDIS_TIMEOUT_MS`), `AMQP_URL` and `AMQP_EXCHANGE`. The service's
//! own variables:
//!
//! - `CURSOR_SECRET` (required): the key that signs search cursors, at least 32 bytes of random
//!   text. Every replica needs the same one, or a cursor minted by one is refused by another.
//! - `INTERNAL_TOKEN` (required): the shared secret the order service sends to the `/internal/*`
//!   routes, at least 32 bytes, the same in both services (see [`kit::internal`]).
//! - `CACHE_TTL_SECS` (default 300): how long product details and the category list stay in
//!   Redis; `0` turns the cache off.
//! - `RESERVATION_TTL_SECS` (default 900): how long a reservation holds stock when the order
//!   service does not say.
//! - `RESERVATION_SWEEP_SECS` (default 30): how often expired reservations are released.
//! - `ORDER_EVENTS_QUEUE` (default `product.order-events`): the durable queue the service reads
//!   order events from; poison messages go to `<queue>.dlq`.
//! - `CATALOG_CURRENCY` (default `USD`): the currency every price is in, so price filters and
//!   sorts compare like with like.
//! - `MIGRATE_ON_START` (default `false`): apply migrations before serving (development).

use std::time::Duration;

use contracts::money::Currency;
use kit::amqp::AmqpConfig;
use kit::cache::RedisConfig;
use kit::config::{ConfigError, Env};
use kit::db::DatabaseConfig;
use kit::internal::InternalToken;

/// The shortest `CURSOR_SECRET` accepted: an HMAC-SHA256 key shorter than its output is weak.
const MIN_SECRET_LEN: usize = 32;

/// Everything the product service reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The catalog database.
    pub database: DatabaseConfig,
    /// The cache.
    pub redis: RedisConfig,
    /// The broker the order events arrive on.
    pub amqp: AmqpConfig,
    /// Catalog behaviour shared by the request handlers.
    pub catalog: CatalogSettings,
    /// How long cached entries live; `None` disables the cache.
    pub cache_ttl: Option<Duration>,
    /// How often the sweeper releases expired reservations.
    pub sweep_interval: Duration,
    /// The queue order events are consumed from.
    pub order_events_queue: String,
    /// Whether `serve` applies migrations first.
    pub migrate_on_start: bool,
}

/// Settings the request handlers need.
#[derive(Clone)]
pub struct CatalogSettings {
    /// The key search cursors are signed with.
    pub cursor_secret: Vec<u8>,
    /// The currency of every price.
    pub currency: Currency,
    /// How long a reservation lasts when the request gives no TTL.
    pub reservation_ttl: Duration,
    /// What the internal routes require of their callers.
    pub internal_token: InternalToken,
}

impl std::fmt::Debug for CatalogSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogSettings")
            .field("cursor_secret", &"<redacted>")
            .field("currency", &self.currency)
            .field("reservation_ttl", &self.reservation_ttl)
            .field("internal_token", &self.internal_token)
            .finish()
    }
}

impl Config {
    /// Reads the settings; a missing or malformed variable is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            database: DatabaseConfig::from_env(env)?,
            redis: RedisConfig::from_env(env, "product")?,
            amqp: AmqpConfig::from_env(env)?,
            catalog: CatalogSettings::from_env(env)?,
            cache_ttl: cache_ttl(env)?,
            sweep_interval: positive(env, "RESERVATION_SWEEP_SECS", 30)?,
            order_events_queue: env.or(
                "ORDER_EVENTS_QUEUE",
                "product.order-events".to_owned(),
                "a queue name",
            )?,
            migrate_on_start: env.or("MIGRATE_ON_START", false, "true or false")?,
        })
    }
}

impl CatalogSettings {
    /// Reads `CURSOR_SECRET`, `CATALOG_CURRENCY`, `RESERVATION_TTL_SECS` and `INTERNAL_TOKEN`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let expected = "at least 32 characters of random text";
        let secret: String = env.required("CURSOR_SECRET", expected)?;
        if secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::Invalid {
                name: "CURSOR_SECRET".into(),
                value: "<redacted>".into(),
                expected: expected.into(),
                reason: format!("it is {} bytes long", secret.len()),
            });
        }
        Ok(Self {
            cursor_secret: secret.into_bytes(),
            currency: catalog_currency(env)?,
            reservation_ttl: positive(env, "RESERVATION_TTL_SECS", 900)?,
            internal_token: InternalToken::from_env(env)?,
        })
    }
}

/// `CACHE_TTL_SECS`: how long cache entries live; `None` when `0` turns the cache off.
pub fn cache_ttl(env: &Env) -> Result<Option<Duration>, ConfigError> {
    let ttl = env.seconds("CACHE_TTL_SECS", Duration::from_secs(300))?;
    Ok((!ttl.is_zero()).then_some(ttl))
}

/// `CATALOG_CURRENCY`, strictly three uppercase letters.
pub fn catalog_currency(env: &Env) -> Result<Currency, ConfigError> {
    let expected = "an ISO 4217 code such as USD";
    let code: String = env.or("CATALOG_CURRENCY", "USD".to_owned(), expected)?;
    Currency::parse(&code).map_err(|e| ConfigError::Invalid {
        name: "CATALOG_CURRENCY".into(),
        value: code.clone(),
        expected: expected.into(),
        reason: e.to_string(),
    })
}

/// A whole number of seconds that must not be zero (a zero interval would spin).
fn positive(env: &Env, name: &str, default: u64) -> Result<Duration, ConfigError> {
    let value = env.seconds(name, Duration::from_secs(default))?;
    if value.is_zero() {
        return Err(ConfigError::Invalid {
            name: name.into(),
            value: "0".into(),
            expected: "a positive whole number of seconds".into(),
            reason: "zero is not allowed".into(),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/product"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            ("CURSOR_SECRET", "0123456789abcdef0123456789abcdef"),
            ("INTERNAL_TOKEN", "internal-internal-internal-internal"),
        ]
    }

    #[test]
    fn defaults_apply() {
        let config = Config::from_env(&Env::from_pairs(base())).expect("valid");
        assert_eq!(config.cache_ttl, Some(Duration::from_secs(300)));
        assert_eq!(config.sweep_interval, Duration::from_secs(30));
        assert_eq!(config.catalog.reservation_ttl, Duration::from_secs(900));
        assert_eq!(config.order_events_queue, "product.order-events");
        assert_eq!(config.catalog.currency.as_str(), "USD");
        assert!(!config.migrate_on_start);
    }

    #[test]
    fn a_short_or_missing_secret_is_named() {
        let mut env = base();
        env.retain(|(k, _)| *k != "CURSOR_SECRET");
        let missing = Config::from_env(&Env::from_pairs(env.clone())).expect_err("missing");
        assert!(missing.to_string().starts_with("CURSOR_SECRET is not set"));
        env.push(("CURSOR_SECRET", "short"));
        let short = Config::from_env(&Env::from_pairs(env)).expect_err("short");
        let message = short.to_string();
        assert!(message.starts_with("CURSOR_SECRET="), "{message}");
        assert!(
            !message.contains("short\""),
            "the secret is not echoed: {message}"
        );
    }

    #[test]
    fn zero_ttl_disables_the_cache_but_zero_sweep_is_refused() {
        let mut env = base();
        env.push(("CACHE_TTL_SECS", "0"));
        let config = Config::from_env(&Env::from_pairs(env.clone())).expect("valid");
        assert_eq!(config.cache_ttl, None);
        env.push(("RESERVATION_SWEEP_SECS", "0"));
        let error = Config::from_env(&Env::from_pairs(env)).expect_err("zero sweep");
        assert!(error.to_string().starts_with("RESERVATION_SWEEP_SECS="));
    }

    #[test]
    fn a_bad_currency_is_named() {
        let mut env = base();
        env.push(("CATALOG_CURRENCY", "usd"));
        let error = Config::from_env(&Env::from_pairs(env)).expect_err("lowercase");
        assert!(error.to_string().starts_with("CATALOG_CURRENCY="));
    }
}
