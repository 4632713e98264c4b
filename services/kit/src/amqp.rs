//! RabbitMQ: one connection per service, re-established with backoff when it drops.
//!
//! Publishers and consumers never hold a connection across failures: they ask the [`Broker`]
//! for a channel, and long-running work (a consumer, an outbox relay) runs inside
//! [`Broker::supervise`], which reconnects with exponential backoff until shutdown. Events go to
//! one durable topic exchange whose name comes from configuration.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::future::BoxFuture;
use lapin::options::ExchangeDeclareOptions;
use lapin::types::FieldTable;
use lapin::uri::AMQPUri;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::config::{self, ConfigError, Env};
use crate::health::Check;
use crate::shutdown::Shutdown;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest frame this side accepts, unless the URL sets `frame_max`. lapin keeps a receive
/// and a send buffer of 32 frames each, so the broker's default frame size (128 KiB) made them
/// 4 MiB each, touched: 8 of the 20 MiB a service that publishes held idle. Events are a few
/// hundred bytes; a larger message is only split into more frames.
const FRAME_MAX: u32 = 16 * 1024;

/// The longest wait between two reconnection attempts, before the jitter (which adds up to as
/// much again). It bounds how long a consumer or an outbox relay stays away once the broker is
/// back: with 30 s, ci/faults saw the product service consume again only 10 s after a 30 s
/// outage ended. An attempt every few seconds costs a broker nothing.
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(2);

/// The delays between reconnection attempts: from 200 ms, doubling up to
/// [`RECONNECT_MAX_DELAY`], jittered so that replicas do not reconnect in lockstep, forever.
pub(crate) fn reconnect_delays() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(RECONNECT_MAX_DELAY)
        .with_jitter()
        .without_max_times()
}

/// Broker settings.
#[derive(Debug, Clone, clap::Args)]
pub struct AmqpConfig {
    /// `AMQP_URL`, such as `amqp://guest:guest@127.0.0.1:5672/%2f`: secret, as it holds the
    /// password.
    #[arg(
        id = "amqp_url",
        long = "amqp-url",
        env = "AMQP_URL",
        value_name = "an amqp:// URL",
        hide_env_values = true,
        value_parser = config::secret
    )]
    pub url: SecretString,
    /// The topic exchange events go through (`AMQP_EXCHANGE`, default `ecommerce.events`).
    #[arg(
        long = "amqp-exchange",
        env = "AMQP_EXCHANGE",
        value_name = "an exchange name",
        default_value = "ecommerce.events"
    )]
    pub exchange: String,
}

impl AmqpConfig {
    /// Reads the broker settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        config::parse(env)
    }
}

/// A shared, self-healing connection to RabbitMQ.
#[derive(Clone)]
pub struct Broker {
    config: Arc<AmqpConfig>,
    name: &'static str,
    connection: Arc<Mutex<Option<Arc<Connection>>>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker handle for the service `name`; nothing connects until first use.
    pub fn new(config: AmqpConfig, name: &'static str) -> Self {
        Self {
            config: Arc::new(config),
            name,
            connection: Arc::new(Mutex::new(None)),
        }
    }

    /// The configured events exchange.
    pub fn exchange(&self) -> &str {
        &self.config.exchange
    }

    /// The live connection, connecting (one attempt) when there is none or it broke.
    pub async fn connection(&self) -> Result<Arc<Connection>, lapin::Error> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref()
            && connection.status().connected()
        {
            return Ok(connection.clone());
        }
        *slot = None;
        let mut uri: AMQPUri = self
            .config
            .url
            .expose_secret()
            .parse()
            .map_err(|e: String| lapin::Error::from(std::io::Error::other(e)))?;
        uri.query.frame_max.get_or_insert(FRAME_MAX);
        let properties = ConnectionProperties::default().with_connection_name(self.name.into());
        let connection =
            tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect_uri(uri, properties))
                .await
                .map_err(|_| {
                    lapin::Error::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
                })??;
        let connection = Arc::new(connection);
        *slot = Some(connection.clone());
        tracing::info!(exchange = %self.config.exchange, "connected to RabbitMQ");
        Ok(connection)
    }

    /// A new channel on the live connection, with the events exchange declared.
    pub async fn channel(&self) -> Result<Channel, lapin::Error> {
        let channel = self.connection().await?.create_channel().await?;
        channel
            .exchange_declare(
                self.config.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(channel)
    }

    /// Runs `session` with a fresh channel until it returns `Ok` or shutdown starts. When the
    /// channel cannot be opened or the session fails (the broker went away), waits with
    /// exponential backoff ([`reconnect_delays`]), reset once a channel opens, and starts a new
    /// session.
    pub async fn supervise<F, Fut>(&self, shutdown: &Shutdown, task: &str, mut session: F)
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let policy = reconnect_delays();
        let mut delays = policy.build();
        loop {
            let mut connected = false;
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return,
                outcome = async {
                    let channel = self.channel().await?;
                    connected = true;
                    session(channel).await
                } => outcome,
            };
            // A session that got a channel proves the broker is back: the next outage starts
            // again from the shortest delay instead of the cap.
            if connected {
                delays = policy.build();
            }
            match outcome {
                Ok(()) => return,
                Err(error) => {
                    let delay = delays.next().unwrap_or(RECONNECT_MAX_DELAY);
                    tracing::warn!(task, error = %error, ?delay, "AMQP session ended; reconnecting");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(delay) => {},
                    }
                }
            }
        }
    }
}

/// Readiness: the broker can be reached.
#[derive(Debug, Clone)]
pub struct AmqpCheck {
    broker: Broker,
    required: bool,
}

impl AmqpCheck {
    /// A check that fails readiness when RabbitMQ is down.
    pub fn required(broker: Broker) -> Self {
        Self {
            broker,
            required: true,
        }
    }

    /// A check that only reports `degraded`: for services that buffer events (an outbox) or
    /// only consume, and so keep serving while the broker is away.
    pub fn optional(broker: Broker) -> Self {
        Self {
            broker,
            required: false,
        }
    }
}

impl Check for AmqpCheck {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    fn required(&self) -> bool {
        self.required
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.broker
                .connection()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by ci/faults: after RabbitMQ was down for 30 s, the next attempt was up to 30 s
    /// (jittered: 60 s) away, so the shop consumed again long after the broker was back.
    #[test]
    fn reconnection_attempts_stay_seconds_apart_however_long_the_outage() {
        let delays: Vec<Duration> = reconnect_delays().build().take(1000).collect();
        assert_eq!(delays.len(), 1000, "never gives up");
        assert!(
            delays[0] <= Duration::from_millis(400),
            "the first retry is quick"
        );
        let longest = delays.iter().max().expect("delays");
        assert!(
            *longest <= 2 * RECONNECT_MAX_DELAY,
            "{longest:?} between two attempts"
        );
    }
}
