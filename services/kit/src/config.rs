//! Typed configuration from environment variables, read once at start.
//!
//! Every service builds its settings from an [`Env`] snapshot. A missing or malformed variable
//! becomes a [`ConfigError`] that names the variable and what was expected, so a bad deployment
//! fails at start-up with one readable line instead of misbehaving later.
//!
//! Any variable `NAME` can instead be given as `NAME_FILE`, the path of a file holding the value
//! (a mounted Kubernetes Secret, say), so that secrets need not sit in the process environment
//! where crash reports and `/proc/PID/environ` would show them. `NAME` wins when both are set.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// A variable that is missing or cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The variable is required and not set (or set to an empty string).
    #[error("{name} is not set: expected {expected}")]
    Missing {
        /// The environment variable.
        name: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// The variable is set but its value does not parse.
    #[error("{name}={value:?} is invalid: expected {expected} ({reason})")]
    Invalid {
        /// The environment variable.
        name: String,
        /// The value found.
        value: String,
        /// What a valid value looks like.
        expected: String,
        /// Why parsing failed.
        reason: String,
    },
}

/// A snapshot of environment variables to read settings from.
///
/// Tests build one from pairs instead of mutating the process environment, which is shared
/// by every test thread.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// An environment made of the given pairs only.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The raw value, treating an empty string as unset (as Kubernetes renders unset values).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A required variable parsed as `T`.
    pub fn required<T>(&self, name: &str, expected: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.optional(name, expected)?
            .ok_or_else(|| ConfigError::Missing {
                name: name.to_owned(),
                expected: expected.to_owned(),
            })
    }

    /// An optional variable parsed as `T`; `None` when unset.
    pub fn optional<T>(&self, name: &str, expected: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        if let Some(value) = self.raw(name) {
            return value
                .trim()
                .parse()
                .map(Some)
                .map_err(|e: T::Err| ConfigError::Invalid {
                    name: name.to_owned(),
                    value: value.to_owned(),
                    expected: expected.to_owned(),
                    reason: e.to_string(),
                });
        }
        self.read_named_file(name, expected)
    }

    /// The value of `NAME` read from the file that `NAME_FILE` names, if that is set. Errors name
    /// `NAME_FILE` and its path, never the file's contents: they are usually secrets.
    fn read_named_file<T>(&self, name: &str, expected: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let file_var = format!("{name}_FILE");
        let Some(path) = self.raw(&file_var) else {
            return Ok(None);
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name: file_var.clone(),
            value: path.to_owned(),
            expected: format!("a readable file holding {expected}"),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("the file is empty".to_owned()));
        }
        text.parse()
            .map(Some)
            .map_err(|e: T::Err| invalid(e.to_string()))
    }

    /// A variable parsed as `T`, or `default` when unset.
    pub fn or<T>(&self, name: &str, default: T, expected: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.optional(name, expected)?.unwrap_or(default))
    }

    /// A whole number of seconds, or `default` when unset.
    pub fn seconds(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        self.optional::<u64>(name, "a whole number of seconds")
            .map(|v| v.map_or(default, Duration::from_secs))
    }

    /// A whole number of milliseconds, or `default` when unset.
    pub fn millis(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        self.optional::<u64>(name, "a whole number of milliseconds")
            .map(|v| v.map_or(default, Duration::from_millis))
    }
}

/// Settings of the HTTP server that every service runs.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Address to listen on (`BIND_ADDR`, default `0.0.0.0:8080`).
    pub bind: std::net::SocketAddr,
    /// Longest time a request may take before it is answered 503 (`REQUEST_TIMEOUT_SECS`, 30).
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes (`BODY_LIMIT_BYTES`, 1 MiB).
    pub body_limit: usize,
    /// How long in-flight requests may take to finish after SIGTERM (`SHUTDOWN_DRAIN_SECS`, 20).
    pub drain_deadline: Duration,
    /// How long a client has to send a request's headers, from the moment its connection is
    /// waiting for one (`HEADER_READ_TIMEOUT_MS`, 10000): a client that trickles them, or sends
    /// nothing, is cut off rather than holding a connection for ever (slowloris).
    pub header_read_timeout: Duration,
    /// The most connections served at once (`MAX_CONNECTIONS`, 4096); further ones wait in the
    /// listen backlog until one closes, so a flood of connections cannot exhaust memory or file
    /// descriptors.
    pub max_connections: usize,
}

impl HttpConfig {
    /// Reads the server settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            bind: env.or(
                "BIND_ADDR",
                std::net::SocketAddr::from(([0, 0, 0, 0], 8080)),
                "a socket address such as 0.0.0.0:8080",
            )?,
            request_timeout: env.seconds("REQUEST_TIMEOUT_SECS", Duration::from_secs(30))?,
            body_limit: env.or("BODY_LIMIT_BYTES", 1024 * 1024, "a number of bytes")?,
            drain_deadline: env.seconds("SHUTDOWN_DRAIN_SECS", Duration::from_secs(20))?,
            header_read_timeout: positive_millis(env, "HEADER_READ_TIMEOUT_MS", 10_000)?,
            max_connections: match env.or("MAX_CONNECTIONS", 4096, "a positive number")? {
                0 => {
                    return Err(ConfigError::Invalid {
                        name: "MAX_CONNECTIONS".into(),
                        value: "0".into(),
                        expected: "a positive number".into(),
                        reason: "no connection could ever be served".into(),
                    });
                }
                max => max,
            },
        })
    }
}

/// A whole number of milliseconds other than zero, `default` when unset.
fn positive_millis(env: &Env, name: &str, default: u64) -> Result<Duration, ConfigError> {
    let value = env.millis(name, Duration::from_millis(default))?;
    if value.is_zero() {
        return Err(ConfigError::Invalid {
            name: name.into(),
            value: "0".into(),
            expected: "a positive whole number of milliseconds".into(),
            reason: "zero is not allowed".into(),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_required_variable_is_named() {
        let env = Env::from_pairs([("OTHER", "1")]);
        let err = env
            .required::<String>("DATABASE_URL", "a postgres:// URL")
            .expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "DATABASE_URL is not set: expected a postgres:// URL"
        );
    }

    #[test]
    fn empty_value_counts_as_missing() {
        let env = Env::from_pairs([("DATABASE_URL", "")]);
        assert!(matches!(
            env.required::<String>("DATABASE_URL", "a URL"),
            Err(ConfigError::Missing { .. })
        ));
    }

    #[test]
    fn malformed_value_is_named_with_the_expectation() {
        let env = Env::from_pairs([("BIND_ADDR", "localhost:http")]);
        let err = HttpConfig::from_env(&env).expect_err("must fail");
        let message = err.to_string();
        assert!(
            message
                .starts_with("BIND_ADDR=\"localhost:http\" is invalid: expected a socket address"),
            "{message}"
        );
    }

    #[test]
    fn malformed_duration_is_named() {
        let env = Env::from_pairs([("REQUEST_TIMEOUT_SECS", "ten")]);
        let err = HttpConfig::from_env(&env).expect_err("must fail");
        assert!(
            matches!(err, ConfigError::Invalid { ref name, .. } if name == "REQUEST_TIMEOUT_SECS")
        );
    }

    #[test]
    fn a_variable_can_come_from_the_file_its_file_variable_names() {
        let dir = std::env::temp_dir().join(format!("kit-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("database-url");
        std::fs::write(&path, "postgres://app:s3cret@db/app\n").expect("write");
        let file = path.display().to_string();

        let env = Env::from_pairs([("DATABASE_URL_FILE", file.as_str())]);
        let url: String = env.required("DATABASE_URL", "a URL").expect("read");
        assert_eq!(url, "postgres://app:s3cret@db/app");

        // The variable itself wins over its file.
        let env = Env::from_pairs([
            ("DATABASE_URL", "postgres://direct"),
            ("DATABASE_URL_FILE", file.as_str()),
        ]);
        let url: String = env.required("DATABASE_URL", "a URL").expect("read");
        assert_eq!(url, "postgres://direct");

        // A bad value from a file is reported by the file's variable and path, not its contents.
        std::fs::write(&path, "not-a-number").expect("write");
        let env = Env::from_pairs([("BODY_LIMIT_BYTES_FILE", file.as_str())]);
        let err = HttpConfig::from_env(&env).expect_err("must fail");
        let message = err.to_string();
        assert!(message.starts_with("BODY_LIMIT_BYTES_FILE=\""), "{message}");
        assert!(!message.contains("not-a-number"), "{message}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_missing_or_empty_file_is_named() {
        let env = Env::from_pairs([("CURSOR_SECRET_FILE", "/nonexistent/cursor-secret")]);
        let err = env
            .required::<String>("CURSOR_SECRET", "a secret")
            .expect_err("must fail");
        assert!(
            matches!(err, ConfigError::Invalid { ref name, ref value, .. }
                if name == "CURSOR_SECRET_FILE" && value == "/nonexistent/cursor-secret"),
            "{err}"
        );
        let env = Env::from_pairs([("CURSOR_SECRET_FILE", "/dev/null")]);
        let err = env
            .required::<String>("CURSOR_SECRET", "a secret")
            .expect_err("must fail");
        assert!(err.to_string().contains("the file is empty"), "{err}");
    }

    #[test]
    fn defaults_apply_when_unset() {
        let config = HttpConfig::from_env(&Env::default()).expect("defaults are valid");
        assert_eq!(config.bind.port(), 8080);
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert_eq!(config.body_limit, 1024 * 1024);
    }

    #[test]
    fn values_are_trimmed_and_parsed() {
        let env = Env::from_pairs([("BODY_LIMIT_BYTES", " 2048 "), ("SHUTDOWN_DRAIN_SECS", "3")]);
        let config = HttpConfig::from_env(&env).expect("valid");
        assert_eq!(config.body_limit, 2048);
        assert_eq!(config.drain_deadline, Duration::from_secs(3));
    }
}
