//! The user service's settings, read once at start from environment variables.
//!
//! Common variables are read by the kit: `BIND_ADDR` and the other server settings, and
//! `DATABASE_URL` (+ `DATABASE_MAX_CONNECTIONS`, `DATABASE_ACQUIRE_TIMEOUT_SECS`,
//! `MIGRATE_ON_START`). The service's
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

use std::path::PathBuf;
use std::time::Duration;

use kit::config::{ConfigError, Env, positive, positive_seconds};
use kit::db::DatabaseConfig;
use kit::internal::{InternalConfig, InternalToken};
use secrecy::{ExposeSecret, SecretString};
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
}

/// The variables as clap reads them; [`Config::from_env`] then builds what spans several.
#[derive(clap::Args)]
struct Vars {
    #[command(flatten)]
    database: DatabaseConfig,
    #[command(flatten)]
    passwords: PasswordVars,
    #[command(flatten)]
    tokens: TokenVars,
    #[command(flatten)]
    login: BackoffConfig,
    #[command(flatten)]
    internal: InternalConfig,
}

impl Config {
    /// Reads the settings; a missing or malformed variable is named in the error.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        only_one_signing_key(env)?;
        let vars: Vars = kit::config::parse(env)?;
        Ok(Self {
            database: vars.database,
            passwords: vars.passwords.build()?,
            tokens: vars.tokens.build()?,
            login: vars.login,
            internal_token: vars.internal.token,
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

/// `ARGON2_*` and `PASSWORD_HASHING_CONCURRENCY`.
#[derive(clap::Args)]
struct PasswordVars {
    #[arg(
        long,
        env = "ARGON2_MEMORY_KIB",
        value_name = "a memory cost in KiB, at least 8 × ARGON2_PARALLELISM",
        default_value_t = argon2::Params::DEFAULT_M_COST
    )]
    memory: u32,
    #[arg(
        long,
        env = "ARGON2_ITERATIONS",
        value_name = "a number of passes, at least 1",
        default_value_t = argon2::Params::DEFAULT_T_COST
    )]
    iterations: u32,
    #[arg(
        long,
        env = "ARGON2_PARALLELISM",
        value_name = "a number of lanes, at least 1",
        default_value_t = argon2::Params::DEFAULT_P_COST
    )]
    parallelism: u32,
    /// Default: the number of CPUs.
    #[arg(
        long,
        env = "PASSWORD_HASHING_CONCURRENCY",
        value_name = "a positive number of concurrent hashes",
        value_parser = positive::<usize>
    )]
    concurrency: Option<usize>,
}

impl PasswordVars {
    /// The argon2 parameters, which argon2 checks together; its error names the one at fault.
    fn build(self) -> Result<PasswordConfig, ConfigError> {
        let params = argon2::Params::new(self.memory, self.iterations, self.parallelism, None)
            .map_err(|e| {
                let (name, value) = match e {
                    argon2::Error::TimeTooSmall => ("ARGON2_ITERATIONS", self.iterations),
                    argon2::Error::ThreadsTooFew | argon2::Error::ThreadsTooMany => {
                        ("ARGON2_PARALLELISM", self.parallelism)
                    }
                    _ => ("ARGON2_MEMORY_KIB", self.memory),
                };
                ConfigError::Invalid {
                    name: name.to_owned(),
                    value: value.to_string(),
                    expected: "valid argon2 parameters".to_owned(),
                    reason: e.to_string(),
                }
            })?;
        let concurrency = self
            .concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        Ok(PasswordConfig {
            params,
            concurrency,
        })
    }
}

impl PasswordConfig {
    /// Reads `ARGON2_*` and `PASSWORD_HASHING_CONCURRENCY`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        kit::config::parse::<PasswordVars>(env)?.build()
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

/// The `JWT_*` and `*_TOKEN_TTL_SECS` variables.
#[derive(clap::Args)]
struct TokenVars {
    #[arg(
        long,
        env = "JWT_SIGNING_KEY",
        value_name = "an Ed25519 private key in PKCS#8 PEM form (see `user generate-key`)",
        hide_env_values = true,
        value_parser = signing_key
    )]
    signing_key: SecretString,
    #[arg(
        long,
        env = "JWT_SIGNING_KEY_ID",
        value_name = "a key id of 1 to 64 characters of A-Z a-z 0-9 . _ -"
    )]
    signing_key_id: String,
    #[arg(
        long,
        env = "JWT_VERIFICATION_KEYS_FILE",
        value_name = r#"a JWKS JSON file ({"keys": [...]}) of Ed25519 public keys"#
    )]
    verification_keys_file: Option<PathBuf>,
    #[arg(
        long,
        env = "JWT_ISSUER",
        value_name = "an issuer name",
        default_value = "ecommerce"
    )]
    issuer: String,
    #[arg(
        long,
        env = "JWT_AUDIENCE",
        value_name = "an audience name",
        default_value = "ecommerce-api"
    )]
    audience: String,
    #[arg(
        long,
        env = "ACCESS_TOKEN_TTL_SECS",
        value_name = "a positive whole number of seconds",
        default_value = "900",
        value_parser = positive_seconds
    )]
    access_ttl: Duration,
    #[arg(
        long,
        env = "REFRESH_TOKEN_TTL_SECS",
        value_name = "a positive whole number of seconds",
        default_value = "2592000",
        value_parser = positive_seconds
    )]
    refresh_ttl: Duration,
}

/// Value parser: PEM text that holds an Ed25519 private key, checked here so that an error
/// names where the key came from (`JWT_SIGNING_KEY` or `JWT_SIGNING_KEY_FILE`).
fn signing_key(pem: &str) -> Result<SecretString, tokens::KeyError> {
    Signer::from_pem("-", pem)?;
    Ok(pem.into())
}

/// `JWT_SIGNING_KEY` and `JWT_SIGNING_KEY_FILE` are alternatives: with both set, which one
/// signs would be a guess.
fn only_one_signing_key(env: &Env) -> Result<(), ConfigError> {
    if env.raw("JWT_SIGNING_KEY").is_some() && env.raw("JWT_SIGNING_KEY_FILE").is_some() {
        return Err(ConfigError::Invalid {
            name: "JWT_SIGNING_KEY_FILE".to_owned(),
            value: "<set>".to_owned(),
            expected: "only one of JWT_SIGNING_KEY and JWT_SIGNING_KEY_FILE".to_owned(),
            reason: "both are set".to_owned(),
        });
    }
    Ok(())
}

impl TokenVars {
    /// The signer (the key was checked while parsing, so only its id can be wrong) and the
    /// earlier keys, which must agree with it.
    fn build(self) -> Result<TokenConfig, ConfigError> {
        let signer = Signer::from_pem(
            self.signing_key_id.clone(),
            self.signing_key.expose_secret(),
        )
        .map_err(|e| ConfigError::Invalid {
            name: "JWT_SIGNING_KEY_ID".to_owned(),
            value: self.signing_key_id,
            expected: "an Ed25519 private key in PKCS#8 PEM form, with a plain key id".to_owned(),
            reason: e.to_string(),
        })?;
        let previous_keys = match &self.verification_keys_file {
            Some(path) => previous_keys(path, &signer, &self.issuer, &self.audience)?,
            None => Jwks::default(),
        };
        Ok(TokenConfig {
            signer,
            previous_keys,
            issuer: self.issuer,
            audience: self.audience,
            access_ttl: self.access_ttl,
            refresh_ttl: self.refresh_ttl,
        })
    }
}

impl TokenConfig {
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

/// `JWT_VERIFICATION_KEYS_FILE`, checked to be a usable key set that does not contradict the
/// signing key.
fn previous_keys(
    path: &std::path::Path,
    signer: &Signer,
    issuer: &str,
    audience: &str,
) -> Result<Jwks, ConfigError> {
    let expected = r#"a JWKS JSON file ({"keys": [...]}) of Ed25519 public keys"#;
    let invalid = |reason: String| ConfigError::Invalid {
        name: "JWT_VERIFICATION_KEYS_FILE".to_owned(),
        value: path.display().to_string(),
        expected: expected.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
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

/// The failed-login backoff policy.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct BackoffConfig {
    /// Consecutive failures allowed before the account is locked for a while; zero would lock
    /// every account.
    #[arg(
        long,
        env = "LOGIN_MAX_FAILURES",
        value_name = "a positive number of failures",
        default_value = "5",
        value_parser = positive::<u32>
    )]
    pub max_failures: u32,
    /// The first lock's length; each further failure doubles it.
    #[arg(
        long,
        env = "LOGIN_BACKOFF_BASE_SECS",
        value_name = "a positive whole number of seconds",
        default_value = "1",
        value_parser = positive_seconds
    )]
    pub base: Duration,
    /// The longest lock.
    #[arg(
        long,
        env = "LOGIN_BACKOFF_MAX_SECS",
        value_name = "a positive whole number of seconds",
        default_value = "900",
        value_parser = positive_seconds
    )]
    pub max: Duration,
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
        assert!(!config.database.migrate_on_start);
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
