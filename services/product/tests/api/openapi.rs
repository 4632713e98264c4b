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
        "featured",
        "sort",
        "limit",
        "cursor",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    // Categories are edited under a version, like products: both writes document the
    // optional If-Match and the 412 of a stale one.
    for (path, method) in [
        ("/api/v1/admin/categories/{id}", "patch"),
        ("/api/v1/admin/categories/{id}", "delete"),
        ("/api/v1/admin/products/{id}", "patch"),
    ] {
        let operation = &paths[path][method];
        assert!(operation["responses"]["412"].is_object(), "{method} {path}");
        let if_match = operation["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == "If-Match")
            .unwrap_or_else(|| panic!("{method} {path} documents If-Match"));
        assert_eq!(if_match["in"], "header");
        assert_eq!(if_match["required"], false, "{method} {path}");
    }
    let updated = &paths["/api/v1/admin/categories/{id}"]["patch"]["responses"]["200"];
    assert!(updated["headers"]["ETag"].is_object(), "{updated}");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for (schema, field) in [("Category", "version"), ("UpdateCategory", "version")] {
        let required = schemas[schema]["required"].as_array().expect("required");
        assert!(required.contains(&field.into()), "{schema}.{field}");
    }
    // The admin paths name the bearer scheme; the document defines it itself.
    assert_eq!(
        paths["/api/v1/admin/products"]["post"]["security"][0]["bearer"],
        serde_json::json!([])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
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
