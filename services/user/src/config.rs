//! The user service's settings, read once at start from environment variables.
//!
//! Common variables are read by the kit: `BIND_ADDR` and the other server settings, and
//! `DATABASE_URL` (+ `DATABASE_MAX_CONNECTIONS`, `DATABASE_ACQUIRE_TIMEOUT_SECS`). The service's
//! own variables:
//!
//! Access tokens (Ed25519 JWTs):
//! - `JWT_SIGNING_KEY` or `JWT_SIGNING_KEY_FILE` (one is required): the Ed25519 private key that
//!   signs access tokens, as PKCS#8 PEM text or the path of a file holding it (a mounted Secret).
//!   `user generate-key` prints a fresh one.
//! - `JWT_SIGNING_KEY_ID` (required): its key id (`kid`), 1 to 64 characters of
//!   `A-Z a-z 0-9 . _ -`, such as `2026-03`.
//! - `JWT_VERIFICATION_KEYS_FILE` (optional): a JWKS JSON document (`{"keys": [...]}`) of earlier
//!   public keys that stay published at `/.well-known/jwks.json`, so tokens they signed keep
//!   verifying while a rotation is under way. To rotate: save the current `jwks.json` as this
//!   file, switch the signing key and id, and drop the file once the old tokens have expired
//!   (`ACCESS_TOKEN_TTL_SECS` after the switch).
//! - `JWT_ISSUER` (default `ecommerce`) and `JWT_AUDIENCE` (default `ecommerce-api`): the `iss`
//!   and `aud` claims; the gateway expects the same values.
//! - `ACCESS_TOKEN_TTL_SECS` (default 900): how long an access token is valid.
//! - `REFRESH_TOKEN_TTL_SECS` (default 2592000, 30 days): how long a refresh token is valid;
//!   every refresh issues a new one with a fresh lifetime.
//!
//! Passwords (argon2id, OWASP's minimum parameters by default):
//! - `ARGON2_MEMORY_KIB` (default 19456), `ARGON2_ITERATIONS` (default 2),
//!   `ARGON2_PARALLELISM` (default 1).
//! - `PASSWORD_HASHING_CONCURRENCY` (default: the number of CPUs): how many hashes run at once;
//!   more wait their turn, which bounds memory at this many times `ARGON2_MEMORY_KIB`.
//!
//! Login backoff (per normalised email, shared by all replicas through Postgres):
//! - `LOGIN_MAX_FAILURES` (default 5): consecutive failures allowed before logins for that email
//!   are refused with 429 for a while.
//! - `LOGIN_BACKOFF_BASE_SECS` (default 1) and `LOGIN_BACKOFF_MAX_SECS` (default 900): the first
//!   wait, doubled with each further failure, up to the maximum.
//!
//! - `INTERNAL_TOKEN` (required): the shared secret other services send to the `/internal/*`
//!   routes, at least 32 bytes (see [`kit::internal`]).
//! - `MIGRATE_ON_START` (default `false`): apply migrations before serving (development).

use std::path::PathBuf;
use std::time::Duration;

use kit::config::{ConfigError, Env};
use kit::db::DatabaseConfig;
use kit::internal::InternalToken;
use tokens::{Jwks, Signer, Verifier};

/// Everything the user service reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The accounts database.
    pub database: DatabaseConfig,
    /// Password hashing.
    pub passwords: PasswordConfig,
    /// Access and refresh tokens.
    pub tokens: TokenConfig,
    /// Failed-login backoff.
    pub login: BackoffConfig,
    /// What the internal routes require of their callers (`INTERNAL_TOKEN`).
    pub internal_token: InternalToken,
    /// Whether `serve` applies migrations first.
    pub migrate_on_start: bool,
}

impl Config {
    /// Reads the settings; a missing or malformed variable is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            database: DatabaseConfig::from_env(env)?,
            passwords: PasswordConfig::from_env(env)?,
            tokens: TokenConfig::from_env(env)?,
            login: BackoffConfig::from_env(env)?,
            internal_token: InternalToken::from_env(env)?,
            migrate_on_start: env.or("MIGRATE_ON_START", false, "true or false")?,
        })
    }
}

/// Argon2id parameters and how many hashes may run at once.
#[derive(Debug, Clone)]
pub struct PasswordConfig {
    /// The argon2 parameters new hashes are made with.
    pub params: argon2::Params,
    /// How many hashes run at once (`PASSWORD_HASHING_CONCURRENCY`).
    pub concurrency: usize,
}

impl PasswordConfig {
    /// Reads `ARGON2_*` and `PASSWORD_HASHING_CONCURRENCY`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let memory = env.or(
            "ARGON2_MEMORY_KIB",
            argon2::Params::DEFAULT_M_COST,
            "a memory cost in KiB, at least 8 × ARGON2_PARALLELISM",
        )?;
        let iterations = env.or(
            "ARGON2_ITERATIONS",
            argon2::Params::DEFAULT_T_COST,
            "a number of passes, at least 1",
        )?;
        let parallelism = env.or(
            "ARGON2_PARALLELISM",
            argon2::Params::DEFAULT_P_COST,
            "a number of lanes, at least 1",
        )?;
        let params = argon2::Params::new(memory, iterations, parallelism, None).map_err(|e| {
            let (name, value) = match e {
                argon2::Error::TimeTooSmall => ("ARGON2_ITERATIONS", iterations),
                argon2::Error::ThreadsTooFew | argon2::Error::ThreadsTooMany => {
                    ("ARGON2_PARALLELISM", parallelism)
                }
                _ => ("ARGON2_MEMORY_KIB", memory),
            };
            ConfigError::Invalid {
                name: name.to_owned(),
                value: value.to_string(),
                expected: "valid argon2 parameters".to_owned(),
                reason: e.to_string(),
            }
        })?;
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let concurrency = env.or(
            "PASSWORD_HASHING_CONCURRENCY",
            cpus,
            "a positive number of concurrent hashes",
        )?;
        if concurrency == 0 {
            return Err(ConfigError::Invalid {
                name: "PASSWORD_HASHING_CONCURRENCY".to_owned(),
                value: "0".to_owned(),
                expected: "a positive number of concurrent hashes".to_owned(),
                reason: "zero would refuse every login".to_owned(),
            });
        }
        Ok(Self {
            params,
            concurrency,
        })
    }
}

/// How tokens are signed, published and how long they live.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// The key that signs new access tokens.
    pub signer: Signer,
    /// Earlier public keys that stay published during a rotation.
    pub previous_keys: Jwks,
    /// The `iss` claim.
    pub issuer: String,
    /// The `aud` claim.
    pub audience: String,
    /// How long an access token is valid.
    pub access_ttl: Duration,
    /// How long a refresh token is valid.
    pub refresh_ttl: Duration,
}

impl TokenConfig {
    /// Reads the `JWT_*` and `*_TOKEN_TTL_SECS` variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let (pem, source) = signing_key_pem(env)?;
        let kid: String = env.required(
            "JWT_SIGNING_KEY_ID",
            "a key id of 1 to 64 characters of A-Z a-z 0-9 . _ -",
        )?;
        let signer = Signer::from_pem(kid.clone(), &pem).map_err(|e| {
            let (name, value) = match e {
                tokens::KeyError::KeyId => ("JWT_SIGNING_KEY_ID", kid.clone()),
                _ => source,
            };
            ConfigError::Invalid {
                name: name.to_owned(),
                value,
                expected: "an Ed25519 private key in PKCS#8 PEM form, with a plain key id"
                    .to_owned(),
                reason: e.to_string(),
            }
        })?;
        let issuer = env.or("JWT_ISSUER", "ecommerce".to_owned(), "an issuer name")?;
        let audience = env.or(
            "JWT_AUDIENCE",
            "ecommerce-api".to_owned(),
            "an audience name",
        )?;
        let previous_keys = previous_keys(env, &signer, &issuer, &audience)?;
        Ok(Self {
            signer,
            previous_keys,
            issuer,
            audience,
            access_ttl: positive_seconds(env, "ACCESS_TOKEN_TTL_SECS", 900)?,
            refresh_ttl: positive_seconds(env, "REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
        })
    }

    /// The published key set: the signing key first, then the earlier ones.
    pub fn jwks(&self) -> Jwks {
        let mut keys = vec![self.signer.jwk()];
        keys.extend(
            self.previous_keys
                .keys
                .iter()
                .filter(|key| key.kid.as_deref() != Some(self.signer.kid()))
                .cloned(),
        );
        Jwks { keys }
    }
}

/// The signing key's PEM text and, for error messages, which variable it came from (the value
/// itself is never repeated).
fn signing_key_pem(env: &Env) -> Result<(String, (&'static str, String)), ConfigError> {
    let expected = "an Ed25519 private key in PKCS#8 PEM form (see `user generate-key`)";
    match (env.raw("JWT_SIGNING_KEY"), env.raw("JWT_SIGNING_KEY_FILE")) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid {
            name: "JWT_SIGNING_KEY_FILE".to_owned(),
            value: "<set>".to_owned(),
            expected: "only one of JWT_SIGNING_KEY and JWT_SIGNING_KEY_FILE".to_owned(),
            reason: "both are set".to_owned(),
        }),
        (Some(pem), None) => Ok((pem.to_owned(), ("JWT_SIGNING_KEY", "<redacted>".to_owned()))),
        (None, Some(path)) => {
            let pem = read_file("JWT_SIGNING_KEY_FILE", path, expected)?;
            Ok((pem, ("JWT_SIGNING_KEY_FILE", path.to_owned())))
        }
        (None, None) => Err(ConfigError::Missing {
            name: "JWT_SIGNING_KEY".to_owned(),
            expected: format!("{expected}, or JWT_SIGNING_KEY_FILE naming a file holding one"),
        }),
    }
}

/// `JWT_VERIFICATION_KEYS_FILE`, checked to be a usable key set that does not contradict the
/// signing key.
fn previous_keys(
    env: &Env,
    signer: &Signer,
    issuer: &str,
    audience: &str,
) -> Result<Jwks, ConfigError> {
    const NAME: &str = "JWT_VERIFICATION_KEYS_FILE";
    let expected = r#"a JWKS JSON file ({"keys": [...]}) of Ed25519 public keys"#;
    let Some(path) = env.raw(NAME) else {
        return Ok(Jwks::default());
    };
    let invalid = |reason: String| ConfigError::Invalid {
        name: NAME.to_owned(),
        value: path.to_owned(),
        expected: expected.to_owned(),
        reason,
    };
    let text = read_file(NAME, path, expected)?;
    let jwks: Jwks = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if let Some(same_kid) = jwks.find(signer.kid())
        && same_kid.x != signer.jwk().x
    {
        return Err(invalid(format!(
            "it holds another key under the signing key's id {:?}",
            signer.kid()
        )));
    }
    let mut published = vec![signer.jwk()];
    published.extend(
        jwks.keys
            .iter()
            .filter(|key| key.kid.as_deref() != Some(signer.kid()))
            .cloned(),
    );
    Verifier::new(&Jwks { keys: published }, issuer, audience)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(jwks)
}

fn read_file(name: &str, path: &str, expected: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(PathBuf::from(path)).map_err(|e| ConfigError::Invalid {
        name: name.to_owned(),
        value: path.to_owned(),
        expected: format!("a readable file holding {expected}"),
        reason: e.to_string(),
    })
}

/// The failed-login backoff policy.
#[derive(Debug, Clone, Copy)]
pub struct BackoffConfig {
    /// Consecutive failures allowed before the account is locked for a while.
    pub max_failures: u32,
    /// The first lock's length; each further failure doubles it.
    pub base: Duration,
    /// The longest lock.
    pub max: Duration,
}

impl BackoffConfig {
    /// Reads the `LOGIN_*` variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let max_failures = env.or("LOGIN_MAX_FAILURES", 5, "a positive number of failures")?;
        if max_failures == 0 {
            return Err(ConfigError::Invalid {
                name: "LOGIN_MAX_FAILURES".to_owned(),
                value: "0".to_owned(),
                expected: "a positive number of failures".to_owned(),
                reason: "zero would lock every account".to_owned(),
            });
        }
        Ok(Self {
            max_failures,
            base: positive_seconds(env, "LOGIN_BACKOFF_BASE_SECS", 1)?,
            max: positive_seconds(env, "LOGIN_BACKOFF_MAX_SECS", 900)?,
        })
    }
}

fn positive_seconds(env: &Env, name: &str, default: u64) -> Result<Duration, ConfigError> {
    let value = env.seconds(name, Duration::from_secs(default))?;
    if value.is_zero() {
        return Err(ConfigError::Invalid {
            name: name.to_owned(),
            value: "0".to_owned(),
            expected: "a positive whole number of seconds".to_owned(),
            reason: "it must be at least 1".to_owned(),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem() -> String {
        tokens::generate_pem().expect("generate")
    }

    fn base(pem: &str) -> Vec<(String, String)> {
        [
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/users"),
            ("JWT_SIGNING_KEY", pem),
            ("JWT_SIGNING_KEY_ID", "k2"),
            ("INTERNAL_TOKEN", "internal-internal-internal-internal"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn with(pairs: &[(&str, &str)], pem: &str) -> Result<Config, ConfigError> {
        let mut vars = base(pem);
        for (k, v) in pairs {
            vars.retain(|(name, _)| name != k);
            vars.push(((*k).to_owned(), (*v).to_owned()));
        }
        Config::from_env(&Env::from_pairs(vars))
    }

    fn named(result: Result<Config, ConfigError>) -> String {
        match result.expect_err("must fail") {
            ConfigError::Missing { name, .. } | ConfigError::Invalid { name, .. } => name,
        }
    }

    fn temp_file(contents: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("user-config-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).expect("write temp file");
        path
    }

    #[test]
    fn defaults_follow_the_documentation() {
        let config = with(&[], &pem()).expect("valid");
        assert_eq!(config.tokens.issuer, "ecommerce");
        assert_eq!(config.tokens.audience, "ecommerce-api");
        assert_eq!(config.tokens.access_ttl, Duration::from_secs(900));
        assert_eq!(config.tokens.refresh_ttl, Duration::from_secs(2_592_000));
        assert_eq!(config.passwords.params.m_cost(), 19_456);
        assert_eq!(config.passwords.params.t_cost(), 2);
        assert_eq!(config.passwords.params.p_cost(), 1);
        assert!(config.passwords.concurrency >= 1);
        assert_eq!(config.login.max_failures, 5);
        assert!(!config.migrate_on_start);
        assert_eq!(config.tokens.jwks().keys.len(), 1);
    }

    #[test]
    fn the_signing_key_is_required_and_named() {
        let mut vars = base(&pem());
        vars.retain(|(k, _)| k != "JWT_SIGNING_KEY");
        let err = Config::from_env(&Env::from_pairs(vars)).expect_err("must fail");
        assert!(
            err.to_string().starts_with("JWT_SIGNING_KEY is not set"),
            "{err}"
        );
        assert_eq!(
            named(with(&[("JWT_SIGNING_KEY", "garbage")], &pem())),
            "JWT_SIGNING_KEY"
        );
        assert_eq!(
            named(with(&[("JWT_SIGNING_KEY_ID", "a b")], &pem())),
            "JWT_SIGNING_KEY_ID"
        );
    }

    #[test]
    fn a_bad_pem_is_reported_without_echoing_it() {
        let err = with(
            &[("JWT_SIGNING_KEY", "-----BEGIN PRIVATE KEY-----secret")],
            &pem(),
        )
        .expect_err("must fail");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn the_signing_key_can_come_from_a_file() {
        let key = pem();
        let path = temp_file(&key);
        let mut vars = base(&key);
        vars.retain(|(k, _)| k != "JWT_SIGNING_KEY");
        vars.push((
            "JWT_SIGNING_KEY_FILE".to_owned(),
            path.display().to_string(),
        ));
        let config = Config::from_env(&Env::from_pairs(vars.clone())).expect("valid");
        let inline = with(&[], &key).expect("valid");
        assert_eq!(config.tokens.signer.jwk(), inline.tokens.signer.jwk());
        std::fs::remove_file(&path).expect("cleanup");
        assert_eq!(
            named(Config::from_env(&Env::from_pairs(vars))),
            "JWT_SIGNING_KEY_FILE"
        );
        assert_eq!(
            named(with(&[("JWT_SIGNING_KEY_FILE", "/etc/hostname")], &key)),
            "JWT_SIGNING_KEY_FILE",
            "both set"
        );
    }

    #[test]
    fn previous_keys_are_published_after_the_signing_key() {
        let old = Signer::from_pem("k1", &pem()).expect("old key");
        let path = temp_file(
            &serde_json::to_string(&Jwks {
                keys: vec![old.jwk()],
            })
            .expect("json"),
        );
        let config = with(
            &[("JWT_VERIFICATION_KEYS_FILE", &path.display().to_string())],
            &pem(),
        )
        .expect("valid");
        let kids: Vec<_> = config
            .tokens
            .jwks()
            .keys
            .into_iter()
            .filter_map(|k| k.kid)
            .collect();
        assert_eq!(kids, ["k2", "k1"]);
        std::fs::remove_file(&path).expect("cleanup");
    }

    #[test]
    fn previous_keys_that_contradict_the_signing_key_or_are_malformed_are_refused() {
        let key = pem();
        let impostor = Signer::from_pem("k2", &pem()).expect("key");
        let clash = temp_file(
            &serde_json::to_string(&Jwks {
                keys: vec![impostor.jwk()],
            })
            .expect("json"),
        );
        let garbage = temp_file(
            "{\"keys\": [{\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"kid\": \"x\", \"x\": \"AA\"}]}",
        );
        for path in [&clash, &garbage] {
            assert_eq!(
                named(with(
                    &[("JWT_VERIFICATION_KEYS_FILE", &path.display().to_string())],
                    &key
                )),
                "JWT_VERIFICATION_KEYS_FILE"
            );
            std::fs::remove_file(path).expect("cleanup");
        }
        // The signing key's own JWK in the file (a common copy of jwks.json) is fine.
        let same = Signer::from_pem("k2", &key).expect("key");
        let copy = temp_file(
            &serde_json::to_string(&Jwks {
                keys: vec![same.jwk()],
            })
            .expect("json"),
        );
        let config = with(
            &[("JWT_VERIFICATION_KEYS_FILE", &copy.display().to_string())],
            &key,
        )
        .expect("valid");
        assert_eq!(config.tokens.jwks().keys.len(), 1);
        std::fs::remove_file(&copy).expect("cleanup");
    }

    #[test]
    fn bad_numbers_are_named() {
        let key = pem();
        for (name, value) in [
            ("ARGON2_MEMORY_KIB", "4"),
            ("ARGON2_MEMORY_KIB", "lots"),
            ("ARGON2_ITERATIONS", "0"),
            ("ARGON2_PARALLELISM", "0"),
            ("PASSWORD_HASHING_CONCURRENCY", "0"),
            ("ACCESS_TOKEN_TTL_SECS", "0"),
            ("REFRESH_TOKEN_TTL_SECS", "-1"),
            ("LOGIN_MAX_FAILURES", "0"),
            ("LOGIN_BACKOFF_BASE_SECS", "soon"),
            ("MIGRATE_ON_START", "yes"),
        ] {
            assert_eq!(named(with(&[(name, value)], &key)), name, "{name}={value}");
        }
    }
}
