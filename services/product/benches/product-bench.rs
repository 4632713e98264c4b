//! `cargo bench -p product --bench product-bench [-- --products 100000 --seconds 10]`: loads
//! 100,000 products into a fresh database, serves the product service in this process, and
//! prints requests per second and latency percentiles of product details (cached in Redis and
//! uncached) and of search.
//!
//! The generated catalog repeats words the way real ones do: each category's noun ("Keyboard")
//! is in a seventh of the names, so a one-word query matches ~14,000 products, all of which
//! relevance ranks. The search scenario cycles through eight query shapes (text, typo, filters,
//! sorts) and prints each one's latency too.
//!
//! The load generator shares the machine (and this process) with the service, Postgres and
//! Redis, so the figures are a floor for one replica, not a capacity plan. The database is
//! dropped at the end; cache entries expire with their TTL. Flags: `--products`, `--seconds`
//! (per scenario), `--concurrency`; `BENCH_DATABASE_URL` and `BENCH_REDIS_URL` pick the servers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use contracts::money::Currency;
use kit::bootstrap::Platform;
use kit::config::Env;
use kit::metrics::Metrics;
use kit::server;
use product::MIGRATOR;
use product::cache::Cache;
use product::config::Config;
use product::startup::Application;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, PgPool};
use testkit::TestAmqp;
use uuid::Uuid;

/// Benchmark settings.
#[derive(Debug, Parser)]
#[command(name = "product-bench")]
struct Args {
    /// A Postgres URL whose user may create databases.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// The Redis to cache in (keys get a unique prefix).
    #[arg(
        long,
        env = "BENCH_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    redis_url: String,
    /// Products to load.
    #[arg(long, default_value_t = 100_000)]
    products: i64,
    /// Seconds each scenario runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Passed by `cargo bench` to every bench target; nothing to do with it.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let admin: PgConnectOptions = args.database_url.parse().context("BENCH_DATABASE_URL")?;
    let name = format!("product_bench_{}", Uuid::new_v4().simple());
    let mut connection = admin.connect().await.context("connect to Postgres")?;
    sqlx::query(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .execute(&mut connection)
        .await?;
    let outcome = run(&args, admin.clone().database(&name)).await;
    sqlx::query(AssertSqlSafe(format!(
        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
    )))
    .execute(&mut connection)
    .await?;
    outcome
}

async fn run(args: &Args, options: PgConnectOptions) -> anyhow::Result<()> {
    let db = PgPoolOptions::new()
        .max_connections(20)
        .connect_with(options.clone())
        .await?;
    kit::db::migrate(&db, &MIGRATOR).await?;
    let started = Instant::now();
    load(&db, args.products).await?;
    println!(
        "loaded {} products in {:.1}s",
        args.products,
        started.elapsed().as_secs_f64()
    );

    // Both instances assembled as the service ships (consumer and sweeper included), one with
    // the cache and one without; each on its own exchange, deleted with it.
    let database_url = options.to_url_lossy().to_string();
    let amqp = TestAmqp::default();
    let config = |cache_ttl_secs: &str| {
        Config::from_env(&Env::from_pairs([
            ("DATABASE_URL", database_url.clone()),
            ("DATABASE_MAX_CONNECTIONS", "20".to_owned()),
            ("REDIS_URL", args.redis_url.clone()),
            (
                "REDIS_KEY_PREFIX",
                format!("bench_{}:", Uuid::new_v4().simple()),
            ),
            ("CACHE_TTL_SECS", cache_ttl_secs.to_owned()),
            ("AMQP_URL", amqp.url.clone()),
            ("AMQP_EXCHANGE", amqp.exchange.clone()),
            ("ORDER_EVENTS_QUEUE", amqp.queue("product_order_events")),
            (
                "CURSOR_SECRET",
                format!("{}{}", Uuid::new_v4(), Uuid::new_v4()),
            ),
            (
                "INTERNAL_TOKEN",
                format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple()),
            ),
        ]))
    };
    let platform = Platform::default();
    let cached_addr = start(&config("300")?, &platform).await?;
    let uncached_addr = start(&config("0")?, &platform).await?;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM products ORDER BY md5(id::text) LIMIT 1000")
            .fetch_all(&db)
            .await?;
    let details: Vec<String> = ids
        .iter()
        .map(|id| format!("/api/v1/products/{id}"))
        .collect();
    // Warm the cache, so the cached run measures hits only.
    for path in &details {
        client
            .get(format!("http://{cached_addr}{path}"))
            .send()
            .await?
            .error_for_status()?;
    }
    let duration = Duration::from_secs(args.seconds);
    println!(
        "\n{} requests in flight, {}s per scenario\n",
        args.concurrency, args.seconds
    );
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>9}",
        "scenario", "requests", "req/s", "p50 ms", "p99 ms"
    );
    let cached = measure(&client, cached_addr, &details, args.concurrency, duration).await?;
    cached.print("product detail, cached");
    let uncached = measure(&client, uncached_addr, &details, args.concurrency, duration).await?;
    uncached.print("product detail, uncached");

    let searches: Vec<String> = [
        "q=keyboard",
        "q=wireless%20mouse",
        "q=gaming%20headset&sort=price_asc",
        "q=keybaord",
        "q=monitor&category=computers&in_stock=true",
        "category=keyboards&sort=price_desc",
        "min_price=1000&max_price=5000&in_stock=true&sort=price_asc",
        "sort=newest",
    ]
    .iter()
    .map(|query| format!("/api/v1/products?{query}&limit=20"))
    .collect();
    let search = measure(
        &client,
        uncached_addr,
        &searches,
        args.concurrency,
        duration,
    )
    .await?;
    search.print("search (8 query shapes)");
    println!();
    for (path, latencies) in &search.by_path {
        let mut latencies = latencies.clone();
        latencies.sort();
        println!(
            "  {:<72} p50 {:>7.2} ms  p99 {:>7.2} ms",
            path.trim_start_matches("/api/v1/products?"),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99)
        );
    }
    platform.shutdown.trigger();
    Ok(())
}

/// Inserts `count` products in batches, spread over the demo categories.
async fn load(db: &PgPool, count: i64) -> anyhow::Result<()> {
    product::seed::run(db, &Cache::disabled(), Currency::parse("USD")?).await?;
    let leaves: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM categories c WHERE NOT EXISTS \
         (SELECT 1 FROM categories child WHERE child.parent_id = c.id) ORDER BY slug",
    )
    .fetch_all(db)
    .await?;
    const BATCH: i64 = 10_000;
    let mut start = 1;
    while start <= count {
        let end = (start + BATCH - 1).min(count);
        // Names combine a brand, a line and the category's noun, so words repeat across rows
        // the way real catalogs do and text queries match thousands of rows, not one.
        sqlx::query(
            "WITH nouns AS (SELECT * FROM unnest($3::uuid[], \
               ARRAY['Accessory','Headphones','Keyboard','Laptop','Mouse','Monitor','Speaker']) \
               WITH ORDINALITY AS n(category_id, noun, position)), \
             inserted AS (INSERT INTO products (id, sku, slug, name, description, price_amount, \
               price_currency, image_url, attributes, category_id, created_at, updated_at) \
             SELECT gen_random_uuid(), 'BENCH-' || i, 'bench-product-' || i, \
               (ARRAY['Arcwell','Northkey','Lumen','Quill','Halcyon','Vantage','Ember', \
                 'Solace','Tidal','Orbit'])[1 + i % 10] || ' ' || \
               (ARRAY['Pro','Air','Max','Mini','Ultra','Lite','Studio','Gaming','Wireless', \
                 'Classic'])[1 + (i / 10) % 10] || ' ' || n.noun || ' ' || i, \
               'A ' || (ARRAY['quiet','fast','compact','durable','lightweight','premium', \
                 'wireless','ergonomic'])[1 + i % 8] || ' ' || lower(n.noun) || \
                 ' for work and play, model ' || i || '.', \
               500 + (i * 7919) % 200000, 'USD', NULL, \
               jsonb_build_object('color', (ARRAY['black','white','grey','blue'])[1 + i % 4]), \
               n.category_id, now() - make_interval(secs => i), now() - make_interval(secs => i) \
             FROM generate_series($1::bigint, $2::bigint) AS i \
             JOIN nouns n ON n.position = 1 + i % 7 \
             RETURNING id) \
             INSERT INTO inventory (product_id, on_hand) \
             SELECT id, hashtext(id::text) & 63 FROM inserted",
        )
        .bind(start)
        .bind(end)
        .bind(&leaves)
        .execute(db)
        .await?;
        start = end + 1;
    }
    sqlx::query("ANALYZE").execute(db).await?;
    Ok(())
}

async fn start(config: &Config, platform: &Platform) -> anyhow::Result<SocketAddr> {
    // Its own metrics registry, as in its own process.
    let platform = Platform {
        metrics: Metrics::new(),
        shutdown: platform.shutdown.clone(),
    };
    let app = Application::build(config, &platform).await?;
    let http = kit::config::HttpConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        request_timeout: Duration::from_secs(30),
        body_limit: 64 * 1024,
        drain_deadline: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(10),
        max_connections: 4096,
        event_loops: 0,
    };
    let routes = server::router(app.routes, &platform.ops(app.health), &http);
    let listener = server::bind(http.bind).await?;
    let addr = listener.local_addr()?;
    let shutdown = platform.shutdown.clone();
    tokio::spawn(async move { server::serve(listener, routes, shutdown, &http).await });
    Ok(addr)
}

/// Latencies of one scenario.
struct Run {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    by_path: BTreeMap<String, Vec<Duration>>,
}

impl Run {
    fn print(&self, scenario: &str) {
        println!(
            "{:<34} {:>9} {:>9.0} {:>9.2} {:>9.2}",
            scenario,
            self.requests,
            self.requests as f64 / self.elapsed.as_secs_f64(),
            percentile(&self.latencies, 0.50),
            percentile(&self.latencies, 0.99)
        );
    }
}

/// The latency at quantile `q` of sorted `latencies`, in milliseconds.
fn percentile(latencies: &[Duration], q: f64) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
    latencies[index].as_secs_f64() * 1000.0
}

/// `concurrency` workers requesting `paths` round-robin for `duration`; any non-200 fails it.
async fn measure(
    client: &reqwest::Client,
    addr: SocketAddr,
    paths: &[String],
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Run> {
    let paths = Arc::new(paths.to_vec());
    let started = Instant::now();
    let deadline = started + duration;
    let workers = (0..concurrency).map(|worker| {
        let client = client.clone();
        let paths = paths.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut next = worker * 7919;
            while Instant::now() < deadline {
                let path = &paths[next % paths.len()];
                next += 1;
                let sent = Instant::now();
                let response = client.get(format!("http://{addr}{path}")).send().await?;
                let status = response.status();
                response.bytes().await?;
                anyhow::ensure!(status.is_success(), "{path} answered {status}");
                samples.push((path.clone(), sent.elapsed()));
            }
            anyhow::Ok(samples)
        })
    });
    let mut latencies = Vec::new();
    let mut by_path: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for worker in futures::future::join_all(workers).await {
        for (path, latency) in worker?? {
            latencies.push(latency);
            by_path.entry(path).or_default().push(latency);
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(Run {
        requests: latencies.len(),
        elapsed,
        latencies,
        by_path,
    })
}
