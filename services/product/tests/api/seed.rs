//! The demo catalog.

use std::collections::HashSet;

use contracts::catalog::{Category, Product};
use contracts::money::Currency;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

async fn all_products(app: &TestApp) -> Vec<Product> {
    let mut products = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("limit=25&cursor={cursor}"),
            None => "limit=25".to_owned(),
        };
        let page: Value = app.search(&query).await;
        products.extend(
            serde_json::from_value::<Vec<Product>>(page["items"].clone()).expect("products"),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return products,
        }
    }
}

#[tokio::test]
async fn the_seed_loads_a_complete_demo_catalog_and_is_idempotent() {
    let app = TestApp::spawn().await;
    let usd = Currency::parse("USD").expect("valid");
    let cache = product::cache::Cache::disabled();
    let first = product::seed::run(app.state.db(), &cache, usd)
        .await
        .expect("seed");
    assert!(first.products >= 60 && first.categories >= 6, "{first:?}");
    assert_eq!(first.products_changed, first.products as u64);

    let categories: Vec<Category> = app
        .get("/api/v1/categories")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("categories");
    assert_eq!(categories.len(), first.categories);
    let products = all_products(&app).await;
    assert_eq!(products.len(), first.products);
    let used: HashSet<_> = products.iter().map(|p| p.category_id).collect();
    assert!(used.len() >= 6);
    assert!(products.iter().any(|p| p.stock == 0));
    assert!(products.iter().filter(|p| p.stock > 0).count() >= 50);

    let again = product::seed::run(app.state.db(), &cache, usd)
        .await
        .expect("seed again");
    assert_eq!(again.products_changed, 0);
    let reloaded = all_products(&app).await;
    assert_eq!(
        reloaded, products,
        "a re-run changes nothing, not even versions"
    );

    for product in products.iter().take(5) {
        let url = product.image_url.as_deref().expect("an image");
        assert!(url.starts_with("/api/v1/products/"), "{url}");
        let image = app.get(url).send().await.expect("request");
        assert_eq!(image.status(), StatusCode::OK);
        assert_eq!(image.headers()["content-type"], "image/svg+xml");
        assert!(image.text().await.expect("svg").starts_with("<svg"));
    }
    let keyboards = app.search("q=keyboard&category=keyboards").await;
    assert!(
        keyboards["items"]
            .as_array()
            .is_some_and(|items| items.len() >= 5)
    );
}
