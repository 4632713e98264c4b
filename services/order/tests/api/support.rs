//! The shop under test: the real product service and the order service, each on its own
//! fresh database, served on random ports, publishing to a test exchange on the real RabbitMQ.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use contracts::events::OrderEvent;
use contracts::money::Money;
use contracts::orders::Order;
use futures::StreamExt;
use futures::future::BoxFuture;
use kit::amqp::Broker;
use kit::bootstrap::Platform;
use kit::config::Env;
use kit::identity::{USER_ID_HEADER, USER_ROLES_HEADER};
use kit::shutdown::Shutdown;
use lapin::message::Delivery;
use lapin::options::BasicAckOptions;
use lapin::{Channel, Consumer};
use order::AppState;
use order::config::{Config, TestPaymentSettings};
use order::payments::{
    Authorisation, PaymentProvider, PaymentRequest, ProviderUnavailable, TestPaymentProvider,
};
use order::startup::Application;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{TestAmqp, TestDb, TestServer};
use tokio::sync::Semaphore;
use uuid::Uuid;

/// How long a test waits for something that happens in the background.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// Who sends a request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Caller {
    /// Nobody signed in.
    Anonymous,
    /// A customer.
    Customer(Uuid),
    /// An admin.
    Admin(Uuid),
}

/// A new customer.
pub(crate) fn customer() -> Caller {
    Caller::Customer(Uuid::new_v4())
}

/// A new admin.
pub(crate) fn admin() -> Caller {
    Caller::Admin(Uuid::new_v4())
}

/// A status and a JSON body (`Null` when there is none).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) body: Value,
}

impl Answer {
    /// The body as an order.
    pub(crate) fn order(&self) -> Order {
        serde_json::from_value(self.body.clone()).expect("an order")
    }

    /// The `field`s of a problem's `errors`.
    pub(crate) fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// How to start a [`Shop`].
#[derive(Default)]
pub(crate) struct Options {
    /// The broker URL the order service uses (a proxy, to take the broker away).
    pub(crate) amqp_url: Option<String>,
    /// Extra settings of the order service.
    pub(crate) env: Vec<(&'static str, String)>,
    /// The payment provider, instead of the built-in test provider.
    pub(crate) payments: Option<Arc<dyn PaymentProvider>>,
    /// Whether the order service reaches the product service through a [`FaultyProxy`].
    pub(crate) product_faults: bool,
    /// Whether the product service consumes the order events, from a queue of its own.
    pub(crate) product_consumer: bool,
}

/// The product and order services, running.
pub(crate) struct Shop {
    /// Dropped before `amqp`: their shutdown stops the relay and the product consumer before
    /// the exchange and the queue are deleted.
    pub(crate) order: TestServer,
    pub(crate) product: TestServer,
    pub(crate) state: AppState,
    pub(crate) config: Config,
    pub(crate) amqp: TestAmqp,
    /// The product service's own exchange, when it does not consume the order events.
    _product_amqp: Option<TestAmqp>,
    pub(crate) order_db: TestDb,
    pub(crate) product_db: TestDb,
    /// The product service's state, to run its background work (expiry) on demand.
    pub(crate) product_state: product::AppState,
    /// The proxy between the order and the product service, when [`Options::product_faults`].
    pub(crate) faults: Option<FaultyProxy>,
    category: Uuid,
    client: reqwest::Client,
}

impl Shop {
    /// The shop with default settings.
    pub(crate) async fn start() -> Self {
        Self::with(Options::default()).await
    }

    /// The shop with `options`.
    pub(crate) async fn with(options: Options) -> Self {
        let (product_db, order_db) = tokio::join!(
            TestDb::migrated(&product::MIGRATOR),
            TestDb::migrated(&order::MIGRATOR)
        );
        let internal_token = secret();
        let amqp = TestAmqp::default();
        // The product service always runs its consumer, as it ships; without the option it
        // consumes from an exchange of its own, where no order event arrives.
        let product_amqp = (!options.product_consumer).then(TestAmqp::default);
        let (product, product_state) = start_product(
            &product_db,
            product_amqp.as_ref().unwrap_or(&amqp),
            &internal_token,
        )
        .await;
        let faults = if options.product_faults {
            Some(FaultyProxy::start(format!("http://{}", product.addr)).await)
        } else {
            None
        };
        let product_url = faults
            .as_ref()
            .map_or_else(|| format!("http://{}", product.addr), FaultyProxy::url);
        let mut pairs: Vec<(&'static str, String)> = vec![
            ("DATABASE_URL", order_db.url.clone()),
            (
                "AMQP_URL",
                options.amqp_url.unwrap_or_else(|| amqp.url.clone()),
            ),
            ("AMQP_EXCHANGE", amqp.exchange.clone()),
            ("PRODUCT_URL", product_url),
            ("IDEMPOTENCY_SECRET", secret()),
            ("INTERNAL_TOKEN", internal_token.clone()),
            ("PAYMENT_PROVIDER", "test".to_owned()),
            ("TAX_RATE_BPS", "800".to_owned()),
            ("OUTBOX_POLL_MS", "50".to_owned()),
            // The tests run the sweeper's work themselves, when they mean to.
            ("ORDER_SWEEP_SECS", "3600".to_owned()),
        ];
        pairs.extend(options.env);
        let config = Config::from_env(&Env::from_pairs(pairs)).expect("valid settings");
        let mut state = AppState::new(&config, order_db.pool.clone()).expect("state");
        if let Some(payments) = options.payments {
            state.payments = payments;
        }
        let platform = Platform::default();
        let app = Application::with_state(&config, state, &platform);
        let order = TestServer::serve(app.routes, app.health, &platform).await;
        let state = app.state;
        let client = reqwest::Client::new();
        let mut shop = Self {
            order,
            product,
            state,
            config,
            amqp,
            _product_amqp: product_amqp,
            order_db,
            product_db,
            product_state,
            faults,
            category: Uuid::nil(),
            client,
        };
        let slug = format!("cat-{}", Uuid::new_v4().simple());
        let category = shop
            .product_call(
                Method::POST,
                "/api/v1/admin/categories",
                admin(),
                Some(json!({"slug": slug, "name": "Things"})),
            )
            .await;
        assert_eq!(category.status, StatusCode::CREATED, "{:?}", category.body);
        shop.category = category.body["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("category id");
        shop
    }

    /// A request to the order service.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        caller: Caller,
        body: Option<Value>,
    ) -> Answer {
        self.send(self.order.url(path), method, caller, body, Vec::new())
            .await
    }

    /// A checkout with `key`.
    pub(crate) async fn checkout(&self, caller: Caller, key: &str, body: Value) -> Answer {
        self.send(
            self.order.url("/api/v1/checkout"),
            Method::POST,
            caller,
            Some(body),
            vec![("Idempotency-Key", key.to_owned())],
        )
        .await
    }

    /// A checkout with `key`, as part of the W3C trace `traceparent`.
    pub(crate) async fn traced_checkout(
        &self,
        caller: Caller,
        key: &str,
        body: Value,
        traceparent: &str,
    ) -> Answer {
        self.send(
            self.order.url("/api/v1/checkout"),
            Method::POST,
            caller,
            Some(body),
            vec![
                ("Idempotency-Key", key.to_owned()),
                ("traceparent", traceparent.to_owned()),
            ],
        )
        .await
    }

    /// Puts `quantity` of `product` in the cart, expecting success.
    pub(crate) async fn add_to_cart(&self, caller: Caller, product: Uuid, quantity: u32) {
        let answer = self
            .call(
                Method::PUT,
                &format!("/api/v1/cart/items/{product}"),
                caller,
                Some(json!({"quantity": quantity})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    }

    /// A request to the product service, with the internal token, as the order service sends.
    pub(crate) async fn product_call(
        &self,
        method: Method,
        path: &str,
        caller: Caller,
        body: Option<Value>,
    ) -> Answer {
        let token = self.config.product.internal.token.header_value();
        let token = token.to_str().expect("a visible token").to_owned();
        let headers = vec![(kit::internal::INTERNAL_TOKEN_HEADER, token)];
        self.send(self.product.url(path), method, caller, body, headers)
            .await
    }

    async fn send(
        &self,
        url: String,
        method: Method,
        caller: Caller,
        body: Option<Value>,
        headers: Vec<(&str, String)>,
    ) -> Answer {
        let mut request = self.client.request(method, url);
        match caller {
            Caller::Anonymous => {}
            Caller::Customer(id) => {
                request = request
                    .header(USER_ID_HEADER, id.to_string())
                    .header(USER_ROLES_HEADER, "customer");
            }
            Caller::Admin(id) => {
                request = request
                    .header(USER_ID_HEADER, id.to_string())
                    .header(USER_ROLES_HEADER, "customer,admin");
            }
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("the request is answered");
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.bytes().await.expect("a body").to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            bytes,
            body,
        }
    }

    /// A product for sale at `price` cents with `stock` units.
    pub(crate) async fn add_product(&self, name: &str, price: i64, stock: u32) -> Uuid {
        self.new_product(name, price, stock, true).await
    }

    /// A product, active or not.
    pub(crate) async fn new_product(
        &self,
        name: &str,
        price: i64,
        stock: u32,
        active: bool,
    ) -> Uuid {
        let suffix = Uuid::new_v4().simple().to_string();
        let answer = self
            .product_call(
                Method::POST,
                "/api/v1/admin/products",
                admin(),
                Some(json!({
                    "sku": format!("SKU-{}", &suffix[..12]),
                    "slug": format!("p-{suffix}"),
                    "name": name,
                    "price": {"amount": price, "currency": "USD"},
                    "category_id": self.category,
                    "active": active,
                    "stock": stock,
                })),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("product id")
    }

    /// Changes a product in the catalog (`changes` are fields of `UpdateProduct`).
    pub(crate) async fn update_product(&self, id: Uuid, mut changes: Value) {
        let current = self
            .product_call(
                Method::GET,
                &format!("/api/v1/products/{id}"),
                admin(),
                None,
            )
            .await;
        changes["version"] = current.body["version"].clone();
        let answer = self
            .product_call(
                Method::PATCH,
                &format!("/api/v1/admin/products/{id}"),
                admin(),
                Some(changes),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    }

    /// The units of a product available to buy now.
    pub(crate) async fn stock(&self, id: Uuid) -> u64 {
        let answer = self
            .product_call(
                Method::GET,
                &format!("/api/v1/products/{id}"),
                admin(),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        answer.body["stock"].as_u64().expect("stock")
    }

    /// Every order of `caller`, newest first.
    pub(crate) async fn orders(&self, caller: Caller) -> Vec<Order> {
        let answer = self
            .call(Method::GET, "/api/v1/orders?limit=100", caller, None)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        serde_json::from_value(answer.body["items"].clone()).expect("orders")
    }

    /// The kinds of the order events the product service applied for `order_id`.
    pub(crate) async fn applied_by_product(&self, order_id: Uuid) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT kind FROM processed_events WHERE order_id = $1 ORDER BY processed_at, kind",
        )
        .bind(order_id)
        .fetch_all(&self.product_db.pool)
        .await
        .expect("processed events")
    }

    /// Events of `order_id` still waiting in the outbox.
    pub(crate) async fn unpublished(&self, order_id: Uuid) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE aggregate_id = $1 AND published_at IS NULL",
        )
        .bind(order_id)
        .fetch_one(&self.order_db.pool)
        .await
        .expect("count")
    }
}

/// A random secret of 64 characters, for a key the settings require.
fn secret() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

async fn start_product(
    db: &TestDb,
    amqp: &TestAmqp,
    internal_token: &str,
) -> (TestServer, product::AppState) {
    let config = product::config::Config::from_env(&Env::from_pairs([
        ("DATABASE_URL", db.url.clone()),
        ("REDIS_URL", testkit::redis_url()),
        ("CACHE_TTL_SECS", "0".to_owned()),
        ("AMQP_URL", amqp.url.clone()),
        ("AMQP_EXCHANGE", amqp.exchange.clone()),
        ("ORDER_EVENTS_QUEUE", amqp.queue("product_order_events")),
        ("CURSOR_SECRET", secret()),
        ("INTERNAL_TOKEN", internal_token.to_owned()),
        // The tests run the sweeper's work themselves, when they mean to.
        ("RESERVATION_SWEEP_SECS", "3600".to_owned()),
    ]))
    .expect("product settings");
    let platform = Platform::default();
    let app = product::startup::Application::build(&config, &platform)
        .await
        .expect("the product service");
    let server = TestServer::serve(app.routes, app.health, &platform).await;
    (server, app.state)
}

/// A checkout body: a valid address and the card `number`.
pub(crate) fn checkout_body(number: &str) -> Value {
    json!({
        "shipping_address": {
            "recipient": "Ada Lovelace",
            "line1": "12 Analytical Row",
            "city": "London",
            "postal_code": "NW1 6XE",
            "country": "GB"
        },
        "card": {"number": number, "exp_month": 12, "exp_year": 2039, "cvc": "123"}
    })
}

/// The test cards.
pub(crate) const CARD_OK: &str = "4242 4242 4242 4242";
pub(crate) const CARD_DECLINED: &str = "4000 0000 0000 0002";
pub(crate) const CARD_NO_FUNDS: &str = "4000 0000 0000 9995";

/// A fresh idempotency key.
pub(crate) fn key() -> String {
    Uuid::new_v4().to_string()
}

/// The test provider, counting what it charged and refunded.
#[derive(Debug)]
pub(crate) struct CountingProvider {
    inner: TestPaymentProvider,
    /// Authorisations that took money.
    pub(crate) charged: AtomicUsize,
    /// Refunds.
    pub(crate) refunded: AtomicUsize,
    /// When set, authorisations wait for a permit: a provider that hangs until let go.
    pub(crate) gate: Option<Semaphore>,
}

impl CountingProvider {
    /// Counts, never waits.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::build(None))
    }

    /// Counts, and holds every authorisation until [`Semaphore::add_permits`].
    pub(crate) fn gated() -> Arc<Self> {
        Arc::new(Self::build(Some(Semaphore::new(0))))
    }

    fn build(gate: Option<Semaphore>) -> Self {
        Self {
            inner: TestPaymentProvider::new(TestPaymentSettings {
                latency: Duration::ZERO,
                failure_rate: "0".parse().expect("rate"),
            }),
            charged: AtomicUsize::new(0),
            refunded: AtomicUsize::new(0),
            gate,
        }
    }

    pub(crate) fn charged(&self) -> usize {
        self.charged.load(Ordering::SeqCst)
    }

    pub(crate) fn refunded(&self) -> usize {
        self.refunded.load(Ordering::SeqCst)
    }
}

impl PaymentProvider for CountingProvider {
    fn name(&self) -> &'static str {
        "test"
    }

    fn authorise<'a>(
        &'a self,
        request: PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<Authorisation, ProviderUnavailable>> {
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                gate.acquire().await.expect("gate open").forget();
            }
            let outcome = self.inner.authorise(request).await?;
            if matches!(outcome, Authorisation::Authorised { .. }) {
                self.charged.fetch_add(1, Ordering::SeqCst);
            }
            Ok(outcome)
        })
    }

    fn refund<'a>(
        &'a self,
        payment_id: &'a str,
        amount: Money,
    ) -> BoxFuture<'a, Result<(), ProviderUnavailable>> {
        Box::pin(async move {
            self.inner.refund(payment_id, amount).await?;
            self.refunded.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

/// A queue bound to every order event of a test exchange. The queue is exclusive, so the
/// broker deletes it with the connection; the exchange goes with the [`TestAmqp`].
pub(crate) struct EventQueue {
    consumer: Consumer,
    _channel: Channel,
    _broker: Broker,
}

impl EventQueue {
    /// Declares the exchange (as the relay does) and an exclusive queue bound to `order.*`.
    pub(crate) async fn bind(amqp: &TestAmqp) -> Self {
        let (broker, channel, consumer) = amqp
            .subscribe(contracts::events::ORDER_EVENTS_PATTERN, "order-tests")
            .await;
        Self {
            consumer,
            _channel: channel,
            _broker: broker,
        }
    }

    /// The next event for `order_id`, skipping other orders' events.
    pub(crate) async fn next_for(&mut self, order_id: Uuid) -> (OrderEvent, Delivery) {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let (event, delivery) = self.receive().await;
                if event.order_id == order_id {
                    return (event, delivery);
                }
            }
        })
        .await
        .expect("an event in time")
    }

    /// The next event of any order, or `None` when none arrives within `wait`.
    pub(crate) async fn next_within(&mut self, wait: Duration) -> Option<OrderEvent> {
        let (event, _) = tokio::time::timeout(wait, self.receive()).await.ok()?;
        Some(event)
    }

    /// The next delivery, acknowledged, and the event it carries.
    async fn receive(&mut self) -> (OrderEvent, Delivery) {
        let delivery = self
            .consumer
            .next()
            .await
            .expect("the consumer is open")
            .expect("a delivery");
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        let event = serde_json::from_slice(&delivery.data).expect("an order event");
        (event, delivery)
    }
}

/// How the [`FaultyProxy`] fails a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answers 503 without passing the request on.
    Unavailable,
    /// Passes the request on, then answers 503 instead of the product service's answer: the
    /// work is done, but the caller does not know it.
    LoseAnswer,
    /// Passes the request on, then sends the answer's headers and cuts the connection in
    /// the middle of its body.
    CutConnection,
}

#[derive(Debug)]
struct Rule {
    path_suffix: &'static str,
    fault: Fault,
    times: usize,
}

#[derive(Debug)]
struct ProxyState {
    target: String,
    client: reqwest::Client,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<String>>,
}

/// An HTTP proxy in front of the product service that fails chosen requests, and records the
/// path of every request it got.
pub(crate) struct FaultyProxy {
    server: TestServer,
    state: Arc<ProxyState>,
}

impl FaultyProxy {
    async fn start(target: String) -> Self {
        let state = Arc::new(ProxyState {
            target,
            client: reqwest::Client::new(),
            rules: Mutex::default(),
            seen: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(state.clone());
        Self {
            server: TestServer::start(app, Shutdown::new()).await,
            state,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Fails the next `times` requests whose path ends with `path_suffix` with `fault`.
    pub(crate) fn fail(&self, path_suffix: &'static str, fault: Fault, times: usize) {
        self.state.rules.lock().expect("rules").push(Rule {
            path_suffix,
            fault,
            times,
        });
    }

    /// Stops failing requests.
    pub(crate) fn heal(&self) {
        self.state.rules.lock().expect("rules").clear();
    }

    /// How many requests whose path ends with `path_suffix` reached the proxy.
    pub(crate) fn seen(&self, path_suffix: &str) -> usize {
        self.state
            .seen
            .lock()
            .expect("seen")
            .iter()
            .filter(|path| path.ends_with(path_suffix))
            .count()
    }
}

async fn forward(
    State(proxy): State<Arc<ProxyState>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    proxy.seen.lock().expect("seen").push(path.clone());
    let fault = {
        let mut rules = proxy.rules.lock().expect("rules");
        rules
            .iter_mut()
            .find(|rule| rule.times > 0 && path.ends_with(rule.path_suffix))
            .map(|rule| {
                rule.times -= 1;
                rule.fault
            })
    };
    let unavailable =
        || (StatusCode::SERVICE_UNAVAILABLE, "the faulty proxy says no").into_response();
    if fault == Some(Fault::Unavailable) {
        return unavailable();
    }
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("a request body");
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = proxy
        .client
        .request(parts.method, format!("{}{path_and_query}", proxy.target))
        .body(body);
    for (name, value) in &parts.headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.expect("the product service answers");
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = answer.bytes().await.expect("an answer body");
    match fault {
        Some(Fault::LoseAnswer) => unavailable(),
        Some(Fault::CutConnection) => {
            let cut = futures::stream::iter([
                Ok(axum::body::Bytes::from_static(b"{\"order_id\":")),
                Err(std::io::Error::other("connection cut by the faulty proxy")),
            ]);
            (status, axum::body::Body::from_stream(cut)).into_response()
        }
        _ => {
            let mut response = (status, bytes).into_response();
            if let Some(content_type) = content_type {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, content_type);
            }
            response
        }
    }
}

/// Polls `check` until it is true, at most [`PATIENCE`].
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
