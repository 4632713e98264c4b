//! The OpenAPI document the gateway merges.

use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_public_api_is_described_and_the_internal_one_is_not() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .get("/openapi.json")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("a JSON document");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/v1/categories", "get"),
        ("/api/v1/products", "get"),
        ("/api/v1/products/{id}", "get"),
        ("/api/v1/products/{id}/image.svg", "get"),
        ("/api/v1/admin/categories", "post"),
        ("/api/v1/admin/categories/{id}", "patch"),
        ("/api/v1/admin/categories/{id}", "delete"),
        ("/api/v1/admin/products", "post"),
        ("/api/v1/admin/products/{id}", "patch"),
        ("/api/v1/admin/products/{id}", "delete"),
        ("/api/v1/admin/products/{id}/stock", "put"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    assert!(paths.keys().all(|path| path.starts_with("/api/v1/")));
    let parameters = paths["/api/v1/products"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let names: Vec<&str> = parameters
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in [
        "q",
        "category",
        "min_price",
        "max_price",
        "in_stock",
        "sort",
        "limit",
        "cursor",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for schema in [
        "Product",
        "NewProduct",
        "UpdateProduct",
        "UpdateCategory",
        "Problem",
        "Money",
    ] {
        assert!(schemas.contains_key(schema), "{schema}");
    }
}
