//! The gateway's settings, read once at start.

use std::net::SocketAddr;
use std::time::Duration;

use kit::config::{ConfigError, Env};

/// Where the upstream services listen.
#[derive(Debug, Clone)]
pub struct Upstreams {
    /// The user service (`USER_URL`).
    pub user: String,
    /// The product service (`PRODUCT_URL`).
    pub product: String,
    /// The order service (`ORDER_URL`).
    pub order: String,
    /// The web service serving the storefront (`WEB_URL`, optional): when set, every path that
    /// is not an API path goes there, so one origin serves the whole shop.
    pub web: Option<String>,
}

/// Token verification settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The user service's JWKS document (`JWKS_URL`, default `$USER_URL/.well-known/jwks.json`).
    pub jwks_url: String,
    /// Expected `iss` (`JWT_ISSUER`, default `ecommerce`).
    pub issuer: String,
    /// Expected `aud` (`JWT_AUDIENCE`, default `ecommerce-api`).
    pub audience: String,
    /// Shortest time between two JWKS fetches triggered by unknown key ids
    /// (`JWKS_REFETCH_MIN_SECS`, default 30): a flood of forged `kid`s cannot hammer the user service.
    pub refetch_min_interval: Duration,
    /// How many verified access tokens are remembered, so a signed-in client's requests do not
    /// each pay for a signature check (`TOKEN_CACHE_CAPACITY`, default 10000; `0` turns the
    /// cache off, which makes every request verify its token: for measuring that cost).
    pub token_cache_capacity: usize,
}

/// Rate limits, per replica (see the README: a shared limit needs a shared store).
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Sustained API requests per second per client (`RATE_LIMIT_PER_SECOND`, default 20).
    pub per_second: u64,
    /// Burst of API requests per client (`RATE_LIMIT_BURST`, default 40).
    pub burst: u32,
    /// Sustained storefront requests (everything outside `/api`, served by the web upstream)
    /// per second per client (`WEB_RATE_LIMIT_PER_SECOND`, default 100). Static files are
    /// cheap to serve, and a cold load of the shop alone fetches some twenty of them.
    pub web_per_second: u64,
    /// Burst of storefront requests per client (`WEB_RATE_LIMIT_BURST`, default 200).
    pub web_burst: u32,
    /// Sustained login/register attempts per minute per IP (`AUTH_RATE_LIMIT_PER_MINUTE`, default 10).
    pub auth_per_minute: u64,
    /// Burst of login/register attempts per IP (`AUTH_RATE_LIMIT_BURST`, default 5).
    pub auth_burst: u32,
    /// Sustained guest carts created per minute per IP (`GUEST_CART_RATE_LIMIT_PER_MINUTE`,
    /// default 10): a visitor needs one, a script filling the cart table needs thousands.
    pub guest_cart_per_minute: u64,
    /// Burst of guest carts created per IP (`GUEST_CART_RATE_LIMIT_BURST`, default 20), room
    /// for a few visitors behind one address arriving together.
    pub guest_cart_burst: u32,
}

/// How the gateway treats upstreams.
#[derive(Debug, Clone, Copy)]
pub struct Resilience {
    /// Time to wait for an upstream's response headers (`UPSTREAM_TIMEOUT_MS`, default 10000).
    pub timeout: Duration,
    /// Time for checkout, which calls the product service and the payment provider
    /// (`CHECKOUT_TIMEOUT_MS`, default 30000).
    pub checkout_timeout: Duration,
    /// Time to open a TCP connection (`UPSTREAM_CONNECT_TIMEOUT_MS`, default 1000).
    pub connect_timeout: Duration,
    /// Extra attempts for idempotent requests that could not be sent (`UPSTREAM_RETRIES`, default 1).
    pub retries: u32,
    /// Consecutive failures that open an upstream's circuit (`BREAKER_FAILURES`, default 5).
    pub breaker_failures: u32,
    /// How long an open circuit waits before letting one probe through (`BREAKER_COOLDOWN_MS`, 5000).
    pub breaker_cooldown: Duration,
    /// Speak HTTP/2 (prior knowledge, h2c) to upstreams instead of pooled HTTP/1.1 (`UPSTREAM_HTTP2`).
    pub http2: bool,
}

/// Everything the gateway is configured with.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Upstream addresses.
    pub upstreams: Upstreams,
    /// Token verification.
    pub auth: AuthConfig,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Upstream handling.
    pub resilience: Resilience,
    /// Origins allowed by CORS (`CORS_ALLOWED_ORIGINS`, comma-separated; empty: same origin only).
    pub cors_origins: Vec<String>,
    /// Largest request body forwarded, in bytes (`BODY_LIMIT_BYTES`, default 1 MiB).
    pub body_limit: usize,
    /// Whether `X-Forwarded-For` is set by a trusted proxy in front of the gateway, such as the
    /// ingress controller (`TRUST_FORWARDED_FOR`, default false: clients could forge it).
    pub trust_forwarded_for: bool,
    /// Whether clients reach the public listener over HTTPS, TLS being terminated in front of
    /// the gateway (`PUBLIC_HTTPS`, default false). Then every answer carries
    /// `Strict-Transport-Security`, so browsers never fall back to plain HTTP, and upstreams are
    /// told `X-Forwarded-Proto: https`.
    pub public_https: bool,
    /// Where the gateway's own `/healthz`, `/readyz` and `/metrics` are served
    /// (`OPS_BIND_ADDR`, default `0.0.0.0:9090`): a listener of their own, never the public one.
    pub ops_bind: SocketAddr,
}

impl GatewayConfig {
    /// Reads the gateway's settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = |name: &str| -> Result<String, ConfigError> {
            let value: String = env.required(name, "an http:// URL")?;
            check_url(name, value)
        };
        let user = url("USER_URL")?;
        let web = env
            .optional::<String>("WEB_URL", "an http:// URL")?
            .map(|v| check_url("WEB_URL", v))
            .transpose()?;
        Ok(Self {
            auth: AuthConfig {
                jwks_url: env.or(
                    "JWKS_URL",
                    format!("{user}/.well-known/jwks.json"),
                    "an http:// URL",
                )?,
                issuer: env.or("JWT_ISSUER", "ecommerce".to_owned(), "the token issuer")?,
                audience: env.or(
                    "JWT_AUDIENCE",
                    "ecommerce-api".to_owned(),
                    "the token audience",
                )?,
                refetch_min_interval: env
                    .seconds("JWKS_REFETCH_MIN_SECS", Duration::from_secs(30))?,
                token_cache_capacity: env.or(
                    "TOKEN_CACHE_CAPACITY",
                    10_000,
                    "a number of tokens (0: no cache)",
                )?,
            },
            upstreams: Upstreams {
                user,
                product: url("PRODUCT_URL")?,
                order: url("ORDER_URL")?,
                web,
            },
            rate_limits: RateLimits {
                per_second: positive(env, "RATE_LIMIT_PER_SECOND", 20)?,
                burst: positive(env, "RATE_LIMIT_BURST", 40)?,
                web_per_second: positive(env, "WEB_RATE_LIMIT_PER_SECOND", 100)?,
                web_burst: positive(env, "WEB_RATE_LIMIT_BURST", 200)?,
                auth_per_minute: positive(env, "AUTH_RATE_LIMIT_PER_MINUTE", 10)?,
                auth_burst: positive(env, "AUTH_RATE_LIMIT_BURST", 5)?,
                guest_cart_per_minute: positive(env, "GUEST_CART_RATE_LIMIT_PER_MINUTE", 10)?,
                guest_cart_burst: positive(env, "GUEST_CART_RATE_LIMIT_BURST", 20)?,
            },
            resilience: Resilience {
                timeout: env.millis("UPSTREAM_TIMEOUT_MS", Duration::from_secs(10))?,
                checkout_timeout: env.millis("CHECKOUT_TIMEOUT_MS", Duration::from_secs(30))?,
                connect_timeout: env
                    .millis("UPSTREAM_CONNECT_TIMEOUT_MS", Duration::from_secs(1))?,
                retries: env.or("UPSTREAM_RETRIES", 1, "a number of retries")?,
                breaker_failures: positive(env, "BREAKER_FAILURES", 5)?,
                breaker_cooldown: env.millis("BREAKER_COOLDOWN_MS", Duration::from_secs(5))?,
                http2: env.or("UPSTREAM_HTTP2", false, "true or false")?,
            },
            cors_origins: cors_origins(env)?,
            body_limit: env.or("BODY_LIMIT_BYTES", 1024 * 1024, "a number of bytes")?,
            trust_forwarded_for: env.or("TRUST_FORWARDED_FOR", false, "true or false")?,
            public_https: env.or("PUBLIC_HTTPS", false, "true or false")?,
            ops_bind: env.or(
                "OPS_BIND_ADDR",
                SocketAddr::from(([0, 0, 0, 0], 9090)),
                "a socket address such as 0.0.0.0:9090",
            )?,
        })
    }
}

fn check_url(name: &str, value: String) -> Result<String, ConfigError> {
    match value.parse::<http::Uri>() {
        Ok(uri) if uri.scheme_str() == Some("http") && uri.authority().is_some() => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(ConfigError::Invalid {
            name: name.to_owned(),
            value,
            expected: "an http:// URL".to_owned(),
            reason: "not an absolute http URL (TLS between services is the mesh's job)".to_owned(),
        }),
    }
}

fn cors_origins(env: &Env) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = env.raw("CORS_ALLOWED_ORIGINS") else {
        return Ok(Vec::new());
    };
    let origins: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    if origins.iter().any(|o| o == "*") {
        return Err(ConfigError::Invalid {
            name: "CORS_ALLOWED_ORIGINS".to_owned(),
            value: raw.to_owned(),
            expected: "comma-separated origins".to_owned(),
            reason: "a wildcard would let every site call the API with its visitors' tokens"
                .to_owned(),
        });
    }
    Ok(origins)
}

fn positive<T>(env: &Env, name: &str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + Default + Copy,
    T::Err: std::fmt::Display,
{
    let value = env.or(name, default, "a positive number")?;
    if value > T::default() {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            name: name.to_owned(),
            // As written, not as parsed: `00` or `+0` should be recognisable in the message.
            value: env.raw(name).unwrap_or_default().to_owned(),
            expected: "a positive number".to_owned(),
            reason: "must be greater than zero".to_owned(),
        })
    }
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
