//! Guest carts: a visitor's cart before signing in, named by an unguessable token, under the
//! rules of a customer's cart, expired when left unused, and merged into the account's cart
//! once on sign-in.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::{CARD_OK, Caller, Options, Shop, checkout_body, customer, key};

const TOKEN_HEADER: &str = "Guest-Cart-Token";

/// An answer with its headers.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    /// The guest cart token the answer hands out, if it does.
    fn token(&self) -> Option<String> {
        self.headers
            .get(TOKEN_HEADER)
            .map(|v| v.to_str().expect("ascii").to_owned())
    }

    /// The product ids of the cart's lines, in order.
    fn product_ids(&self) -> Vec<Uuid> {
        self.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|line| {
                line["product_id"]
                    .as_str()
                    .expect("id")
                    .parse()
                    .expect("uuid")
            })
            .collect()
    }
}

/// A cart request as `caller`, with the guest cart `token` when given.
async fn send(
    shop: &Shop,
    method: Method,
    path: &str,
    caller: Caller,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut request = reqwest::Client::new().request(method, shop.order.url(path));
    match caller {
        Caller::Anonymous => {}
        Caller::Customer(id) | Caller::Admin(id) => {
            request = request
                .header(kit::identity::USER_ID_HEADER, id.to_string())
                .header(kit::identity::USER_ROLES_HEADER, "customer");
        }
    }
    if let Some(token) = token {
        request = request.header(TOKEN_HEADER, token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("answered");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// Sets `quantity` of `product` in the guest cart `token` (a new one when `None`).
async fn put(shop: &Shop, token: Option<&str>, product: Uuid, quantity: u32) -> Reply {
    send(
        shop,
        Method::PUT,
        &format!("/api/v1/cart/items/{product}"),
        Caller::Anonymous,
        token,
        Some(json!({"quantity": quantity})),
    )
    .await
}

/// A new guest cart holding `quantity` of `product`; its token.
async fn new_guest_cart(shop: &Shop, product: Uuid, quantity: u32) -> String {
    let reply = put(shop, None, product, quantity).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.token().expect("a token")
}

async fn guest_cart(shop: &Shop, token: &str) -> Reply {
    send(
        shop,
        Method::GET,
        "/api/v1/cart",
        Caller::Anonymous,
        Some(token),
        None,
    )
    .await
}

async fn merge(shop: &Shop, caller: Caller, token: &str) -> Reply {
    send(
        shop,
        Method::POST,
        "/api/v1/cart/merge",
        caller,
        Some(token),
        None,
    )
    .await
}

async fn quantities(shop: &Shop, caller: Caller) -> Vec<(Uuid, u32)> {
    let reply = send(shop, Method::GET, "/api/v1/cart", caller, None, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let line = |line: &Value| {
        (
            line["product_id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("uuid"),
            u32::try_from(line["quantity"].as_u64().expect("quantity")).expect("small"),
        )
    };
    let mut lines: Vec<(Uuid, u32)> = reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(line)
        .collect();
    lines.extend(
        reply.body["unavailable"]
            .as_array()
            .into_iter()
            .flatten()
            .map(line),
    );
    lines
}

async fn count(shop: &Shop, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&shop.order_db.pool)
        .await
        .expect("a count")
}

/// The id of the guest cart stored under `token`.
async fn guest_id(shop: &Shop, token: &str) -> Uuid {
    let bytes = URL_SAFE_NO_PAD.decode(token).expect("base64url");
    sqlx::query_scalar("SELECT id FROM guest_carts WHERE token_hash = $1")
        .bind(Sha256::digest(&bytes).as_slice())
        .fetch_one(&shop.order_db.pool)
        .await
        .expect("the guest cart")
}

/// Fills `owner`'s cart with `lines` lines of products nobody sells, straight in the table.
async fn fill(shop: &Shop, owner: Uuid, lines: usize) {
    sqlx::query(
        "INSERT INTO cart_items (user_id, product_id, quantity)
         SELECT $1, gen_random_uuid(), 1 FROM generate_series(1, $2)",
    )
    .bind(owner)
    .bind(i32::try_from(lines).expect("small"))
    .execute(&shop.order_db.pool)
    .await
    .expect("filled");
}

#[tokio::test]
async fn a_visitors_first_cart_write_creates_a_guest_cart_with_an_unguessable_token() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 10).await;
    let pen = shop.add_product("Pen", 150, 10).await;

    let created = put(&shop, None, mug, 2).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.headers["cache-control"], "no-store");
    let token = created.token().expect("the token comes with the answer");
    let bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64url");
    assert_eq!(bytes.len(), 32, "256 random bits");
    assert_eq!(created.product_ids(), [mug]);
    assert_eq!(created.body["subtotal"]["amount"], json!(1798));
    // Only the digest is stored.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM guest_carts")
        .fetch_one(&shop.order_db.pool)
        .await
        .expect("one guest cart");
    assert_eq!(stored, Sha256::digest(&bytes).as_slice());
    assert_ne!(stored, bytes);

    // With the token, the visitor changes and reads the cart as a customer does.
    let added = put(&shop, Some(&token), pen, 1).await;
    assert_eq!(added.status, StatusCode::OK, "{:?}", added.body);
    assert_eq!(added.token(), None, "one token per cart");
    let read = guest_cart(&shop, &token).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.headers["cache-control"], "no-store");
    assert_eq!(read.product_ids(), [mug, pen]);
    let removed = send(
        &shop,
        Method::DELETE,
        &format!("/api/v1/cart/items/{mug}"),
        Caller::Anonymous,
        Some(&token),
        None,
    )
    .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(guest_cart(&shop, &token).await.product_ids(), [pen]);

    // Another visitor gets another cart and another token.
    let other = new_guest_cart(&shop, mug, 1).await;
    assert_ne!(other, token);
    assert_eq!(guest_cart(&shop, &other).await.product_ids(), [mug]);
    assert_eq!(guest_cart(&shop, &token).await.product_ids(), [pen]);

    // Without a token there is no cart to read, and checkout needs an account.
    let anonymous = send(
        &shop,
        Method::GET,
        "/api/v1/cart",
        Caller::Anonymous,
        None,
        None,
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let checkout = shop
        .checkout(Caller::Anonymous, &key(), checkout_body(CARD_OK))
        .await;
    assert_eq!(checkout.status, StatusCode::UNAUTHORIZED);
    assert_eq!(count(&shop, "SELECT count(*) FROM orders").await, 0);
}

#[tokio::test]
async fn guest_carts_keep_the_rules_and_limits_of_a_customers_cart() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 500).await;
    let lamp = shop.add_product("Lamp", 3000, 5).await;
    let hidden = shop.new_product("Prototype", 100, 5, false).await;

    // A refused first write creates nothing.
    for (product, body, field) in [
        (mug, json!({"quantity": 0}), "quantity"),
        (mug, json!({"quantity": 100}), "quantity"),
        (hidden, json!({"quantity": 1}), "product_id"),
        (Uuid::new_v4(), json!({"quantity": 1}), "product_id"),
    ] {
        let reply = send(
            &shop,
            Method::PUT,
            &format!("/api/v1/cart/items/{product}"),
            Caller::Anonymous,
            None,
            Some(body),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert_eq!(reply.body["errors"][0]["field"], json!(field));
        assert_eq!(reply.token(), None);
    }
    assert_eq!(count(&shop, "SELECT count(*) FROM guest_carts").await, 0);

    let token = new_guest_cart(&shop, mug, 99).await;
    put(&shop, Some(&token), lamp, 2).await;
    // Today's price, and a product withdrawn from sale waits apart.
    shop.update_product(mug, json!({"price": {"amount": 950, "currency": "USD"}}))
        .await;
    shop.update_product(lamp, json!({"active": false})).await;
    let read = guest_cart(&shop, &token).await;
    assert_eq!(read.product_ids(), [mug]);
    assert_eq!(read.body["subtotal"]["amount"], json!(99 * 950));
    assert_eq!(read.body["unavailable"][0]["product_id"], json!(lamp));
    assert_eq!(read.body["unavailable"][0]["reason"], json!("inactive"));

    // At most 100 products.
    let id = guest_id(&shop, &token).await;
    fill(&shop, id, 98).await;
    let full = put(
        &shop,
        Some(&token),
        shop.add_product("Pen", 150, 5).await,
        1,
    )
    .await;
    assert_eq!(full.status, StatusCode::CONFLICT, "{:?}", full.body);
    assert_eq!(full.body["errors"][0]["code"], json!("cart_full"));
    // A line already in the full cart still changes.
    let changed = put(&shop, Some(&token), mug, 3).await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    let quantity: i32 = sqlx::query_scalar(
        "SELECT quantity FROM cart_items WHERE user_id = $1 AND product_id = $2",
    )
    .bind(id)
    .bind(mug)
    .fetch_one(&shop.order_db.pool)
    .await
    .expect("the mug's line");
    assert_eq!(quantity, 3);
}

#[tokio::test]
async fn a_guest_cart_left_unused_expires_and_the_sweeper_deletes_it() {
    let shop = Shop::with(Options {
        env: vec![("GUEST_CART_IDLE_TTL_SECS", "2".to_owned())],
        ..Options::default()
    })
    .await;
    let mug = shop.add_product("Mug", 899, 10).await;
    let idle = new_guest_cart(&shop, mug, 1).await;
    let used = new_guest_cart(&shop, mug, 2).await;

    // Each use starts the idle time again.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(guest_cart(&shop, &used).await.status, StatusCode::OK);
    }
    // Expired before the sweeper runs: refused at once.
    let expired = guest_cart(&shop, &idle).await;
    assert_eq!(
        expired.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        expired.body
    );
    assert_eq!(expired.body["type"], json!("/problems/unauthorized"));
    let write = put(&shop, Some(&idle), mug, 3).await;
    assert_eq!(write.status, StatusCode::UNAUTHORIZED);
    assert_eq!(count(&shop, "SELECT count(*) FROM guest_carts").await, 2);

    order::sweep(&shop.state, Duration::from_secs(3600)).await;
    assert_eq!(count(&shop, "SELECT count(*) FROM guest_carts").await, 1);
    assert_eq!(
        count(&shop, "SELECT count(*) FROM cart_items").await,
        1,
        "the idle cart's line went with it"
    );
    assert_eq!(guest_cart(&shop, &used).await.product_ids(), [mug]);
}

#[tokio::test]
async fn a_made_up_token_is_refused_and_never_shows_another_visitors_cart() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 10).await;
    let token = new_guest_cart(&shop, mug, 3).await;
    let flipped = {
        let mut chars: Vec<char> = token.chars().collect();
        chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    for forged in [
        URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes().repeat(2)),
        flipped,
        format!("{token}A"),
        token[..42].to_owned(),
        "x".repeat(43),
        "x".repeat(5000),
        String::new(),
    ] {
        for method in [Method::GET, Method::DELETE] {
            let path = if method == Method::GET {
                "/api/v1/cart".to_owned()
            } else {
                format!("/api/v1/cart/items/{mug}")
            };
            let reply = send(&shop, method, &path, Caller::Anonymous, Some(&forged), None).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{forged}");
            assert_eq!(reply.body["type"], json!("/problems/unauthorized"));
            assert!(!reply.body.to_string().contains(&mug.to_string()));
        }
        let write = put(&shop, Some(&forged), mug, 1).await;
        assert_eq!(write.status, StatusCode::UNAUTHORIZED, "{forged}");
        assert_eq!(write.token(), None, "a made-up token creates nothing");
    }
    assert_eq!(count(&shop, "SELECT count(*) FROM guest_carts").await, 1);
    assert_eq!(
        guest_cart(&shop, &token).await.body["items"][0]["quantity"],
        json!(3),
        "the real cart is untouched"
    );
}

#[tokio::test]
async fn signing_in_merges_the_guest_cart_once_and_spends_the_token() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 500).await;
    let pen = shop.add_product("Pen", 150, 500).await;
    let lamp = shop.add_product("Lamp", 3000, 500).await;
    let kite = shop.add_product("Kite", 1200, 500).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 60).await;
    shop.add_to_cart(alice, pen, 1).await;
    let token = new_guest_cart(&shop, lamp, 2).await;
    put(&shop, Some(&token), mug, 50).await;
    put(&shop, Some(&token), kite, 1).await;
    shop.update_product(kite, json!({"active": false})).await;

    let merged = merge(&shop, alice, &token).await;
    assert_eq!(merged.status, StatusCode::OK, "{:?}", merged.body);
    assert_eq!(merged.body, json!({"merged": [lamp, mug, kite]}));
    assert_eq!(
        quantities(&shop, alice).await,
        [(mug, 99), (pen, 1), (lamp, 2), (kite, 1)],
        "sums are capped at 99; the unavailable product is listed as before"
    );

    // The token is spent.
    assert_eq!(
        guest_cart(&shop, &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = merge(&shop, alice, &token).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{:?}", again.body);
    assert_eq!(again.body["type"], json!("/problems/not-found"));
    assert_eq!(count(&shop, "SELECT count(*) FROM guest_carts").await, 0);
    assert_eq!(
        count(&shop, "SELECT count(*) FROM cart_items").await,
        4,
        "only alice's lines are left"
    );

    // A merge needs an account and a token.
    let anonymous = merge(&shop, Caller::Anonymous, &token).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let without = send(&shop, Method::POST, "/api/v1/cart/merge", alice, None, None).await;
    assert_eq!(
        without.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        without.body
    );
    assert_eq!(
        without.body["errors"][0]["field"],
        json!("Guest-Cart-Token")
    );
}

#[tokio::test]
async fn two_sign_ins_racing_merge_one_guest_cart_once() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 500).await;
    for round in 0..5 {
        let token = new_guest_cart(&shop, mug, 2).await;
        // Two tabs of one customer, and another customer, all signing in with the cart.
        let alice = customer();
        let bob = customer();
        let (first, second, third) = tokio::join!(
            merge(&shop, alice, &token),
            merge(&shop, alice, &token),
            merge(&shop, bob, &token),
        );
        let statuses = [first.status, second.status, third.status];
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::NOT_FOUND)
                .count(),
            2,
            "round {round}: {statuses:?}"
        );
        let mut carts = [quantities(&shop, alice).await, quantities(&shop, bob).await];
        carts.sort();
        assert_eq!(carts, [vec![], vec![(mug, 2)]], "round {round}");
    }
}

#[tokio::test]
async fn a_merge_into_a_full_cart_lists_what_did_not_fit() {
    let shop = Shop::start().await;
    let mug = shop.add_product("Mug", 899, 500).await;
    let pen = shop.add_product("Pen", 150, 500).await;
    let lamp = shop.add_product("Lamp", 3000, 500).await;
    let kite = shop.add_product("Kite", 1200, 500).await;
    let alice = customer();
    shop.add_to_cart(alice, mug, 1).await;
    let Caller::Customer(alice_id) = alice else {
        unreachable!("a customer")
    };
    fill(&shop, alice_id, 98).await;
    let token = new_guest_cart(&shop, pen, 1).await;
    put(&shop, Some(&token), mug, 4).await;
    put(&shop, Some(&token), lamp, 1).await;
    put(&shop, Some(&token), kite, 1).await;

    let merged = merge(&shop, alice, &token).await;
    assert_eq!(merged.status, StatusCode::OK, "{:?}", merged.body);
    assert_eq!(
        merged.body,
        json!({"merged": [pen, mug], "left_out": [lamp, kite]})
    );
    let lines = quantities(&shop, alice).await;
    assert_eq!(lines.len(), 100);
    assert!(lines.contains(&(mug, 5)) && lines.contains(&(pen, 1)));
    assert_eq!(count(&shop, "SELECT count(*) FROM guest_carts").await, 0);
}
