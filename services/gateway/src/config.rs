//! The gateway's settings, read once at start.

use std::net::SocketAddr;
use std::time::Duration;

use kit::config::{ConfigError, Env, millis, positive, seconds};

/// What an upstream's address must be.
const HTTP_URL: &str = "an http:// URL";

/// Where the upstream services listen.
#[derive(Debug, Clone, clap::Args)]
pub struct Upstreams {
    /// The user service (`USER_URL`).
    #[arg(long, env = "USER_URL", value_name = HTTP_URL, value_parser = http_url)]
    pub user: String,
    /// The product service (`PRODUCT_URL`).
    #[arg(long, env = "PRODUCT_URL", value_name = HTTP_URL, value_parser = http_url)]
    pub product: String,
    /// The order service (`ORDER_URL`).
    #[arg(long, env = "ORDER_URL", value_name = HTTP_URL, value_parser = http_url)]
    pub order: String,
    /// The web service serving the storefront (`WEB_URL`, optional): when set, every path that
    /// is not an API path goes there, so one origin serves the whole shop.
    #[arg(long, env = "WEB_URL", value_name = HTTP_URL, value_parser = http_url)]
    pub web: Option<String>,
}

/// Token verification settings.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthConfig {
    /// The user service's JWKS document (`JWKS_URL`, default `$USER_URL/.well-known/jwks.json`).
    #[arg(long, env = "JWKS_URL", value_name = HTTP_URL)]
    pub jwks_url: String,
    /// Expected `iss` (`JWT_ISSUER`, default `ecommerce`).
    #[arg(
        long,
        env = "JWT_ISSUER",
        value_name = "the token issuer",
        default_value = "ecommerce"
    )]
    pub issuer: String,
    /// Expected `aud` (`JWT_AUDIENCE`, default `ecommerce-api`).
    #[arg(
        long,
        env = "JWT_AUDIENCE",
        value_name = "the token audience",
        default_value = "ecommerce-api"
    )]
    pub audience: String,
    /// Shortest time between two JWKS fetches triggered by unknown key ids
    /// (`JWKS_REFETCH_MIN_SECS`, default 30): a flood of forged `kid`s cannot hammer the user service.
    #[arg(
        long,
        env = "JWKS_REFETCH_MIN_SECS",
        value_name = "a whole number of seconds",
        default_value = "30",
        value_parser = seconds
    )]
    pub refetch_min_interval: Duration,
    /// How many verified access tokens are remembered, so a signed-in client's requests do not
    /// each pay for a signature check (`TOKEN_CACHE_CAPACITY`, default 10000; `0` turns the
    /// cache off, which makes every request verify its token: for measuring that cost).
    #[arg(
        long,
        env = "TOKEN_CACHE_CAPACITY",
        value_name = "a number of tokens (0: no cache)",
        default_value = "10000"
    )]
    pub token_cache_capacity: usize,
}

/// Rate limits, per replica (see the README: a shared limit needs a shared store). None may
/// be zero.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct RateLimits {
    /// Sustained API requests per second per client (`RATE_LIMIT_PER_SECOND`, default 20).
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", value_name = "a positive number",
          default_value = "20", value_parser = positive::<u64>)]
    pub per_second: u64,
    /// Burst of API requests per client (`RATE_LIMIT_BURST`, default 40).
    #[arg(long, env = "RATE_LIMIT_BURST", value_name = "a positive number",
          default_value = "40", value_parser = positive::<u32>)]
    pub burst: u32,
    /// Sustained storefront requests (everything outside `/api`, served by the web upstream)
    /// per second per client (`WEB_RATE_LIMIT_PER_SECOND`, default 100). Static files are
    /// cheap to serve, and a cold load of the shop alone fetches some twenty of them.
    #[arg(long, env = "WEB_RATE_LIMIT_PER_SECOND", value_name = "a positive number",
          default_value = "100", value_parser = positive::<u64>)]
    pub web_per_second: u64,
    /// Burst of storefront requests per client (`WEB_RATE_LIMIT_BURST`, default 200).
    #[arg(long, env = "WEB_RATE_LIMIT_BURST", value_name = "a positive number",
          default_value = "200", value_parser = positive::<u32>)]
    pub web_burst: u32,
    /// Sustained login/register attempts per minute per IP (`AUTH_RATE_LIMIT_PER_MINUTE`, default 10).
    #[arg(long, env = "AUTH_RATE_LIMIT_PER_MINUTE", value_name = "a positive number",
          default_value = "10", value_parser = positive::<u64>)]
    pub auth_per_minute: u64,
    /// Burst of login/register attempts per IP (`AUTH_RATE_LIMIT_BURST`, default 5).
    #[arg(long, env = "AUTH_RATE_LIMIT_BURST", value_name = "a positive number",
          default_value = "5", value_parser = positive::<u32>)]
    pub auth_burst: u32,
    /// Sustained guest carts created per minute per IP (`GUEST_CART_RATE_LIMIT_PER_MINUTE`,
    /// default 10): a visitor needs one, a script filling the cart table needs thousands.
    #[arg(long, env = "GUEST_CART_RATE_LIMIT_PER_MINUTE", value_name = "a positive number",
          default_value = "10", value_parser = positive::<u64>)]
    pub guest_cart_per_minute: u64,
    /// Burst of guest carts created per IP (`GUEST_CART_RATE_LIMIT_BURST`, default 20), room
    /// for a few visitors behind one address arriving together.
    #[arg(long, env = "GUEST_CART_RATE_LIMIT_BURST", value_name = "a positive number",
          default_value = "20", value_parser = positive::<u32>)]
    pub guest_cart_burst: u32,
}

/// How the gateway treats upstreams.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Resilience {
    /// Time to wait for an upstream's response headers (`UPSTREAM_TIMEOUT_MS`, default 10000).
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", value_name = "a whole number of milliseconds",
          default_value = "10000", value_parser = millis)]
    pub timeout: Duration,
    /// Time for checkout, which calls the product service and the payment provider
    /// (`CHECKOUT_TIMEOUT_MS`, default 30000).
    #[arg(long, env = "CHECKOUT_TIMEOUT_MS", value_name = "a whole number of milliseconds",
          default_value = "30000", value_parser = millis)]
    pub checkout_timeout: Duration,
    /// Time to open a TCP connection (`UPSTREAM_CONNECT_TIMEOUT_MS`, default 1000).
    #[arg(long, env = "UPSTREAM_CONNECT_TIMEOUT_MS",
          value_name = "a whole number of milliseconds", default_value = "1000",
          value_parser = millis)]
    pub connect_timeout: Duration,
    /// Extra attempts for idempotent requests that could not be sent (`UPSTREAM_RETRIES`, default 1).
    #[arg(
        long,
        env = "UPSTREAM_RETRIES",
        value_name = "a number of retries",
        default_value = "1"
    )]
    pub retries: u32,
    /// Consecutive failures that open an upstream's circuit (`BREAKER_FAILURES`, default 5).
    #[arg(long, env = "BREAKER_FAILURES", value_name = "a positive number",
          default_value = "5", value_parser = positive::<u32>)]
    pub breaker_failures: u32,
    /// How long an open circuit waits before letting one probe through (`BREAKER_COOLDOWN_MS`, 5000).
    #[arg(long, env = "BREAKER_COOLDOWN_MS", value_name = "a whole number of milliseconds",
          default_value = "5000", value_parser = millis)]
    pub breaker_cooldown: Duration,
    /// Speak HTTP/2 (prior knowledge, h2c) to upstreams instead of pooled HTTP/1.1 (`UPSTREAM_HTTP2`).
    #[arg(long, env = "UPSTREAM_HTTP2", value_name = "true or false", default_value = "false",
          action = clap::ArgAction::Set)]
    pub http2: bool,
}

/// Everything the gateway is configured with.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayConfig {
    /// Upstream addresses.
    #[command(flatten)]
    pub upstreams: Upstreams,
    /// Token verification.
    #[command(flatten)]
    pub auth: AuthConfig,
    /// Rate limits.
    #[command(flatten)]
    pub rate_limits: RateLimits,
    /// Upstream handling.
    #[command(flatten)]
    pub resilience: Resilience,
    /// Origins allowed by CORS (`CORS_ALLOWED_ORIGINS`, comma-separated; empty: same origin only).
    // Spelled out so that clap takes the list as one value for `cors_origins` to split.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_name = "comma-separated origins",
          default_value = "", value_parser = cors_origins)]
    pub cors_origins: ::std::vec::Vec<String>,
    /// Largest request body forwarded, in bytes (`BODY_LIMIT_BYTES`, default 1 MiB).
    #[arg(
        long,
        env = "BODY_LIMIT_BYTES",
        value_name = "a number of bytes",
        default_value = "1048576"
    )]
    pub body_limit: usize,
    /// Whether `X-Forwarded-For` is set by a trusted proxy in front of the gateway, such as the
    /// ingress controller (`TRUST_FORWARDED_FOR`, default false: clients could forge it).
    #[arg(long, env = "TRUST_FORWARDED_FOR", value_name = "true or false",
          default_value = "false", action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,
    /// Whether clients reach the public listener over HTTPS, TLS being terminated in front of
    /// the gateway (`PUBLIC_HTTPS`, default false). Then every answer carries
    /// `Strict-Transport-Security`, so browsers never fall back to plain HTTP, and upstreams are
    /// told `X-Forwarded-Proto: https`.
    #[arg(long, env = "PUBLIC_HTTPS", value_name = "true or false", default_value = "false",
          action = clap::ArgAction::Set)]
    pub public_https: bool,
    /// Where the gateway's own `/healthz`, `/readyz` and `/metrics` are served
    /// (`OPS_BIND_ADDR`, default `0.0.0.0:9090`): a listener of their own, never the public one.
    #[arg(
        long,
        env = "OPS_BIND_ADDR",
        value_name = "a socket address such as 0.0.0.0:9090",
        default_value = "0.0.0.0:9090"
    )]
    pub ops_bind: SocketAddr,
}

impl GatewayConfig {
    /// Reads the gateway's settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        // JWKS_URL's default is the user service's, read (and checked) first.
        let upstreams: Upstreams = kit::config::parse(env)?;
        let jwks = format!("{}/.well-known/jwks.json", upstreams.user);
        kit::config::parse(&env.with_default("JWKS_URL", jwks))
    }
}

/// Value parser: an absolute `http://` URL, without its trailing slash.
fn http_url(value: &str) -> Result<String, &'static str> {
    match value.parse::<http::Uri>() {
        Ok(uri) if uri.scheme_str() == Some("http") && uri.authority().is_some() => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err("not an absolute http URL (TLS between services is the mesh's job)"),
    }
}

/// Value parser: comma-separated origins, none of them `*`.
fn cors_origins(value: &str) -> Result<Vec<String>, &'static str> {
    let origins: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    if origins.iter().any(|o| o == "*") {
        return Err("a wildcard would let every site call the API with its visitors' tokens");
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("USER_URL", "http://user:8080/"),
            ("PRODUCT_URL", "http://product:8080"),
            ("ORDER_URL", "http://order:8080"),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults_derive_from_the_upstreams() {
        let config = GatewayConfig::from_env(&env(&[])).expect("valid");
        assert_eq!(config.upstreams.user, "http://user:8080");
        assert_eq!(
            config.auth.jwks_url,
            "http://user:8080/.well-known/jwks.json"
        );
        assert!(config.upstreams.web.is_none());
        assert!(config.cors_origins.is_empty());
        assert_eq!(config.auth.token_cache_capacity, 10_000);
        let off = GatewayConfig::from_env(&env(&[("TOKEN_CACHE_CAPACITY", "0")])).expect("valid");
        assert_eq!(off.auth.token_cache_capacity, 0);
    }

    #[test]
    fn a_missing_upstream_is_named() {
        let error = GatewayConfig::from_env(&Env::from_pairs([("USER_URL", "http://u")]))
            .expect_err("must fail");
        assert_eq!(
            error.to_string(),
            "PRODUCT_URL is not set: expected an http:// URL"
        );
    }

    #[test]
    fn a_non_http_upstream_is_named() {
        let error =
            GatewayConfig::from_env(&env(&[("WEB_URL", "ftp://web")])).expect_err("must fail");
        assert!(
            error
                .to_string()
                .starts_with("WEB_URL=\"ftp://web\" is invalid"),
            "{error}"
        );
    }

    #[test]
    fn zero_rate_limit_is_rejected_naming_the_value_read() {
        for (name, value) in [
            ("RATE_LIMIT_BURST", "00"),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "+0"),
            ("WEB_RATE_LIMIT_BURST", "0"),
        ] {
            let error = GatewayConfig::from_env(&env(&[(name, value)])).expect_err("must fail");
            assert_eq!(
                error.to_string(),
                format!(
                    "{name}={value:?} is invalid: expected a positive number (must be greater than zero)"
                )
            );
        }
    }

    #[test]
    fn the_ops_listener_defaults_to_its_own_port_and_is_validated() {
        let config = GatewayConfig::from_env(&env(&[])).expect("valid");
        assert_eq!(config.ops_bind, SocketAddr::from(([0, 0, 0, 0], 9090)));
        let config =
            GatewayConfig::from_env(&env(&[("OPS_BIND_ADDR", "127.0.0.1:9191")])).expect("valid");
        assert_eq!(config.ops_bind, SocketAddr::from(([127, 0, 0, 1], 9191)));
        let error = GatewayConfig::from_env(&env(&[("OPS_BIND_ADDR", "localhost:ops")]))
            .expect_err("must fail");
        assert!(
            error.to_string().starts_with(
                "OPS_BIND_ADDR=\"localhost:ops\" is invalid: expected a socket address"
            ),
            "{error}"
        );
    }

    #[test]
    fn cors_origins_are_split() {
        let config = GatewayConfig::from_env(&env(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://shop.example, https://admin.example",
        )]))
        .expect("valid");
        assert_eq!(
            config.cors_origins,
            ["https://shop.example", "https://admin.example"]
        );
    }

    #[test]
    fn a_wildcard_cors_origin_is_refused_naming_the_variable() {
        let error =
            GatewayConfig::from_env(&env(&[("CORS_ALLOWED_ORIGINS", "https://shop.example, *")]))
                .expect_err("wildcard");
        let message = error.to_string();
        assert!(message.contains("CORS_ALLOWED_ORIGINS"), "{message}");
        assert!(message.contains("wildcard"), "{message}");
    }
}
