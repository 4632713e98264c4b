//! One checkout, one trace: the spans every service exports over OTLP, received by a collector
//! in the test, form a single trace from the gateway through the order service to the product
//! service over HTTP, and through RabbitMQ to the product service's consumer, with the
//! attributes of the OpenTelemetry semantic conventions.
//!
//! Each service runs on a thread of its own, on its own runtime, under the subscriber the kit
//! installs in its binary ([`kit::telemetry::subscriber`]) as that thread's default: its own
//! tracer provider, named after it, exporting OTLP/HTTP protobuf to the collector, as separate
//! processes would. They share the real Postgres (a database each), Redis and RabbitMQ.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use kit::bootstrap::Platform;
use kit::config::Env;
use kit::health::Health;
use kit::metrics::Metrics;
use kit::shutdown::Shutdown;
use kit::telemetry::TelemetryConfig;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::{Value, json};
use testkit::{TestAmqp, TestDb, TestRedis, TestServer, http_config};

const INTERNAL_TOKEN: &str = "trace-internal-token-trace-internal-token";

/// A span as received, with the service that exported it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    trace_id: String,
    span_id: String,
    parent_id: String,
    name: String,
    kind: SpanKind,
    attributes: HashMap<String, String>,
}

impl Received {
    fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

/// An OTLP/HTTP collector: decodes every export request (protobuf) into [`Received`] spans.
async fn collector() -> (TestServer, Arc<Mutex<Vec<Received>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let store = spans.clone();
    let app = Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| async move {
            let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
            let mut spans = store.lock().expect("lock");
            for resource_spans in request.resource_spans {
                let service = resource_spans
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|a| a.key == "service.name")
                    .map(|a| text(a.value.as_ref()))
                    .unwrap_or_default();
                for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                    spans.push(Received {
                        service: service.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_id: hex(&span.parent_span_id),
                        kind: span.kind(),
                        name: span.name,
                        attributes: span
                            .attributes
                            .iter()
                            .map(|a| (a.key.clone(), text(a.value.as_ref())))
                            .collect(),
                    });
                }
            }
            // An empty ExportTraceServiceResponse.
            (
                [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
                Bytes::new(),
            )
        }),
    );
    (TestServer::start(app, Shutdown::new()).await, spans)
}

/// Ids in hex; an id of zeros (an invalid parent) as none.
fn hex(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| *b == 0) {
        return String::new();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A service running on its own thread and runtime, under its own telemetry.
struct Running {
    addr: SocketAddr,
    shutdown: Shutdown,
    thread: std::thread::JoinHandle<()>,
}

impl Running {
    /// Stops the service; its telemetry exports what it has not yet on the way out.
    fn stop(self) {
        self.shutdown.trigger();
        self.thread.join().expect("the service's thread");
    }
}

/// The kit's standard stack around a service's routes and readiness, as its binary serves them.
fn served(routes: Router, health: Health, platform: &Platform) -> Router {
    kit::server::router(routes, &platform.ops(health), &http_config())
}

/// Starts `name` on a thread: `build` assembles what it serves on the platform it is given
/// (inside its runtime, so its background tasks run there too, under its subscriber).
fn start<F, Fut>(name: &'static str, collector: &str, build: F) -> Running
where
    F: FnOnce(Platform) -> Fut + Send + 'static,
    Fut: Future<Output = Router>,
{
    let config = TelemetryConfig {
        filter: "info".to_owned(),
        pretty: false,
        otlp_endpoint: Some(collector.to_owned()),
    };
    let shutdown = Shutdown::new();
    let (ready, addr) = std::sync::mpsc::channel();
    let stop = shutdown.clone();
    let thread = std::thread::spawn(move || {
        let (subscriber, telemetry) =
            kit::telemetry::subscriber(name, &config, std::io::sink).expect("telemetry");
        let _default = tracing::subscriber::set_default(subscriber);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let platform = Platform {
                metrics: Metrics::new(),
                shutdown: stop.clone(),
            };
            let app = build(platform).await;
            let listener = kit::server::bind("127.0.0.1:0".parse().expect("address"))
                .await
                .expect("bind");
            ready.send(listener.local_addr().expect("address")).ok();
            kit::server::serve(listener, app, stop, &http_config())
                .await
                .expect("serve");
        });
        drop(runtime);
        drop(telemetry);
    });
    let addr = addr
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{name} did not start: {e}"));
    Running {
        addr,
        shutdown,
        thread,
    }
}

/// Polls `condition` until it holds or `within` passes.
async fn eventually<F, Fut>(within: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_checkout_is_one_trace_across_http_and_rabbitmq() {
    let (collector, received) = collector().await;
    let otlp = collector.url("");
    let (user_db, product_db, order_db) = tokio::join!(
        TestDb::migrated(&user::MIGRATOR),
        TestDb::migrated(&product::MIGRATOR),
        TestDb::migrated(&order::MIGRATOR),
    );
    let redis = TestRedis::default();
    let amqp = TestAmqp::default();
    let queue = amqp.queue("trace_events");

    let signing_key = tokens::generate_pem().expect("key");
    let user_env = Env::from_pairs([
        ("DATABASE_URL", user_db.url.as_str()),
        ("JWT_SIGNING_KEY", signing_key.as_str()),
        ("JWT_SIGNING_KEY_ID", "trace-1"),
        ("INTERNAL_TOKEN", INTERNAL_TOKEN),
        ("ARGON2_MEMORY_KIB", "1024"),
        ("ARGON2_ITERATIONS", "1"),
    ]);
    let user = start("user", &otlp, move |platform| async move {
        let config = user::config::Config::from_env(&user_env).expect("user config");
        let app = user::startup::Application::build(&config, &platform)
            .await
            .expect("the user service");
        served(app.routes, app.health, &platform)
    });

    let product_env = Env::from_pairs([
        ("DATABASE_URL", product_db.url.as_str()),
        ("REDIS_URL", redis.url.as_str()),
        ("REDIS_KEY_PREFIX", redis.prefix.as_str()),
        ("AMQP_URL", amqp.url.as_str()),
        ("AMQP_EXCHANGE", amqp.exchange.as_str()),
        ("ORDER_EVENTS_QUEUE", queue.as_str()),
        ("CURSOR_SECRET", "trace-cursor-secret-trace-cursor-secret"),
        ("INTERNAL_TOKEN", INTERNAL_TOKEN),
    ]);
    let product = start("product", &otlp, move |platform| async move {
        let config = product::config::Config::from_env(&product_env).expect("product config");
        let db = config.database.pool();
        product::seed::run(
            &db,
            &product::cache::Cache::disabled(),
            "USD".parse().expect("currency"),
        )
        .await
        .expect("seed");
        let app = product::startup::Application::build(&config, &platform)
            .await
            .expect("the product service");
        served(app.routes, app.health, &platform)
    });

    let product_url = format!("http://{}", product.addr);
    let order_env = Env::from_pairs([
        ("DATABASE_URL", order_db.url.as_str()),
        ("AMQP_URL", amqp.url.as_str()),
        ("AMQP_EXCHANGE", amqp.exchange.as_str()),
        ("PRODUCT_URL", product_url.as_str()),
        (
            "IDEMPOTENCY_SECRET",
            "trace-idempotency-secret-trace-idempotency",
        ),
        ("INTERNAL_TOKEN", INTERNAL_TOKEN),
        ("PAYMENT_PROVIDER", "test"),
    ]);
    let order = start("order", &otlp, move |platform| async move {
        let config = order::config::Config::from_env(&order_env).expect("order config");
        let app = order::startup::Application::build(&config, &platform)
            .await
            .expect("the order service");
        served(app.routes, app.health, &platform)
    });

    let (user_url, order_url) = (
        format!("http://{}", user.addr),
        format!("http://{}", order.addr),
    );
    let gateway_env = Env::from_pairs([
        ("USER_URL", user_url.as_str()),
        ("PRODUCT_URL", product_url.as_str()),
        ("ORDER_URL", order_url.as_str()),
    ]);
    let gateway = start("gateway", &otlp, move |platform| async move {
        let config =
            gateway::config::GatewayConfig::from_env(&gateway_env).expect("gateway config");
        // The public router has the kit's stack already (the ops endpoints are elsewhere).
        gateway::startup::Application::build(&config, &http_config(), &platform)
            .expect("the gateway")
            .public
    });

    // A shopper, through the gateway: register, put a product in the cart, check out.
    let shop = format!("http://{}", gateway.addr);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, token: Option<&str>, body: Value| {
        let mut request = http.request(method, format!("{shop}{path}")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
    };
    let registered: Value = call(
        reqwest::Method::POST,
        "/api/v1/auth/register",
        None,
        json!({"email": "trace@example.com", "password": "a long enough password", "display_name": "Trace"}),
    )
    .send()
    .await
    .expect("register")
    .json()
    .await
    .expect("json");
    let token = registered["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let products: Value = http
        .get(format!("{shop}/api/v1/products?in_stock=true&limit=1"))
        .send()
        .await
        .expect("products")
        .json()
        .await
        .expect("json");
    let product_id = products["items"][0]["id"].as_str().expect("a product");
    let added = call(
        reqwest::Method::PUT,
        &format!("/api/v1/cart/items/{product_id}"),
        Some(&token),
        json!({"quantity": 1}),
    )
    .send()
    .await
    .expect("cart");
    assert_eq!(added.status(), 200);
    let checkout = call(
        reqwest::Method::POST,
        "/api/v1/checkout",
        Some(&token),
        json!({
            "shipping_address": {"recipient": "Trace", "line1": "1 Span Street", "city": "Berlin",
                                 "postal_code": "10115", "country": "DE"},
            "card": {"number": "4242 4242 4242 4242", "exp_month": 12,
                     "exp_year": time::OffsetDateTime::now_utc().year() + 2, "cvc": "123"}
        }),
    )
    .header("idempotency-key", uuid::Uuid::new_v4().to_string())
    .send()
    .await
    .expect("checkout");
    assert_eq!(checkout.status(), 201);
    let order_id: Value = checkout.json().await.expect("order");
    let order_id = uuid::Uuid::parse_str(order_id["id"].as_str().expect("id")).expect("uuid");

    // The order.paid event reaches the product service's consumer.
    let applied = eventually(Duration::from_secs(30), || {
        let db = product_db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM processed_events WHERE order_id = $1 AND kind = 'order.paid'",
            )
            .bind(order_id)
            .fetch_one(&db)
            .await
            .is_ok_and(|n| n == 1)
        }
    })
    .await;
    assert!(applied, "the product service applied order.paid");

    // Stopping flushes every service's spans to the collector.
    for service in [gateway, order, product, user] {
        service.stop();
    }
    let spans = received.lock().expect("lock").clone();
    let by_id: HashMap<&str, &Received> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent = |span: &Received| by_id.get(span.parent_id.as_str()).copied();

    // The gateway starts the trace.
    let edge = spans
        .iter()
        .find(|s| {
            s.service == "gateway"
                && s.kind == SpanKind::Server
                && s.attr("url.path") == "/api/v1/checkout"
        })
        .expect("the gateway's span of the checkout");
    assert!(
        edge.parent_id.is_empty(),
        "the gateway's span is the root: {edge:#?} under {:#?}",
        parent(edge)
    );
    assert_eq!(edge.attr("http.request.method"), "POST");
    assert_eq!(edge.attr("http.response.status_code"), "201");
    let trace: Vec<&Received> = spans
        .iter()
        .filter(|s| s.trace_id == edge.trace_id)
        .collect();
    let services: std::collections::BTreeSet<&str> =
        trace.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        services,
        ["gateway", "order", "product"].into_iter().collect(),
        "{trace:#?}"
    );
    // Every span of the trace hangs from the gateway's: one tree, no orphan.
    for span in &trace {
        let mut at = *span;
        while let Some(up) = parent(at) {
            at = up;
        }
        assert_eq!(at.span_id, edge.span_id, "{span:#?} is not under the root");
    }

    // HTTP hop 1: gateway (client) -> order (server).
    let at_order = trace
        .iter()
        .find(|s| {
            s.service == "order"
                && s.kind == SpanKind::Server
                && s.attr("http.route") == "/api/v1/checkout"
        })
        .expect("the order service's span of the checkout");
    assert_eq!(at_order.name, "POST /api/v1/checkout");
    assert_eq!(at_order.attr("http.response.status_code"), "201");
    let forwarded = parent(at_order).expect("a parent");
    assert_eq!(
        (forwarded.service.as_str(), forwarded.kind),
        ("gateway", SpanKind::Client)
    );
    assert_eq!(forwarded.attr("http.request.method"), "POST");
    assert!(
        forwarded.attr("url.full").ends_with("/api/v1/checkout"),
        "{forwarded:#?}"
    );
    assert_eq!(forwarded.attr("server.address"), "127.0.0.1");
    assert_eq!(forwarded.attr("http.response.status_code"), "201");
    assert_eq!(parent(forwarded).map(|s| &s.span_id), Some(&edge.span_id));

    // HTTP hop 2: order (client) -> product (server), the reservation.
    let reserved = trace
        .iter()
        .find(|s| {
            s.service == "product"
                && s.kind == SpanKind::Server
                && s.attr("http.route") == "/internal/reservations"
        })
        .expect("the product service's span of the reservation");
    assert_eq!(reserved.attr("http.request.method"), "POST");
    let reserving = parent(reserved).expect("a parent");
    assert_eq!(
        (reserving.service.as_str(), reserving.kind),
        ("order", SpanKind::Client)
    );
    assert!(
        reserving
            .attr("url.full")
            .ends_with("/internal/reservations")
    );
    assert_eq!(reserving.attr("http.response.status_code"), "201");

    // Database spans on both sides.
    for (service, table) in [("order", "orders"), ("product", "reservations")] {
        let query = trace
            .iter()
            .find(|s| s.service == service && s.attr("db.system.name") == "postgresql")
            .unwrap_or_else(|| panic!("a database span of {service}"));
        assert_eq!(query.kind, SpanKind::Client);
        assert_eq!(query.attr("db.collection.name"), table);
        assert!(!query.attr("db.operation.name").is_empty(), "{query:#?}");
    }

    // The broker hop: the product service's consumer span is the child of the span that
    // created order.paid in the order service, its context carried in the message's headers.
    let consumed = trace
        .iter()
        .find(|s| {
            s.service == "product"
                && s.kind == SpanKind::Consumer
                && s.attr("messaging.rabbitmq.destination.routing_key") == "order.paid"
        })
        .expect("the consumer's span of order.paid");
    assert_eq!(consumed.name, "order.paid process");
    assert_eq!(consumed.attr("messaging.system"), "rabbitmq");
    assert_eq!(consumed.attr("messaging.operation.type"), "process");
    assert_eq!(consumed.attr("messaging.destination.name"), amqp.exchange);
    assert_eq!(consumed.attr("messaging.consumer.group.name"), queue);
    let created = parent(consumed).expect("a parent");
    assert_eq!(
        (
            created.service.as_str(),
            created.kind,
            created.name.as_str()
        ),
        ("order", SpanKind::Producer, "order.paid create")
    );
    assert_eq!(created.attr("messaging.system"), "rabbitmq");
    assert_eq!(created.attr("messaging.operation.type"), "create");
    assert_eq!(
        created.attr("messaging.message.id"),
        consumed.attr("messaging.message.id")
    );
    assert!(!created.attr("messaging.message.id").is_empty());
    drop((user_db, order_db, redis, collector));
}
