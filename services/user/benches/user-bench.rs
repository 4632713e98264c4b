//! Benchmark: logins per second with the configured argon2 parameters, and access-token
//! verifications per second with the gateway's verifier.
//!
//! `cargo bench -p user --bench user-bench [-- --seconds 10]`
//!
//! Starts the service in-process on a random port against a fresh database (on
//! `TEST_DATABASE_URL`, default the local Postgres), registers one user, then for a bounded time
//! keeps one login in flight per CPU and reports throughput and latency. The argon2 parameters
//! come from `ARGON2_*` as in production (defaults: 19456 KiB, 2 passes, 1 lane). Client and
//! server share the machine, so the figures are a floor for a dedicated server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use contracts::auth::AuthResponse;
use futures::future::join_all;
use kit::bootstrap::Platform;
use kit::config::Env;
use serde_json::json;
use testkit::{TestDb, TestServer};
use tokens::{Jwks, Verifier};
use user::MIGRATOR;
use user::config::Config;
use user::startup::Application;

const PASSWORD: &str = "benchmark password";

/// Measures logins/s and token verifications/s.
#[derive(Debug, Parser)]
struct Args {
    /// Seconds to measure logins for.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds to measure token verification for.
    #[arg(long, default_value_t = 3)]
    verify_seconds: u64,
    /// Logins in flight at once (default: the number of CPUs).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Passed by `cargo bench` to every bench target; nothing to do with it.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let concurrency = args.concurrency.unwrap_or(cpus).max(1);

    let db = TestDb::migrated(&MIGRATOR).await;
    let key = tokens::generate_pem()?;
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.retain(|(name, _)| !name.starts_with("JWT_") && name != "DATABASE_URL");
    vars.extend([
        ("DATABASE_URL".to_owned(), db.url.clone()),
        ("JWT_SIGNING_KEY".to_owned(), key),
        ("JWT_SIGNING_KEY_ID".to_owned(), "bench".to_owned()),
        (
            "INTERNAL_TOKEN".to_owned(),
            format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
        ),
    ]);
    let config = Config::from_env(&Env::from_pairs(vars))?;
    let params = &config.passwords.params;
    println!(
        "argon2id: m={} KiB, t={}, p={}; hashing concurrency {}; {cpus} CPUs",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        config.passwords.concurrency
    );

    let platform = Platform::default();
    let app = Application::build(&config, &platform).await?;
    let server = TestServer::serve(app.routes, app.health, &platform).await;
    let client = server.client.clone();
    let registered = client
        .post(server.url("/api/v1/auth/register"))
        .json(&json!({"email": "bench@example.com", "password": PASSWORD, "display_name": "Bench"}))
        .send()
        .await?
        .error_for_status()?
        .json::<AuthResponse>()
        .await?;

    let (logins, elapsed) =
        measure_logins(&server, concurrency, Duration::from_secs(args.seconds)).await?;
    let successes = logins.len();
    let elapsed = elapsed.as_secs_f64();
    println!(
        "logins: {successes} in {elapsed:.1}s with {concurrency} in flight = {:.1} logins/s; latency p50 {:.1} ms, p99 {:.1} ms",
        successes as f64 / elapsed,
        percentile(&logins, 0.50),
        percentile(&logins, 0.99),
    );

    let jwks: Jwks = client
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await?
        .json()
        .await?;
    let verifier = Verifier::new(&jwks, &config.tokens.issuer, &config.tokens.audience)?;
    let (verified, elapsed) = measure_verifications(
        &verifier,
        &registered.access_token,
        cpus,
        Duration::from_secs(args.verify_seconds),
    )?;
    println!(
        "token verifications: {verified} in {:.1}s on {cpus} threads = {:.0} verifications/s",
        elapsed.as_secs_f64(),
        verified as f64 / elapsed.as_secs_f64(),
    );
    server.stop().await?;
    Ok(())
}

/// Runs `concurrency` login loops for `duration`: the sorted latencies (ms) of the logins, and
/// how long it took until the last one finished.
async fn measure_logins(
    server: &TestServer,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<(Vec<f64>, Duration)> {
    let started = Instant::now();
    let deadline = started + duration;
    let workers = (0..concurrency).map(|_| {
        let client = server.client.clone();
        let url = server.url("/api/v1/auth/login");
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let response = client
                    .post(&url)
                    .json(&json!({"email": "bench@example.com", "password": PASSWORD}))
                    .send()
                    .await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "login answered {}",
                    response.status()
                );
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(latencies)
        })
    });
    let mut all = Vec::new();
    for worker in join_all(workers).await {
        all.extend(worker??);
    }
    all.sort_by(f64::total_cmp);
    Ok((all, started.elapsed()))
}

/// Verifies `token` on `threads` OS threads for `duration`; how many verified and how long it took.
fn measure_verifications(
    verifier: &Verifier,
    token: &str,
    threads: usize,
    duration: Duration,
) -> anyhow::Result<(u64, Duration)> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (stop, count) = (Arc::clone(&stop), Arc::clone(&count));
            scope.spawn(move || {
                let mut local = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if verifier.verify(token).is_ok() {
                        local += 1;
                    }
                }
                count.fetch_add(local, Ordering::Relaxed);
            });
        }
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = started.elapsed();
    let verified = count.load(Ordering::Relaxed);
    anyhow::ensure!(verified > 0, "the token never verified");
    Ok((verified, elapsed))
}

/// The `q` quantile of sorted `values`.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
