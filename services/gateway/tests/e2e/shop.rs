//! The whole shop in one process: user, product and order services on their own fresh
//! databases, the real Redis and RabbitMQ, and the gateway in front. Tests talk to the gateway
//! only, as a browser would.

use std::net::SocketAddr;
use std::time::Duration;

use kit::bootstrap::Platform;
use kit::config::Env;
use serde_json::{Value, json};
use testkit::{TestAmqp, TestDb, TestRedis, TestServer, http_config};

/// The secret the services' internal routes require in these tests.
const INTERNAL_TOKEN: &str = "e2e-internal-token-e2e-internal-token";

pub(crate) const ADMIN_EMAIL: &str = "admin@shop.test";
pub(crate) const ADMIN_PASSWORD: &str = "admin-password-123";

/// Gateway settings a test may change. The defaults are out of the way of tests that are not
/// about rate limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) per_second: u64,
    pub(crate) burst: u32,
    pub(crate) auth_per_minute: u64,
    pub(crate) auth_burst: u32,
    pub(crate) guest_cart_per_minute: u64,
    pub(crate) guest_cart_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_second: 10_000,
            burst: 10_000,
            auth_per_minute: 6000,
            auth_burst: 1000,
            guest_cart_per_minute: 6000,
            guest_cart_burst: 1000,
        }
    }
}

/// A running shop.
pub(crate) struct Shop {
    pub(crate) gateway: TestServer,
    /// The gateway's ops listener.
    pub(crate) gateway_ops: TestServer,
    _user: TestServer,
    pub(crate) product: Option<TestServer>,
    _order: TestServer,
    pub(crate) product_addr: SocketAddr,
    pub(crate) signing_key: String,
    product_db: TestDb,
    _user_db: TestDb,
    _order_db: TestDb,
    redis: TestRedis,
    amqp: TestAmqp,
    queue: String,
    pub(crate) http: reqwest::Client,
}

impl Shop {
    pub(crate) async fn start() -> Self {
        Self::start_with(Limits::default()).await
    }

    pub(crate) async fn start_with(limits: Limits) -> Self {
        let (user_db, product_db, order_db) = tokio::join!(
            TestDb::migrated(&user::MIGRATOR),
            TestDb::migrated(&product::MIGRATOR),
            TestDb::migrated(&order::MIGRATOR),
        );
        let redis = TestRedis::default();
        let amqp = TestAmqp::default();
        let queue = amqp.queue("product_events");
        let signing_key = tokens::generate_pem().expect("key");

        // User service.
        let user_env = Env::from_pairs([
            ("DATABASE_URL", user_db.url.as_str()),
            ("JWT_SIGNING_KEY", signing_key.as_str()),
            ("JWT_SIGNING_KEY_ID", "e2e-1"),
            ("INTERNAL_TOKEN", INTERNAL_TOKEN),
            ("ARGON2_MEMORY_KIB", "1024"),
            ("ARGON2_ITERATIONS", "1"),
        ]);
        let user_config = user::config::Config::from_env(&user_env).expect("user config");
        user::create_admin(
            &user_db.pool,
            &user_config.passwords,
            ADMIN_EMAIL,
            ADMIN_PASSWORD,
            "Admin",
        )
        .await
        .expect("create admin");
        let user_platform = Platform::default();
        let user_app = user::startup::Application::build(&user_config, &user_platform)
            .await
            .expect("the user service");
        let user = TestServer::serve(user_app.routes, user_app.health, &user_platform).await;

        // Product service, with the demo catalog.
        let product = Self::start_product(&product_db, &redis, &amqp, &queue, None).await;
        let product_addr = product.addr;
        let seed_cache = product::cache::Cache::disabled();
        product::seed::run(
            &product_db.pool,
            &seed_cache,
            "USD".parse().expect("currency"),
        )
        .await
        .expect("seed");

        // Order service.
        let product_url = format!("http://{product_addr}");
        let order_env = Env::from_pairs([
            ("DATABASE_URL", order_db.url.as_str()),
            ("AMQP_URL", amqp.url.as_str()),
            ("AMQP_EXCHANGE", amqp.exchange.as_str()),
            ("PRODUCT_URL", product_url.as_str()),
            ("PRODUCT_RETRIES", "0"),
            ("PRODUCT_TIMEOUT_MS", "2000"),
            (
                "IDEMPOTENCY_SECRET",
                "e2e-idempotency-secret-e2e-idempotency-secret",
            ),
            ("INTERNAL_TOKEN", INTERNAL_TOKEN),
            ("PAYMENT_PROVIDER", "test"),
        ]);
        let order_config = order::config::Config::from_env(&order_env).expect("order config");
        let order_platform = Platform::default();
        let order_app = order::startup::Application::build(&order_config, &order_platform)
            .await
            .expect("the order service");
        let order = TestServer::serve(order_app.routes, order_app.health, &order_platform).await;

        // The gateway.
        let user_url = format!("http://{}", user.addr);
        let order_url = format!("http://{}", order.addr);
        let per_second = limits.per_second.to_string();
        let burst = limits.burst.to_string();
        let auth_per_minute = limits.auth_per_minute.to_string();
        let auth_burst = limits.auth_burst.to_string();
        let guest_cart_per_minute = limits.guest_cart_per_minute.to_string();
        let guest_cart_burst = limits.guest_cart_burst.to_string();
        let gateway_env = Env::from_pairs([
            ("USER_URL", user_url.as_str()),
            ("PRODUCT_URL", product_url.as_str()),
            ("ORDER_URL", order_url.as_str()),
            ("RATE_LIMIT_PER_SECOND", per_second.as_str()),
            ("RATE_LIMIT_BURST", burst.as_str()),
            ("AUTH_RATE_LIMIT_PER_MINUTE", auth_per_minute.as_str()),
            ("AUTH_RATE_LIMIT_BURST", auth_burst.as_str()),
            (
                "GUEST_CART_RATE_LIMIT_PER_MINUTE",
                guest_cart_per_minute.as_str(),
            ),
            ("GUEST_CART_RATE_LIMIT_BURST", guest_cart_burst.as_str()),
            ("BREAKER_FAILURES", "2"),
            ("BREAKER_COOLDOWN_MS", "300"),
            ("UPSTREAM_TIMEOUT_MS", "5000"),
            ("CORS_ALLOWED_ORIGINS", "https://shop.example"),
            ("BODY_LIMIT_BYTES", "65536"),
        ]);
        let gateway_config =
            gateway::config::GatewayConfig::from_env(&gateway_env).expect("gateway config");
        let platform = Platform::default();
        let app = gateway::startup::Application::build(&gateway_config, &http_config(), &platform)
            .expect("the gateway");
        let gateway_ops = TestServer::start(app.ops, platform.shutdown.clone()).await;
        let gateway = TestServer::start(app.public, platform.shutdown).await;

        Self {
            gateway,
            gateway_ops,
            _user: user,
            product: Some(product),
            _order: order,
            product_addr,
            signing_key,
            product_db,
            _user_db: user_db,
            _order_db: order_db,
            redis,
            amqp,
            queue,
            http: reqwest::Client::new(),
        }
    }

    async fn start_product(
        db: &TestDb,
        redis: &TestRedis,
        amqp: &TestAmqp,
        queue: &str,
        addr: Option<SocketAddr>,
    ) -> TestServer {
        let env = Env::from_pairs([
            ("DATABASE_URL", db.url.as_str()),
            ("REDIS_URL", redis.url.as_str()),
            ("REDIS_KEY_PREFIX", redis.prefix.as_str()),
            ("AMQP_URL", amqp.url.as_str()),
            ("AMQP_EXCHANGE", amqp.exchange.as_str()),
            ("ORDER_EVENTS_QUEUE", queue),
            ("CURSOR_SECRET", "e2e-cursor-secret-e2e-cursor-secret"),
            ("INTERNAL_TOKEN", INTERNAL_TOKEN),
        ]);
        let config = product::config::Config::from_env(&env).expect("product config");
        let platform = Platform::default();
        let app = product::startup::Application::build(&config, &platform)
            .await
            .expect("the product service");
        match addr {
            Some(addr) => TestServer::serve_on(addr, app.routes, app.health, &platform).await,
            None => TestServer::serve(app.routes, app.health, &platform).await,
        }
    }

    /// Stops the product service, as if its pod died.
    pub(crate) async fn kill_product(&mut self) {
        if let Some(product) = self.product.take() {
            product.stop().await.expect("product stops");
        }
    }

    /// Brings the product service back on its old address.
    pub(crate) async fn revive_product(&mut self) {
        let product = Self::start_product(
            &self.product_db,
            &self.redis,
            &self.amqp,
            &self.queue,
            Some(self.product_addr),
        )
        .await;
        self.product = Some(product);
    }

    pub(crate) fn url(&self, path: &str) -> String {
        self.gateway.url(path)
    }

    /// Sends a request through the gateway, with a bearer token when given.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("gateway answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// Registers a new customer; returns the access token and the user id.
    pub(crate) async fn register(&self) -> (String, String) {
        let email = format!("{}@shop.test", testkit::unique_name("shopper"));
        let (status, body) = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": "correct horse battery", "display_name": "Shopper" }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["access_token"].as_str().expect("token").to_owned(),
            body["user"]["id"].as_str().expect("id").to_owned(),
        )
    }

    /// A valid access token for `sub`, signed with the user service's key, as if it had signed
    /// the user in.
    pub(crate) fn token_for(&self, sub: uuid::Uuid) -> String {
        let signer = tokens::Signer::from_pem("e2e-1", &self.signing_key).expect("signer");
        testkit::token::access_token(&signer, sub, &[contracts::auth::Role::Customer], 600)
    }

    /// Signs in as the admin.
    pub(crate) async fn admin(&self) -> String {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// Polls `check` until it holds, for at most `limit`.
    pub(crate) async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if check().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

/// A checkout body with the given card.
pub(crate) fn checkout_body(card: &str) -> Value {
    json!({
        "shipping_address": {
            "recipient": "Ada Lovelace",
            "line1": "12 Analytical Row",
            "city": "London",
            "postal_code": "N1 9GU",
            "country": "GB"
        },
        "card": {
            "number": card,
            "exp_month": 12,
            "exp_year": time::OffsetDateTime::now_utc().year() + 3,
            "cvc": "123"
        }
    })
}
