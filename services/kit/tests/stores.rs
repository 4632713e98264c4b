//! The kit against the real Postgres, Redis and RabbitMQ.

use std::time::Duration;

use axum::Router;
use futures::StreamExt;
use kit::ResultExt;
use kit::amqp::{AmqpCheck, Broker};
use kit::cache::RedisCheck;
use kit::db::{DatabaseConfig, PostgresCheck};
use kit::error::ApiError;
use kit::health::Health;
use kit::metrics::Metrics;
use kit::server::{Ops, router};
use kit::shutdown::Shutdown;
use lapin::options::{BasicAckOptions, BasicPublishOptions};
use lapin::types::FieldTable;
use testkit::{TcpProxy, TestAmqp, TestDb, TestRedis, TestServer, http_config};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations");

async fn readiness_server(health: Health, shutdown: Shutdown) -> TestServer {
    let ops = Ops {
        metrics: Metrics::new(),
        health,
    };
    TestServer::start(router(Router::new(), &ops, &http_config()), shutdown).await
}

#[tokio::test]
async fn readyz_names_postgres_when_it_is_unreachable() {
    let port = testkit::closed_port().await;
    let mut config =
        DatabaseConfig::from_url(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
            .expect("url");
    config.acquire_timeout = Duration::from_millis(500);
    let shutdown = Shutdown::new();
    let health = Health::new(shutdown.clone()).with(PostgresCheck(config.pool()));
    let server = readiness_server(health, shutdown).await;

    let response = server.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"][0]["name"], "postgres");
    assert_eq!(body["checks"][0]["status"], "down");
    assert!(
        body["checks"][0]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
}

#[tokio::test]
async fn readyz_is_200_when_every_dependency_is_reachable() {
    let db = TestDb::new().await;
    let redis = TestRedis::default();
    let amqp = TestAmqp::default();
    let shutdown = Shutdown::new();
    let health = Health::new(shutdown.clone())
        .with(PostgresCheck(db.pool.clone()))
        .with(RedisCheck::required(redis.config().pool().expect("pool")))
        .with(AmqpCheck::required(Broker::new(amqp.config(), "kit-test")));
    let server = readiness_server(health, shutdown).await;

    let response = server.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn an_optional_dependency_down_degrades_without_failing() {
    let port = testkit::closed_port().await;
    let redis = kit::cache::RedisConfig {
        url: format!("redis://127.0.0.1:{port}").into(),
        prefix: "x:".into(),
        timeout: Duration::from_millis(200),
    };
    let health =
        Health::new(Shutdown::new()).with(RedisCheck::optional(redis.pool().expect("pool")));
    let (ready, report) = health.readiness().await;
    assert!(ready);
    assert_eq!(report.status, "degraded");
}

#[tokio::test]
async fn migrations_run_twice_are_a_no_op() {
    let db = TestDb::new().await;
    kit::db::migrate(&db.pool, &MIGRATOR)
        .await
        .expect("first run");
    sqlx::query("INSERT INTO things (id, name) VALUES (gen_random_uuid(), 'kept')")
        .execute(&db.pool)
        .await
        .expect("insert");
    kit::db::migrate(&db.pool, &MIGRATOR)
        .await
        .expect("second run");
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(applied, 1);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM things")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(rows, 1, "a second run must not touch the data");
}

#[tokio::test]
async fn parallel_tests_get_separate_databases() {
    let (a, b) = tokio::join!(TestDb::migrated(&MIGRATOR), TestDb::new());
    assert_ne!(a.name, b.name);
    let name_a: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&a.pool)
        .await
        .expect("a");
    let name_b: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&b.pool)
        .await
        .expect("b");
    assert_eq!(name_a, a.name);
    assert_eq!(name_b, b.name);
    let in_b: Option<String> = sqlx::query_scalar("SELECT to_regclass('things')::text")
        .fetch_one(&b.pool)
        .await
        .expect("lookup");
    assert_eq!(in_b, None, "a's tables must not exist in b");
}

#[tokio::test]
async fn dropped_test_database_is_gone() {
    let name = {
        let db = TestDb::new().await;
        db.name.clone()
    };
    let admin = TestDb::new().await;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&admin.pool)
            .await
            .expect("query");
    assert!(!exists);
}

#[tokio::test]
async fn constraint_violations_map_at_the_query() {
    let db = TestDb::migrated(&MIGRATOR).await;
    let insert = || async {
        sqlx::query("INSERT INTO things (id, name) VALUES (gen_random_uuid(), 'same')")
            .execute(&db.pool)
            .await
            .on_constraint("things_name_key", |_| ApiError::conflict("name taken"))
    };
    insert().await.expect("first insert");
    match insert().await {
        Err(ApiError::Conflict { detail, .. }) => assert_eq!(detail, "name taken"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let other = sqlx::query("INSERT INTO things (id, name) VALUES (NULL, 'x')")
        .execute(&db.pool)
        .await
        .on_constraint("things_name_key", |_| ApiError::conflict("name taken"));
    assert!(
        matches!(other, Err(ApiError::Internal(_))),
        "other violations stay internal"
    );

    let error =
        sqlx::query("INSERT INTO things (id, name, size) VALUES (gen_random_uuid(), 'y', 0)")
            .execute(&db.pool)
            .await
            .on_constraint("things_size_positive", |_| {
                ApiError::invalid("size", "range", "must be at least 1")
            })
            .expect_err("a size of 0 breaks the check constraint");
    assert_eq!(error.status(), 422);
    match error {
        ApiError::Validation(errors) => {
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].field, "size");
            assert_eq!(errors[0].code, "range");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_postgres_is_a_503_not_a_panic() {
    let port = testkit::closed_port().await;
    let mut config =
        DatabaseConfig::from_url(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
            .expect("url");
    config.acquire_timeout = Duration::from_millis(300);
    let error: ApiError = sqlx::query("SELECT 1")
        .execute(&config.pool())
        .await
        .expect_err("down")
        .into();
    assert_eq!(error.status(), 503);
}

#[tokio::test]
async fn redis_prefix_isolates_keys() {
    let (a, b) = (TestRedis::default(), TestRedis::default());
    let pool = a.config().pool().expect("pool");
    let mut connection = pool.get().await.expect("redis connection");
    let key_a = a.config().key("greeting");
    let key_b = b.config().key("greeting");
    assert_ne!(key_a, key_b);
    let _: () = deadpool_redis::redis::cmd("SET")
        .arg(&key_a)
        .arg("hi")
        .arg("EX")
        .arg(60)
        .query_async(&mut *connection)
        .await
        .expect("set");
    let seen: Option<String> = deadpool_redis::redis::cmd("GET")
        .arg(&key_b)
        .query_async(&mut *connection)
        .await
        .expect("get");
    assert_eq!(seen, None);
}

#[tokio::test]
async fn broker_publishes_to_its_exchange_with_trace_context() {
    let amqp = TestAmqp::default();
    let (broker, channel, mut consumer) = amqp.subscribe("order.*", "kit-test").await;

    let mut headers = FieldTable::default();
    headers.insert(
        "traceparent".into(),
        lapin::types::AMQPValue::LongString(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        ),
    );
    channel
        .basic_publish(
            broker.exchange().into(),
            "order.placed".into(),
            BasicPublishOptions::default(),
            b"{}",
            lapin::BasicProperties::default().with_headers(headers),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");

    let delivery = tokio::time::timeout(Duration::from_secs(5), consumer.next())
        .await
        .expect("a delivery in time")
        .expect("stream open")
        .expect("delivery");
    assert_eq!(delivery.routing_key.as_str(), "order.placed");
    let context =
        kit::telemetry::extract_amqp(delivery.properties.headers().as_ref().expect("headers"));
    use opentelemetry::trace::TraceContextExt;
    assert_eq!(
        context.span().span_context().trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    delivery.ack(BasicAckOptions::default()).await.expect("ack");
}

#[tokio::test]
async fn supervise_reconnects_once_the_broker_is_reachable() {
    // The broker is away when the service starts: the session must be retried, not abandoned,
    // and must run as soon as the broker is back.
    let proxy = TcpProxy::start(testkit::amqp_addr()).await;
    proxy.stop();
    let amqp = TestAmqp::default();
    let broker = Broker::new(
        kit::amqp::AmqpConfig {
            url: format!("amqp://guest:guest@{}/%2f", proxy.addr()).into(),
            exchange: amqp.config().exchange,
        },
        "kit-test",
    );
    let shutdown = Shutdown::new();
    let (sessions, mut started) = tokio::sync::mpsc::unbounded_channel();
    let run = {
        let (broker, shutdown) = (broker.clone(), shutdown.clone());
        tokio::spawn(async move {
            broker
                .supervise(&shutdown, "test", move |_channel| {
                    let sessions = sessions.clone();
                    async move {
                        let _ = sessions.send(());
                        std::future::pending::<anyhow::Result<()>>().await
                    }
                })
                .await;
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        started.try_recv().is_err(),
        "no session can start while the broker is away"
    );
    assert!(!run.is_finished(), "supervise keeps retrying");

    proxy.resume().await;
    tokio::time::timeout(Duration::from_secs(30), started.recv())
        .await
        .expect("a session starts once the broker is back")
        .expect("the session reported");
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("stops on shutdown")
        .expect("join");
}

#[tokio::test]
async fn the_broker_asks_for_small_frames_unless_the_url_sets_them() {
    // lapin's two I/O buffers are 32 frames each: at the broker's default frame size (128 KiB)
    // they held 8 MiB of every publishing service's idle memory.
    let amqp = TestAmqp::default();
    let frame_max = |url: String| async {
        let broker = Broker::new(
            kit::amqp::AmqpConfig {
                url: url.into(),
                exchange: amqp.exchange.clone(),
            },
            "kit-test",
        );
        let connection = broker.connection().await.expect("connected");
        let frame_max = connection.configuration().frame_max();
        connection.close(200, "done".into()).await.expect("closed");
        frame_max
    };
    assert_eq!(frame_max(amqp.url.clone()).await, 16 * 1024);
    let separator = if amqp.url.contains('?') { '&' } else { '?' };
    assert_eq!(
        frame_max(format!("{}{separator}frame_max=8192", amqp.url)).await,
        8192
    );
}
