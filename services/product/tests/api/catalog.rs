//! Products: admin writes, shopper reads, validation and optimistic concurrency.

use contracts::catalog::Product;
use contracts::inventory::ProductPrice;
use kit::identity::{USER_ID_HEADER, USER_ROLES_HEADER};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, fields, problem, product_body};

#[tokio::test]
async fn an_admin_creates_a_product_that_shoppers_can_read_by_id_or_slug() {
    let app = TestApp::spawn().await;
    let category = app.create_category("keyboards", None).await;
    let mut body = product_body("Arcwell K2", category.id, 8900, 12);
    body["attributes"] = json!({"switches": "brown", "layout": "75%"});
    let response = app.try_create_product(&body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let created: Product = response.json().await.expect("product");
    assert_eq!(location, format!("/api/v1/products/{}", created.id));
    assert_eq!(created.stock, 12);
    assert_eq!(created.price.amount, 8900);
    assert_eq!(created.attributes["switches"], "brown");
    assert!(created.active);

    let by_id = app.get(&location).send().await.expect("request");
    assert_eq!(by_id.status(), StatusCode::OK);
    assert_eq!(by_id.headers()["etag"], "\"1\"");
    assert_eq!(by_id.json::<Product>().await.expect("product"), created);
    let by_slug = app
        .get(&format!("/api/v1/products/{}", created.slug))
        .send()
        .await
        .expect("request");
    assert_eq!(by_slug.json::<Product>().await.expect("product"), created);
    let missing = app
        .get(&format!("/api/v1/products/{}", Uuid::new_v4()))
        .send()
        .await
        .expect("request");
    problem(missing, 404).await;
}

#[tokio::test]
async fn writes_need_an_admin() {
    let app = TestApp::spawn().await;
    let body = product_body("Mouse", Uuid::new_v4(), 100, 1);
    let anonymous = app
        .post("/api/v1/admin/products")
        .json(&body)
        .send()
        .await
        .expect("request");
    problem(anonymous, 401).await;
    let customer = app
        .post("/api/v1/admin/products")
        .header(USER_ID_HEADER, Uuid::new_v4().to_string())
        .header(USER_ROLES_HEADER, "customer")
        .json(&body)
        .send()
        .await
        .expect("request");
    problem(customer, 403).await;
    let category = app
        .post("/api/v1/admin/categories")
        .json(&json!({"slug": "x", "name": "X"}))
        .send()
        .await
        .expect("request");
    problem(category, 401).await;
}

#[tokio::test]
async fn bad_product_input_is_refused_naming_the_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let category = app.create_category("mice", None).await;
    let cases = [
        (
            "price",
            json!({"amount": -1, "currency": "USD"}),
            "price.amount",
        ),
        (
            "price",
            json!({"amount": 100, "currency": "EUR"}),
            "price.currency",
        ),
        ("name", json!(""), "name"),
        ("name", json!("   "), "name"),
        ("slug", json!("Not A Slug"), "slug"),
        ("sku", json!(""), "sku"),
        ("image_url", json!("javascript:alert(1)"), "image_url"),
        ("category_id", json!(Uuid::new_v4()), "category_id"),
        ("stock", json!(-5), "stock"),
        ("featured", json!("yes"), "featured"),
        ("prise", json!(1), "prise"),
    ];
    for (key, value, field) in cases {
        let mut body = product_body("Mouse", category.id, 1999, 3);
        body[key] = value;
        let response = app.try_create_product(&body).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{key}");
        let problem = problem(response, 422).await;
        assert_eq!(fields(&problem), [field], "{key}: {problem}");
    }
    // A body that is not JSON at all is a 400: there is no field to name.
    let garbled = app
        .as_admin(app.post("/api/v1/admin/products"))
        .header("content-type", "application/json")
        .body("{\"sku\": ")
        .send()
        .await
        .expect("request");
    problem(garbled, 400).await;
    let page = app.search("").await;
    assert_eq!(page["items"], json!([]), "no partial write");
}

#[tokio::test]
async fn a_taken_sku_or_slug_is_a_conflict_naming_it() {
    let app = TestApp::spawn().await;
    let category = app.create_category("mice", None).await;
    let first = product_body("Mouse", category.id, 1999, 3);
    app.create_product(&first).await;
    let mut same_sku = product_body("Other mouse", category.id, 1999, 3);
    same_sku["sku"] = first["sku"].clone();
    let conflict = problem(app.try_create_product(&same_sku).await, 409).await;
    assert_eq!(fields(&conflict), ["sku"]);
    let mut same_slug = product_body("Other mouse", category.id, 1999, 3);
    same_slug["slug"] = first["slug"].clone();
    let conflict = problem(app.try_create_product(&same_slug).await, 409).await;
    assert_eq!(fields(&conflict), ["slug"]);
}

#[tokio::test]
async fn after_a_price_update_the_next_read_shows_the_new_price() {
    let app = TestApp::spawn().await;
    let category = app.create_category("monitors", None).await;
    let product = app
        .create_product(&product_body("Vantage 27", category.id, 44900, 5))
        .await;
    // Read twice so the detail is certainly cached.
    assert_eq!(app.product(product.id).await.price.amount, 44900);
    assert_eq!(app.product(product.id).await.price.amount, 44900);
    assert!(
        app.is_cached(product.id).await,
        "the detail is served from the cache"
    );

    let response = app
        .as_admin(
            app.server
                .client
                .patch(app.url(&format!("/api/v1/admin/products/{}", product.id))),
        )
        .json(&json!({"version": 1, "price": {"amount": 39900, "currency": "USD"}}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");

    let after = app
        .get(&format!("/api/v1/products/{}", product.id))
        .send()
        .await
        .expect("request");
    assert_eq!(after.headers()["etag"], "\"2\"");
    let after: Product = after.json().await.expect("product");
    assert_eq!(after.price.amount, 39900);
    assert_eq!(after.version, 2);
    assert_eq!(after.name, product.name, "absent fields are kept");
}

#[tokio::test]
async fn a_stale_write_is_refused_with_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let product = app.create_mouse().await;
    let patch = |body: serde_json::Value, if_match: Option<&str>| {
        let mut request = app.as_admin(
            app.server
                .client
                .patch(app.url(&format!("/api/v1/admin/products/{}", product.id))),
        );
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.json(&body).send()
    };
    let first = patch(json!({"version": 1, "name": "First"}), None)
        .await
        .expect("request");
    assert_eq!(first.status(), StatusCode::OK);
    let stale = patch(json!({"version": 1, "name": "Second"}), None)
        .await
        .expect("request");
    let body = problem(stale, 412).await;
    assert_eq!(body["type"], "/problems/precondition-failed");
    let stale_etag = patch(json!({"version": 2, "name": "Third"}), Some("\"1\""))
        .await
        .expect("request");
    problem(stale_etag, 412).await;
    let malformed = patch(json!({"version": 2, "name": "Fourth"}), Some("two"))
        .await
        .expect("request");
    assert_eq!(fields(&problem(malformed, 400).await), ["If-Match"]);
    assert_eq!(app.product(product.id).await.name, "First");

    let fresh = patch(json!({"version": 2, "name": "Fifth"}), Some("\"2\""))
        .await
        .expect("request");
    assert_eq!(fresh.status(), StatusCode::OK);
    let invalid = patch(json!({"version": 3, "name": ""}), None)
        .await
        .expect("request");
    assert_eq!(fields(&problem(invalid, 422).await), ["name"]);
    assert_eq!(app.product(product.id).await.name, "Fifth");
}

#[tokio::test]
async fn a_deleted_product_is_gone_but_frees_its_sku() {
    let app = TestApp::spawn().await;
    let category = app.create_category("mice", None).await;
    let body = product_body("Mouse", category.id, 1999, 3);
    let product = app.create_product(&body).await;
    app.product(product.id).await;
    let path = format!("/api/v1/admin/products/{}", product.id);
    let stale = app
        .as_admin(app.server.client.delete(app.url(&path)))
        .header("if-match", "\"7\"")
        .send()
        .await
        .expect("request");
    problem(stale, 412).await;
    let deleted = app
        .as_admin(app.server.client.delete(app.url(&path)))
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app
        .get(&format!("/api/v1/products/{}", product.id))
        .send()
        .await
        .expect("request");
    problem(gone, 404).await;
    let again = app
        .as_admin(app.server.client.delete(app.url(&path)))
        .send()
        .await
        .expect("request");
    problem(again, 404).await;
    assert_eq!(app.search("").await["items"], json!([]));
    let prices: Vec<ProductPrice> = app
        .internal("/internal/products/prices")
        .json(&json!({"ids": [product.id]}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("prices");
    assert!(prices.is_empty());
    app.create_product(&body).await;
}

#[tokio::test]
async fn hidden_products_are_shown_to_admins_only() {
    let app = TestApp::spawn().await;
    let category = app.create_category("mice", None).await;
    let mut body = product_body("Prototype mouse", category.id, 1999, 3);
    body["active"] = json!(false);
    let product = app.create_product(&body).await;
    let path = format!("/api/v1/products/{}", product.id);
    problem(app.get(&path).send().await.expect("request"), 404).await;
    let as_admin = app.as_admin(app.get(&path)).send().await.expect("request");
    assert_eq!(as_admin.status(), StatusCode::OK);
    assert_eq!(app.search("").await["items"], json!([]));
    let admin_list: serde_json::Value = app
        .as_admin(app.get("/api/v1/products"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("page");
    assert_eq!(admin_list["items"][0]["id"], json!(product.id));
}

#[tokio::test]
async fn the_order_service_gets_current_prices_of_known_products() {
    let app = TestApp::spawn().await;
    let category = app.create_category("mice", None).await;
    let a = app
        .create_product(&product_body("Mouse A", category.id, 1999, 3))
        .await;
    let mut hidden = product_body("Mouse B", category.id, 2999, 3);
    hidden["active"] = json!(false);
    let b = app.create_product(&hidden).await;
    let prices: Vec<ProductPrice> = app
        .internal("/internal/products/prices")
        .json(&json!({"ids": [a.id, b.id, Uuid::new_v4()]}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("prices");
    let mut expected = vec![
        ProductPrice {
            product_id: a.id,
            sku: a.sku,
            name: a.name,
            price: a.price,
            active: true,
        },
        ProductPrice {
            product_id: b.id,
            sku: b.sku,
            name: b.name,
            price: b.price,
            active: false,
        },
    ];
    expected.sort_by_key(|p| p.product_id);
    assert_eq!(prices, expected);
}

#[tokio::test]
async fn every_product_has_a_generated_svg_image() {
    let app = TestApp::spawn().await;
    let category = app.create_category("headphones", None).await;
    let product = app
        .create_product(&product_body("Solace <ANC> & Co", category.id, 29900, 3))
        .await;
    let response = app
        .get(&format!("/api/v1/products/{}/image.svg", product.id))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    let svg = response.text().await.expect("svg");
    assert!(svg.starts_with("<svg") && svg.contains("Solace &lt;ANC&gt; &amp; Co"));
}
