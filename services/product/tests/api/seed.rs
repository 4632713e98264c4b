//! The demo catalog.

use std::collections::HashSet;
use std::process::Command;

use contracts::catalog::{Category, Product};
use contracts::money::Currency;
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use uuid::Uuid;

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
    assert_eq!(first.products_added, first.products as u64);
    assert_eq!(first.categories_added, first.categories as u64);
    assert_eq!(first.products_featured, 8);

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
    assert_eq!(
        (
            again.categories_added,
            again.products_added,
            again.products_featured
        ),
        (0, 0, 0)
    );
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
    let featured = app.search("featured=true").await;
    let featured = featured["items"].as_array().expect("items");
    assert_eq!(featured.len(), 8, "the home page has its picks");
    let featured_categories: HashSet<_> = featured.iter().map(|p| &p["category_id"]).collect();
    assert!(featured_categories.len() >= 6, "picks from across the shop");
    assert!(featured.iter().all(|p| p["stock"].as_u64() > Some(0)));
    let keyboards = app.search("q=keyboard&category=keyboards").await;
    assert!(
        keyboards["items"]
            .as_array()
            .is_some_and(|items| items.len() >= 5)
    );
}

async fn seed(app: &TestApp) -> product::seed::SeedReport {
    let usd = Currency::parse("USD").expect("valid");
    product::seed::run(app.state.db(), &product::cache::Cache::disabled(), usd)
        .await
        .expect("seed")
}

/// The local stack seeds on every start: whatever admins did to the demo catalog must stay.
#[tokio::test]
async fn a_re_run_keeps_what_admins_changed_and_only_adds_what_is_missing() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let admin_path = |id: Uuid| app.url(&format!("/api/v1/admin/products/{id}"));
    let repriced = product::seed::product_id("KB-001");
    let response = app
        .as_admin(app.server.client.patch(admin_path(repriced)))
        .json(&json!({"version": 1, "price": {"amount": 7500, "currency": "USD"}}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let restocked = product::seed::product_id("MS-001");
    let response = app
        .as_admin(
            app.server
                .client
                .put(app.url(&format!("/api/v1/admin/products/{restocked}/stock"))),
        )
        .json(&json!({"available": 321}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let deleted = product::seed::product_id("MS-002");
    let response = app
        .as_admin(app.server.client.delete(admin_path(deleted)))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let renamed = product::seed::category_id("audio");
    let response = app
        .as_admin(
            app.server
                .client
                .patch(app.url(&format!("/api/v1/admin/categories/{renamed}"))),
        )
        .json(&json!({"version": 1, "name": "Sound"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    // Emptied and deleted: its products are deleted rows, and so is it.
    let speakers = product::seed::category_id("speakers");
    sqlx::query("UPDATE products SET deleted_at = now() WHERE category_id = $1")
        .bind(speakers)
        .execute(app.state.db())
        .await
        .expect("delete the speakers");
    let response = app
        .as_admin(
            app.server
                .client
                .delete(app.url(&format!("/api/v1/admin/categories/{speakers}"))),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // A demo product that is missing altogether is what a re-run is for.
    let missing = product::seed::product_id("AC-001");
    sqlx::query("DELETE FROM inventory WHERE product_id = $1")
        .bind(missing)
        .execute(app.state.db())
        .await
        .expect("remove its stock");
    sqlx::query("DELETE FROM products WHERE id = $1")
        .bind(missing)
        .execute(app.state.db())
        .await
        .expect("remove the product");
    let before = all_products(&app).await;

    let again = seed(&app).await;
    assert_eq!((again.categories_added, again.products_added), (0, 1));
    let after = all_products(&app).await;
    assert_eq!(after.len(), before.len() + 1);
    let added = after.iter().find(|p| p.id == missing).expect("added back");
    assert!(before.iter().all(|p| after.contains(p)), "nothing changed");
    assert_eq!(added.sku, "AC-001");

    let product = app.product(repriced).await;
    assert_eq!((product.price.amount, product.version), (7500, 2));
    assert_eq!(app.product(restocked).await.stock, 321);
    let gone = app
        .get(&format!("/api/v1/products/{deleted}"))
        .send()
        .await
        .expect("request");
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let categories: Vec<Category> = app
        .get("/api/v1/categories")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("categories");
    assert!(categories.iter().all(|c| c.id != speakers), "still deleted");
    let audio = categories.iter().find(|c| c.id == renamed).expect("audio");
    assert_eq!(audio.name, "Sound");
    assert!(after.iter().all(|p| p.category_id != speakers));
}

/// `product seed` as the launcher runs it: twice, against a fresh database.
#[tokio::test]
async fn the_seed_subcommand_loads_the_catalog_and_a_second_run_adds_nothing() {
    let app = TestApp::spawn().await;
    for (run, added) in [(1, 70), (2, 0)] {
        let output = Command::new(env!("CARGO_BIN_EXE_product"))
            .arg("seed")
            .env_clear()
            .env("DATABASE_URL", &app.db.url)
            .env("REDIS_URL", app.redis.url.expose_secret())
            .env("REDIS_KEY_PREFIX", &app.redis.prefix)
            .output()
            .expect("run the product binary");
        assert!(
            output.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| line["message"] == "demo catalog loaded")
            .expect("the seed's report in its log");
        assert_eq!(report["products_added"], added, "run {run}: {report}");
    }
    assert_eq!(all_products(&app).await.len(), 70);
}

async fn patch_product(app: &TestApp, sku: &str, body: &Value) {
    let id = product::seed::product_id(sku);
    let response = app
        .as_admin(
            app.server
                .client
                .patch(app.url(&format!("/api/v1/admin/products/{id}"))),
        )
        .json(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK, "{sku}: {body}");
}

async fn featured_skus(app: &TestApp) -> HashSet<String> {
    all_products(app)
        .await
        .into_iter()
        .filter(|p| p.featured)
        .map(|p| p.sku)
        .collect()
}

/// A catalog seeded before products could be featured gets the picks on the next run, but
/// only where no admin has written: what admins chose since is never undone.
#[tokio::test]
async fn the_seed_features_its_picks_once_and_keeps_what_admins_chose() {
    let app = TestApp::spawn().await;
    let cache = product::cache::Cache::new(
        app.redis.pool().expect("pool"),
        app.redis.clone(),
        crate::helpers::CACHE_TTL,
    );
    let usd = Currency::parse("USD").expect("valid");
    let first = product::seed::run(app.state.db(), &cache, usd)
        .await
        .expect("seed");
    let picks = featured_skus(&app).await;
    assert_eq!(picks.len(), 8);
    assert_eq!(first.products_featured, 8);
    // The catalog as a seed from before featured products left it.
    sqlx::query("UPDATE products SET featured = false")
        .execute(app.state.db())
        .await
        .expect("unfeature all");
    // An admin edited one pick meanwhile; another pick's detail is cached.
    patch_product(
        &app,
        "KB-001",
        &json!({"version": 1, "price": {"amount": 7900, "currency": "USD"}}),
    )
    .await;
    let cached = product::seed::product_id("MS-005");
    assert!(picks.contains("MS-005"));
    assert!(!app.product(cached).await.featured);
    assert!(app.is_cached(cached).await);

    let upgrade = product::seed::run(app.state.db(), &cache, usd)
        .await
        .expect("seed");
    assert_eq!(upgrade.products_featured, 7, "{upgrade:?}");
    let expected: HashSet<String> = picks
        .iter()
        .filter(|sku| *sku != "KB-001")
        .cloned()
        .collect();
    assert_eq!(
        featured_skus(&app).await,
        expected,
        "the edited pick is left alone"
    );
    let detail = app.product(cached).await;
    assert!(detail.featured, "the cached detail was invalidated");
    assert_eq!(detail.version, 1, "the seed's change is not an admin write");

    // Later, an admin unfeatures a pick and features another product.
    patch_product(&app, "MS-005", &json!({"version": 1, "featured": false})).await;
    patch_product(&app, "KB-002", &json!({"version": 1, "featured": true})).await;
    let again = product::seed::run(app.state.db(), &cache, usd)
        .await
        .expect("seed");
    assert_eq!(again.products_featured, 0);
    let chosen = featured_skus(&app).await;
    assert!(
        !chosen.contains("MS-005"),
        "an unfeatured pick stays unfeatured"
    );
    assert!(chosen.contains("KB-002"), "an admin's own pick stays");
    assert_eq!(chosen.len(), 7);
}
