//! End-to-end checkout benchmark: `cargo bench -p order --bench order-bench`, with options
//! after `--` (`cargo bench -p order --bench order-bench -- --users 32 --seconds 30`).
//!
//! Starts the real product service and the order service in-process, each on a fresh database
//! (on the Postgres of `TEST_DATABASE_URL`), with the outbox relay publishing to a fresh
//! exchange on the RabbitMQ of `TEST_AMQP_URL` and the product service consuming the order
//! events from it. It seeds products with plenty of stock, then runs `--users` concurrent
//! customers for `--seconds`: each fills a cart over HTTP and checks out with the test card.
//! It prints checkouts per second and the latency of the checkout request (p50, p90, p99,
//! max), then waits for the outbox to drain and says how many events went through RabbitMQ.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use kit::bootstrap::Platform;
use kit::config::Env;
use kit::identity::{USER_ID_HEADER, USER_ROLES_HEADER};
use kit::metrics::Metrics;
use order::config::Config;
use order::outbox;
use order::startup::Application;
use serde_json::{Value, json};
use testkit::{TestAmqp, TestDb, TestServer};
use uuid::Uuid;

/// Checkouts per second through the whole stack.
#[derive(Debug, Parser)]
#[command(name = "order-bench")]
struct Args {
    /// Concurrent customers.
    #[arg(long, default_value_t = 16)]
    users: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Products in the catalog; each cart holds two of them.
    #[arg(long, default_value_t = 50)]
    products: usize,
    /// Added latency of the test payment provider, in milliseconds.
    #[arg(long, default_value_t = 0)]
    payment_latency_ms: u64,
    /// Passed by `cargo bench` to every bench target; this one always runs.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<Duration>,
    failures: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (product_db, order_db) = tokio::join!(
        TestDb::migrated(&product::MIGRATOR),
        TestDb::migrated(&order::MIGRATOR)
    );
    let amqp = TestAmqp::default();
    let platform = Platform::default();

    // The product service, consuming order events from its own queue on the bench exchange.
    let internal_token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let product_config = product::config::Config::from_env(&Env::from_pairs([
        ("DATABASE_URL", product_db.url.clone()),
        ("REDIS_URL", testkit::redis_url()),
        ("CACHE_TTL_SECS", "0".to_owned()),
        ("AMQP_URL", amqp.url.clone()),
        ("AMQP_EXCHANGE", amqp.exchange.clone()),
        ("ORDER_EVENTS_QUEUE", amqp.queue("product_order_events")),
        (
            "CURSOR_SECRET",
            format!("{}{}", Uuid::new_v4(), Uuid::new_v4()),
        ),
        ("INTERNAL_TOKEN", internal_token.clone()),
    ]))?;
    // Its own metrics registry, as in its own process; one shutdown stops both services.
    let product_platform = Platform {
        metrics: Metrics::new(),
        shutdown: platform.shutdown.clone(),
    };
    let product_app =
        product::startup::Application::build(&product_config, &product_platform).await?;
    let product =
        TestServer::serve(product_app.routes, product_app.health, &product_platform).await;

    // The order service, with its relay and sweeper.
    let config = Config::from_env(&Env::from_pairs([
        ("DATABASE_URL", order_db.url.clone()),
        ("DATABASE_MAX_CONNECTIONS", "20".to_owned()),
        ("AMQP_URL", amqp.url.clone()),
        ("AMQP_EXCHANGE", amqp.exchange.clone()),
        ("PRODUCT_URL", format!("http://{}", product.addr)),
        (
            "IDEMPOTENCY_SECRET",
            format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()),
        ),
        ("INTERNAL_TOKEN", internal_token),
        ("PAYMENT_PROVIDER", "test".to_owned()),
        ("TAX_RATE_BPS", "800".to_owned()),
        (
            "PAYMENT_TEST_LATENCY_MS",
            args.payment_latency_ms.to_string(),
        ),
    ]))?;
    let app = Application::build(&config, &platform).await?;
    let pool = app.state.pool.clone();
    let order = TestServer::serve(app.routes, app.health, &platform).await;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.users * 2)
        .build()?;
    let admin = Uuid::new_v4();
    let products = seed(&client, &product, admin, args.products).await?;
    println!(
        "order-bench: {} users for {} s, {} products, payment latency {} ms",
        args.users, args.seconds, args.products, args.payment_latency_ms
    );

    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let products = Arc::new(products);
    let workers: Vec<_> = (0..args.users)
        .map(|worker| {
            let (client, products) = (client.clone(), products.clone());
            let base = format!("http://{}", order.addr);
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut round = worker;
                while Instant::now() < deadline {
                    let picks = [
                        products[round % products.len()],
                        products[(round * 7 + 3) % products.len()],
                    ];
                    round += 1;
                    match shop_once(&client, &base, &picks).await {
                        Ok(latency) => tally.latencies.push(latency),
                        Err(error) => {
                            tally.failures += 1;
                            if tally.failures <= 3 {
                                eprintln!("checkout failed: {error:#}");
                            }
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let tally = worker.await?;
        latencies.extend(tally.latencies);
        failures += tally.failures;
    }
    let elapsed = started.elapsed();
    report(&mut latencies, failures, elapsed);

    // Every event reaches RabbitMQ before the figures are final.
    let drain = Instant::now();
    loop {
        let outbox::Tally { published, waiting } = outbox::tally(&pool).await?;
        if waiting == 0 {
            println!(
                "events:      {published} published to RabbitMQ; outbox drained {:.1} s after the run",
                drain.elapsed().as_secs_f64()
            );
            break;
        }
        anyhow::ensure!(
            drain.elapsed() < Duration::from_secs(60),
            "{waiting} events still unpublished after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The consumer and the relay stop before `amqp` drops and deletes the exchange and the
    // queue: on this multi-thread runtime they could otherwise declare them again.
    platform.shutdown.trigger();
    platform
        .shutdown
        .wait_for_tasks(Duration::from_secs(5))
        .await;
    Ok(())
}

/// Creates a category and `count` products with a million units each.
async fn seed(
    client: &reqwest::Client,
    product: &TestServer,
    admin: Uuid,
    count: usize,
) -> anyhow::Result<Vec<Uuid>> {
    let post = |path: &str, body: Value| {
        client
            .post(product.url(path))
            .header(USER_ID_HEADER, admin.to_string())
            .header(USER_ROLES_HEADER, "admin")
            .json(&body)
            .send()
    };
    let category: Value = post(
        "/api/v1/admin/categories",
        json!({"slug": "bench", "name": "Bench"}),
    )
    .await?
    .error_for_status()?
    .json()
    .await?;
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let created: Value = post(
            "/api/v1/admin/products",
            json!({
                "sku": format!("BENCH-{i}"),
                "slug": format!("bench-{i}"),
                "name": format!("Bench product {i}"),
                "price": {"amount": 500 + 37 * i64::try_from(i)?, "currency": "USD"},
                "category_id": category["id"],
                "stock": 1_000_000,
            }),
        )
        .await?
        .error_for_status()?
        .json()
        .await?;
        ids.push(created["id"].as_str().context("a product id")?.parse()?);
    }
    Ok(ids)
}

/// One customer: two products in the cart, then a checkout. Answers the checkout's latency.
async fn shop_once(
    client: &reqwest::Client,
    base: &str,
    products: &[Uuid],
) -> anyhow::Result<Duration> {
    let user = Uuid::new_v4().to_string();
    for (n, product) in products.iter().enumerate() {
        client
            .put(format!("{base}/api/v1/cart/items/{product}"))
            .header(USER_ID_HEADER, &user)
            .header(USER_ROLES_HEADER, "customer")
            .json(&json!({"quantity": n + 1}))
            .send()
            .await?
            .error_for_status()?;
    }
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/v1/checkout"))
        .header(USER_ID_HEADER, &user)
        .header(USER_ROLES_HEADER, "customer")
        .header("Idempotency-Key", Uuid::new_v4().to_string())
        .json(&json!({
            "shipping_address": {
                "recipient": "Bench", "line1": "1 Load St", "city": "Testville",
                "postal_code": "12345", "country": "US"
            },
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2039, "cvc": "123"}
        }))
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(status == 201, "checkout answered {status}: {body}");
    Ok(started.elapsed())
}

fn report(latencies: &mut [Duration], failures: usize, elapsed: Duration) {
    latencies.sort_unstable();
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "checkouts:   {} paid, {failures} failed in {:.1} s",
        latencies.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "throughput:  {:.1} checkouts/s (each with 2 cart writes before it)",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "latency:     p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (checkout request)",
        ms(percentile(50.0)),
        ms(percentile(90.0)),
        ms(percentile(99.0)),
        ms(percentile(100.0))
    );
}
