//! End-to-end: the public API through the gateway only, against the real services and stores.

mod guest_cart;
mod shop;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use shop::{Limits, Shop, checkout_body};

/// Ids of the first `n` products a search returns.
async fn product_ids(shop: &Shop, query: &str, n: usize) -> Vec<String> {
    let (status, page) = shop
        .get(
            &format!("/api/v1/products?q={query}&in_stock=true&limit=10"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().expect("items");
    assert!(items.len() >= n, "the demo catalog has {query}: {page}");
    items
        .iter()
        .take(n)
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn checkout(shop: &Shop, token: &str, card: &str) -> (u16, serde_json::Value) {
    let response = shop
        .http
        .post(shop.url("/api/v1/checkout"))
        .bearer_auth(token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&checkout_body(card))
        .send()
        .await
        .expect("checkout answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// The available stock of each product, as a shopper sees it on its page.
async fn stock(shop: &Shop, ids: &[String]) -> Vec<i64> {
    let mut stock = Vec::new();
    for id in ids {
        let (status, product) = shop.get(&format!("/api/v1/products/{id}"), None).await;
        assert_eq!(status, 200, "{product}");
        stock.push(product["stock"].as_i64().expect("stock"));
    }
    stock
}

#[tokio::test]
async fn a_shopper_registers_browses_buys_and_cancels() {
    let shop = Shop::start().await;
    let (token, _) = shop.register().await;

    let (status, categories) = shop.get("/api/v1/categories", None).await;
    assert_eq!(status, 200);
    assert!(
        categories.as_array().is_some_and(|c| c.len() >= 6),
        "{categories}"
    );
    let (status, me) = shop.get("/api/v1/users/me", Some(&token)).await;
    assert_eq!(status, 200, "{me}");

    let ids = product_ids(&shop, "keyboard", 2).await;
    let mut stock_before = Vec::new();
    for id in &ids {
        let (status, product) = shop.get(&format!("/api/v1/products/{id}"), None).await;
        assert_eq!(status, 200, "{product}");
        stock_before.push(product["stock"].as_i64().expect("stock"));
        let (status, cart) = shop
            .call(
                Method::PUT,
                &format!("/api/v1/cart/items/{id}"),
                Some(&token),
                Some(json!({ "quantity": 1 })),
            )
            .await;
        assert_eq!(status, 200, "{cart}");
    }
    let (status, cart) = shop.get("/api/v1/cart", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(cart["items"].as_array().map(Vec::len), Some(2), "{cart}");

    let (status, order) = checkout(&shop, &token, "4242 4242 4242 4242").await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "paid");
    let order_id = order["id"].as_str().expect("order id").to_owned();
    // One of each is taken off what shoppers see as available.
    let taken: Vec<i64> = stock_before.iter().map(|stock| stock - 1).collect();
    assert_eq!(stock(&shop, &ids).await, taken);

    let (status, history) = shop.get("/api/v1/orders", Some(&token)).await;
    assert_eq!(status, 200);
    assert!(
        history["items"]
            .as_array()
            .is_some_and(|o| o.iter().any(|o| o["id"] == order_id.as_str())),
        "{history}"
    );

    let (status, cancelled) = shop
        .post(
            &format!("/api/v1/orders/{order_id}/cancel"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    // And the cancelled units are available again (released at once, or by the
    // order.cancelled event if that call failed).
    let restored = Shop::eventually(Duration::from_secs(10), || async {
        stock(&shop, &ids).await == stock_before
    })
    .await;
    assert!(
        restored,
        "{:?}, expected {stock_before:?}",
        stock(&shop, &ids).await
    );
}

#[tokio::test]
async fn a_declined_card_is_402() {
    let shop = Shop::start().await;
    let (token, _) = shop.register().await;
    let id = &product_ids(&shop, "mouse", 1).await[0];
    shop.call(
        Method::PUT,
        &format!("/api/v1/cart/items/{id}"),
        Some(&token),
        Some(json!({ "quantity": 1 })),
    )
    .await;
    let (status, problem) = checkout(&shop, &token, "4000 0000 0000 0002").await;
    assert_eq!(status, 402, "{problem}");
    assert_eq!(problem["type"], "/problems/payment-declined");
}

#[tokio::test]
async fn an_admin_price_change_reaches_shoppers() {
    let shop = Shop::start().await;
    let admin = shop.admin().await;
    let id = &product_ids(&shop, "monitor", 1).await[0];
    let (_, before) = shop.get(&format!("/api/v1/products/{id}"), None).await;
    let new_amount = before["price"]["amount"].as_i64().expect("amount") + 1000;
    let (status, updated) = shop
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/products/{id}"),
            Some(&admin),
            Some(json!({ "version": before["version"], "price": { "amount": new_amount, "currency": "USD" } })),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    let (_, after) = shop.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(after["price"]["amount"], new_amount);
}

#[tokio::test]
async fn the_gateway_guards_identity_and_roles() {
    let shop = Shop::start().await;
    let (token, user_id) = shop.register().await;
    let (_, other_id) = shop.register().await;
    // A customer's token, with identity headers claiming to be another user and an admin.
    let spoofed = |method: Method, path: &str| {
        shop.http
            .request(method, shop.url(path))
            .bearer_auth(&token)
            .header("x-user-id", &other_id)
            .header("x-user-roles", "admin")
    };

    // The role comes from the token: a customer is kept out of admin routes.
    let response = spoofed(Method::GET, "/api/v1/admin/orders")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 403);
    let problem: serde_json::Value = response.json().await.expect("problem");
    assert_eq!(problem["type"], "/problems/forbidden");

    // The user service is told who the token says, not who the headers say.
    let response = spoofed(Method::GET, "/api/v1/users/me")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let me: serde_json::Value = response.json().await.expect("json");
    assert_eq!(me["id"], user_id.as_str(), "{me}");
    assert_eq!(me["roles"], json!(["customer"]), "{me}");
}

#[tokio::test]
async fn expired_and_forged_tokens_are_401() {
    let shop = Shop::start().await;
    let (token, user_id) = shop.register().await;
    let signer = tokens::Signer::from_pem("e2e-1", &shop.signing_key).expect("signer");
    let expired = testkit::token::access_token(
        &signer,
        user_id.parse().expect("uuid"),
        &[contracts::auth::Role::Customer],
        -3600,
    );
    let (status, problem) = shop.get("/api/v1/users/me", Some(&expired)).await;
    assert_eq!(status, 401, "{problem}");
    assert_eq!(problem["type"], "/problems/unauthorized");

    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let (status, _) = shop.get("/api/v1/users/me", Some(&tampered)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn unknown_and_internal_routes_are_404_problems() {
    let shop = Shop::start().await;
    for path in [
        "/api/v1/nothing-here",
        "/internal/reservations",
        "/internal/products/prices",
        // The gateway's own ops endpoints are on its ops listener only.
        "/metrics",
        "/healthz",
        "/readyz",
    ] {
        let (status, problem) = shop.get(path, None).await;
        assert_eq!(status, 404, "{path}: {problem}");
        assert_eq!(problem["type"], "/problems/not-found");
    }
    let (status, _) = shop.post("/internal/reservations", None, json!({})).await;
    assert_eq!(status, 404);

    for path in ["/healthz", "/readyz"] {
        assert_eq!(shop.gateway_ops.get(path).await.status(), 200, "{path}");
    }
    let (status, _) = shop.get("/api/v1/categories", None).await;
    assert_eq!(status, 200);
    let metrics = shop.gateway_ops.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("metrics");
    assert!(text.contains("gateway_upstream_requests"), "{text}");
}

#[tokio::test]
async fn clients_over_the_limit_get_429_with_retry_after() {
    let shop = Shop::start_with(Limits {
        per_second: 1,
        burst: 3,
        ..Limits::default()
    })
    .await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..6 {
        let response = shop
            .http
            .get(shop.url("/api/v1/categories"))
            .send()
            .await
            .expect("answer");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.unwrap_or_else(|| panic!("no 429 after the burst: {statuses:?}"));
    assert!(limited.headers().contains_key("retry-after"));
    assert!(limited.headers().contains_key("ratelimit-limit"));
    assert_eq!(limited.headers()["ratelimit-remaining"], "0");
    let problem: serde_json::Value = limited.json().await.expect("problem");
    assert_eq!(problem["type"], "/problems/rate-limited");
}

/// Sends a login attempt with a wrong password, carrying `token` when given.
async fn login_attempt(shop: &Shop, token: Option<&str>) -> reqwest::Response {
    let mut request = shop
        .http
        .post(shop.url("/api/v1/auth/login"))
        .json(&json!({ "email": "nobody@shop.test", "password": "not the password" }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("answer")
}

#[tokio::test]
async fn login_and_register_have_a_strict_bucket_per_address_whatever_the_token() {
    let shop = Shop::start_with(Limits {
        auth_per_minute: 1,
        auth_burst: 3,
        ..Limits::default()
    })
    .await;
    // Valid tokens of different users: a bucket per token would give this address one each.
    let tokens: Vec<String> = (0..5)
        .map(|_| shop.token_for(uuid::Uuid::new_v4()))
        .collect();

    for token in &tokens[..2] {
        assert_eq!(login_attempt(&shop, Some(token)).await.status(), 401);
    }
    assert_eq!(login_attempt(&shop, None).await.status(), 401);
    let limited = login_attempt(&shop, Some(&tokens[2])).await;
    assert_eq!(limited.status(), 429);
    let headers = limited.headers().clone();
    let retry_after: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1, "{headers:?}");
    assert_eq!(headers["ratelimit-limit"], "3", "{headers:?}");
    assert_eq!(headers["ratelimit-remaining"], "0", "{headers:?}");
    assert_eq!(
        headers["ratelimit-reset"],
        retry_after.to_string().as_str(),
        "{headers:?}"
    );
    let problem: serde_json::Value = limited.json().await.expect("problem");
    assert_eq!(problem["type"], "/problems/rate-limited");

    // Register shares the bucket, with or without a token.
    for token in [Some(tokens[3].as_str()), None] {
        let mut request = shop
            .http
            .post(shop.url("/api/v1/auth/register"))
            .json(&json!({
                "email": format!("{}@shop.test", testkit::unique_name("late")),
                "password": "correct horse battery",
                "display_name": "Late"
            }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(request.send().await.expect("answer").status(), 429);
    }

    // Everything else still passes, anonymous or signed in.
    let (status, _) = shop.get("/api/v1/categories", None).await;
    assert_eq!(status, 200);
    let (status, _) = shop.get("/api/v1/categories", Some(&tokens[4])).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn signed_in_users_each_have_their_own_bucket() {
    let shop = Shop::start_with(Limits {
        per_second: 1,
        burst: 5,
        ..Limits::default()
    })
    .await;
    // Two requests from this address's anonymous bucket.
    let (alice, _) = shop.register().await;
    let (bob, _) = shop.register().await;

    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..8 {
        let response = shop
            .http
            .get(shop.url("/api/v1/users/me"))
            .bearer_auth(&alice)
            .send()
            .await
            .expect("answer");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.unwrap_or_else(|| panic!("alice was never limited: {statuses:?}"));
    assert!(
        statuses.len() > 5,
        "alice's own bucket holds a burst of 5: {statuses:?}"
    );
    assert_eq!(limited.headers()["ratelimit-limit"], "5");

    // Bob, from the same address, has his own full bucket, and so has the address itself.
    let bob_answer = shop
        .http
        .get(shop.url("/api/v1/users/me"))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("answer");
    assert_eq!(bob_answer.status(), 200);
    assert_eq!(bob_answer.headers()["ratelimit-remaining"], "4");
    let (status, _) = shop.get("/api/v1/categories", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_dead_upstream_is_503_fast_then_recovers() {
    let mut shop = Shop::start().await;
    let (status, _) = shop.get("/api/v1/categories", None).await;
    assert_eq!(status, 200);

    shop.kill_product().await;
    for _ in 0..3 {
        let started = Instant::now();
        let (status, problem) = shop.get("/api/v1/categories", None).await;
        assert_eq!(status, 503, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("product service")),
            "{problem}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a dead upstream must fail fast"
        );
    }
    // Other upstreams are unaffected.
    let (token, _) = shop.register().await;
    let (status, _) = shop.get("/api/v1/users/me", Some(&token)).await;
    assert_eq!(status, 200);

    shop.revive_product().await;
    let recovered = Shop::eventually(Duration::from_secs(10), || async {
        shop.get("/api/v1/categories", None).await.0 == 200
    })
    .await;
    assert!(
        recovered,
        "the gateway must close the circuit once the product service is back"
    );
}

#[tokio::test]
async fn the_edge_serves_the_merged_document_and_enforces_limits_and_cors() {
    let shop = Shop::start().await;

    let (status, doc) = shop.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, 200, "{doc}");
    for path in [
        "/api/v1/auth/login",
        "/api/v1/products",
        "/api/v1/checkout",
        "/api/v1/admin/orders",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the merged document"
        );
    }
    assert!(doc["components"]["schemas"]["Product"].is_object());
    let page = shop
        .http
        .get(shop.url("/api/v1/docs"))
        .send()
        .await
        .expect("docs");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("/api/v1/checkout")
    );

    let (token, _) = shop.register().await;
    let huge = json!({ "display_name": "x".repeat(100 * 1024) });
    let (status, problem) = shop
        .call(Method::PATCH, "/api/v1/users/me", Some(&token), Some(huge))
        .await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["type"], "/problems/payload-too-large");

    let preflight = shop
        .http
        .request(Method::OPTIONS, shop.url("/api/v1/cart"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "PUT")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let foreign = shop
        .http
        .get(shop.url("/api/v1/categories"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("answer");
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );
}
