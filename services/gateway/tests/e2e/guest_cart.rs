//! A visitor's guest cart through the gateway: filled before signing in, merged into the
//! account's cart on registration or sign-in, once even when two sign-ins race, and created at
//! a limited rate per address.

use reqwest::Method;
use serde_json::{Value, json};

use crate::checkout;
use crate::product_ids;
use crate::shop::{Limits, Shop};

const TOKEN_HEADER: &str = "guest-cart-token";
const PASSWORD: &str = "correct horse battery";

/// A cart request through the gateway with an access token and a guest cart token, each when
/// given: the status, the guest cart token handed out (if any) and the body.
async fn cart_call(
    shop: &Shop,
    method: Method,
    path: &str,
    access: Option<&str>,
    guest: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut request = shop.http.request(method, shop.url(path));
    if let Some(access) = access {
        request = request.bearer_auth(access);
    }
    if let Some(guest) = guest {
        request = request.header(TOKEN_HEADER, guest);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let issued = response
        .headers()
        .get(TOKEN_HEADER)
        .map(|v| v.to_str().expect("ascii").to_owned());
    (status, issued, response.json().await.unwrap_or(Value::Null))
}

/// Puts `quantity` of `product` in the visitor's cart; answers the status and any new token.
async fn add(
    shop: &Shop,
    guest: Option<&str>,
    product: &str,
    quantity: u32,
) -> (u16, Option<String>) {
    let (status, issued, body) = cart_call(
        shop,
        Method::PUT,
        &format!("/api/v1/cart/items/{product}"),
        None,
        guest,
        Some(json!({ "quantity": quantity })),
    )
    .await;
    assert!(matches!(status, 200 | 201 | 429), "{status}: {body}");
    (status, issued)
}

/// Signs in with `email` and merges the guest cart `guest`: the access token and the merge's
/// status and body.
async fn sign_in_and_merge(shop: &Shop, email: &str, guest: &str) -> (String, u16, Value) {
    let (status, body) = shop
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().expect("token").to_owned();
    let (status, _, merged) = cart_call(
        shop,
        Method::POST,
        "/api/v1/cart/merge",
        Some(&access),
        Some(guest),
        None,
    )
    .await;
    (access, status, merged)
}

/// The product ids and quantities of a cart.
fn lines(cart: &Value) -> Vec<(String, u64)> {
    cart["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|line| {
            (
                line["product_id"].as_str().expect("id").to_owned(),
                line["quantity"].as_u64().expect("quantity"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_guest_fills_a_cart_registers_keeps_it_and_checks_out() {
    let shop = Shop::start().await;
    let ids = product_ids(&shop, "keyboard", 2).await;

    let (status, token) = add(&shop, None, &ids[0], 2).await;
    assert_eq!(status, 201);
    let token = token.expect("the first write hands out a guest cart token");
    let (status, again) = add(&shop, Some(&token), &ids[1], 1).await;
    assert_eq!((status, again), (200, None));
    let (status, _, cart) =
        cart_call(&shop, Method::GET, "/api/v1/cart", None, Some(&token), None).await;
    assert_eq!(status, 200, "{cart}");
    assert_eq!(lines(&cart), [(ids[0].clone(), 2), (ids[1].clone(), 1)]);

    // Checkout needs an account.
    let response = shop
        .http
        .post(shop.url("/api/v1/checkout"))
        .header(TOKEN_HEADER, &token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&crate::checkout_body("4242 4242 4242 4242"))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 401);

    // Registering, then merging, keeps the cart; the guest token is spent.
    let (access, user_id) = shop.register().await;
    let (status, _, merged) = cart_call(
        &shop,
        Method::POST,
        "/api/v1/cart/merge",
        Some(&access),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged, json!({ "merged": ids }));
    let (status, _, cart) = cart_call(
        &shop,
        Method::GET,
        "/api/v1/cart",
        Some(&access),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(lines(&cart), [(ids[0].clone(), 2), (ids[1].clone(), 1)]);
    let (status, _, problem) =
        cart_call(&shop, Method::GET, "/api/v1/cart", None, Some(&token), None).await;
    assert_eq!(status, 401, "{problem}");
    assert_eq!(problem["type"], "/problems/unauthorized");

    // The cart routes let visitors in, but a visitor claiming an identity is still nobody.
    let spoofed = shop
        .http
        .get(shop.url("/api/v1/cart"))
        .header("x-user-id", &user_id)
        .header("x-user-roles", "customer")
        .send()
        .await
        .expect("answer");
    assert_eq!(spoofed.status(), 401, "never the account's cart");

    let (status, order) = checkout(&shop, &access, "4242 4242 4242 4242").await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["lines"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn two_sign_ins_racing_merge_the_guest_cart_once() {
    let shop = Shop::start().await;
    let ids = product_ids(&shop, "keyboard", 1).await;
    let email = format!("{}@shop.test", testkit::unique_name("racer"));
    let (status, body) = shop
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": email, "password": PASSWORD, "display_name": "Racer" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, token) = add(&shop, None, &ids[0], 3).await;
    let token = token.expect("a guest cart token");

    // Two tabs sign in at once, each merging the cart it holds.
    let (first, second) = tokio::join!(
        sign_in_and_merge(&shop, &email, &token),
        sign_in_and_merge(&shop, &email, &token),
    );
    let mut statuses = [first.1, second.1];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 404], "{} / {}", first.2, second.2);
    let (_, _, cart) = cart_call(
        &shop,
        Method::GET,
        "/api/v1/cart",
        Some(&first.0),
        None,
        None,
    )
    .await;
    assert_eq!(
        lines(&cart),
        [(ids[0].clone(), 3)],
        "merged once, not twice"
    );
}

#[tokio::test]
async fn guest_carts_are_created_at_a_limited_rate_per_address() {
    let shop = Shop::start_with(Limits {
        guest_cart_per_minute: 1,
        guest_cart_burst: 3,
        ..Limits::default()
    })
    .await;
    let ids = product_ids(&shop, "keyboard", 1).await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let (status, token) = add(&shop, None, &ids[0], 1).await;
        assert_eq!(status, 201);
        tokens.push(token.expect("a token"));
    }
    let response = shop
        .http
        .put(shop.url(&format!("/api/v1/cart/items/{}", ids[0])))
        .json(&json!({ "quantity": 1 }))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(!response.headers().contains_key(TOKEN_HEADER));

    // The carts there are keep working, made-up tokens are refused without counting, and
    // signed-in customers are not visitors.
    let (status, issued) = add(&shop, Some(&tokens[0]), &ids[0], 2).await;
    assert_eq!((status, issued), (200, None));
    let (status, _, problem) = cart_call(
        &shop,
        Method::PUT,
        &format!("/api/v1/cart/items/{}", ids[0]),
        None,
        Some("made-up"),
        Some(json!({ "quantity": 1 })),
    )
    .await;
    assert_eq!(status, 401, "{problem}");
    let (access, _) = shop.register().await;
    let (status, issued, _) = cart_call(
        &shop,
        Method::PUT,
        &format!("/api/v1/cart/items/{}", ids[0]),
        Some(&access),
        None,
        Some(json!({ "quantity": 1 })),
    )
    .await;
    assert_eq!((status, issued), (200, None));
}
