//! `loadgen`: the shop's load generator, on goose (the Rust Locust).
//!
//! One scenario, a shopper, with the task weights of Google's Online Boutique load generator
//! (browse 10, product page 8, search 5, view cart 3, add to cart 2, checkout 1, login 1), so
//! figures compare with what people measure on that reference shop. Every shopper registers an
//! account when it starts (argon2 and all, as a real sign-up costs) and reads the first catalog
//! page for the ids and words its tasks use. Requests are named by task, not by URL, so a
//! product page is one row however many products were visited.
//!
//! Goose brings the rest: users, ramp-up (`--increase-rate`), a duration (`--run-time`) or a request
//! budget (`--iterations` per user), and its own reports (`--report-file x.json`); think times
//! are `loadgen`'s `--think-min-ms`/`--think-max-ms`. [`Summary`] is the short form the
//! benchmarks read.

use std::collections::BTreeMap;
use std::time::Duration;

use contracts::address::PostalAddress;
use contracts::auth::{AuthResponse, LoginRequest, RegisterRequest};
use contracts::cart::SetQuantity;
use contracts::catalog::Product;
use contracts::orders::{CardDetails, CheckoutRequest};
use contracts::pagination::Page;
use goose::goose::{GooseMethod, GooseResponse};
use goose::metrics::GooseRequestMetric;
use goose::metrics::GooseRequestMetricTimingData;
use goose::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// The task weights, as Online Boutique's locustfile sets them.
pub const WEIGHTS: [(&str, usize); 7] = [
    ("browse", 10),
    ("product", 8),
    ("search", 5),
    ("view_cart", 3),
    ("add_to_cart", 2),
    ("checkout", 1),
    ("login", 1),
];

/// The password every generated shopper gets.
const PASSWORD: &str = "loadgen-password-1";

/// What a shopper keeps between its tasks.
#[derive(Debug, Clone)]
struct Shopper {
    email: String,
    token: String,
    products: Vec<Uuid>,
    in_stock: Vec<Uuid>,
    words: Vec<String>,
    /// What it put in its cart since its last order.
    cart: Vec<Uuid>,
}

/// Which tasks the users run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mix {
    /// The shopper: every task at Online Boutique's weights.
    Shopper,
    /// Checkouts only (each fills the cart with one item first): the order path under load.
    Checkout,
}

/// The scenario of `mix`, with a think time between `think`'s bounds after each task.
pub fn scenario(mix: Mix, think: Option<(Duration, Duration)>) -> Result<Scenario, GooseError> {
    let mut scenario = scenario!("shopper")
        .register_transaction(transaction!(sign_up).set_name("sign_up").set_on_start());
    if let Some((min, max)) = think {
        scenario = scenario.set_wait_time(min, max)?;
    }
    let weights: &[(&str, usize)] = match mix {
        Mix::Shopper => &WEIGHTS,
        Mix::Checkout => &[("checkout", 1)],
    };
    for &(name, weight) in weights {
        let task = match name {
            "browse" => transaction!(browse),
            "product" => transaction!(product_page),
            "search" => transaction!(search),
            "view_cart" => transaction!(view_cart),
            "add_to_cart" => transaction!(add_to_cart),
            "checkout" => transaction!(checkout),
            _ => transaction!(login),
        };
        scenario = scenario.register_transaction(task.set_name(name).set_weight(weight)?);
    }
    Ok(scenario)
}

/// Sends one request named `name` and expecting `status`; goose records it (a wrong status is
/// a failure). Returns the response when it has that status.
async fn send_raw(
    user: &mut GooseUser,
    name: &str,
    method: GooseMethod,
    path: &str,
    status: u16,
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Result<Option<(reqwest::Response, GooseRequestMetric)>, Box<TransactionError>> {
    let builder = build(user.get_request_builder(&method, path)?);
    let request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(name)
        .expect_status_code(status)
        .set_request_builder(builder)
        .build();
    let GooseResponse { request, response } = user.request(request).await?;
    Ok(response
        .ok()
        .filter(|r| r.status().as_u16() == status)
        .map(|r| (r, request)))
}

/// [`send_raw`], then the body parsed as `T`; a body that does not parse is a failure too.
async fn send<T: DeserializeOwned>(
    user: &mut GooseUser,
    name: &str,
    method: GooseMethod,
    path: &str,
    status: u16,
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Result<Option<T>, Box<TransactionError>> {
    let Some((response, mut request)) = send_raw(user, name, method, path, status, build).await?
    else {
        return Ok(None);
    };
    match response.json::<T>().await {
        Ok(body) => Ok(Some(body)),
        Err(error) => {
            user.set_failure(
                &format!("{name}: unreadable body: {error}"),
                &mut request,
                None,
                None,
            )?;
            Ok(None)
        }
    }
}

/// The shopper's state; set by [`sign_up`], which runs first.
fn shopper(user: &GooseUser) -> Shopper {
    user.get_session_data_unchecked::<Shopper>().clone()
}

/// A pseudo-random index below `len` (at least 1), from the shopper's request count: cheap,
/// spread evenly, and without a random number generator per user.
fn pick(user: &GooseUser, salt: usize, len: usize) -> usize {
    (user
        .weighted_users_index
        .wrapping_mul(7919)
        .wrapping_add(user.get_iterations().wrapping_mul(104_729))
        .wrapping_add(salt))
        % len.max(1)
}

/// Registers a new account and reads the first catalog page.
async fn sign_up(user: &mut GooseUser) -> TransactionResult {
    let email = format!("loadgen-{}@shop.test", Uuid::new_v4().simple());
    let register = RegisterRequest {
        email: email.clone(),
        password: PASSWORD.to_owned(),
        display_name: "Load Generator".to_owned(),
    };
    let auth: Option<AuthResponse> = send(
        user,
        "register",
        GooseMethod::Post,
        "/api/v1/auth/register",
        201,
        |b| b.json(&register),
    )
    .await?;
    let Some(auth) = auth else {
        return Ok(());
    };
    let page: Option<Page<Product>> = send(
        user,
        "browse",
        GooseMethod::Get,
        "/api/v1/products?limit=100",
        200,
        |b| b,
    )
    .await?;
    let products = page.map(|p| p.items).unwrap_or_default();
    let mut words: Vec<String> = products
        .iter()
        .filter_map(|p| p.name.split_whitespace().next())
        .map(str::to_lowercase)
        .collect();
    // One typo for every word of five letters or more (two letters swapped), as shoppers type:
    // the search must still find what they meant.
    let typos: Vec<String> = words
        .iter()
        .filter(|w| w.chars().count() >= 5 && w.is_ascii())
        .map(|w| {
            let mut b = w.clone().into_bytes();
            b.swap(1, 2);
            String::from_utf8_lossy(&b).into_owned()
        })
        .collect();
    words.extend(typos);
    words.sort();
    words.dedup();
    user.set_session_data(Shopper {
        email,
        token: auth.access_token,
        products: products.iter().map(|p| p.id).collect(),
        in_stock: products
            .iter()
            .filter(|p| p.stock > 0)
            .map(|p| p.id)
            .collect(),
        words,
        cart: Vec::new(),
    });
    Ok(())
}

async fn browse(user: &mut GooseUser) -> TransactionResult {
    let sorts = ["newest", "price_asc", "price_desc"];
    let path = format!(
        "/api/v1/products?limit=20&sort={}",
        sorts[pick(user, 1, sorts.len())]
    );
    send::<Page<Product>>(user, "browse", GooseMethod::Get, &path, 200, |b| b).await?;
    Ok(())
}

async fn product_page(user: &mut GooseUser) -> TransactionResult {
    let shopper = shopper(user);
    let Some(id) = shopper.products.get(pick(user, 2, shopper.products.len())) else {
        return Ok(());
    };
    let path = format!("/api/v1/products/{id}");
    send::<Product>(user, "product", GooseMethod::Get, &path, 200, |b| b).await?;
    Ok(())
}

async fn search(user: &mut GooseUser) -> TransactionResult {
    let shopper = shopper(user);
    let Some(word) = shopper.words.get(pick(user, 3, shopper.words.len())) else {
        return Ok(());
    };
    let path = format!("/api/v1/products?limit=20&q={word}");
    send::<Page<Product>>(user, "search", GooseMethod::Get, &path, 200, |b| b).await?;
    Ok(())
}

async fn view_cart(user: &mut GooseUser) -> TransactionResult {
    let token = shopper(user).token;
    send::<serde_json::Value>(
        user,
        "view_cart",
        GooseMethod::Get,
        "/api/v1/cart",
        200,
        |b| b.bearer_auth(token),
    )
    .await?;
    Ok(())
}

/// Puts one of a product in stock in the cart.
async fn put_item(user: &mut GooseUser, name: &str) -> TransactionResult {
    let shopper = shopper(user);
    let Some(&id) = shopper.in_stock.get(pick(user, 4, shopper.in_stock.len())) else {
        return Ok(());
    };
    let path = format!("/api/v1/cart/items/{id}");
    let put = send_raw(user, name, GooseMethod::Put, &path, 200, |b| {
        b.bearer_auth(&shopper.token)
            .json(&SetQuantity { quantity: 1 })
    })
    .await?;
    if put.is_some() {
        let mut shopper = shopper;
        shopper.cart.push(id);
        user.set_session_data(shopper);
    }
    Ok(())
}

async fn add_to_cart(user: &mut GooseUser) -> TransactionResult {
    put_item(user, "add_to_cart").await
}

/// Fills the cart with one more item and pays with the test card, under a fresh idempotency
/// key. A checkout refused (stock ran out since the catalog was read) is a failure, and the
/// shopper then empties its cart, as a person would, so its next checkout can succeed.
async fn checkout(user: &mut GooseUser) -> TransactionResult {
    put_item(user, "checkout: add").await?;
    let token = shopper(user).token;
    let order = CheckoutRequest {
        shipping_address: PostalAddress {
            recipient: "Load Generator".to_owned(),
            line1: "1 Load Street".to_owned(),
            line2: None,
            city: "Testville".to_owned(),
            postal_code: "12345".to_owned(),
            region: None,
            country: "US".to_owned(),
            phone: None,
        },
        card: CardDetails {
            number: "4242424242424242".to_owned(),
            exp_month: 12,
            exp_year: 2039,
            cvc: "123".to_owned(),
        },
    };
    let paid = send_raw(
        user,
        "checkout",
        GooseMethod::Post,
        "/api/v1/checkout",
        201,
        |b| {
            b.bearer_auth(&token)
                .header("idempotency-key", Uuid::new_v4().to_string())
                .json(&order)
        },
    )
    .await?
    .is_some();
    let mut shopper = shopper(user);
    let lines = std::mem::take(&mut shopper.cart);
    user.set_session_data(shopper);
    if !paid {
        for id in lines {
            let path = format!("/api/v1/cart/items/{id}");
            send_raw(
                user,
                "checkout: remove",
                GooseMethod::Delete,
                &path,
                204,
                |b| b.bearer_auth(&token),
            )
            .await?;
        }
    }
    Ok(())
}

async fn login(user: &mut GooseUser) -> TransactionResult {
    let email = shopper(user).email;
    let body = LoginRequest {
        email,
        password: PASSWORD.to_owned(),
    };
    let auth: Option<AuthResponse> = send(
        user,
        "login",
        GooseMethod::Post,
        "/api/v1/auth/login",
        200,
        |b| b.json(&body),
    )
    .await?;
    if let Some(auth) = auth {
        let mut shopper = shopper(user);
        shopper.token = auth.access_token;
        user.set_session_data(shopper);
    }
    Ok(())
}

/// One row of the summary: a task's or a request's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// How many ran.
    pub count: usize,
    /// How many failed (a transport error, an unexpected status or body).
    pub failed: usize,
    /// Completions per second over the run.
    pub per_second: f64,
    /// Percentiles of the time taken, in milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, in milliseconds.
    pub p95_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
}

/// What a run measured, in the form the benchmarks read (`--summary FILE`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Seconds the load ran (after the ramp-up).
    pub seconds: f64,
    /// Users at the peak.
    pub users: usize,
    /// Every request together.
    pub total: Row,
    /// Per request, named by its task (`checkout: add` is the checkout task's add to cart).
    pub tasks: BTreeMap<String, Row>,
    /// Each distinct error and how often it happened.
    pub errors: BTreeMap<String, usize>,
}

/// A row from goose's timing data; `seconds` is the run's length.
fn row(timing: &GooseRequestMetricTimingData, count: usize, failed: usize, seconds: f64) -> Row {
    let ms = |p: f32| timing.percentile_us(p) as f64 / 1000.0;
    Row {
        count,
        failed,
        per_second: if seconds > 0.0 {
            count as f64 / seconds
        } else {
            0.0
        },
        p50_ms: ms(0.50),
        p95_ms: ms(0.95),
        p99_ms: ms(0.99),
    }
}

impl Summary {
    /// The summary of goose's metrics.
    pub fn from_metrics(metrics: &GooseMetrics) -> Self {
        let seconds = metrics.duration.max(1) as f64;
        let mut total = GooseRequestMetricTimingData::default();
        let mut buckets: BTreeMap<u64, usize> = BTreeMap::new();
        let (mut count, mut failed) = (0, 0);
        let mut tasks = BTreeMap::new();
        for aggregate in metrics.requests.values() {
            let data = &aggregate.raw_data;
            for (&bucket, &n) in data.times_us.iter() {
                *buckets.entry(bucket).or_default() += n;
            }
            if data.counter > 0 {
                total.minimum_time_us = match total.counter {
                    0 => data.minimum_time_us,
                    _ => total.minimum_time_us.min(data.minimum_time_us),
                };
                total.maximum_time_us = total.maximum_time_us.max(data.maximum_time_us);
                total.total_time_us += data.total_time_us;
                total.counter += data.counter;
            }
            let n = aggregate.success_count + aggregate.fail_count;
            count += n;
            failed += aggregate.fail_count;
            // Requests are named by task, so the name is the row.
            tasks.insert(
                aggregate.path.clone(),
                row(&aggregate.raw_data, n, aggregate.fail_count, seconds),
            );
        }
        for (bucket, n) in buckets {
            total.times_us.insert(bucket, n);
        }
        let errors = metrics
            .errors
            .values()
            .map(|e| {
                (
                    format!("{} {}: {}", e.method, e.name, e.error),
                    e.occurrences,
                )
            })
            .collect();
        Self {
            seconds,
            users: metrics.maximum_users,
            total: row(&total, count, failed, seconds),
            tasks,
            errors,
        }
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<22} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9}\n",
            "task", "count", "failed", "per_s", "p50_ms", "p95_ms", "p99_ms"
        );
        let line = |name: &str, r: &Row| {
            format!(
                "{:<22} {:>8} {:>7} {:>9.1} {:>9.2} {:>9.2} {:>9.2}\n",
                name, r.count, r.failed, r.per_second, r.p50_ms, r.p95_ms, r.p99_ms
            )
        };
        for (name, r) in &self.tasks {
            out.push_str(&line(name, r));
        }
        out.push_str(&line("all requests", &self.total));
        for (error, n) in &self.errors {
            out.push_str(&format!("error ({n}x): {error}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use goose::goose::TransactionName;

    use super::*;

    fn tasks(mix: Mix) -> Vec<(String, usize, bool)> {
        scenario(mix, None)
            .expect("scenario")
            .transactions
            .into_iter()
            .map(|t| {
                let name = match t.name {
                    TransactionName::InheritNameByRequests(n)
                    | TransactionName::TransactionOnly(n) => n,
                };
                (name.to_string(), t.weight, t.on_start)
            })
            .collect()
    }

    #[test]
    fn the_shopper_runs_online_boutiques_weights_after_signing_up() {
        let expected: Vec<(String, usize, bool)> = std::iter::once(("sign_up".to_owned(), 1, true))
            .chain(WEIGHTS.iter().map(|&(n, w)| (n.to_owned(), w, false)))
            .collect();
        assert_eq!(tasks(Mix::Shopper), expected);
        assert_eq!(
            WEIGHTS,
            [
                ("browse", 10),
                ("product", 8),
                ("search", 5),
                ("view_cart", 3),
                ("add_to_cart", 2),
                ("checkout", 1),
                ("login", 1),
            ]
        );
    }

    #[test]
    fn the_checkout_mix_only_checks_out() {
        assert_eq!(
            tasks(Mix::Checkout),
            [
                ("sign_up".to_owned(), 1, true),
                ("checkout".to_owned(), 1, false)
            ]
        );
    }

    #[test]
    fn a_think_time_is_set_on_the_scenario() {
        let think = (Duration::from_millis(100), Duration::from_millis(900));
        let shopper = scenario(Mix::Shopper, Some(think)).expect("scenario");
        assert_eq!(shopper.transaction_wait, Some(think));
    }

    #[test]
    fn the_table_lists_every_task_then_the_total_and_the_errors() {
        let row = |count, failed| Row {
            count,
            failed,
            per_second: count as f64 / 10.0,
            p50_ms: 1.5,
            p95_ms: 3.0,
            p99_ms: 9.25,
        };
        let summary = Summary {
            seconds: 10.0,
            users: 4,
            total: row(30, 1),
            tasks: BTreeMap::from([
                ("browse".to_owned(), row(20, 0)),
                ("search".to_owned(), row(10, 1)),
            ]),
            errors: BTreeMap::from([("GET search: 503".to_owned(), 1)]),
        };
        let table = summary.table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5, "{table}");
        assert!(lines[0].starts_with("task"));
        assert!(
            lines[1].starts_with("browse") && lines[1].contains("20") && lines[1].contains("2.0")
        );
        assert!(lines[3].starts_with("all requests") && lines[3].contains("9.25"));
        assert_eq!(lines[4], "error (1x): GET search: 503");
    }
}
