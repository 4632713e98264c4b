//! Starting the service on a fresh database, and the requests tests make.

use std::future::Future;
use std::time::Duration;

use contracts::catalog::{Category, Product};
use contracts::money::Currency;
use deadpool_redis::redis::{self, FromRedisValue};
use kit::cache::{RedisCheck, RedisConfig};
use kit::db::PostgresCheck;
use kit::health::Health;
use kit::identity::{USER_ID_HEADER, USER_ROLES_HEADER};
use kit::internal::InternalToken;
use kit::metrics::Metrics;
use kit::server::{Ops, router};
use kit::shutdown::Shutdown;
use product::cache::{Cache, product_key};
use product::config::CatalogSettings;
use product::{AppState, MIGRATOR};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use testkit::{TcpProxy, TestDb, TestRedis, TestServer, http_config, redis_url};
use uuid::Uuid;

/// How long the service under test caches an entry.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(300);

/// A running product service on its own database and Redis prefix.
pub(crate) struct TestApp {
    pub(crate) server: TestServer,
    pub(crate) db: TestDb,
    pub(crate) state: AppState,
    pub(crate) redis: RedisConfig,
}

/// The settings tests run with: a random cursor secret, prices in USD.
pub(crate) fn settings() -> CatalogSettings {
    CatalogSettings {
        cursor_secret: format!("{}{}", Uuid::new_v4(), Uuid::new_v4()).into_bytes(),
        currency: Currency::parse("USD").expect("valid"),
        reservation_ttl: Duration::from_secs(900),
        internal_token: InternalToken::new(INTERNAL_TOKEN).expect("long enough"),
    }
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
        let url = direct.url.replacen(
            testkit::authority(&direct.url),
            &proxy.addr().to_string(),
            1,
        );
        Self::with_redis(RedisConfig { url, ..direct }).await
    }

    /// The service caching in `redis`, which may be unreachable.
    pub(crate) async fn with_redis(redis: RedisConfig) -> Self {
        let db = TestDb::migrated(&MIGRATOR).await;
        let pool = redis.pool().expect("redis pool");
        let cache = Cache::new(pool.clone(), redis.clone(), CACHE_TTL);
        let state = AppState::new(db.pool.clone(), cache, settings());
        let shutdown = Shutdown::new();
        let ops = Ops {
            metrics: Metrics::new(),
            health: Health::new(shutdown.clone())
                .with(PostgresCheck(db.pool.clone()))
                .with(RedisCheck::optional(pool)),
        };
        let app = router(product::app(state.clone()), &ops, &http_config());
        let server = TestServer::start(app, shutdown).await;
        Self {
            server,
            db,
            state,
            redis,
        }
    }

    /// Runs `command` on `key` (under the service's prefix) on the shared Redis itself,
    /// around the service and any proxy between them, to see what the service cached.
    pub(crate) async fn redis<T: FromRedisValue>(&self, command: &str, key: &str) -> T {
        let store = RedisConfig {
            url: redis_url(),
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
