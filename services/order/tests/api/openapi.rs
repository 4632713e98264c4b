//! The OpenAPI document the gateway merges.

use reqwest::{Method, StatusCode};

use crate::support::{Caller, Shop};

#[tokio::test]
async fn the_public_api_is_described() {
    let shop = Shop::start().await;
    let answer = shop
        .call(Method::GET, "/openapi.json", Caller::Anonymous, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let doc = answer.body;
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/v1/cart", "get"),
        ("/api/v1/cart/items/{product_id}", "put"),
        ("/api/v1/cart/items/{product_id}", "delete"),
        ("/api/v1/cart/merge", "post"),
        ("/api/v1/checkout", "post"),
        ("/api/v1/orders", "get"),
        ("/api/v1/orders/{id}", "get"),
        ("/api/v1/orders/{id}/cancel", "post"),
        ("/api/v1/admin/orders", "get"),
        ("/api/v1/admin/orders/{id}/status", "post"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    assert!(paths.keys().all(|path| path.starts_with("/api/v1/")));

    let checkout = &paths["/api/v1/checkout"]["post"];
    let headers: Vec<&str> = checkout["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter(|p| p["in"] == "header")
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(headers, ["Idempotency-Key"]);
    for status in ["201", "402", "409", "422"] {
        assert!(
            checkout["responses"][status].is_object(),
            "checkout answers {status}"
        );
    }
    for (path, names) in [
        ("/api/v1/orders", &["limit", "cursor"][..]),
        ("/api/v1/admin/orders", &["status", "limit", "cursor"]),
    ] {
        let parameters = paths[path]["get"]["parameters"]
            .as_array()
            .expect("parameters");
        let queries: Vec<&str> = parameters
            .iter()
            .filter(|p| p["in"] == "query" && p["required"] != true)
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(queries, names, "{path}");
    }

    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for schema in [
        "Cart",
        "UnavailableLine",
        "UnavailableReason",
        "SetQuantity",
        "MergedCart",
        "CheckoutRequest",
        "Order",
        "StatusChange",
        "Problem",
        "Money",
    ] {
        assert!(schemas.contains_key(schema), "{schema}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // The guest flow: a visitor's first cart write answers a token, later cart requests send
    // it instead of an access token, and a merge needs both.
    let guest = &doc["components"]["securitySchemes"]["guest_cart"];
    assert_eq!(guest["type"], "apiKey", "{guest}");
    assert_eq!(guest["in"], "header");
    assert_eq!(guest["name"], "Guest-Cart-Token");
    let put = &paths["/api/v1/cart/items/{product_id}"]["put"];
    assert!(
        put["responses"]["201"]["headers"]["Guest-Cart-Token"].is_object(),
        "{put}"
    );
    assert_eq!(
        put["security"],
        serde_json::json!([{}, {"bearer": []}, {"guest_cart": []}]),
        "a first write needs no credentials"
    );
    assert_eq!(
        paths["/api/v1/cart"]["get"]["security"],
        serde_json::json!([{"bearer": []}, {"guest_cart": []}])
    );
    assert_eq!(
        paths["/api/v1/cart/merge"]["post"]["security"],
        serde_json::json!([{"bearer": [], "guest_cart": []}])
    );
    let cart_tag = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .find(|tag| tag["name"] == "cart")
        .expect("the cart tag");
    let flow = cart_tag["description"].as_str().expect("a description");
    assert!(
        flow.contains("Guest-Cart-Token") && flow.contains("/api/v1/cart/merge"),
        "{flow}"
    );
}
