//! Starting the service on a fresh database, and the requests tests make.

use std::future::Future;
use std::time::Duration;

use contracts::catalog::{Category, Product};
use deadpool_redis::redis::{self, FromRedisValue};
use kit::bootstrap::Platform;
use kit::cache::RedisConfig;
use kit::config::Env;
use kit::identity::{USER_ID_HEADER, USER_ROLES_HEADER};
use product::cache::product_key;
use product::config::Config;
use product::startup::Application;
use product::{AppState, MIGRATOR};
use reqwest::{RequestBuilder, Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use testkit::{TcpProxy, TestAmqp, TestDb, TestRedis, TestServer, redis_url};
use uuid::Uuid;

/// How long the service under test caches an entry.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(300);

/// A running product service on its own database, Redis prefix and RabbitMQ exchange.
pub(crate) struct TestApp {
    pub(crate) server: TestServer,
    pub(crate) db: TestDb,
    pub(crate) state: AppState,
    pub(crate) redis: RedisConfig,
    /// The queue the service consumes order events from.
    pub(crate) events_queue: String,
    /// The service's exchange; dropped after the server, whose shutdown stops the consumer first.
    pub(crate) amqp: TestAmqp,
}

/// Another replica of a [`TestApp`]'s service, stopped when dropped.
pub(crate) struct Replica {
    pub(crate) server: TestServer,
    pub(crate) state: AppState,
}

/// The settings tests run with, as the service reads them: a random cursor secret, prices in
/// USD, the sweeper slow enough that the tests run its work themselves when they mean to.
fn config(db: &TestDb, redis: &RedisConfig, amqp: &TestAmqp, events_queue: &str) -> Config {
    let cursor_secret = format!("{}{}", Uuid::new_v4(), Uuid::new_v4());
    Config::from_env(&Env::from_pairs([
        ("DATABASE_URL", db.url.clone()),
        ("REDIS_URL", redis.url.expose_secret().to_owned()),
        ("REDIS_KEY_PREFIX", redis.prefix.clone()),
        ("REDIS_TIMEOUT_MS", redis.timeout.as_millis().to_string()),
        ("AMQP_URL", amqp.url.clone()),
        ("AMQP_EXCHANGE", amqp.exchange.clone()),
        ("ORDER_EVENTS_QUEUE", events_queue.to_owned()),
        ("CURSOR_SECRET", cursor_secret),
        ("INTERNAL_TOKEN", INTERNAL_TOKEN.to_owned()),
        ("CATALOG_CURRENCY", "USD".to_owned()),
        ("CACHE_TTL_SECS", CACHE_TTL.as_secs().to_string()),
        ("RESERVATION_TTL_SECS", "900".to_owned()),
        ("RESERVATION_SWEEP_SECS", "3600".to_owned()),
    ]))
    .expect("test settings")
}

/// The secret the internal routes require in the tests.
pub(crate) const INTERNAL_TOKEN: &str = "product-tests-internal-token-0123456789";

pub(crate) use testkit::closed_port;

impl TestApp {
    /// The service with a working cache.
    pub(crate) async fn spawn() -> Self {
        Self::with_redis(TestRedis::default().config()).await
    }

    /// The service caching in the shared Redis through `proxy` (started on [`testkit::redis_addr`]),
    /// so a test can take Redis away from this service alone.
    pub(crate) async fn behind_redis_proxy(proxy: &TcpProxy) -> Self {
        let direct = TestRedis::default().config();
        let url = redis_url().replacen(
            testkit::authority(&redis_url()),
            &proxy.addr().to_string(),
            1,
        );
        Self::with_redis(RedisConfig {
            url: url.into(),
            ..direct
        })
        .await
    }

    /// The service caching in `redis`, which may be unreachable.
    pub(crate) async fn with_redis(redis: RedisConfig) -> Self {
        let db = TestDb::migrated(&MIGRATOR).await;
        let amqp = TestAmqp::default();
        let events_queue = amqp.queue("product_order_events");
        let platform = Platform::default();
        let app = Application::build(&config(&db, &redis, &amqp, &events_queue), &platform)
            .await
            .expect("the application");
        let server = TestServer::serve(app.routes, app.health, &platform).await;
        let state = app.state;
        Self {
            server,
            db,
            state,
            redis,
            events_queue,
            amqp,
        }
    }

    /// A second replica of the service: the same database, Redis prefix and exchange.
    pub(crate) async fn replica(&self) -> Replica {
        let platform = Platform::default();
        let config = config(&self.db, &self.redis, &self.amqp, &self.events_queue);
        let app = Application::build(&config, &platform)
            .await
            .expect("the replica");
        Replica {
            server: TestServer::serve(app.routes, app.health, &platform).await,
            state: app.state,
        }
    }

    /// Runs `command` on `key` (under the service's prefix) on the shared Redis itself,
    /// around the service and any proxy between them, to see what the service cached.
    pub(crate) async fn redis<T: FromRedisValue>(&self, command: &str, key: &str) -> T {
        let store = RedisConfig {
            url: redis_url().into(),
            ..self.redis.clone()
        };
        let mut connection = store
            .pool()
            .expect("redis pool")
            .get()
            .await
            .expect("redis");
        redis::cmd(command)
            .arg(store.key(key))
            .query_async(&mut *connection)
            .await
            .unwrap_or_else(|error| panic!("{command} {key}: {error}"))
    }

    /// Renames product `id` in the database behind the service's back: only a read from
    /// Postgres shows the new name, a cached one keeps the old.
    pub(crate) async fn rename_behind_its_back(&self, id: Uuid, name: &str) {
        sqlx::query("UPDATE products SET name = $2 WHERE id = $1")
            .bind(id)
            .bind(name)
            .execute(&self.db.pool)
            .await
            .expect("rename");
    }

    /// Whether the detail of product `id` is in the cache.
    pub(crate) async fn is_cached(&self, id: Uuid) -> bool {
        self.redis("EXISTS", &product_key(id)).await
    }

    pub(crate) fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub(crate) fn get(&self, path: &str) -> RequestBuilder {
        self.server.client.get(self.url(path))
    }

    pub(crate) fn post(&self, path: &str) -> RequestBuilder {
        self.server.client.post(self.url(path))
    }

    /// A `POST` to an internal route, as the order service sends it: with the internal token.
    pub(crate) fn internal(&self, path: &str) -> RequestBuilder {
        self.post(path)
            .header(kit::internal::INTERNAL_TOKEN_HEADER, INTERNAL_TOKEN)
    }

    /// A request made by an admin, as the gateway vouches for one.
    pub(crate) fn as_admin(&self, request: RequestBuilder) -> RequestBuilder {
        request
            .header(USER_ID_HEADER, Uuid::new_v4().to_string())
            .header(USER_ROLES_HEADER, "customer,admin")
    }

    pub(crate) async fn create_category(&self, slug: &str, parent: Option<Uuid>) -> Category {
        let response = self
            .as_admin(self.post("/api/v1/admin/categories"))
            .json(&json!({"slug": slug, "name": slug.to_uppercase(), "parent_id": parent}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("category")
    }

    /// Creates a product from `body` (see [`product_body`]).
    pub(crate) async fn create_product(&self, body: &Value) -> Product {
        let response = self.try_create_product(body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{body}");
        response.json().await.expect("product")
    }

    /// "Mouse", 3 in stock at $19.99, in a new category "mice": the product most tests need.
    pub(crate) async fn create_mouse(&self) -> Product {
        let category = self.create_category("mice", None).await;
        self.create_product(&product_body("Mouse", category.id, 1999, 3))
            .await
    }

    pub(crate) async fn try_create_product(&self, body: &Value) -> Response {
        self.as_admin(self.post("/api/v1/admin/products"))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn product(&self, id: Uuid) -> Product {
        let response = self
            .get(&format!("/api/v1/products/{id}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("product")
    }

    /// `(on_hand, reserved)` of a product, straight from the database.
    pub(crate) async fn inventory(&self, id: Uuid) -> (i64, i64) {
        sqlx::query_as("SELECT on_hand, reserved FROM inventory WHERE product_id = $1")
            .bind(id)
            .fetch_one(&self.db.pool)
            .await
            .expect("inventory row")
    }

    /// Reserves `lines` (`(product, quantity)`) for `order_id`.
    pub(crate) async fn reserve(&self, order_id: Uuid, lines: &[(Uuid, u32)]) -> Response {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(id, quantity)| json!({"product_id": id, "quantity": quantity}))
            .collect();
        self.internal("/internal/reservations")
            .json(&json!({"order_id": order_id, "lines": lines}))
            .send()
            .await
            .expect("request")
    }

    /// `GET /api/v1/products?{query}` answered 200.
    pub(crate) async fn search(&self, query: &str) -> Value {
        let response = self
            .get(&format!("/api/v1/products?{query}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        response.json().await.expect("page")
    }
}

/// A product body with the given fields and sensible rest.
pub(crate) fn product_body(name: &str, category_id: Uuid, price: i64, stock: u32) -> Value {
    let slug: String = name
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    json!({
        "sku": format!("SKU-{}", &Uuid::new_v4().simple().to_string()[..12]),
        "slug": format!("{slug}-{}", &Uuid::new_v4().simple().to_string()[..6]),
        "name": name,
        "description": format!("{name} for the test shop."),
        "price": {"amount": price, "currency": "USD"},
        "category_id": category_id,
        "stock": stock
    })
}

/// The product names of a page, in order.
pub(crate) fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The problem's first field error, asserting the status and the media type.
pub(crate) async fn problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    response.json().await.expect("problem")
}

/// The fields a problem names.
pub(crate) fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `check` until it returns `Some`, for at most ten seconds.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
