//! The product service's settings, read once at start from environment variables.
//!
//! Common variables are read by the kit: `BIND_ADDR` and the other server settings,
//! `DATABASE_URL` (+ `DATABASE_MAX_CONNECTIONS`, `DATABASE_ACQUIRE_TIMEOUT_SECS`,
//! `MIGRATE_ON_START`), `REDIS_URL`
//! (+ `REDIS_KEY_PREFIX`, `REDIS_TIMEOUT_MS`), `AMQP_URL` and `AMQP_EXCHANGE`. The service's
//! own variables:
//!
//! - `CURSOR_SECRET` (required): the key that signs search cursors, at least 32 bytes of random
//!   text. Every replica needs the same one, or a cursor minted by one is refused by another.
//! - `INTERNAL_TOKEN` (required): the shared secret the order service sends to the `/internal/*`
//!   routes, at least 32 bytes, the same in both services (see [`kit::internal`]).
//! - `CACHE_TTL_SECS` (default 300): how long product details and the category list stay in
//!   Redis; `0` turns the cache off.
//! - `CACHE_LOCAL_ENTRIES` (default 1024): how many of those entries each replica also keeps in
//!   its own memory, in front of Redis (forgotten on every replica when a write makes them
//!   stale); `0` reads Redis every time.
//! - `RESERVATION_TTL_SECS` (default 900): how long a reservation holds stock when the order
//!   service does not say.
//! - `RESERVATION_SWEEP_SECS` (default 30): how often expired reservations are released.
//! - `ORDER_EVENTS_QUEUE` (default `product.order-events`): the durable queue the service reads
//!   order events from; poison messages go to `<queue>.dlq`.
//! - `CATALOG_CURRENCY` (default `USD`): the currency every price is in, so price filters and
//!   sorts compare like with like.

use std::time::Duration;

use contracts::money::Currency;
use kit::amqp::AmqpConfig;
use kit::cache::RedisConfig;
use kit::config::{ConfigError, Env, positive_seconds, random_secret};
use kit::db::DatabaseConfig;
use kit::internal::InternalConfig;
use secrecy::SecretString;

/// Everything the product service reads from its environment.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// The catalog database.
    #[command(flatten)]
    pub database: DatabaseConfig,
    /// The cache.
    #[command(flatten)]
    pub redis: RedisConfig,
    /// The broker the order events arrive on.
    #[command(flatten)]
    pub amqp: AmqpConfig,
    /// Catalog behaviour shared by the request handlers.
    #[command(flatten)]
    pub catalog: CatalogSettings,
    /// How long cached entries live; `None` disables the cache.
    // Spelled out so that clap hands the whole value, `0` included, to `ttl_or_off`.
    #[arg(
        long,
        env = "CACHE_TTL_SECS",
        value_name = "a whole number of seconds",
        default_value = CACHE_TTL_SECS,
        value_parser = ttl_or_off
    )]
    pub cache_ttl: ::std::option::Option<Duration>,
    /// How many cached entries each replica keeps in process; `0` for none.
    #[arg(
        long,
        env = "CACHE_LOCAL_ENTRIES",
        value_name = "a whole number of entries",
        default_value = "1024"
    )]
    pub cache_local_entries: u64,
    /// How often the sweeper releases expired reservations.
    #[arg(
        long,
        env = "RESERVATION_SWEEP_SECS",
        value_name = "a positive whole number of seconds",
        default_value = "30",
        value_parser = positive_seconds
    )]
    pub sweep_interval: Duration,
    /// The queue order events are consumed from.
    #[arg(
        long,
        env = "ORDER_EVENTS_QUEUE",
        value_name = "a queue name",
        default_value = "product.order-events"
    )]
    pub order_events_queue: String,
}

/// Settings the request handlers need.
#[derive(Debug, Clone, clap::Args)]
pub struct CatalogSettings {
    /// The key search cursors are signed with.
    #[arg(
        long,
        env = "CURSOR_SECRET",
        value_name = "at least 32 characters of random text",
        hide_env_values = true,
        value_parser = random_secret
    )]
    pub cursor_secret: SecretString,
    /// The currency of every price.
    #[arg(
        long = "catalog-currency",
        env = "CATALOG_CURRENCY",
        value_name = CURRENCY,
        default_value = "USD",
        value_parser = Currency::parse
    )]
    pub currency: Currency,
    /// How long a reservation lasts when the request gives no TTL.
    #[arg(
        long,
        env = "RESERVATION_TTL_SECS",
        value_name = "a positive whole number of seconds",
        default_value = "900",
        value_parser = positive_seconds
    )]
    pub reservation_ttl: Duration,
    /// What the internal routes require of their callers.
    #[command(flatten)]
    pub internal: InternalConfig,
}

impl Config {
    /// Reads the settings; a missing or malformed variable is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        kit::config::parse(&RedisConfig::defaults(env, "product"))
    }
}

impl CatalogSettings {
    /// Reads `CURSOR_SECRET`, `CATALOG_CURRENCY`, `RESERVATION_TTL_SECS` and `INTERNAL_TOKEN`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        kit::config::parse(env)
    }
}

/// `CACHE_TTL_SECS`'s default: five minutes.
const CACHE_TTL_SECS: &str = "300";

/// What `CATALOG_CURRENCY` must hold.
const CURRENCY: &str = "an ISO 4217 code such as USD";

/// Value parser: a TTL in seconds, `0` for none.
fn ttl_or_off(value: &str) -> Result<Option<Duration>, std::num::ParseIntError> {
    let ttl = kit::config::seconds(value)?;
    Ok((!ttl.is_zero()).then_some(ttl))
}

/// `CACHE_TTL_SECS` alone, for the commands that need only the cache.
#[derive(clap::Args)]
struct CacheTtl {
    #[arg(
        long,
        env = "CACHE_TTL_SECS",
        value_name = "a whole number of seconds",
        default_value = CACHE_TTL_SECS,
        value_parser = ttl_or_off
    )]
    cache_ttl: ::std::option::Option<Duration>,
}

/// `CATALOG_CURRENCY` alone, for the commands that need only the currency.
#[derive(clap::Args)]
struct CatalogCurrency {
    #[arg(
        long,
        env = "CATALOG_CURRENCY",
        value_name = CURRENCY,
        default_value = "USD",
        value_parser = Currency::parse
    )]
    currency: Currency,
}

/// `CACHE_TTL_SECS`: how long cache entries live; `None` when `0` turns the cache off.
pub fn cache_ttl(env: &Env) -> Result<Option<Duration>, ConfigError> {
    kit::config::parse::<CacheTtl>(env).map(|vars| vars.cache_ttl)
}

/// `CATALOG_CURRENCY`, strictly three uppercase letters.
pub fn catalog_currency(env: &Env) -> Result<Currency, ConfigError> {
    kit::config::parse::<CatalogCurrency>(env).map(|vars| vars.currency)
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
        assert!(!config.database.migrate_on_start);
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
