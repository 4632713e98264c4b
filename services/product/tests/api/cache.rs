//! Redis is an optimisation: without it the service still answers, from Postgres.

use std::time::Duration;

use contracts::catalog::Product;
use kit::cache::RedisConfig;
use product::cache::{CATEGORIES, product_key, slug_key};
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TcpProxy;

use crate::helpers::{CACHE_TTL, TestApp, closed_port, eventually};

/// The status of `/readyz` and of its Redis check.
async fn readiness(app: &TestApp) -> (StatusCode, String, String) {
    let ready = app.get("/readyz").send().await.expect("request");
    let status = ready.status();
    let report: Value = ready.json().await.expect("report");
    let redis = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "redis")
        .expect("a redis check")["status"]
        .as_str()
        .expect("a status")
        .to_owned();
    let overall = report["status"].as_str().expect("a status").to_owned();
    (status, overall, redis)
}

/// An entry a write failed to delete (Redis was away) or a read stored just after a write
/// deleted it would otherwise stay stale for good: every entry has to expire.
#[tokio::test]
async fn every_cached_entry_expires_within_the_configured_ttl() {
    let app = TestApp::spawn().await;
    let product = app.create_mouse().await;
    for path in [
        format!("/api/v1/products/{}", product.slug),
        "/api/v1/categories".to_owned(),
    ] {
        let response = app.get(&path).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    for key in [
        product_key(product.id),
        slug_key(&product.slug),
        CATEGORIES.to_owned(),
    ] {
        // -2: no such key, -1: no expiry.
        let ttl: i64 = app.redis("TTL", &key).await;
        assert!(
            ttl > 0 && ttl.unsigned_abs() <= CACHE_TTL.as_secs(),
            "{key}: TTL {ttl}, configured {CACHE_TTL:?}"
        );
    }
}

/// Redis going away mid-flight, not only being absent from the start: the pooled connections
/// break under the service. Reads fall back to Postgres, and the cache is used again once
/// Redis is back.
#[tokio::test]
async fn when_redis_goes_away_after_the_cache_is_warm_reads_answer_from_postgres_until_it_is_back()
{
    let proxy = TcpProxy::start(testkit::redis_addr()).await;
    let app = TestApp::behind_redis_proxy(&proxy).await;
    let product = app.create_mouse().await;
    let path = format!("/api/v1/products/{}", product.id);
    assert_eq!(app.product(product.id).await, product);
    assert!(app.is_cached(product.id).await, "the cache is warm");
    assert_eq!(readiness(&app).await.1, "ready");

    proxy.stop();
    app.rename_behind_its_back(product.id, "Renamed mouse")
        .await;
    for _ in 0..3 {
        let response = app.get(&path).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let read: Product = response.json().await.expect("product");
        assert_eq!(read.name, "Renamed mouse", "read from Postgres");
    }
    let by_slug = app
        .get(&format!("/api/v1/products/{}", product.slug))
        .send()
        .await
        .expect("request");
    assert_eq!(by_slug.status(), StatusCode::OK);
    let categories = app.get("/api/v1/categories").send().await.expect("request");
    assert_eq!(categories.status(), StatusCode::OK);
    assert!(
        app.is_cached(product.id).await,
        "the stale entry is still in Redis"
    );
    assert_eq!(
        readiness(&app).await,
        (StatusCode::OK, "degraded".to_owned(), "degraded".to_owned())
    );

    proxy.resume().await;
    eventually("readiness to see Redis again", || async {
        (readiness(&app).await.1 == "ready").then_some(())
    })
    .await;
    // Whatever the entry holds now, the next read stores the current row again...
    let _: i64 = app.redis("DEL", &product_key(product.id)).await;
    assert_eq!(app.product(product.id).await.name, "Renamed mouse");
    assert!(
        app.is_cached(product.id).await,
        "the cache is written again"
    );
    // ...and reads come from it: a change made behind the service's back stays unseen.
    app.rename_behind_its_back(product.id, "Unseen mouse").await;
    assert_eq!(
        app.product(product.id).await.name,
        "Renamed mouse",
        "read from the cache"
    );
}

#[tokio::test]
async fn with_redis_down_reads_answer_from_postgres_and_readiness_is_degraded() {
    // The shared Redis stays up for the other tests: this service is pointed at a closed port.
    let port = closed_port().await;
    let app = TestApp::with_redis(RedisConfig {
        url: format!("redis://127.0.0.1:{port}").into(),
        prefix: "down:".to_owned(),
        timeout: Duration::from_millis(200),
    })
    .await;
    let product = app.create_mouse().await;

    for _ in 0..2 {
        let response = app
            .get(&format!("/api/v1/products/{}", product.id))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<Product>().await.expect("product"), product);
    }
    let by_slug = app
        .get(&format!("/api/v1/products/{}", product.slug))
        .send()
        .await
        .expect("request");
    assert_eq!(by_slug.status(), StatusCode::OK);
    let categories = app.get("/api/v1/categories").send().await.expect("request");
    assert_eq!(categories.status(), StatusCode::OK);
    assert_eq!(
        app.search("q=mouse").await["items"][0]["id"],
        json!(product.id)
    );

    let patched = app
        .as_admin(
            app.server
                .client
                .patch(app.url(&format!("/api/v1/admin/products/{}", product.id))),
        )
        .json(&json!({"version": 1, "price": {"amount": 2499, "currency": "USD"}}))
        .send()
        .await
        .expect("request");
    assert_eq!(patched.status(), StatusCode::OK, "writes do not need Redis");
    assert_eq!(app.product(product.id).await.price.amount, 2499);

    let ready = app.get("/readyz").send().await.expect("request");
    assert_eq!(ready.status(), StatusCode::OK);
    let report: Value = ready.json().await.expect("report");
    assert_eq!(report["status"], "degraded");
    let redis = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "redis")
        .expect("a redis check");
    assert_eq!(redis["status"], "degraded");
}

#[tokio::test]
async fn with_every_dependency_up_the_service_is_ready() {
    let app = TestApp::spawn().await;
    let ready = app.get("/readyz").send().await.expect("request");
    assert_eq!(ready.status(), StatusCode::OK);
    let report: Value = ready.json().await.expect("report");
    assert_eq!(report["status"], "ready");
}

/// Two replicas on one Redis: each answers hot reads from its own memory, and a write on one
/// is forgotten by the other's memory too, not only by Redis.
#[tokio::test]
async fn a_write_on_one_replica_is_forgotten_by_every_replicas_memory() {
    let app = TestApp::spawn().await;
    let other = app.replica().await;
    eventually("both replicas to follow the invalidations", || async {
        (app.state.cache().serves_in_process() && other.state.cache().serves_in_process())
            .then_some(())
    })
    .await;
    let product = app.create_mouse().await;
    let path = format!("/api/v1/products/{}", product.id);
    let read = |replica: &testkit::TestServer| {
        let request = replica.client.get(replica.url(&path));
        async move {
            let response = request.send().await.expect("request");
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Product>().await.expect("product").name
        }
    };
    // The first read fills Redis from Postgres, the second fills the replica's memory from Redis.
    for _ in 0..2 {
        assert_eq!(read(&other.server).await, "Mouse");
        assert_eq!(read(&app.server).await, "Mouse");
    }
    // Neither Redis nor Postgres holds "Mouse" any more: only the replicas' memory can answer it.
    let _: i64 = app.redis("DEL", &product_key(product.id)).await;
    app.rename_behind_its_back(product.id, "Renamed behind their backs")
        .await;
    assert_eq!(
        read(&other.server).await,
        "Mouse",
        "from the replica's memory"
    );
    assert_eq!(
        read(&app.server).await,
        "Mouse",
        "from the replica's memory"
    );

    let response = app
        .as_admin(
            app.server
                .client
                .patch(app.url(&path.replace("/products/", "/admin/products/"))),
        )
        .json(&json!({"version": 1, "name": "Trackball"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        read(&app.server).await,
        "Trackball",
        "the writer reads its write"
    );
    eventually("the other replica to forget the old name", || async {
        (read(&other.server).await == "Trackball").then_some(())
    })
    .await;
}

/// The memory tier is off while its replica cannot hear of writes: it empties when the
/// subscription breaks and is used again once it is back.
#[tokio::test]
async fn the_memory_tier_is_dark_while_redis_is_away() {
    let proxy = TcpProxy::start(testkit::redis_addr()).await;
    let app = TestApp::behind_redis_proxy(&proxy).await;
    eventually("the replica to follow the invalidations", || async {
        app.state.cache().serves_in_process().then_some(())
    })
    .await;
    let product = app.create_mouse().await;
    for _ in 0..2 {
        assert_eq!(app.product(product.id).await.name, "Mouse");
    }
    proxy.stop();
    eventually("the memory tier to go dark", || async {
        (!app.state.cache().serves_in_process()).then_some(())
    })
    .await;
    app.rename_behind_its_back(product.id, "Renamed").await;
    assert_eq!(
        app.product(product.id).await.name,
        "Renamed",
        "from Postgres"
    );
    proxy.resume().await;
    eventually("the memory tier to be used again", || async {
        app.state.cache().serves_in_process().then_some(())
    })
    .await;
}
