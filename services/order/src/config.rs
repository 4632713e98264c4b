//! The order service's settings, read once at start from environment variables.
//!
//! Common variables are read by the kit: `BIND_ADDR` and the other server settings,
//! `DATABASE_URL` (+ `DATABASE_MAX_CONNECTIONS`, `DATABASE_ACQUIRE_TIMEOUT_SECS`,
//! `MIGRATE_ON_START`), `AMQP_URL`
//! and `AMQP_EXCHANGE`. The service's own variables (the intervals and deadlines among them,
//! `PRODUCT_TIMEOUT_MS`, the TTLs, `ORDER_SWEEP_SECS` and `OUTBOX_POLL_MS`, must not be 0):
//!
//! - `PRODUCT_URL` (required): the product service's base URL, such as `http://product:8080`;
//!   its `/internal/*` API prices carts and reserves stock.
//! - `INTERNAL_TOKEN` (required): the shared secret sent to the product service's `/internal/*`
//!   routes, at least 32 bytes, the same as the product service's (see [`kit::internal`]).
//! - `PAYMENT_PROVIDER` (required, no default): who charges the cards. `test` is the built-in
//!   test provider ([`crate::payments::TestPaymentProvider`]), which charges only the test card
//!   numbers and never real money, and the only provider so far. There is no default so that a
//!   production deployment cannot end up on the test provider by leaving the variable out:
//!   unset or unknown, start-up fails naming it.
//! - `IDEMPOTENCY_SECRET` (required): at least 32 bytes of random text (such as the output of
//!   `openssl rand -hex 32`), the key of the HMAC that fingerprints checkout requests, so that
//!   what is stored under an `Idempotency-Key` cannot be traced back to the card
//!   ([`crate::idempotency::FingerprintKey`]). Every replica needs the same one, kept across
//!   restarts: while a key is remembered (24 hours), a retry fingerprinted under another
//!   secret counts as a different request and gets 422.
//! - `PRODUCT_TIMEOUT_MS` (default 2000): the longest one call to the product service may take.
//! - `PRODUCT_RETRIES` (default 2): how many times a failed call (connection error, timeout,
//!   5xx) is retried, with exponential backoff. Every call is idempotent, so retrying is safe.
//! - `SHOP_CURRENCY` (default `USD`): the one currency the shop sells in; a product priced in
//!   another cannot be bought.
//! - `TAX_RATE_BPS` (default 0): tax on the subtotal in basis points (`800` is 8 %), 0 to
//!   10000. Shipping is not taxed.
//! - `SHIPPING_FLAT_MINOR` (default 499): the shipping fee in minor units.
//! - `FREE_SHIPPING_THRESHOLD_MINOR` (default 5000): a subtotal of at least this ships free.
//! - `RESERVATION_TTL_SECS` (default 900): how long the product service holds stock for an
//!   order that is being paid. It must be at least `PENDING_ORDER_TTL_SECS` plus
//!   `PAYMENT_TIMEOUT_MS` plus a minute, so that the stock of every order that may still be
//!   paid is still held when its payment completes (see [`crate::checkout`] for what happens
//!   when it is not all the same).
//! - `PENDING_ORDER_TTL_SECS` (default 600): a `pending` order older than this was abandoned
//!   (its checkout crashed or a dependency failed): the sweeper cancels it and releases its
//!   stock. Also how long an unfinished `Idempotency-Key` may block retries.
//! - `PAYMENT_TIMEOUT_MS` (default 10000): the longest a call to the payment provider may
//!   take (an authorisation or a refund); a provider slower than that counts as down.
//! - `GUEST_CART_IDLE_TTL_SECS` (default 604800, a week): a guest cart not read or written for
//!   this long is expired: its token is refused at once, and the sweeper deletes it.
//! - `ORDER_SWEEP_SECS` (default 60): how often the sweeper runs (pending orders, expired
//!   idempotency keys and guest carts, old published outbox rows).
//! - `IDEMPOTENCY_WAIT_MS` (default 15000): how long a checkout that repeats the key of one
//!   still in progress waits for its response before answering 409.
//! - `OUTBOX_POLL_MS` (default 200): how often the relay looks for unpublished events when
//!   nothing in this process told it about new ones.
//! - `OUTBOX_BATCH_SIZE` (default 100): events published per transaction.
//! - `OUTBOX_RETENTION_HOURS` (default 168): published events are deleted after this long.
//! - `PAYMENT_TEST_LATENCY_MS` (default 0, with `PAYMENT_PROVIDER=test`): added latency of every
//!   call to the test provider.
//! - `PAYMENT_TEST_FAILURE_RATE` (default 0, with `PAYMENT_PROVIDER=test`): the share of test
//!   provider calls that fail as if the provider were down, 0.0 to 1.0 (for fault tests).

use std::str::FromStr;
use std::time::Duration;

use contracts::money::Currency;
use kit::amqp::AmqpConfig;
use kit::config::{ConfigError, Env, millis, positive_millis, positive_seconds, random_secret};
use kit::db::DatabaseConfig;
use kit::internal::InternalConfig;
use secrecy::ExposeSecret;

use crate::idempotency::FingerprintKey;
use crate::pricing::Pricing;

/// Everything the order service reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The order database.
    pub database: DatabaseConfig,
    /// The broker events are published to.
    pub amqp: AmqpConfig,
    /// How to reach the product service.
    pub product: ProductConfig,
    /// How totals are computed.
    pub pricing: Pricing,
    /// Checkout behaviour.
    pub checkout: CheckoutSettings,
    /// Cart behaviour.
    pub carts: CartSettings,
    /// The key of checkout request fingerprints.
    pub fingerprint_key: FingerprintKey,
    /// The background work: sweeper and outbox relay.
    pub background: BackgroundSettings,
    /// The payment provider.
    pub payment: PaymentProviderConfig,
}

/// The variables as clap reads them; [`Config::from_env`] then checks and builds what spans
/// several. The product service's variables come first: without it nothing works.
#[derive(clap::Args)]
struct Vars {
    #[command(flatten)]
    product: ProductConfig,
    #[command(flatten)]
    database: DatabaseConfig,
    #[command(flatten)]
    amqp: AmqpConfig,
    #[command(flatten)]
    pricing: PricingVars,
    #[command(flatten)]
    checkout: CheckoutSettings,
    #[command(flatten)]
    carts: CartSettings,
    #[arg(
        long,
        env = "IDEMPOTENCY_SECRET",
        value_name = "at least 32 characters of random text, the same on every replica",
        hide_env_values = true,
        value_parser = fingerprint_key
    )]
    fingerprint_key: FingerprintKey,
    #[command(flatten)]
    background: BackgroundSettings,
    #[arg(
        long,
        env = "PAYMENT_PROVIDER",
        value_name = "test (the built-in test provider, which never charges real money; \
                      the only provider so far)",
        value_parser = payment_provider
    )]
    payment_provider: Provider,
    #[command(flatten)]
    test_payments: TestPaymentSettings,
}

/// How the product service is called.
#[derive(Debug, Clone, clap::Args)]
pub struct ProductConfig {
    /// Its base URL, without a trailing slash.
    #[arg(
        id = "product_url",
        long = "product-url",
        env = "PRODUCT_URL",
        value_name = "an http(s) URL such as http://product:8080",
        value_parser = http_url
    )]
    pub url: String,
    /// The longest one call may take.
    #[arg(
        long = "product-timeout-ms",
        env = "PRODUCT_TIMEOUT_MS",
        value_name = "a positive whole number of milliseconds",
        default_value = "2000",
        value_parser = positive_millis
    )]
    pub timeout: Duration,
    /// How many times a failed call is retried.
    #[arg(
        long = "product-retries",
        env = "PRODUCT_RETRIES",
        value_name = "a number of retries such as 2",
        default_value = "2"
    )]
    pub retries: usize,
    /// What the product service's internal routes require.
    #[command(flatten)]
    pub internal: InternalConfig,
}

/// Value parser: an `http://` or `https://` URL, without its trailing slash.
fn http_url(value: &str) -> Result<String, &'static str> {
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err("not an http(s) URL");
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// The payment provider (`PAYMENT_PROVIDER`) and its settings.
#[derive(Debug, Clone, Copy)]
pub enum PaymentProviderConfig {
    /// `test`: the built-in test provider.
    Test(TestPaymentSettings),
}

/// The names `PAYMENT_PROVIDER` accepts. There is no default, so that a production deployment
/// cannot end up on the test provider by leaving the variable out.
#[derive(Debug, Clone, Copy)]
enum Provider {
    Test,
}

/// Value parser: a payment provider's name.
fn payment_provider(name: &str) -> Result<Provider, &'static str> {
    match name {
        "test" => Ok(Provider::Test),
        _ => Err("no such payment provider"),
    }
}

/// Value parser: `IDEMPOTENCY_SECRET`, long enough for an HMAC-SHA256 key.
fn fingerprint_key(secret: &str) -> Result<FingerprintKey, String> {
    let secret = random_secret(secret)?;
    Ok(FingerprintKey::new(secret.expose_secret().as_bytes()))
}

/// The pricing variables; [`Pricing`] is the pricing module's.
#[derive(clap::Args)]
struct PricingVars {
    #[arg(
        long,
        env = "SHOP_CURRENCY",
        value_name = "an ISO 4217 code such as USD",
        default_value = "USD",
        value_parser = Currency::parse
    )]
    currency: Currency,
    #[arg(
        long,
        env = "TAX_RATE_BPS",
        value_name = "basis points from 0 to 10000",
        default_value = "0",
        value_parser = tax_bps
    )]
    tax_bps: u32,
    #[arg(
        long,
        env = "SHIPPING_FLAT_MINOR",
        value_name = "an amount in minor units",
        default_value = "499"
    )]
    shipping_flat: u32,
    #[arg(
        long,
        env = "FREE_SHIPPING_THRESHOLD_MINOR",
        value_name = "an amount in minor units",
        default_value = "5000"
    )]
    free_shipping_threshold: u32,
}

/// The largest tax rate accepted: 100 %.
const MAX_TAX_BPS: u32 = 10_000;

/// Value parser: a tax rate in basis points, at most 100 %.
fn tax_bps(value: &str) -> Result<u32, String> {
    let bps: u32 = value.parse().map_err(|e| format!("{e}"))?;
    if bps > MAX_TAX_BPS {
        return Err("above 100 %".to_owned());
    }
    Ok(bps)
}

/// Settings of the checkout flow.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct CheckoutSettings {
    /// How long the product service holds stock for an order being paid.
    #[arg(
        long,
        env = "RESERVATION_TTL_SECS",
        value_name = "a positive whole number of seconds",
        default_value = "900",
        value_parser = positive_seconds
    )]
    pub reservation_ttl: Duration,
    /// When a pending order counts as abandoned.
    #[arg(
        long,
        env = "PENDING_ORDER_TTL_SECS",
        value_name = "a positive whole number of seconds",
        default_value = "600",
        value_parser = positive_seconds
    )]
    pub pending_ttl: Duration,
    /// The longest one call to the payment provider may take.
    #[arg(
        long,
        env = "PAYMENT_TIMEOUT_MS",
        value_name = "a positive whole number of milliseconds",
        default_value = "10000",
        value_parser = positive_millis
    )]
    pub payment_timeout: Duration,
    /// How long a repeated request waits for the first one's response.
    #[arg(
        long,
        env = "IDEMPOTENCY_WAIT_MS",
        value_name = "a whole number of milliseconds",
        default_value = "15000",
        value_parser = millis
    )]
    pub idempotency_wait: Duration,
}

/// Settings of the carts.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct CartSettings {
    /// How long a guest cart may go unused before it expires.
    #[arg(
        long,
        env = "GUEST_CART_IDLE_TTL_SECS",
        value_name = "a positive whole number of seconds",
        default_value = "604800",
        value_parser = positive_seconds
    )]
    pub guest_idle_ttl: Duration,
}

/// Settings of the background tasks.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct BackgroundSettings {
    /// How often the sweeper runs.
    #[arg(
        long,
        env = "ORDER_SWEEP_SECS",
        value_name = "a positive whole number of seconds",
        default_value = "60",
        value_parser = positive_seconds
    )]
    pub sweep_interval: Duration,
    /// How often the relay polls the outbox.
    #[arg(
        long,
        env = "OUTBOX_POLL_MS",
        value_name = "a positive whole number of milliseconds",
        default_value = "200",
        value_parser = positive_millis
    )]
    pub outbox_poll: Duration,
    /// Events per relay transaction.
    #[arg(
        long,
        env = "OUTBOX_BATCH_SIZE",
        value_name = "a number of events from 1 to 1000",
        default_value = "100",
        value_parser = clap::value_parser!(u16).range(1..=1000)
    )]
    pub outbox_batch: u16,
    /// How long published events are kept.
    #[arg(
        long,
        env = "OUTBOX_RETENTION_HOURS",
        value_name = "a whole number of hours",
        default_value = "168",
        value_parser = hours
    )]
    pub outbox_retention: Duration,
}

/// Value parser: a whole number of hours.
fn hours(value: &str) -> Result<Duration, std::num::ParseIntError> {
    let hours: u64 = value.parse()?;
    Ok(Duration::from_secs(hours.saturating_mul(3600)))
}

/// Settings of the built-in test payment provider.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct TestPaymentSettings {
    /// Added latency of every call.
    #[arg(
        long,
        env = "PAYMENT_TEST_LATENCY_MS",
        value_name = "a whole number of milliseconds",
        default_value = "0",
        value_parser = millis
    )]
    pub latency: Duration,
    /// The share of calls that fail.
    #[arg(
        long,
        env = "PAYMENT_TEST_FAILURE_RATE",
        value_name = "a probability from 0.0 to 1.0",
        default_value = "0"
    )]
    pub failure_rate: Rate,
}

/// A probability, 0.0 to 1.0.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Rate(f64);

impl Rate {
    /// The probability as a number from 0 to 1.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let value: f64 = s.parse().map_err(|e| format!("{e}"))?;
        if (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err("out of range".to_owned())
        }
    }
}

/// How much longer than a pending order's whole life plus its payment a reservation must
/// last: room for the calls to the product service around the payment, and for the product
/// service's clock running ahead of the order database's.
pub const RESERVATION_MARGIN: Duration = Duration::from_secs(60);

impl CheckoutSettings {
    /// Checks that a reservation outlives the orders that may still be paid with it.
    fn check(self) -> Result<Self, ConfigError> {
        // A pending order may be paid until the sweeper cancels it, and its payment may take
        // the payment timeout on top: the product service must still hold its stock then.
        let needed = self.pending_ttl + self.payment_timeout + RESERVATION_MARGIN;
        if self.reservation_ttl < needed {
            return Err(ConfigError::Invalid {
                name: "RESERVATION_TTL_SECS".into(),
                value: self.reservation_ttl.as_secs().to_string(),
                expected: format!(
                    "at least PENDING_ORDER_TTL_SECS ({} s) + PAYMENT_TIMEOUT_MS ({} ms) + {} s, \
                     that is {} seconds or more",
                    self.pending_ttl.as_secs(),
                    self.payment_timeout.as_millis(),
                    RESERVATION_MARGIN.as_secs(),
                    needed.as_secs_f64().ceil()
                ),
                reason: "the stock of an order could be released while it is still being paid; \
                         raise RESERVATION_TTL_SECS or lower PENDING_ORDER_TTL_SECS or \
                         PAYMENT_TIMEOUT_MS"
                    .into(),
            });
        }
        Ok(self)
    }
}

impl Config {
    /// Reads the settings; a missing or malformed variable is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: Vars = kit::config::parse(env)?;
        let pricing = vars.pricing;
        Ok(Self {
            database: vars.database,
            amqp: vars.amqp,
            product: vars.product,
            pricing: Pricing {
                currency: pricing.currency,
                tax_bps: pricing.tax_bps,
                shipping_flat: pricing.shipping_flat,
                free_shipping_threshold: pricing.free_shipping_threshold,
            },
            checkout: vars.checkout.check()?,
            carts: vars.carts,
            fingerprint_key: vars.fingerprint_key,
            background: vars.background,
            payment: match vars.payment_provider {
                Provider::Test => PaymentProviderConfig::Test(vars.test_payments),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/orders"),
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            ("PRODUCT_URL", "http://product:8080/"),
            ("IDEMPOTENCY_SECRET", SECRET),
            ("INTERNAL_TOKEN", "internal-internal-internal-internal"),
            ("PAYMENT_PROVIDER", "test"),
        ]
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut pairs = base();
        pairs.extend_from_slice(extra);
        Config::from_env(&Env::from_pairs(pairs))
    }

    fn invalid_name(result: Result<Config, ConfigError>) -> String {
        match result {
            Err(ConfigError::Invalid { name, .. } | ConfigError::Missing { name, .. }) => name,
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn defaults_apply() {
        let config = with(&[]).expect("valid");
        assert_eq!(config.product.url, "http://product:8080");
        assert_eq!(config.product.retries, 2);
        assert_eq!(config.pricing.currency.as_str(), "USD");
        assert_eq!(config.pricing.tax_bps, 0);
        assert_eq!(config.pricing.shipping_flat, 499);
        assert_eq!(config.pricing.free_shipping_threshold, 5000);
        assert_eq!(config.checkout.reservation_ttl, Duration::from_secs(900));
        assert_eq!(config.background.outbox_poll, Duration::from_millis(200));
        assert_eq!(
            config.carts.guest_idle_ttl,
            Duration::from_secs(7 * 24 * 3600)
        );
        let PaymentProviderConfig::Test(test) = config.payment;
        assert_eq!(test.failure_rate.get(), 0.0);
        assert!(!config.database.migrate_on_start);
    }

    #[test]
    fn product_url_is_required_and_must_be_http() {
        let error = Config::from_env(&Env::from_pairs([
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/orders"),
            ("AMQP_URL", "amqp://127.0.0.1"),
        ]))
        .expect_err("missing");
        assert!(
            error.to_string().starts_with("PRODUCT_URL is not set"),
            "{error}"
        );
        let mut pairs = base();
        pairs[2] = ("PRODUCT_URL", "product:8080");
        assert_eq!(
            invalid_name(Config::from_env(&Env::from_pairs(pairs))),
            "PRODUCT_URL"
        );
    }

    #[test]
    fn the_idempotency_secret_is_required_long_and_never_shown() {
        let mut pairs = base();
        pairs.retain(|(name, _)| *name != "IDEMPOTENCY_SECRET");
        let missing = Config::from_env(&Env::from_pairs(pairs.clone())).expect_err("missing");
        assert!(
            missing
                .to_string()
                .starts_with("IDEMPOTENCY_SECRET is not set"),
            "{missing}"
        );
        pairs.push(("IDEMPOTENCY_SECRET", "short-but-secret"));
        let short = Config::from_env(&Env::from_pairs(pairs))
            .expect_err("too short")
            .to_string();
        assert!(short.starts_with("IDEMPOTENCY_SECRET="), "{short}");
        assert!(short.contains("16 bytes long"), "{short}");
        assert!(!short.contains("short-but-secret"), "{short}");
        let config = with(&[]).expect("32 bytes are enough");
        assert!(!format!("{config:?}").contains(SECRET));
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(
            invalid_name(with(&[("TAX_RATE_BPS", "10001")])),
            "TAX_RATE_BPS"
        );
        assert_eq!(
            invalid_name(with(&[("TAX_RATE_BPS", "8%")])),
            "TAX_RATE_BPS"
        );
        assert_eq!(
            invalid_name(with(&[("SHOP_CURRENCY", "usd")])),
            "SHOP_CURRENCY"
        );
        assert_eq!(
            invalid_name(with(&[("PAYMENT_TEST_FAILURE_RATE", "1.5")])),
            "PAYMENT_TEST_FAILURE_RATE"
        );
        assert_eq!(
            invalid_name(with(&[("SHIPPING_FLAT_MINOR", "-1")])),
            "SHIPPING_FLAT_MINOR"
        );
        assert_eq!(
            invalid_name(with(&[("OUTBOX_BATCH_SIZE", "0")])),
            "OUTBOX_BATCH_SIZE"
        );
    }

    #[test]
    fn zero_intervals_and_deadlines_are_refused_by_name() {
        for name in [
            "ORDER_SWEEP_SECS",
            "OUTBOX_POLL_MS",
            "PENDING_ORDER_TTL_SECS",
            "RESERVATION_TTL_SECS",
            "PRODUCT_TIMEOUT_MS",
            "PAYMENT_TIMEOUT_MS",
            "GUEST_CART_IDLE_TTL_SECS",
        ] {
            let error = with(&[(name, "0")]).expect_err("zero");
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("{name}=\"0\" is invalid")),
                "{error}"
            );
            assert!(error.to_string().contains("zero is not allowed"), "{error}");
        }
        let config = with(&[("ORDER_SWEEP_SECS", "1")]).expect("one second is fine");
        assert_eq!(config.background.sweep_interval, Duration::from_secs(1));
    }

    #[test]
    fn a_reservation_must_outlive_a_pending_order_and_its_payment() {
        let config = with(&[]).expect("the defaults fit");
        let checkout = config.checkout;
        assert_eq!(checkout.pending_ttl, Duration::from_secs(600));
        assert_eq!(checkout.payment_timeout, Duration::from_secs(10));
        assert!(
            checkout.reservation_ttl
                >= checkout.pending_ttl + checkout.payment_timeout + RESERVATION_MARGIN
        );

        // Equal TTLs (the old defaults) leave no time for the payment.
        let error = with(&[("PENDING_ORDER_TTL_SECS", "900")]).expect_err("too short");
        let text = error.to_string();
        assert!(
            text.starts_with("RESERVATION_TTL_SECS=\"900\" is invalid"),
            "{text}"
        );
        for named in [
            "PENDING_ORDER_TTL_SECS (900 s)",
            "PAYMENT_TIMEOUT_MS (10000 ms)",
            "970 seconds",
        ] {
            assert!(text.contains(named), "{named} in {text}");
        }
        // The bound is exact: one second short fails, the bound itself is accepted.
        assert_eq!(
            invalid_name(with(&[
                ("RESERVATION_TTL_SECS", "969"),
                ("PENDING_ORDER_TTL_SECS", "900"),
            ])),
            "RESERVATION_TTL_SECS"
        );
        let config = with(&[
            ("RESERVATION_TTL_SECS", "970"),
            ("PENDING_ORDER_TTL_SECS", "900"),
        ])
        .expect("exactly enough");
        assert_eq!(config.checkout.reservation_ttl, Duration::from_secs(970));
        // A slower provider needs a longer reservation.
        assert_eq!(
            invalid_name(with(&[("PAYMENT_TIMEOUT_MS", "300000")])),
            "RESERVATION_TTL_SECS"
        );
    }

    #[test]
    fn rates_parse_within_range() {
        let config = with(&[
            ("PAYMENT_TEST_FAILURE_RATE", "0.25"),
            ("TAX_RATE_BPS", "800"),
        ])
        .expect("valid");
        let PaymentProviderConfig::Test(test) = config.payment;
        assert_eq!(test.failure_rate.get(), 0.25);
        assert_eq!(config.pricing.tax_bps, 800);
        assert!("NaN".parse::<Rate>().is_err());
        assert!("-0.1".parse::<Rate>().is_err());
        assert_eq!("1".parse::<Rate>().map(Rate::get), Ok(1.0));
    }

    #[test]
    fn a_production_configuration_without_a_payment_provider_refuses_to_start() {
        let mut pairs = base();
        pairs.retain(|(name, _)| *name != "PAYMENT_PROVIDER");
        let missing = Config::from_env(&Env::from_pairs(pairs.clone())).expect_err("unset");
        assert!(
            missing
                .to_string()
                .starts_with("PAYMENT_PROVIDER is not set"),
            "{missing}"
        );
        for unknown in ["stripe", "Test", "none"] {
            let mut pairs = pairs.clone();
            pairs.push(("PAYMENT_PROVIDER", unknown));
            assert_eq!(
                invalid_name(Config::from_env(&Env::from_pairs(pairs))),
                "PAYMENT_PROVIDER",
                "{unknown}"
            );
        }
    }

    #[test]
    fn the_internal_token_is_required_and_never_shown() {
        let mut pairs = base();
        pairs.retain(|(name, _)| *name != "INTERNAL_TOKEN");
        assert_eq!(
            invalid_name(Config::from_env(&Env::from_pairs(pairs.clone()))),
            "INTERNAL_TOKEN"
        );
        pairs.push(("INTERNAL_TOKEN", "too-short"));
        let error = Config::from_env(&Env::from_pairs(pairs))
            .expect_err("short")
            .to_string();
        assert!(!error.contains("too-short"), "{error}");
    }
}
