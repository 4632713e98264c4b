//! Test harness: real stores, isolated per test, so every test can run in parallel.
//!
//! - [`TestDb`]: a fresh, uniquely named Postgres database, dropped when the test ends;
//! - [`TestRedis`]: a unique key prefix on the shared Redis;
//! - [`TestAmqp`]: a unique exchange and unique queue names on the shared RabbitMQ, deleted
//!   when the test ends;
//! - [`TestServer`]: a router served by the kit's real server stack on a random port;
//! - [`TcpProxy`] and [`closed_port`]: a dependency taken away and given back;
//! - [`token::access_token`]: an access token as the user service signs it.
//!
//! Servers are reached through `TEST_DATABASE_URL`, `TEST_REDIS_URL` and `TEST_AMQP_URL`,
//! defaulting to the standard local ports.

mod net;
pub mod token;

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use kit::bootstrap::Platform;
use kit::config::HttpConfig;
use kit::health::Health;
use kit::shutdown::Shutdown;
use lapin::ConnectionProperties;
use lapin::options::{
    BasicConsumeOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgPool};

pub use net::{TcpProxy, closed_port};

/// The Postgres server tests create their databases on.
pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The Redis server tests use.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The RabbitMQ server tests use.
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// The socket address of the Redis server tests use, for a [`TcpProxy`] in front of it.
pub fn redis_addr() -> SocketAddr {
    resolve(&redis_url(), "TEST_REDIS_URL")
}

/// The socket address of the RabbitMQ server tests use, for a [`TcpProxy`] in front of it.
pub fn amqp_addr() -> SocketAddr {
    resolve(&amqp_url(), "TEST_AMQP_URL")
}

/// The `host:port` of a server URL (`scheme://[user:password@]host:port[/path]`).
pub fn authority(url: &str) -> &str {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|authority| authority.rsplit('@').next())
        .unwrap_or_else(|| panic!("{url} is a scheme://host:port URL"))
}

fn resolve(url: &str, variable: &str) -> SocketAddr {
    std::net::ToSocketAddrs::to_socket_addrs(authority(url))
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| panic!("{variable} names a resolvable host:port: {url}"))
}

/// A name no other test uses: `prefix` and a random suffix.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A fresh database that exists for the lifetime of the value.
#[derive(Debug)]
pub struct TestDb {
    /// The database's name (`test_<random>`).
    pub name: String,
    /// A URL that connects to it.
    pub url: String,
    /// A pool connected to it.
    pub pool: PgPool,
}

impl TestDb {
    /// Creates the database.
    pub async fn new() -> Self {
        let name = unique_name("test");
        let admin = admin_options();
        let mut connection = admin
            .connect()
            .await
            .expect("connect to Postgres (is it running? ci/test starts it)");
        sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .execute(&mut connection)
            .await
            .expect("create the test database");
        connection.close().await.ok();
        let options = admin.database(&name);
        let url = options.to_url_lossy().to_string();
        let pool = kit::db::DatabaseConfig::from_url(&url)
            .expect("test database URL")
            .pool();
        Self { name, url, pool }
    }

    /// Creates the database and applies `migrator` to it.
    pub async fn migrated(migrator: &sqlx::migrate::Migrator) -> Self {
        let db = Self::new().await;
        kit::db::migrate(&db.pool, migrator)
            .await
            .expect("apply migrations");
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs outside async context, so the cleanup gets its own thread and runtime.
        // WITH (FORCE) ends the connections the test's pools still hold.
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut connection) = admin_options().connect().await {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                    )))
                    .execute(&mut connection)
                    .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

fn admin_options() -> PgConnectOptions {
    postgres_url()
        .parse::<PgConnectOptions>()
        .expect("TEST_DATABASE_URL is a postgres:// URL")
        .log_statements(tracing::log::LevelFilter::Debug)
}

/// A key prefix on the shared Redis that no other test uses.
#[derive(Debug, Clone)]
pub struct TestRedis {
    /// The Redis URL.
    pub url: String,
    /// The prefix (`test_<random>:`).
    pub prefix: String,
}

impl Default for TestRedis {
    fn default() -> Self {
        Self {
            url: redis_url(),
            prefix: format!("{}:", unique_name("test")),
        }
    }
}

impl TestRedis {
    /// Kit settings for this prefix.
    pub fn config(&self) -> kit::cache::RedisConfig {
        kit::cache::RedisConfig {
            url: self.url.clone().into(),
            prefix: self.prefix.clone(),
            timeout: Duration::from_millis(500),
        }
    }
}

/// An exchange on the shared RabbitMQ that no other test uses, and the queues the test names
/// through [`TestAmqp::queue`]. The broker outlives the test run, so dropping the value
/// deletes, in its own thread and runtime as [`TestDb`] does:
///
/// - every queue named by [`TestAmqp::queue`], and its dead-letter queue `<name>.dlq` (the
///   product service's convention, `product::events::dead_letter_queue`; this crate does not
///   depend on the product service);
/// - the exchange.
///
/// Deleting a queue cancels the consumers still on it, and a consumer running under
/// `kit::amqp::Broker::supervise` would reconnect and declare its queue again. So a struct
/// that holds both must drop the consumer's owner first: declare the [`TestServer`] whose
/// shutdown the consumer follows (its drop triggers that shutdown) before the `TestAmqp`
/// field. Under `#[tokio::test]`'s current-thread runtime nothing else runs while this drop
/// blocks the runtime's only thread, and the runtime is dropped with its tasks unpolled once
/// the test returns, so the consumer never gets to declare again. On a multi-thread runtime
/// (a bench's `#[tokio::main]`) a worker could still poll it during the deletion: trigger the
/// shutdown and await the consumer's task (`Shutdown::wait_for_tasks`) before dropping.
#[derive(Debug)]
pub struct TestAmqp {
    /// The AMQP URL.
    pub url: String,
    /// The exchange (`test_<random>.events`).
    pub exchange: String,
    queues: Mutex<Vec<String>>,
}

impl Default for TestAmqp {
    fn default() -> Self {
        Self {
            url: amqp_url(),
            exchange: format!("{}.events", unique_name("test")),
            queues: Mutex::default(),
        }
    }
}

impl TestAmqp {
    /// Kit settings for this exchange.
    pub fn config(&self) -> kit::amqp::AmqpConfig {
        kit::amqp::AmqpConfig {
            url: self.url.clone().into(),
            exchange: self.exchange.clone(),
        }
    }

    /// Every event published to this exchange under `pattern` from now on, as a consumer tagged
    /// `tag`: an exclusive queue (the broker deletes it with the connection) bound on a channel of
    /// the kit's [`Broker`](kit::amqp::Broker), which declares the exchange as the services do.
    /// Keep the broker and the channel as long as the consumer: closing them ends it.
    pub async fn subscribe(
        &self,
        pattern: &str,
        tag: &str,
    ) -> (kit::amqp::Broker, lapin::Channel, lapin::Consumer) {
        let broker = kit::amqp::Broker::new(self.config(), "testkit-subscriber");
        let channel = broker.channel().await.expect("a channel to RabbitMQ");
        let exclusive = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        let queue = channel
            .queue_declare("".into(), exclusive, FieldTable::default())
            .await
            .expect("declare the queue");
        channel
            .queue_bind(
                queue.name().clone(),
                self.exchange.as_str().into(),
                pattern.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind the queue");
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        (broker, channel, consumer)
    }

    /// A queue name no other test uses (`prefix` and a random suffix), deleted with its
    /// dead-letter queue when this value drops.
    pub fn queue(&self, prefix: &str) -> String {
        let name = unique_name(prefix);
        self.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(name.clone());
        name
    }
}

impl Drop for TestAmqp {
    fn drop(&mut self) {
        let url = self.url.clone();
        let exchange = self.exchange.clone();
        let queues = std::mem::take(
            self.queues
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let deleted =
                    tokio::time::timeout(AMQP_CLEANUP_TIMEOUT, delete(&url, &exchange, &queues))
                        .await;
                // Best effort, like TestDb's: the test itself has passed or failed already.
                match deleted {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => eprintln!("testkit: deleting {exchange} failed: {error}"),
                    Err(_) => eprintln!("testkit: deleting {exchange} timed out"),
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// How long the deletion of a [`TestAmqp`]'s exchange and queues may take.
const AMQP_CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Deletes `queues`, their dead-letter queues and `exchange`. RabbitMQ deletes a missing queue
/// or exchange without complaint, so a name that was never declared costs nothing.
async fn delete(url: &str, exchange: &str, queues: &[String]) -> lapin::Result<()> {
    let properties = ConnectionProperties::default().with_connection_name("testkit-cleanup".into());
    let connection = lapin::Connection::connect(url, properties).await?;
    let channel = connection.create_channel().await?;
    for queue in queues {
        for name in [queue.clone(), format!("{queue}.dlq")] {
            channel
                .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                .await?;
        }
    }
    channel
        .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
        .await?;
    connection.close(200, "OK".into()).await
}

/// HTTP settings for tests: a random port, short deadlines.
pub fn http_config() -> HttpConfig {
    HttpConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        request_timeout: Duration::from_secs(10),
        body_limit: 64 * 1024,
        drain_deadline: Duration::from_secs(5),
        header_read_timeout: Duration::from_secs(10),
        max_connections: 1024,
        event_loops: 0,
    }
}

/// A router served on a random local port by the kit's server, until dropped or shut down.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client for it.
    pub client: reqwest::Client,
    /// Its shutdown signal.
    pub shutdown: Shutdown,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Serves a service's assembled `routes` and `health` (its `startup::Application`) under
    /// the kit's standard stack, until `platform`'s shutdown.
    pub async fn serve(routes: Router, health: Health, platform: &Platform) -> Self {
        Self::serve_on(http_config().bind, routes, health, platform).await
    }

    /// Like [`TestServer::serve`], on a given address (a stopped server's, to bring it back).
    pub async fn serve_on(
        addr: SocketAddr,
        routes: Router,
        health: Health,
        platform: &Platform,
    ) -> Self {
        let app = kit::server::router(routes, &platform.ops(health), &http_config());
        Self::start_on(addr, app, platform.shutdown.clone()).await
    }

    /// Serves an app that is already wrapped by [`kit::server::router`].
    pub async fn start(app: Router, shutdown: Shutdown) -> Self {
        Self::start_on(http_config().bind, app, shutdown).await
    }

    /// Serves on a given address, such as the one a stopped server had, to bring it back.
    pub async fn start_on(addr: SocketAddr, app: Router, shutdown: Shutdown) -> Self {
        Self::start_configured(
            &HttpConfig {
                bind: addr,
                ..http_config()
            },
            app,
            shutdown,
        )
        .await
    }

    /// Serves on `http.bind` with `http`'s connection limits.
    pub async fn start_configured(http: &HttpConfig, app: Router, shutdown: Shutdown) -> Self {
        let listener = kit::server::bind(http.bind).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let http = http.clone();
        let server_shutdown = shutdown.clone();
        let handle =
            tokio::spawn(
                async move { kit::server::serve(listener, app, server_shutdown, &http).await },
            );
        Self {
            addr,
            // Answers as sent: reqwest decompresses gzip itself when its `gzip` feature is on,
            // which a workspace build turns on (goose, in loadgen, needs it).
            client: reqwest::Client::builder()
                .no_gzip()
                .build()
                .expect("client"),
            shutdown,
            handle: Some(handle),
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Triggers shutdown and waits for the server to stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        match self.handle.take() {
            Some(handle) => handle.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}
