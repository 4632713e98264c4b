//! Typed configuration from environment variables, read once at start.
//!
//! Every service describes its settings as structs deriving [`clap::Args`], one field a
//! variable: `#[arg(long, env = "NAME", value_name = EXPECTED, default_value = .., value_parser =
//! ..)]`, the common parts (database, broker, cache...) flattened in. [`parse`] reads them from an
//! [`Env`] snapshot. A missing or malformed variable becomes a [`ConfigError`] that names the
//! variable and what was expected (the arg's `value_name`), so a bad deployment fails at start-up
//! with one readable line instead of misbehaving later. Rules between fields that clap cannot
//! express are small functions run after parsing, returning the same errors.
//!
//! Any variable `NAME` can instead be given as `NAME_FILE`, the path of a file holding the value
//! (a mounted Kubernetes Secret, say), so that secrets need not sit in the process environment
//! where crash reports and `/proc/PID/environ` would show them. `NAME` wins when both are set.
//! The value of an arg marked `hide_env_values` (a secret) is never repeated in an error.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use secrecy::SecretString;

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

    /// This environment with `name` set to `value` unless it (or `NAME_FILE`) is set already:
    /// for a default that depends on the caller, which a derive attribute cannot spell.
    pub fn with_default(&self, name: &str, value: impl Into<String>) -> Self {
        let mut env = self.clone();
        if env.raw(name).is_none() && env.raw(&format!("{name}_FILE")).is_none() {
            env.vars.insert(name.to_owned(), value.into());
        }
        env
    }

    /// The raw value, treating an empty string as unset (as Kubernetes renders unset values).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The value of `var` from `NAME` or, failing that, from the file `NAME_FILE` names, with
    /// where it came from. Errors about the file name `NAME_FILE` and its path, never the file's
    /// contents: they are usually secrets.
    fn read(&self, var: &Var) -> Result<Option<Read>, ConfigError> {
        if let Some(value) = self.raw(&var.name) {
            return Ok(Some(Read {
                name: var.name.clone(),
                shown: if var.secret { "<redacted>" } else { value }.to_owned(),
                expected: var.expected.clone(),
                text: value.trim().to_owned(),
            }));
        }
        let file_var = format!("{}_FILE", var.name);
        let Some(path) = self.raw(&file_var) else {
            return Ok(None);
        };
        let read = Read {
            name: file_var,
            shown: path.to_owned(),
            expected: format!("a readable file holding {}", var.expected),
            text: String::new(),
        };
        let text = std::fs::read_to_string(path).map_err(|e| read.invalid(e.to_string()))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(read.invalid("the file is empty".to_owned()));
        }
        Ok(Some(Read {
            text: text.to_owned(),
            ..read
        }))
    }
}

/// What an arg of a settings struct reads: its variable, what it expects, whether it is secret.
struct Var {
    name: String,
    expected: String,
    secret: bool,
}

/// A value read for a [`Var`], and how an error about it names it.
struct Read {
    /// The variable it came from: `NAME`, or `NAME_FILE`.
    name: String,
    /// The value as an error shows it: as written, the file's path, or `<redacted>`.
    shown: String,
    expected: String,
    /// The value itself, trimmed.
    text: String,
}

impl Read {
    fn invalid(&self, reason: String) -> ConfigError {
        ConfigError::Invalid {
            name: self.name.clone(),
            value: self.shown.clone(),
            expected: self.expected.clone(),
            reason,
        }
    }
}

/// Reads the settings `T` describes from `env`.
///
/// Each arg with an `env` name gets its value from the snapshot (`NAME`, or the file
/// `NAME_FILE` names) as a `--long=value` argument; clap's own lookup of the process
/// environment is switched off, so a test never reads the real one. Clap then applies the
/// defaults and value parsers, and its errors come back as [`ConfigError`]s naming the variable.
pub fn parse<T: clap::Args>(env: &Env) -> Result<T, ConfigError> {
    let command = T::augment_args(
        clap::Command::new("config")
            .no_binary_name(true)
            .disable_help_flag(true),
    );
    let mut vars = HashMap::new();
    let mut argv = Vec::new();
    for arg in command.get_arguments() {
        let (Some(name), Some(long)) = (arg.get_env().and_then(OsStr::to_str), arg.get_long())
        else {
            continue;
        };
        let var = Var {
            name: name.to_owned(),
            expected: arg
                .get_value_names()
                .and_then(|names| names.first())
                .map_or_else(|| "a value".to_owned(), ToString::to_string),
            secret: arg.is_hide_env_values_set(),
        };
        if let Some(read) = env.read(&var)? {
            argv.push(format!("--{long}={}", read.text));
            vars.insert(long.to_owned(), (var, Some(read)));
        } else {
            vars.insert(long.to_owned(), (var, None));
        }
    }
    let matches = command
        .mut_args(|arg| arg.env(None))
        .try_get_matches_from(argv)
        .map_err(|error| from_clap(&error, &vars))?;
    T::from_arg_matches(&matches).map_err(|error| from_clap(&error, &vars))
}

/// The [`ConfigError`] for clap's `error` about one of `vars` (by long name).
fn from_clap(error: &clap::Error, vars: &HashMap<String, (Var, Option<Read>)>) -> ConfigError {
    // Clap names the arg as it prints it, `--long <VALUE NAME>` or `--long=<value>`.
    let arg = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => Some(arg.as_str()),
        Some(ContextValue::Strings(args)) => args.first().map(String::as_str),
        _ => None,
    };
    let found = arg
        .and_then(|arg| arg.strip_prefix("--"))
        .and_then(|arg| arg.split([' ', '=']).next())
        .and_then(|long| vars.get(long));
    let reason = match error.kind() {
        ErrorKind::ValueValidation => std::error::Error::source(error)
            .map_or_else(|| error.kind().to_string(), ToString::to_string),
        ErrorKind::InvalidValue => match error.get(ContextKind::ValidValue) {
            Some(ContextValue::Strings(valid)) => format!("not one of {}", valid.join(", ")),
            _ => error.kind().to_string(),
        },
        kind => kind.to_string(),
    };
    match found {
        Some((var, None)) if error.kind() == ErrorKind::MissingRequiredArgument => {
            ConfigError::Missing {
                name: var.name.clone(),
                expected: var.expected.clone(),
            }
        }
        Some((_, Some(read))) => read.invalid(reason),
        // A default its value parser refused, such as a folder that is not there.
        Some((var, None)) => ConfigError::Invalid {
            name: var.name.clone(),
            value: match error.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(value)) => value.clone(),
                _ => String::new(),
            },
            expected: var.expected.clone(),
            reason,
        },
        None => ConfigError::Invalid {
            name: arg.unwrap_or("configuration").to_owned(),
            value: String::new(),
            expected: "settings clap can read".to_owned(),
            reason: error.to_string(),
        },
    }
}

/// Value parser: a secret, such as a URL with a password in it, kept out of `Debug` output.
pub fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(value.into())
}

/// The shortest random secret accepted as a key: an HMAC-SHA256 key shorter than its output is
/// weaker than the hash.
pub const MIN_SECRET_LEN: usize = 32;

/// Value parser: a key of random text, at least [`MIN_SECRET_LEN`] bytes long.
pub fn random_secret(value: &str) -> Result<SecretString, String> {
    if value.len() < MIN_SECRET_LEN {
        return Err(format!("it is {} bytes long", value.len()));
    }
    Ok(value.into())
}

/// Value parser: a whole number of seconds.
pub fn seconds(value: &str) -> Result<Duration, std::num::ParseIntError> {
    value.parse().map(Duration::from_secs)
}

/// Value parser: a whole number of milliseconds.
pub fn millis(value: &str) -> Result<Duration, std::num::ParseIntError> {
    value.parse().map(Duration::from_millis)
}

/// Value parser: a whole number of seconds other than zero. As an interval a zero would make a
/// loop spin, as a deadline it would fail everything at once.
pub fn positive_seconds(value: &str) -> Result<Duration, String> {
    non_zero(seconds(value).map_err(|e| e.to_string())?)
}

/// Value parser: a whole number of milliseconds other than zero (see [`positive_seconds`]).
pub fn positive_millis(value: &str) -> Result<Duration, String> {
    non_zero(millis(value).map_err(|e| e.to_string())?)
}

fn non_zero(value: Duration) -> Result<Duration, String> {
    if value.is_zero() {
        return Err("zero is not allowed".to_owned());
    }
    Ok(value)
}

/// Value parser: a number greater than zero, such as a rate or a capacity.
pub fn positive<T>(value: &str) -> Result<T, String>
where
    T: FromStr + Default + PartialOrd,
    T::Err: Display,
{
    let parsed: T = value.parse().map_err(|e: T::Err| e.to_string())?;
    if parsed > T::default() {
        Ok(parsed)
    } else {
        Err("must be greater than zero".to_owned())
    }
}

/// Settings of the HTTP server that every service runs.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpConfig {
    /// Address to listen on (`BIND_ADDR`, default `0.0.0.0:8080`).
    #[arg(
        long,
        env = "BIND_ADDR",
        value_name = "a socket address such as 0.0.0.0:8080",
        default_value = "0.0.0.0:8080"
    )]
    pub bind: std::net::SocketAddr,
    /// Longest time a request may take before it is answered 503 (`REQUEST_TIMEOUT_SECS`, 30).
    #[arg(
        long,
        env = "REQUEST_TIMEOUT_SECS",
        value_name = "a whole number of seconds",
        default_value = "30",
        value_parser = seconds
    )]
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes (`BODY_LIMIT_BYTES`, 1 MiB).
    #[arg(
        long,
        env = "BODY_LIMIT_BYTES",
        value_name = "a number of bytes",
        default_value = "1048576"
    )]
    pub body_limit: usize,
    /// How long in-flight requests may take to finish after SIGTERM (`SHUTDOWN_DRAIN_SECS`, 20).
    #[arg(
        long,
        env = "SHUTDOWN_DRAIN_SECS",
        value_name = "a whole number of seconds",
        default_value = "20",
        value_parser = seconds
    )]
    pub drain_deadline: Duration,
    /// How long a client has to send a request's headers, from the moment its connection is
    /// waiting for one (`HEADER_READ_TIMEOUT_MS`, 10000): a client that trickles them, or sends
    /// nothing, is cut off rather than holding a connection for ever (slowloris).
    #[arg(
        long,
        env = "HEADER_READ_TIMEOUT_MS",
        value_name = "a positive whole number of milliseconds",
        default_value = "10000",
        value_parser = positive_millis
    )]
    pub header_read_timeout: Duration,
    /// The most connections served at once (`MAX_CONNECTIONS`, 4096); further ones wait in the
    /// listen backlog until one closes, so a flood of connections cannot exhaust memory or file
    /// descriptors. Zero would serve none.
    #[arg(
        long,
        env = "MAX_CONNECTIONS",
        value_name = "a positive number",
        default_value = "4096",
        value_parser = positive::<usize>
    )]
    pub max_connections: usize,
    /// Event loops serving connections (`HTTP_EVENT_LOOPS`, 0): each a single-threaded runtime on
    /// a thread of its own accepting from the listener, as nginx's workers do, so a connection's
    /// work stays on one thread. 0 serves connections on the process's shared work-stealing
    /// runtime (a worker thread per CPU), which wakes another thread for a share of the requests:
    /// a cost that shows when requests are small and many and the cores are busy. The loops turn
    /// until the whole server has stopped, background tasks included, so a connection a shared
    /// pool opened from one loop (which drives it) stays usable from the others; but each such
    /// use wakes that loop's thread, so services with database pools keep 0 and the gateway,
    /// whose upstream pools are per thread, runs a loop per core.
    #[arg(
        long,
        env = "HTTP_EVENT_LOOPS",
        value_name = "a whole number",
        default_value = "0"
    )]
    pub event_loops: usize,
}

impl HttpConfig {
    /// Reads the server settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        parse(env)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::db::DatabaseConfig;

    /// A plain text setting, for the file tests.
    #[derive(Debug, clap::Args)]
    struct DatabaseUrl {
        #[arg(long, env = "DATABASE_URL", value_name = "a URL")]
        database_url: String,
    }

    /// A secret read the way services read theirs, for the file tests.
    #[derive(Debug, clap::Args)]
    struct CursorSecret {
        #[arg(long, env = "CURSOR_SECRET", value_name = "a secret")]
        cursor_secret: String,
    }

    /// A variable every process has.
    #[derive(Debug, clap::Args)]
    struct Path {
        #[arg(long, env = "PATH", value_name = "a search path")]
        path: String,
    }

    #[test]
    fn missing_required_variable_is_named() {
        let env = Env::from_pairs([("OTHER", "1")]);
        let err = DatabaseConfig::from_env(&env).expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "DATABASE_URL is not set: expected a postgres:// URL"
        );
    }

    #[test]
    fn empty_value_counts_as_missing() {
        let env = Env::from_pairs([("DATABASE_URL", "")]);
        assert!(matches!(
            DatabaseConfig::from_env(&env),
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
        let url = parse::<DatabaseUrl>(&env).expect("read").database_url;
        assert_eq!(url, "postgres://app:s3cret@db/app");

        // The variable itself wins over its file.
        let env = Env::from_pairs([
            ("DATABASE_URL", "postgres://direct"),
            ("DATABASE_URL_FILE", file.as_str()),
        ]);
        let url = parse::<DatabaseUrl>(&env).expect("read").database_url;
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
        let err = parse::<CursorSecret>(&env).expect_err("must fail");
        assert!(
            matches!(err, ConfigError::Invalid { ref name, ref value, .. }
                if name == "CURSOR_SECRET_FILE" && value == "/nonexistent/cursor-secret"),
            "{err}"
        );
        let env = Env::from_pairs([("CURSOR_SECRET_FILE", "/dev/null")]);
        let err = parse::<CursorSecret>(&env).expect_err("must fail");
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

    #[test]
    fn zero_connections_and_header_timeouts_are_refused_by_name() {
        for name in ["MAX_CONNECTIONS", "HEADER_READ_TIMEOUT_MS"] {
            let err = HttpConfig::from_env(&Env::from_pairs([(name, "0")])).expect_err("zero");
            assert!(
                err.to_string()
                    .starts_with(&format!("{name}=\"0\" is invalid")),
                "{err}"
            );
        }
    }

    #[test]
    fn the_process_environment_is_never_read() {
        // PATH is set in the test process: clap's own lookup would find it.
        assert!(std::env::var_os("PATH").is_some());
        assert!(matches!(
            parse::<Path>(&Env::default()),
            Err(ConfigError::Missing { ref name, .. }) if name == "PATH"
        ));
    }

    #[test]
    fn a_secret_is_never_repeated_in_an_error() {
        let env = Env::from_pairs([("DATABASE_URL", "postgres://root:hunter2@db:port")]);
        let err = DatabaseConfig::from_env(&env).expect_err("no port");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(
            err.to_string().starts_with("DATABASE_URL=\"<redacted>\""),
            "{err}"
        );
    }

    #[test]
    fn a_caller_default_yields_to_the_variable_and_its_file() {
        let env = Env::from_pairs([("A", "set"), ("B_FILE", "/some/file")]);
        let env = env
            .with_default("A", "default")
            .with_default("B", "default")
            .with_default("C", "default");
        assert_eq!(env.raw("A"), Some("set"));
        assert_eq!(env.raw("B"), None);
        assert_eq!(env.raw("C"), Some("default"));
    }

    proptest! {
        #[test]
        fn positive_accepts_exactly_the_numbers_above_zero(n in any::<u32>()) {
            let parsed = positive::<u32>(&n.to_string());
            prop_assert_eq!(parsed.is_ok(), n > 0);
        }

        #[test]
        fn durations_read_back_what_was_written(n in 1..u64::MAX / 1000) {
            prop_assert_eq!(positive_seconds(&n.to_string()), Ok(Duration::from_secs(n)));
            prop_assert_eq!(positive_millis(&n.to_string()), Ok(Duration::from_millis(n)));
        }

        #[test]
        fn any_value_is_reported_under_its_variable(value in "[a-z]{1,12}") {
            let env = Env::from_pairs([("REQUEST_TIMEOUT_SECS", value.as_str())]);
            let err = HttpConfig::from_env(&env).expect_err("not a number");
            prop_assert_eq!(
                err,
                ConfigError::Invalid {
                    name: "REQUEST_TIMEOUT_SECS".to_owned(),
                    value: value.clone(),
                    expected: "a whole number of seconds".to_owned(),
                    reason: "invalid digit found in string".to_owned(),
                }
            );
        }
    }
}
