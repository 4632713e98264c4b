//! Redis is an optimisation: without it the service still answers, from Postgres.

use std::time::Duration;

use contracts::catalog::Product;
use kit::cache::RedisConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, closed_port, product_body};

#[tokio::test]
async fn with_redis_down_reads_answer_from_postgres_and_readiness_is_degraded() {
    // The shared Redis stays up for the other tests: this service is pointed at a closed port.
    let port = closed_port().await;
    let app = TestApp::with_redis(RedisConfig {
        url: format!("redis://127.0.0.1:{port}"),
        prefix: "down:".to_owned(),
        timeout: Duration::from_millis(200),
    })
    .await;
    let category = app.create_category("mice", None).await;
    let product = app
        .create_product(&product_body("Mouse", category.id, 1999, 3))
        .await;

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
